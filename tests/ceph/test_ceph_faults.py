"""Storage faults under load are pauses, not errors (issue 17, acceptance 3).

``sofs cluster up 3 --storage ceph`` with a three-way mirror CSV and a CA share. A client on n1 holds a
persistent handle with an RWH lease and a byte-range lock and writes 64 KiB blocks one after another,
each acknowledged write recorded. Then, in turn: kill -9 of the OSD of n2 (restarted after a while),
kill -9 of the active MDS (a standby takes over; restarted after a while), and kill -9 of the whole node
n3 (its sofs node process, its OSD, monitor and MDS). The workload must see no error; every acknowledged
block must read back intact (through the same handle and through another node); the longest gap
between two acknowledged writes after each event is printed (the pause figures of the note).
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from ceph_fixture import PASSWORD, USER, ceph_cluster_up

smbprotocol = pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import RW, _ctx, _lease, _lock

pytestmark = [pytest.mark.interop, pytest.mark.slow]
BLOCK = 64 * 1024


def _block(i: int) -> bytes:
    return (f"{i:012d}".encode() * (BLOCK // 12 + 1))[:BLOCK]


def _connect(node: int, port: int) -> tuple[Connection, TreeConnect]:
    conn = Connection(uuid.uuid4(), f"127.0.0.1{node}", port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=10)
    s = Session(conn, USER, PASSWORD, require_encryption=False)
    s.connect()
    tree = TreeConnect(s, rf"\\127.0.0.1{node}\VMS")
    tree.connect()
    return conn, tree


class Writer(threading.Thread):
    def __init__(self, op: Open) -> None:
        super().__init__(daemon=True)
        self.op, self.acked, self.errors = op, [], []
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                self.op.write(_block(i), i * BLOCK)
            except Exception as e:  # noqa: BLE001 - any failure is an application error, counted
                self.errors.append((time.monotonic(), repr(e)))
                return
            self.acked.append((time.monotonic(), i))
            i += 1

    def longest_gap(self, since: float) -> float:
        """The longest time without an acknowledged write from ``since`` until now."""
        times = [since, *(t for t, _ in self.acked if t >= since), time.monotonic()]
        return max(b - a for a, b in itertools.pairwise(times))


def _kill(pids: dict[str, int], names: list[str]) -> None:
    for n in names:
        if n in pids:
            os.kill(pids[n], signal.SIGKILL)


def test_osd_mds_and_node_kill_are_pauses(tmp_path: Path) -> None:
    with ceph_cluster_up() as c:
        c.mirrored_ca_share()
        time.sleep(2)
        conn, tree = _connect(1, c.port)
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()
        op = Open(tree, "vm.vhdx")
        rsp = op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                        CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                        [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh),
                         _lease(uuid.uuid4().bytes)], oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        assert [x for x in rsp if isinstance(x, SMB2CreateDurableHandleResponseV2)], "no persistent handle"
        _lock(op)
        w = Writer(op)
        w.start()
        time.sleep(5)
        report = {"baseline": w.longest_gap(time.monotonic() - 5)}

        t = time.monotonic()  # 1: a disk (OSD) of n2 dies, comes back 15 s later
        _kill(c.ceph.pids("n2"), ["osd.1"])
        time.sleep(15)
        report["osd kill"] = w.longest_gap(t)
        degraded = c.cmdlet_json("Get-VirtualDisk")[0]
        c.ceph.start(["n2"])
        healthy = c.wait_disk(("OK",))

        t = time.monotonic()  # 2: the active MDS dies; a standby takes over; restarted 15 s later
        active = c.ceph.status()["fsmap"]["by_rank"][0]["name"]
        _kill(c.ceph.pids(), [f"mds.{active}"])
        time.sleep(15)
        report[f"mds kill (mds.{active})"] = w.longest_gap(t)
        c.ceph.start()

        t = time.monotonic()  # 3: node n3 dies whole: SMB process, OSD, monitor, MDS
        cfg = json.loads((c.state / "cluster.json").read_text())
        os.kill(cfg["nodes"]["n3"]["pid"], signal.SIGKILL)
        _kill(c.ceph.pids("n3"), ["mon.n3", "osd.2", "mds.n3"])
        time.sleep(20)
        report["node n3 kill"] = w.longest_gap(t)
        w.stop.set()
        w.join(60)
        print("\nstorage faults under load (longest gap between acknowledged 64 KiB writes, s):",
              json.dumps({k: round(v, 2) for k, v in report.items()}),
              f"\nwrites acknowledged: {len(w.acked)}; Get-VirtualDisk after the OSD kill: "
              f"{degraded['HealthStatus']}/{degraded['OperationalStatus']}, after its return: "
              f"{healthy['HealthStatus']}/{healthy['OperationalStatus']}")
        assert not w.errors, f"application errors: {w.errors}"
        assert degraded["HealthStatus"] == "Warning" and healthy["OperationalStatus"] == "OK"
        n = len(w.acked)
        for i in range(0, n, 97):  # every acknowledged block is there (sampled through the same handle)
            assert op.read(i * BLOCK, BLOCK) == _block(i), f"block {i}"
        conn2, tree2 = _connect(2, c.port)  # ... and through another node, all of them
        try:
            reader = Open(tree2, "vm.vhdx")
            reader.create(ImpersonationLevel.Impersonation, 0x1, 0x80,
                          ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE, CreateDisposition.FILE_OPEN,
                          0x40)
            for i in range(n):
                assert reader.read(i * BLOCK, BLOCK) == _block(i), f"block {i} through n2"
            reader.close()
        finally:
            conn2.disconnect()
        op.close()
        conn.disconnect()
