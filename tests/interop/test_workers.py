"""Two SMB worker processes on one server (``sofs serve --workers 2``, issue 16): connections of one
client land on both, and the handle state holds across them because both are clients of the same
volume coordinators (real processes, loopback; smbprotocol as the client, smbtorture for breaks).

Which worker serves a connection is read from its session id (bits 32-39 carry the worker's index,
:mod:`sofs.server.placement`); the main process is worker 0.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sofs.handlestate.listing import collect, request_close
from tests.conftest import USERS, SofsServer, start_sofs
from tests.interop.test_ca_durable import RWH, _ctx, _lease

pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
    SMB2CreateResponseLease,
    SMB2CreateResponseLeaseV2,
)
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    RequestedOplockLevel,
    ShareAccess,
    SMB2LockElement,
)
from smbprotocol.session import Session, SMB2SessionSetupRequest
from smbprotocol.tree import TreeConnect

SHARES = {"data": "", "ca": "continuously_available = true"}
RW = int(FilePipePrinterAccessMask.FILE_READ_DATA | FilePipePrinterAccessMask.FILE_WRITE_DATA)
SHARING_VIOLATION = 0xC0000043
FILE_LOCK_CONFLICT = 0xC0000054
LOCK_NOT_GRANTED = 0xC0000055
FILE_NOT_AVAILABLE = 0xC0000467
USER_SESSION_DELETED = 0xC0000203
FILE_CLOSED = 0xC0000128
NETWORK_SESSION_EXPIRED = 0xC000035C


def worker_of(session_id: int) -> int:
    return (session_id >> 32) & 0xFF


def _status(e: BaseException) -> int:
    return int(getattr(e, "status", 0) or 0)


class Client:
    """One SMB connection (ClientGuid ``guid``) with a session and a tree on ``share``."""

    def __init__(self, srv: SofsServer, share: str, guid: uuid.UUID | None = None,
                 previous_session_id: int = 0) -> None:
        self.guid = guid or uuid.uuid4()
        self.conn = Connection(self.guid, srv.host, srv.port, require_signing=False)
        self.conn.connect(Dialects.SMB_3_1_1, timeout=10)
        if previous_session_id:
            send = self.conn.send

            def with_previous(message: Any, *args: Any, **kw: Any) -> Any:
                if isinstance(message, SMB2SessionSetupRequest):
                    message["previous_session_id"] = previous_session_id
                return send(message, *args, **kw)

            self.conn.send = with_previous  # type: ignore[method-assign]
        self.session = Session(self.conn, "alice", USERS["alice"], require_encryption=False)
        self.session.connect()
        self.tree = TreeConnect(self.session, rf"\\{srv.host}\{share}")
        self.tree.connect()

    @property
    def worker(self) -> int:
        return worker_of(self.session.session_id)

    def open(self, name: str, *, share_access: int = 0x7, access: int = RW,
             disposition: int = CreateDisposition.FILE_OPEN_IF, contexts: list[Any] | None = None,
             oplock: int = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE) -> tuple[Open, list[Any]]:
        op = Open(self.tree, name)
        rsp = op.create(ImpersonationLevel.Impersonation, access, 0x80, share_access, disposition, 0x40,
                        contexts, oplock_level=oplock)
        return op, rsp or []

    def open_persistent(self, name: str, create_guid: uuid.UUID, lease_key: bytes) -> tuple[Open, list[Any]]:
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"] = 0
        dh["flags"] = 0x2
        dh["create_guid"] = create_guid
        return self.open(name, share_access=ShareAccess.FILE_SHARE_READ,
                         disposition=CreateDisposition.FILE_OVERWRITE_IF,
                         contexts=[_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(lease_key)],
                         oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)

    def reconnect(self, name: str, file_id: bytes, create_guid: uuid.UUID, lease_key: bytes) -> tuple[Open, list[Any]]:
        rc = SMB2CreateDurableHandleReconnectV2()
        rc["file_id"] = file_id
        rc["create_guid"] = create_guid
        rc["flags"] = 0x2
        return self.open(name, share_access=ShareAccess.FILE_SHARE_READ, disposition=CreateDisposition.FILE_OPEN,
                         contexts=[_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, rc), _lease(lease_key)],
                         oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)

    def drop(self) -> None:
        """Close the TCP connection without logging off (a client that lost its network)."""
        with contextlib.suppress(SMBException, OSError, ValueError):
            self.conn.disconnect(close=False)


def _lock(op: Open, offset: int, length: int) -> None:
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = 0x2 | 0x10  # exclusive, fail immediately
    op.lock([e])


def _lease_state(rsp: list[Any]) -> int | None:
    for c in rsp:
        if isinstance(c, SMB2CreateResponseLeaseV2 | SMB2CreateResponseLease):
            return int(c["lease_state"].get_value())
    return None


def _is_persistent(rsp: list[Any]) -> bool:
    return any(isinstance(c, SMB2CreateDurableHandleResponseV2) and c["flags"].get_value() & 0x2 for c in rsp)


def _two_workers(srv: SofsServer, share: str) -> tuple[Client, Client]:
    """Two clients (two ClientGuids) served by different workers."""
    a = Client(srv, share)
    for _ in range(6):
        b = Client(srv, share)
        if b.worker != a.worker:
            return a, b
        b.drop()
        time.sleep(0.2)
    raise AssertionError("every connection landed on the same worker")


def _listing(srv: SofsServer, share: str) -> list[dict[str, Any]]:
    return collect([(share, str(srv.shares[share]), SHARES[share] != "")])


def _wait(pred: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _worker_pid(srv: SofsServer, index: int) -> int:
    found = re.findall(rf"worker {index} ready \(pid (\d+)\)", srv.log_text())
    assert found, srv.log_text()[-2000:]
    return int(found[-1])


def _start(shares: dict[str, str] = SHARES) -> SofsServer:
    """A server with two workers, once both take connections."""
    s = start_sofs(shares=shares, args=("--workers", "2"))
    _wait(lambda: "serving with 2 worker processes" in s.log_text(), "worker 1 to start", timeout=60)
    return s


def _stop(srv: SofsServer) -> None:
    srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


@pytest.fixture(scope="module")
def srv() -> Iterator[SofsServer]:
    s = _start()
    yield s
    _stop(s)


@pytest.fixture
def fresh() -> Iterator[SofsServer]:
    """A server of its own: nothing else connected, so where connections land is known."""
    s = _start()
    yield s
    _stop(s)


@pytest.mark.timeout(120)
def test_share_modes_and_locks_across_workers(srv: SofsServer) -> None:
    a, b = _two_workers(srv, "data")
    try:
        held, _ = a.open("exclusive.txt", share_access=0)
        with pytest.raises(SMBResponseException) as ei:
            b.open("exclusive.txt")
        assert _status(ei.value) == SHARING_VIOLATION
        held.close()
        mine, _ = b.open("exclusive.txt")  # free again
        mine.close()

        fa, _ = a.open("locked.bin")
        fa.write(b"x" * 8192, 0)
        _lock(fa, 0, 4096)
        fb, _ = b.open("locked.bin")
        with pytest.raises(SMBResponseException) as ei:
            fb.write(b"y" * 10, 100)  # the other worker's data path sees the lock
        assert _status(ei.value) == FILE_LOCK_CONFLICT
        with pytest.raises(SMBResponseException) as ei:
            _lock(fb, 1000, 10)
        assert _status(ei.value) == LOCK_NOT_GRANTED
        fb.write(b"y" * 10, 5000)  # outside the range
        fa.close()  # the lock goes with the open
        fb.write(b"y" * 10, 100)
        fb.close()
    finally:
        a.drop()
        b.drop()


@pytest.mark.timeout(120)
def test_open_file_listing_and_close_across_workers(srv: SofsServer) -> None:
    a, b = _two_workers(srv, "data")
    try:
        fa, _ = a.open("listed-a.txt")
        fb, _ = b.open("listed-b.txt")
        fa.write(b"a", 0)
        fb.write(b"b", 0)
        def both() -> dict[str, dict[str, Any]] | None:
            rows = {r["path"]: r for r in _listing(srv, "data") if r["path"] in ("listed-a.txt", "listed-b.txt")}
            return rows if len(rows) == 2 else None

        rows = _wait(both, "both workers' opens in the listing")
        assert {r["session_id"] for r in rows.values()} == {f"0x{a.session.session_id:x}",
                                                            f"0x{b.session.session_id:x}"}
        # Close-SmbOpenFile of the open the other worker holds (requests go to the main process)
        other = fa if a.worker != 0 else fb
        request_close(srv.shares["data"], None, int.from_bytes(other.file_id[:8], "little"))
        deadline = time.monotonic() + 10
        with pytest.raises(SMBResponseException) as ei:
            while time.monotonic() < deadline:  # closed within the main process's next tick
                other.read(0, 1)
                time.sleep(0.2)
        assert _status(ei.value) == FILE_CLOSED
        (fb if other is fa else fa).close()
    finally:
        a.drop()
        b.drop()


@pytest.mark.timeout(180)
def test_persistent_handle_reconnects_on_the_other_worker(fresh: SofsServer) -> None:
    """A persistent handle with an RWH lease and a byte-range lock, opened through worker 0, comes
    back through worker 1 after the client lost its connection; meanwhile the file is not available to
    other clients, on either worker."""
    cg, lk = uuid.uuid4(), os.urandom(16)
    a = Client(fresh, "ca")
    assert a.worker == 0
    op, rsp = a.open_persistent("moving.bin", cg, lk)
    assert _is_persistent(rsp) and _lease_state(rsp) == RWH
    op.write(b"before" * 100, 0)
    _lock(op, 1 << 20, 4096)
    a.drop()
    _wait(lambda: [r for r in _listing(fresh, "ca") if r["path"] == "moving.bin" and r["state"] == "disconnected"],
          "the open to be disconnected")
    # two connections on worker 0, one on worker 1: the reconnect lands on worker 1
    filler, other, filler2 = (Client(fresh, "ca") for _ in range(3))
    assert (filler.worker, other.worker, filler2.worker) == (0, 1, 0)
    try:
        for c in (filler, other):
            with pytest.raises(SMBResponseException) as ei:
                c.open("moving.bin", access=int(FilePipePrinterAccessMask.FILE_READ_DATA))
            assert _status(ei.value) == FILE_NOT_AVAILABLE, f"worker {c.worker}"
        back = Client(fresh, "ca", guid=a.guid)
        assert back.worker == 1
        op2, rsp2 = back.reconnect("moving.bin", op.file_id, cg, lk)
        assert _lease_state(rsp2) == RWH
        assert op2.read(0, 600) == b"before" * 100
        op2.write(b"after", 0)
        with pytest.raises(SMBResponseException) as ei:
            _lock(op2, 1 << 20, 1)  # the lock came back with the open
        assert _status(ei.value) == LOCK_NOT_GRANTED
        op2.close()
        back.drop()
    finally:
        for c in (filler, other, filler2):
            c.drop()


@pytest.mark.timeout(180)
def test_previous_session_on_another_worker_is_logged_off(fresh: SofsServer) -> None:
    """A client whose connection went silent comes back on another worker with PreviousSessionId: the
    old session (on the first worker) is logged off there, its persistent open stays for the reconnect."""
    cg, lk = uuid.uuid4(), os.urandom(16)
    a = Client(fresh, "ca")
    op, rsp = a.open_persistent("prev.bin", cg, lk)
    assert _is_persistent(rsp)
    op.write(b"kept", 0)
    b = Client(fresh, "ca", previous_session_id=a.session.session_id)  # a's connection is still up
    assert b.worker != a.worker
    with pytest.raises(SMBResponseException) as ei:
        op.read(0, 4)
    assert _status(ei.value) in (USER_SESSION_DELETED, NETWORK_SESSION_EXPIRED)
    a.drop()
    back = Client(fresh, "ca", guid=a.guid)
    op2, _ = back.reconnect("prev.bin", op.file_id, cg, lk)
    assert op2.read(0, 4) == b"kept"
    op2.close()
    back.drop()
    b.drop()


@pytest.mark.timeout(240)
def test_a_killed_worker_is_restarted_and_its_clients_reclaim(fresh: SofsServer) -> None:
    cg, lk = uuid.uuid4(), os.urandom(16)
    f0 = Client(fresh, "ca")
    a = Client(fresh, "ca")
    assert (f0.worker, a.worker) == (0, 1)
    op, rsp = a.open_persistent("survivor.bin", cg, lk)
    assert _is_persistent(rsp)
    op.write(b"A" * 4096, 0)
    _lock(op, 8192, 100)
    pid = _worker_pid(fresh, 1)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises((SMBException, OSError, ConnectionError)):
        for _ in range(50):
            op.write(b"B" * 10, 0)
            time.sleep(0.1)
    a.drop()
    back = Client(fresh, "ca", guid=a.guid)  # on worker 0, or on the restarted worker 1
    op2, rsp2 = back.reconnect("survivor.bin", op.file_id, cg, lk)
    assert _lease_state(rsp2) == RWH
    assert op2.read(0, 1) in (b"A", b"B")
    with pytest.raises(SMBResponseException) as ei:
        _lock(op2, 8192, 1)  # the lock came back with the open
    assert _status(ei.value) == LOCK_NOT_GRANTED
    op2.close()
    _wait(lambda: _worker_pid(fresh, 1) != pid, "worker 1 to be restarted", timeout=30)
    c = Client(fresh, "ca")
    on_restarted = back if back.worker == 1 else c  # whichever the least loaded rule put there
    assert on_restarted.worker == 1
    g, _ = on_restarted.open("after-restart.txt")
    g.write(b"ok", 0)
    g.close()
    for x in (c, back, f0):
        x.drop()
    assert fresh.proc.poll() is None


TORTURE_ACROSS = {
    "share": ["smb2.lease.request", "smb2.lease.break", "smb2.lease.oplock", "smb2.lease.breaking3",
              "smb2.lease.v2_epoch2", "smb2.lease.v2_flags_breaking", "smb2.oplock.batch1", "smb2.sharemode.sharemode-access",
              "smb2.durable-open.oplock", "smb2.durable-open.open2-lease",
              "smb2.session.bind_negative_smb3signCtoHd", "smb2.session.bind2"],
    "ca": ["smb2.durable-v2-open.reopen1a-lease", "smb2.replay.replay3"],
}


@pytest.mark.timeout(600)
def test_smbtorture_across_workers(tmp_path: Path) -> None:
    """smbtorture's second connection of a test lands on the other worker (the least loaded): lease
    and oplock breaks, share modes, durable reconnects, replay and session binding (a connection with
    another ClientGuid binding to a session of the other worker moves there) pass as on one process."""
    from tests.interop.test_torture_ratchet import SHARES as TORTURE_SHARES
    from tests.interop.test_torture_ratchet import run_torture

    s = _start(TORTURE_SHARES)
    try:
        failures = []
        for share, tests in TORTURE_ACROSS.items():
            results = run_torture(s.port, share, tests, tmp_path / share)
            failures += [f"{t}: {results.get(t)}" for t in tests if results.get(t, ("missing",))[0] != "success"]
        log = s.log_text()
    finally:
        _stop(s)
    assert not failures, failures
    assert re.search(r"\[w1\]: connection \d+ from", log) and re.search(r"sofs.conn: connection \d+ from", log)
    assert "handed to worker" in log  # the binding test's second connection moved to its session


@pytest.mark.timeout(120)
def test_dedicated_coordinator_serves_no_client() -> None:
    """``--dedicated-coordinator``: the main process holds the coordinators only; with ``--workers 1``
    one worker process serves every client, and a share mode still holds between two of them."""
    s = start_sofs(shares={"data": ""}, args=("--workers", "1", "--dedicated-coordinator"))
    try:
        a, b = Client(s, "data"), Client(s, "data")
        assert (a.worker, b.worker) == (0, 0)
        held, _ = a.open("dedicated.txt", share_access=0)
        with pytest.raises(SMBResponseException) as ei:
            b.open("dedicated.txt")
        assert _status(ei.value) == SHARING_VIOLATION
        held.close()
        log = s.log_text()
        assert len(re.findall(r"\[w0\]: connection \d+ from", log)) == 2, log[-3000:]
        assert not re.search(r"sofs\.conn: connection \d+ from", log)  # nothing served by the main process
        assert "the main process coordinates only" in log
        a.drop()
        b.drop()
    finally:
        _stop(s)
