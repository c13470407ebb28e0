"""Worker processes on cluster nodes (issue 16): ``sofs cluster up 3 --workers 2`` on loopback.

Each node runs its main process (worker 0) and one worker process; every worker links to the volume's
coordinator itself. Which worker serves a connection is read from its session id (bits 32-39 carry
the worker's index); the main process is worker 0 and placement is least-loaded, lowest index first.
Checked with real processes and smbprotocol: share modes and byte-range locks between the workers of
a node and of other nodes, the open-file listing and Close-SmbOpenFile of a worker's open, a durable
(persistent) reconnect landing on the other worker of another node, SIGKILL of a worker (restarted,
its client reclaims), SIGKILL of a whole node with its workers (its clients reclaim on another node),
and the death of the volume's coordinator while a worker of another node holds a locked handle (the
worker re-registers it at the new coordinator before the node's grace ends: the handle goes on).
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import ssl
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cluster_proc import free_port_on, node_pids, sofs

from tests.conftest import USERS

pytest.importorskip("smbprotocol")
from smbprotocol.create_contexts import CreateContextName, SMB2CreateDurableHandleRequestV2
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import CreateDisposition

from tests.cluster.test_cluster_ca_failover import _coordinator, _until
from tests.cluster.test_cluster_torture import _new_shares
from tests.interop.test_ca_durable import RWH, _ctx
from tests.interop.test_workers import (
    FILE_LOCK_CONFLICT,
    FILE_NOT_AVAILABLE,
    LOCK_NOT_GRANTED,
    SHARING_VIOLATION,
    Client,
    _is_persistent,
    _lease_state,
    _lock,
    _status,
)

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARES = {"data": False, "ca": True}


def _log(state: Path, node: str) -> str:
    return (state / f"{node}.log").read_text(errors="replace")


def _worker_pid(state: Path, node: str) -> int:
    found = re.findall(r"worker 1 ready \(pid (\d+)\)", _log(state, node))
    assert found, _log(state, node)[-2000:]
    return int(found[-1])


def _up(tmp_path: Path) -> tuple[Path, int]:
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n'
                                    f'[[user]]\nname = "bob"\npassword = "{USERS["bob"]}"\n')
    for name in SHARES:
        d = state / "ClusterStorage" / "Volume1" / "torture" / name
        d.mkdir(parents=True)
        d.chmod(0o777)
    port = free_port_on(list(ADDR.values()))
    api_port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "wk", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port), "--workers", "2", "--api-port", str(api_port),
             timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    asyncio.run(_new_shares(state, SHARES))
    deadline = time.monotonic() + 60
    for node in ADDR:
        while "serving with 2 worker processes" not in _log(state, node):
            assert time.monotonic() < deadline, _log(state, node)[-3000:]
            time.sleep(0.2)
    _until(lambda: _coordinator(state), 30, "the volume's coordinator")
    return state, port


def _down(state: Path) -> None:
    sofs("cluster", "down", "--state-dir", str(state), "--timeout", "10", timeout=60)
    deadline = time.monotonic() + 10
    while (left := _worker_pids_alive(state)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"worker processes left running: {left}"


def _worker_pids_alive(state: Path) -> list[tuple[str, int]]:
    out = []
    for node in ADDR:
        for pid in map(int, re.findall(r"worker \d+ ready \(pid (\d+)\)", _log(state, node))):
            with contextlib.suppress(OSError):
                if "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                    out.append((node, pid))
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    state, port = _up(tmp_path_factory.mktemp("wk"))
    yield state, port
    _down(state)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state, port = _up(tmp_path)
    yield state, port
    _down(state)


def _client(node: str, port: int, share: str, guid: uuid.UUID | None = None) -> Client:
    return _until(lambda: Client(SimpleNamespace(host=ADDR[node], port=port), share, guid), 30,  # type: ignore[arg-type]
                  f"a session on {node}")


def _on_worker(node: str, port: int, share: str, want: int, keep: list[Client]) -> Client:
    """A client served by worker ``want`` of ``node`` (connections landing elsewhere stay in ``keep``)."""
    for _ in range(6):
        c = _client(node, port, share)
        if c.worker == want:
            return c
        keep.append(c)
    raise AssertionError(f"no connection landed on worker {want} of {node}")


def _drop(clients: list[Client]) -> None:
    for c in clients:
        c.drop()


@pytest.mark.timeout(300)
def test_share_modes_and_locks_across_workers_and_nodes(cluster: tuple[Path, int]) -> None:
    state, port = cluster
    keep: list[Client] = []
    try:
        a = _on_worker("n1", port, "data", 0, keep)
        b = _on_worker("n1", port, "data", 1, keep)
        c = _on_worker("n2", port, "data", 1, keep)
        keep += [a, b, c]
        held, _ = a.open("exclusive.txt", share_access=0)
        for other in (b, c):
            with pytest.raises(SMBResponseException) as ei:
                other.open("exclusive.txt")
            assert _status(ei.value) == SHARING_VIOLATION, (other.worker, hex(_status(ei.value)))
        held.close()
        mine, _ = c.open("exclusive.txt", share_access=0)  # free again, now held by n2's worker 1
        with pytest.raises(SMBResponseException) as ei:
            b.open("exclusive.txt")
        assert _status(ei.value) == SHARING_VIOLATION
        mine.close()

        fb, _ = b.open("locked.bin")  # a lock taken through n1's worker 1
        fb.write(b"x" * 8192, 0)
        _lock(fb, 0, 4096)
        for other in (a, c):
            fo, _ = other.open("locked.bin")
            with pytest.raises(SMBResponseException) as ei:
                fo.write(b"y" * 10, 100)  # the other process's data path sees the lock
            assert _status(ei.value) == FILE_LOCK_CONFLICT
            with pytest.raises(SMBResponseException) as ei:
                _lock(fo, 1000, 10)
            assert _status(ei.value) == LOCK_NOT_GRANTED
            fo.write(b"y" * 10, 5000)  # outside the range
            fo.close()
        fb.close()  # the lock goes with the open
        fc, _ = c.open("locked.bin")
        fc.write(b"z" * 10, 100)
        fc.close()

        # Get-SmbOpenFile lists the opens of every worker of every node; Close-SmbOpenFile closes one
        # held by a worker process
        fo, _ = b.open("listed.txt")
        fo.write(b"b", 0)
        fid = int.from_bytes(fo.file_id[:8], "little")
        _until(lambda: _listed_on(state, "n1", fid), 30, "n1's worker 1 open in Get-SmbOpenFile")
        r = sofs("Close-SmbOpenFile", "-FileId", str(fid), "-Force", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        deadline = time.monotonic() + 15
        with pytest.raises(SMBResponseException) as ei:
            while time.monotonic() < deadline:
                fo.read(0, 1)
                time.sleep(0.2)
        assert _status(ei.value) == 0xC0000128  # FILE_CLOSED
    finally:
        _drop(keep)


def _listed_on(state: Path, node: str, fid: int) -> None:
    r = sofs("Get-SmbOpenFile", "-ClusterNodeName", node, state=state)
    if r.returncode != 0 or str(fid) not in r.stdout:
        raise ValueError(f"not listed yet: {r.stdout} {r.stderr}")


def _open_locked_persistent(c: Client, name: str) -> tuple[Any, uuid.UUID, bytes]:
    cg, lk = uuid.uuid4(), os.urandom(16)
    op, rsp = c.open_persistent(name, cg, lk)
    assert _is_persistent(rsp) and _lease_state(rsp) == RWH
    op.write(b"before" * 100, 0)
    _lock(op, 1 << 20, 4096)
    return op, cg, lk


def _check_reclaimed(op2: Any, rsp2: list[Any]) -> None:
    assert _lease_state(rsp2) == RWH
    assert op2.read(0, 600)[:6] == b"before"
    op2.write(b"after", 0)
    with pytest.raises(SMBResponseException) as ei:
        _lock(op2, 1 << 20, 1)  # the lock came back with the open
    assert _status(ei.value) == LOCK_NOT_GRANTED


def _not_available(node: str, port: int, name: str) -> None:
    c = _client(node, port, "ca")
    try:
        with pytest.raises(SMBResponseException) as ei:
            c.open(name, access=0x1)
        if _status(ei.value) == SHARING_VIOLATION:
            raise ValueError("the open is still connected at the coordinator")
        assert _status(ei.value) == FILE_NOT_AVAILABLE, hex(_status(ei.value))
    finally:
        c.drop()


@pytest.mark.timeout(300)
def test_persistent_reconnect_lands_on_another_worker_of_another_node(cluster: tuple[Path, int]) -> None:
    """Opened through n1's main process; the client comes back on n3, where its connection lands on
    worker 1 (n3's worker 0 has a connection already): the handle, its lease and its lock are there."""
    _state, port = cluster
    keep: list[Client] = []
    try:
        a = _on_worker("n1", port, "ca", 0, keep)
        op, cg, lk = _open_locked_persistent(a, "moving.bin")
        a.drop()
        # the listing first: a probing open that reached the coordinator before the disconnect would
        # break the lease's write caching (RWH -> RH, as Windows) and the reclaim would get RH
        _until(lambda: _listed_disconnected(_state, "moving.bin"), 30, "the open listed as disconnected")
        _until(lambda: _not_available("n2", port, "moving.bin"), 30, "the open disconnected")
        keep.append(_on_worker("n3", port, "ca", 0, keep))
        back = _until(lambda: _reconnect_on("n3", port, a.guid, "moving.bin", op.file_id, cg, lk, 1), 30, "DH2C on n3's worker 1")
        keep.append(back[0])
        _check_reclaimed(back[1], back[2])
        back[1].close()
    finally:
        _drop(keep)


def _listed_disconnected(state: Path, name: str) -> None:
    """``Get-SmbOpenFile`` shows the open of ``name`` as Disconnected (the coordinator's node publishes
    its disconnected opens once a second)."""
    r = sofs("Get-SmbOpenFile", "-AsJson", state=state)
    rows = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []
    rows = rows if isinstance(rows, list) else [rows]
    if not any(str(o.get("ShareRelativePath", "")).endswith(name) and o.get("State") == "Disconnected"
               for o in rows):
        raise ValueError(f"{name} not listed as disconnected: {r.stdout} {r.stderr}")


def _reconnect_on(node: str, port: int, guid: uuid.UUID, name: str, file_id: bytes, cg: uuid.UUID, lk: bytes,
                  worker: int | None = None) -> tuple[Client, Any, list[Any]]:
    c = _client(node, port, "ca", guid)
    try:
        if worker is not None:
            assert c.worker == worker, f"landed on worker {c.worker} of {node}"
        op2, rsp2 = c.reconnect(name, file_id, cg, lk)
    except (SMBException, OSError, ValueError):
        c.drop()
        raise
    return c, op2, rsp2


@pytest.mark.timeout(300)
def test_a_killed_worker_is_restarted_and_its_client_reclaims(cluster: tuple[Path, int]) -> None:
    state, port = cluster
    keep: list[Client] = []
    try:
        a = _on_worker("n2", port, "ca", 1, keep)
        keep.append(a)
        op, cg, lk = _open_locked_persistent(a, "survivor.bin")
        pid = _worker_pid(state, "n2")
        os.kill(pid, signal.SIGKILL)
        a.drop()
        back = _until(lambda: _reconnect_on("n2", port, a.guid, "survivor.bin", op.file_id, cg, lk), 30, "DH2C on n2")
        keep.append(back[0])
        _check_reclaimed(back[1], back[2])
        back[1].close()
        _until(lambda: _restarted(state, "n2", pid), 30, "n2's worker 1 restarted")
        c = _on_worker("n2", port, "ca", 1, keep)
        keep.append(c)
        g, _ = c.open("after-restart.txt")
        g.write(b"ok", 0)
        g.close()
    finally:
        _drop(keep)


def _restarted(state: Path, node: str, old: int) -> None:
    if _worker_pid(state, node) == old or f"worker 1 ready (pid {_worker_pid(state, node)})" not in _log(state, node):
        raise ValueError("not yet")


@pytest.mark.timeout(300)
def test_a_killed_node_with_workers(fresh: tuple[Path, int]) -> None:
    """SIGKILL of a node's process group (main process and worker, as a machine failure): its client,
    served by the node's worker 1, reconnects (DH2C) on another node and finds its handle, lease and lock."""
    state, port = fresh
    keep: list[Client] = []
    try:
        coord = _coordinator(state)
        victim = next(n for n in sorted(ADDR) if n != coord)
        survivor = next(n for n in sorted(ADDR) if n not in (coord, victim))
        a = _on_worker(victim, port, "ca", 1, keep)
        keep.append(a)
        op, cg, lk = _open_locked_persistent(a, "vm.vhdx")
        os.killpg(node_pids(state)[victim], signal.SIGKILL)
        a.drop()
        back = _until(lambda: _reconnect_on(survivor, port, a.guid, "vm.vhdx", op.file_id, cg, lk), 60,
                      f"DH2C on {survivor}")
        keep.append(back[0])
        _check_reclaimed(back[1], back[2])
        back[1].close()
    finally:
        _drop(keep)


@pytest.mark.timeout(300)
def test_the_coordinator_dies_while_a_worker_of_another_node_holds_a_handle(fresh: tuple[Path, int]) -> None:
    """The volume's coordinator node is killed (process group); a worker of a surviving node holds a
    locked persistent handle meanwhile: the worker re-registers it at the new coordinator (before the
    node's grace ends), its client goes on writing on the same handle, and the share mode and the
    lock still refuse another client."""
    state, port = fresh
    keep: list[Client] = []
    try:
        coord = _coordinator(state)
        survivor = next(n for n in sorted(ADDR) if n != coord)
        h = _on_worker(survivor, port, "ca", 1, keep)
        keep.append(h)
        # no lease: the other client below would break it, and smbprotocol's receive thread dies on a
        # lease break notification (the connection goes, the handle waits: FILE_NOT_AVAILABLE for it)
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()
        op, rsp = h.open("db.mdf", share_access=0x1, disposition=CreateDisposition.FILE_OVERWRITE_IF,
                         contexts=[_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)])
        assert _is_persistent(rsp)
        op.write(b"before", 0)
        _lock(op, 1 << 20, 4096)
        os.killpg(node_pids(state)[coord], signal.SIGKILL)

        def moved() -> None:
            if _coordinator(state) == coord:
                raise ValueError("not moved yet")
        _until(moved, 60, "the volume's next coordinator")
        op.write(b"still here", 0)
        assert op.read(0, 10) == b"still here"
        o = _client(survivor, port, "ca")
        keep.append(o)
        with pytest.raises(SMBResponseException) as ei:
            o.open("db.mdf")  # h's open shares reading only
        assert _status(ei.value) == SHARING_VIOLATION, hex(_status(ei.value))
        fo, _ = o.open("db.mdf", access=0x1)
        with pytest.raises(SMBResponseException) as ei:
            _lock(fo, 1 << 20, 1)  # h's lock is still there
        assert _status(ei.value) == LOCK_NOT_GRANTED
        fo.close()
        op.close()
        assert "1 open(s) re-registered" in _log(state, survivor)
    finally:
        _drop(keep)


def _metrics(state: Path, node: str) -> dict[str, float]:
    """``/metrics`` of ``node`` (samples by name and labels), read as a viewer of the cluster."""
    from prometheus_client.parser import text_string_to_metric_families

    from sofs.cluster.config import load_cluster_config

    cfg = load_cluster_config(state)
    assert cfg is not None
    ctx = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
    req = urllib.request.Request(f"https://{ADDR[node]}:{cfg.api_port}/metrics")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"mon:monitor password").decode())
    with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
        text = r.read().decode()
    return {f"{s.name}{sorted(s.labels.items())}": s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_of_a_node_count_its_workers(cluster: tuple[Path, int]) -> None:
    """``/metrics`` of a node adds up its worker processes (their reports, once a second): the
    WRITEs, bytes, connections and sessions of a client served by worker 1 show on the node."""
    state, port = cluster
    assert sofs("New-LocalUser", "mon", "-Password", "monitor password", state=state).returncode == 0
    assert sofs("Grant-ClusterAccess", "mon", "-ReadOnly", state=state).returncode == 0
    writes = "sofs_smb_requests_total[('command', 'WRITE'), ('status', 'SUCCESS')]"
    written = "sofs_smb_written_bytes_total[]"
    before = _until(lambda: _metrics(state, "n2"), 30, "/metrics of n2")
    keep: list[Client] = []
    c = _on_worker("n2", port, "data", 1, keep)
    try:
        op, _ = c.open("metrics-by-worker")
        for i in range(25):
            op.write(b"m" * 4096, i * 4096)

        def counted() -> dict[str, float]:
            now = _metrics(state, "n2")
            if now.get(writes, 0) - before.get(writes, 0) < 25:
                raise ValueError(f"WRITEs counted: {now.get(writes)} (before: {before.get(writes)})")
            return now
        now = _until(counted, 15, "the worker's writes in the node's /metrics")
        assert now[written] - before.get(written, 0) >= 25 * 4096
        assert now["sofs_smb_sessions[]"] >= 1 and now["sofs_smb_connections[]"] >= 1
        assert now["sofs_smb_open_files[('kind', 'plain')]"] >= 1
        op.close()
    finally:
        _drop([c, *keep])
