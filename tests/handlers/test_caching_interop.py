"""Byte-range locks and CHANGE_NOTIFY against a real ``sofs serve`` with the smbprotocol client."""
from __future__ import annotations

import shutil
import uuid

import pytest

pytest.importorskip("smbprotocol")
from smbprotocol.change_notify import ChangeNotifyFlags, CompletionFilter, FileSystemWatcher
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
    SMB2LockElement,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.conftest import USERS, start_sofs

SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
RW = 0x80000000 | 0x40000000


@pytest.fixture(scope="module")
def server():
    srv = start_sofs()
    yield srv
    srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


def _tree(server):
    conn = Connection(uuid.uuid4(), server.host, server.port)
    conn.connect()
    sess = Session(conn, "alice", USERS["alice"])
    sess.connect()
    tree = TreeConnect(sess, rf"\\{server.host}\data")
    tree.connect()
    return conn, tree


def _open(tree, name: str, directory: bool = False) -> Open:
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, RW if not directory else 0x1 | 0x80 | 0x100000,
             FileAttributes.FILE_ATTRIBUTE_DIRECTORY if directory else FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN_IF,
             CreateOptions.FILE_DIRECTORY_FILE if directory else CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def _lock(f: Open, off: int, ln: int, flags: int) -> None:
    el = SMB2LockElement()
    el["offset"], el["length"], el["flags"] = off, ln, flags
    f.lock([el])


def test_lock_conflicts_and_release_on_close(server) -> None:
    conn1, t1 = _tree(server)
    conn2, t2 = _tree(server)
    try:
        a, b = _open(t1, "locked.bin"), _open(t2, "locked.bin")
        a.write(b"x" * 100, 0)
        _lock(a, 0, 10, 0x2 | 0x10)
        with pytest.raises(SMBResponseException) as ei:
            _lock(b, 5, 10, 0x1 | 0x10)
        assert ei.value.status == 0xC0000055  # LOCK_NOT_GRANTED
        with pytest.raises(SMBResponseException) as ei:
            b.read(0, 10)
        assert ei.value.status == 0xC0000054  # FILE_LOCK_CONFLICT
        with pytest.raises(SMBResponseException) as ei:
            _lock(b, 0, 10, 0x4)
        assert ei.value.status == 0xC000007E  # RANGE_NOT_LOCKED: not b's lock
        a.close()  # close releases the lock
        assert b.read(0, 10) == b"x" * 10
        b.close()
    finally:
        conn1.disconnect()
        conn2.disconnect()


def test_change_notify_reports_create(server) -> None:
    conn1, t1 = _tree(server)
    conn2, t2 = _tree(server)
    try:
        d = _open(t1, "watched", directory=True)
        w = FileSystemWatcher(d)
        w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME, flags=ChangeNotifyFlags.SMB2_WATCH_TREE)
        f = _open(t2, "watched\\new.txt")
        f.close()
        assert w.response_event.wait(10)
        names = [(e["action"].get_value(), e["file_name"].get_value()) for e in w.result]
        assert (1, "new.txt") in names  # FILE_ACTION_ADDED
        d.close()
    finally:
        conn1.disconnect()
        conn2.disconnect()
