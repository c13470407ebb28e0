"""A persistent handle survives the death of its node: the client reconnects (DH2C) to any other node.

Three real ``sofs node`` processes (``sofs cluster up 3``, loopback 127.0.0.11-13, embedded store), a
continuously available share on the cluster volume Volume1, whose coordinator (the owner of the group
``Cluster Virtual Disk (Volume1)``) holds the handle state of every node's clients. A client opens a
file with a persistent handle, an RWH lease and a byte-range lock, and writes; its node is killed with
SIGKILL — the coordinator itself in one case, another node in the other. Meanwhile another client on a
surviving node is refused the file (STATUS_FILE_NOT_AVAILABLE, read-write and read-only alike); the
client reconnects to a surviving node with the same ClientGuid and DH2C and goes on writing on the
same handle; every acknowledged byte is there at the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
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

from tests.interop.test_ca_durable import RW, _ctx, _lease, _lock

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARE = "CA"
FILE_NOT_AVAILABLE, FILE_CLOSED, SHARING_VIOLATION = 0xC0000467, 0xC0000128, 0xC0000043


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


def _close_smb_open_file(state: Path, port: int, node: str) -> None:
    """``sofs Close-SmbOpenFile -FileId N`` closes a connected client's open on ``node``: its next use
    of the handle gets STATUS_FILE_CLOSED."""
    conn, tree = _connect(ADDR[node], port, uuid.uuid4(), "bob")
    try:
        op = Open(tree, "other.txt")
        op.create(ImpersonationLevel.Impersonation, RW, 0x80, 7, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
        op.write(b"x" * 10, 0)
        fid = int.from_bytes(op.file_id[:8], "little")
        deadline = time.monotonic() + 10
        while str(fid) not in sofs("Get-SmbOpenFile", "-ClusterNodeName", node, state=state).stdout:
            assert time.monotonic() < deadline, f"{node} never published the open"
            time.sleep(0.3)
        r = sofs("Close-SmbOpenFile", "-FileId", str(fid), "-Force", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        with pytest.raises(SMBResponseException) as ei:
            op.read(0, 10)
        assert ei.value.status == FILE_CLOSED
    finally:
        conn.disconnect()


def _coordinator(state: Path) -> str:
    r = sofs("Get-ClusterSharedVolume", "-AsJson", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    csv = json.loads(r.stdout)  # one object (a list when there are several)
    assert csv["Name"] == "Cluster Virtual Disk (Volume1)", csv
    if csv["State"] != "Online":
        raise ValueError(f"the volume is {csv['State']}")
    return str(csv["Node"])


def _refused(addr: str, port: int) -> None:
    """Another client is refused the file while the handle waits, whatever it asks."""
    other_conn, other_tree = _connect(addr, port, uuid.uuid4(), "bob")
    try:
        for access, share in ((RW, 7), (0x1, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE)):
            with pytest.raises(SMBResponseException) as ei:
                Open(other_tree, "vm.vhdx").create(ImpersonationLevel.Impersonation, access, 0x80, share,
                                                   CreateDisposition.FILE_OPEN, 0x40)
            if ei.value.status == SHARING_VIOLATION:
                # the open is still connected: its node's death has not reached the coordinator yet
                # (a connected open refuses by share mode); asked again until the handle waits
                raise ValueError("the kill is not seen yet (SHARING_VIOLATION)")
            assert ei.value.status == FILE_NOT_AVAILABLE, hex(ei.value.status)
    finally:
        other_conn.disconnect()


@pytest.mark.parametrize("victim", ["coordinator", "other"])
def test_persistent_handle_moves_to_a_surviving_node(cluster: tuple[Path, int], victim: str) -> None:
    state, port = cluster
    coord = _until(lambda: _coordinator(state), 30, "the volume's coordinator")
    names = sorted(ADDR)
    node = coord if victim == "coordinator" else next(n for n in names if n != coord)
    survivors = [n for n in names if n != node]
    guid, create_guid, lease_key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
    conn, tree = _until(lambda: _connect(ADDR[node], port, guid), 30, f"tree connect on {node}")
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
    _listed(state, node)  # Get-SmbOpenFile shows the open on its node
    journal = state / "ClusterStorage" / "Volume1" / ".sofs" / "journal"
    assert any(journal.glob("journal.*")), "the coordinator journals persistent opens on the volume"

    t0 = time.monotonic()
    kill_quietly(node_pids(state)[node])
    with contextlib.suppress(SMBException, OSError, ValueError):
        conn.disconnect(close=False)
    _until(lambda: _refused(ADDR[survivors[0]], port), 30, f"refusal on {survivors[0]}")

    def reconnect() -> tuple[Connection, Open]:
        c2, t2 = _connect(ADDR[survivors[-1]], port, guid)
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

    conn2, op2 = _until(reconnect, 30, f"DH2C on {survivors[-1]}")
    took = time.monotonic() - t0
    try:
        second = b"after the failover\n" * 100
        op2.write(second, len(first))  # the same handle goes on writing on the new node
        assert op2.read(0, len(first) + len(second)) == first + second
        _listed(state, survivors[-1])
        _close_smb_open_file(state, port, survivors[0])
        op2.close()
    finally:
        conn2.disconnect()
    print(f"\nSIGKILL of {node} ({victim}) -> DH2C accepted on {survivors[-1]} after {took:.2f} s "
          f"(the volume's coordinator is now {_coordinator(state)})")


def test_a_persistent_handle_outlives_the_coordinators_death(cluster: tuple[Path, int]) -> None:
    """The coordinator dies, the client's node does not: the handle stays connected (its node
    re-registers it with the new coordinator, which replayed it from the journal), the client goes on
    writing without noticing, and a reader on the third node gets the file (no FILE_NOT_AVAILABLE)."""
    state, port = cluster
    coord = _until(lambda: _coordinator(state), 30, "the volume's coordinator")
    node = next(n for n in sorted(ADDR) if n != coord)
    third = next(n for n in sorted(ADDR) if n not in (coord, node))
    conn, tree = _until(lambda: _connect(ADDR[node], port, uuid.uuid4()), 30, f"tree connect on {node}")
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()
    op = Open(tree, "vm.vhdx")
    # no lease: the reader below would break it, and smbprotocol's receive thread dies on a lease
    # break notification (the connection goes, the handle waits: FILE_NOT_AVAILABLE for the reader)
    rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                    CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                    [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)],
                    oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE)
    assert [c for c in rsp if isinstance(c, SMB2CreateDurableHandleResponseV2)], "no persistent handle"
    op.write(b"a" * 4096, 0)
    kill_quietly(node_pids(state)[coord])
    _until(lambda: _coordinator(state) != coord or (_ for _ in ()).throw(ValueError("not moved yet")),
           30, "a new coordinator")
    _until(lambda: op.write(b"b" * 4096, 4096), 30, "the next write through the same handle")

    def read_on_third() -> None:
        c3, t3 = _connect(ADDR[third], port, uuid.uuid4(), "bob")
        try:
            r = Open(t3, "vm.vhdx")
            r.create(ImpersonationLevel.Impersonation, 0x1, 0x80,
                     ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE, CreateDisposition.FILE_OPEN, 0x40)
            assert r.read(0, 8192) == b"a" * 4096 + b"b" * 4096
            r.close()
        finally:
            c3.disconnect()

    read_on_third()  # at once: FILE_NOT_AVAILABLE here meant the handle was left disconnected
    op.close()
    conn.disconnect()
