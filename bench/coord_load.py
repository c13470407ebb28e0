"""Issue 13 acceptance 3: the volume's coordinator dies, or moves, under load (a benchmark, not a test).

A 3-node embedded cluster (loopback, default heartbeat settings) with a plain share on Volume1. Four
clients, connected to the nodes that do NOT coordinate the volume, loop: open (read/write, sharing
read), lock a range (exclusive), write 4 KiB, read it back, unlock, close — each on its own file.
Events, one after the other with a few seconds of load between them:

- ``--moves N``: ``Move-ClusterSharedVolume`` to another node, N times (the coordinator moves; the
  clients' nodes re-register their opens with the new one);
- ``--kill``: SIGKILL of the coordinator node (no client is on it). It is restarted afterwards.

Reported: every client error (there must be none), the longest gap between two completed loops of any
client around each event (the pause the clients felt), and afterwards the consistency of files (every
acknowledged write is there) and of the handle state (no open file left once the clients closed).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from cluster_proc import csv_coordinator, free_port_on, kill_quietly, node_pids, sofs
from smbprotocol.connection import Connection, Dialects
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, ShareAccess, SMB2LockElement
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.conftest import USERS, tmpfs_dir

ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
RW = 0x80000000 | 0x40000000
SHARE = "LOAD"


class Client(threading.Thread):
    def __init__(self, i: int, addr: str, port: int) -> None:
        super().__init__(daemon=True)
        self.i, self.addr, self.port = i, addr, port
        self.stop = threading.Event()
        self.done: list[float] = []  # completion time of every loop
        self.errors: list[tuple[float, str]] = []  # (when, what)
        self.last: bytes = b""

    def run(self) -> None:
        conn = Connection(uuid.uuid4(), self.addr, self.port, require_signing=False)
        conn.connect(Dialects.SMB_3_1_1, timeout=10)
        s = Session(conn, "alice", USERS["alice"], require_encryption=False)
        s.connect()
        tree = TreeConnect(s, rf"\\{self.addr}\{SHARE}")
        tree.connect()
        n = 0
        while not self.stop.is_set():
            n += 1
            data = f"client {self.i} loop {n}\n".encode().ljust(4096, b".")
            op = None
            try:
                op = Open(tree, f"c{self.i}.dat")
                op.create(ImpersonationLevel.Impersonation, RW, 0x80, ShareAccess.FILE_SHARE_READ,
                          CreateDisposition.FILE_OPEN_IF, 0x40)
                lk = SMB2LockElement()
                lk["offset"], lk["length"], lk["flags"] = 0, 4096, 0x2 | 0x10
                op.lock([lk])
                op.write(data, 0)
                if op.read(0, 4096) != data:
                    self.errors.append((time.monotonic(), f"loop {n}: read back something else"))
                lk["flags"] = 0x4
                op.lock([lk])
                op.close()
                op = None
                self.last = data
                self.done.append(time.monotonic())
            except Exception as e:  # noqa: BLE001 - every failure is what this benchmark counts
                self.errors.append((time.monotonic(), f"loop {n}: {type(e).__name__}: {e}"))
                if op is not None:  # an application closes what it opened, error or not
                    with contextlib.suppress(Exception):
                        op.close()
                time.sleep(0.2)
        conn.disconnect()


def gap_around(clients: list[Client], t0: float, t1: float) -> float:
    """The longest time a client went without completing a loop, over the gaps that overlap the
    event (``t0``: the cmdlet started or the kill; ``t1``: the cmdlet returned)."""
    worst = 0.0
    for c in clients:
        for a, b in itertools.pairwise(c.done):
            if b > t0 and a < t1:
                worst = max(worst, b - a)
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--kill", action="store_true")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of load between events")
    a = ap.parse_args()
    state = tmpfs_dir("sofs-coord-load-") / "cluster"
    state.mkdir(parents=True)
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n')
    d = state / "ClusterStorage" / "Volume1" / SHARE
    d.mkdir(parents=True)
    d.chmod(0o777)
    port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "load", "--state-dir", str(state), "--smb-port", str(port), timeout=120)
    if r.returncode:
        raise SystemExit(r.stdout + r.stderr)
    sofs("New-SmbShare", "-Name", SHARE, "-Path", rf"C:\ClusterStorage\Volume1\{SHARE}", "-FullAccess", "alice",
         state=state)
    print(f"# state and node logs: {state}", flush=True)
    try:
        home = coord = csv_coordinator(state)  # no client connects to it: it can be killed
        others = [n for n in sorted(ADDR) if n != coord]
        clients = [Client(i, ADDR[others[i % 2]], port) for i in range(4)]
        for c in clients:
            c.start()
        time.sleep(a.settle)
        events = []
        for k in range(a.moves):
            coord = csv_coordinator(state)
            nodes = sorted(ADDR)
            to = nodes[(nodes.index(coord) + 1) % len(nodes)]
            t = time.monotonic()
            r = sofs("Move-ClusterSharedVolume", "-Name", "Cluster Virtual Disk (Volume1)", "-Node", to, state=state)
            events.append((f"move {k + 1}: {coord} -> {to}", t, time.monotonic(), r.returncode))
            print(f"{time.strftime('%H:%M:%S')} move {k + 1}: {coord} -> {to} rc={r.returncode}", flush=True)
            time.sleep(a.settle)
        if a.kill:
            if (coord := csv_coordinator(state)) != home:
                t = time.monotonic()
                r = sofs("Move-ClusterSharedVolume", "-Name", "Cluster Virtual Disk (Volume1)", "-Node", home,
                         state=state)
                events.append((f"move back: {coord} -> {home}", t, time.monotonic(), r.returncode))
                print(f"{time.strftime('%H:%M:%S')} move back: {coord} -> {home} rc={r.returncode}", flush=True)
                time.sleep(a.settle)
            coord = csv_coordinator(state)
            t = time.monotonic()
            kill_quietly(node_pids(state)[coord])
            events.append((f"SIGKILL of coordinator {coord}", t, t + 0.001, 0))
            print(f"{time.strftime('%H:%M:%S')} SIGKILL of coordinator {coord}", flush=True)
            time.sleep(max(a.settle, 5.0))
        for c in clients:
            c.stop.set()
        for c in clients:
            c.join(30)
        errors = [(when, f"{c.i} {e}") for c in clients for when, e in c.errors]
        for what, t0, t1, rc in events:
            print(f"{what:<40} rc={rc} pause {gap_around(clients, t0, t1):.2f} s", flush=True)
        loops = sum(len(c.done) for c in clients)
        ok_files = all((d / f"c{c.i}.dat").read_bytes()[:4096] == c.last for c in clients if c.last)
        time.sleep(2)
        listing = sofs("Get-SmbOpenFile", state=state).stdout.strip()
        print(f"# {loops} loops by 4 clients, {len(errors)} error(s); files consistent: {ok_files}; "
              f"open files left: {'none' if not listing else listing}; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for when, e in sorted(errors)[:20]:
            near = max((ev for ev in events if ev[1] <= when), key=lambda ev: ev[1], default=None)
            at = f"{when - near[1]:+.2f} s after {near[0]}" if near else "before the first event"
            print(f"ERROR client {e} ({at})")
        return 1 if errors or not ok_files else 0
    finally:
        sofs("cluster", "down", "--state-dir", str(state), timeout=60)
        os.environ.pop("SOFS_CLUSTER_DIR", None)


if __name__ == "__main__":
    raise SystemExit(main())
