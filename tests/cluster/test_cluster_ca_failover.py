"""A persistent handle survives the death of its node: the client reconnects (DH2C) to a surviving node.

Three real ``sofs node`` processes (``sofs cluster up 3``, loopback 127.0.0.11-13, embedded store), a
continuously available share on the cluster volume. A client opens a file on n1 with a persistent
handle, an RWH lease and a byte-range lock, and writes; n1 is killed with SIGKILL; the adopter (n2, the
up node with the lowest id: ``sofs.cluster.adopt``) takes n1's journal over
(``sofs.handlers.durable_adopt``); the client reconnects to n2 with the same ClientGuid and DH2C and
goes on writing on the same handle; meanwhile another client on n2 is refused the file and the
locked range; every acknowledged byte is there at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_proc import free_port_on, kill_quietly, node_pids, sofs

from tests.conftest import USERS

smbprotocol = pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import LOCK_OFFSET, RW, _ctx, _lease, _lock

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARE = "CA"
SHARING_VIOLATION, LOCK_CONFLICT, FILE_CLOSED = 0xC0000043, 0xC0000054, 0xC0000128


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n'
                                    f'[[user]]\nname = "bob"\npassword = "{USERS["bob"]}"\n')
    vol = state / "ClusterStorage" / "Volume1" / "Shares" / SHARE
    vol.mkdir(parents=True)
    vol.chmod(0o777)
    port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "caf", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        asyncio.run(_new_share(state))
        yield state, port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


async def _new_share(state: Path) -> None:
    from sofs.cluster.config import load_cluster_config
    from sofs.management.services.shares import ShareService

    cfg = load_cluster_config(str(state))
    assert cfg is not None
    store = await cfg.open_store()
    try:
        svc = ShareService(store, prefix=cfg.prefix, check_local_paths=False)
        await svc.new_share(SHARE, rf"C:\ClusterStorage\Volume1\Shares\{SHARE}", full_access=["alice", "bob"],
                            continuously_available=True)
    finally:
        await store.close()


def _connect(addr: str, port: int, guid: uuid.UUID, user: str = "alice") -> tuple[Connection, TreeConnect]:
    conn = Connection(guid, addr, port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    s = Session(conn, user, USERS[user], require_encryption=False)
    s.connect()
    tree = TreeConnect(s, rf"\\{addr}\{SHARE}")
    tree.connect()
    return conn, tree


def _until(fn, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (SMBException, OSError, ValueError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout} s: {e!r}") from e
            time.sleep(0.2)


def _listed(state: Path, node: str) -> None:
    """``sofs Get-SmbOpenFile -ClusterNodeName NODE`` lists vm.vhdx (nodes publish once a second)."""
    deadline = time.monotonic() + 10
    while True:
        r = sofs("Get-SmbOpenFile", "-ClusterNodeName", node, state=state)
        if r.returncode == 0 and "vm.vhdx" in r.stdout:
            assert rf"Shares\{SHARE}\vm.vhdx" in r.stdout, r.stdout
            print(r.stdout)
            return
        assert time.monotonic() < deadline, f"Get-SmbOpenFile on {node}: {r.returncode} {r.stdout} {r.stderr}"
        time.sleep(0.3)


def _close_smb_open_file(state: Path, port: int) -> None:
    """``sofs Close-SmbOpenFile -FileId N`` closes a connected client's open on n3: its next use of the
    handle gets STATUS_FILE_CLOSED."""
    conn, tree = _connect(ADDR["n3"], port, uuid.uuid4(), "bob")
    try:
        op = Open(tree, "other.txt")
        op.create(ImpersonationLevel.Impersonation, RW, 0x80, 7, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
        op.write(b"x" * 10, 0)
        fid = int.from_bytes(op.file_id[:8], "little")
        deadline = time.monotonic() + 10
        while str(fid) not in sofs("Get-SmbOpenFile", "-ClusterNodeName", "n3", state=state).stdout:
            assert time.monotonic() < deadline, "n3 never published the open"
            time.sleep(0.3)
        r = sofs("Close-SmbOpenFile", "-FileId", str(fid), "-Force", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        with pytest.raises(SMBResponseException) as ei:
            op.read(0, 10)
        assert ei.value.status == FILE_CLOSED
    finally:
        conn.disconnect()


def test_persistent_handle_moves_to_a_surviving_node(cluster: tuple[Path, int]) -> None:
    state, port = cluster
    guid, create_guid, lease_key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
    conn, tree = _until(lambda: _connect(ADDR["n1"], port, guid), 30, "tree connect on n1")
    assert tree.is_ca_share
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, create_guid
    op = Open(tree, "vm.vhdx")
    rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                    CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                    [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(lease_key)],
                    oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    dh2 = [c for c in rsp if isinstance(c, SMB2CreateDurableHandleResponseV2)]
    assert dh2 and dh2[0]["flags"].get_value() & 0x2, "no persistent handle granted"
    _lock(op)
    first = b"before the failover\n" * 100
    op.write(first, 0)
    file_id = op.file_id
    _listed(state, "n1")  # Get-SmbOpenFile shows the open on its node
    journals = state / "ClusterStorage" / "Volume1" / "Shares" / SHARE / ".sofs" / "journal"
    assert (journals / "n1").is_dir(), "n1 journals its persistent opens in its own directory"

    t0 = time.monotonic()
    kill_quietly(node_pids(state)["n1"])
    with contextlib.suppress(SMBException, OSError, ValueError):
        conn.disconnect(close=False)

    def reconnect() -> tuple[Connection, Open]:
        c2, t2 = _connect(ADDR["n2"], port, guid)
        rc = SMB2CreateDurableHandleReconnectV2()
        rc["file_id"], rc["create_guid"], rc["flags"] = file_id, create_guid, 0x2
        o2 = Open(t2, "vm.vhdx")
        try:
            o2.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                      CreateDisposition.FILE_OPEN, 0x40,
                      [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc), _lease(lease_key)],
                      oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        except BaseException:
            with contextlib.suppress(SMBException, OSError, ValueError):
                c2.disconnect(close=False)
            raise
        return c2, o2

    def adopted() -> bool:
        return not (journals / "n1").exists() and not list(journals.glob("n1.adopted-by-*"))

    deadline = time.monotonic() + 30
    while not adopted():
        assert time.monotonic() < deadline, f"n1's journal not adopted: {sorted(p.name for p in journals.iterdir())}"
        time.sleep(0.1)
    adopted_s = time.monotonic() - t0

    # while the owner is disconnected, another client on the adopter is refused the file (share mode)
    # and the locked range (no break is sent: the owner's lease has no connection to break)
    other_conn, other_tree = _connect(ADDR["n2"], port, uuid.uuid4(), "bob")
    try:
        with pytest.raises(SMBResponseException) as ei:
            Open(other_tree, "vm.vhdx").create(ImpersonationLevel.Impersonation, RW, 0x80, 7,
                                               CreateDisposition.FILE_OPEN, 0x40)
        assert ei.value.status == SHARING_VIOLATION
        reader = Open(other_tree, "vm.vhdx")
        reader.create(ImpersonationLevel.Impersonation, 0x1, 0x80,
                      ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE, CreateDisposition.FILE_OPEN, 0x40)
        with pytest.raises(SMBResponseException) as ei:
            reader.read(LOCK_OFFSET, 10)
        assert ei.value.status == LOCK_CONFLICT  # the adopted byte-range lock still holds
        reader.close()
    finally:
        other_conn.disconnect()

    conn2, op2 = _until(reconnect, 30, "DH2C on n2")
    took = time.monotonic() - t0
    try:
        second = b"after the failover\n" * 100
        op2.write(second, len(first))  # the same handle goes on writing on the new node
        assert op2.read(0, len(first) + len(second)) == first + second
        _listed(state, "n2")  # ... and on the adopter after the failover
        _close_smb_open_file(state, port)
        op2.close()
    finally:
        conn2.disconnect()
    print(f"\nSIGKILL of n1 -> journal adopted by n2 after {adopted_s:.2f} s, DH2C accepted after {took:.2f} s")
