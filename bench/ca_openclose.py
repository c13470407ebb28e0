"""Open+close per second with persistent-handle requests: sofs CA share (journal on) vs sofs plain
share vs Samba's plain share, in one run (issue 5 acceptance 4).

Each worker process holds one SMB 3.1.1 connection (smbprotocol's message layer) and loops:
CREATE (OPEN_IF, read/write, DH2Q with the PERSISTENT flag and a fresh CreateGuid) + CLOSE of its
own file. On a CA share sofs grants the persistent handle, so every open and every close is
journaled and fsynced before its response (group commit across workers); on a plain share the DH2Q
is refused (no batch oplock/lease asked), which is Samba's plain-share baseline. smbprotocol is
threaded and slow (~3 k round trips/s per process), so several processes drive the load.

    .venv/bin/python bench/ca_openclose.py \\
        --target sofs-ca=127.0.0.1:4711/ca:alice:Secret1! \\
        --target sofs-plain=127.0.0.1:4711/share:alice:Secret1! \\
        --target samba-plain=127.0.0.1:4450/share:sofs:Passw0rd! --procs 4 --seconds 10

Prints one line per target: opens+closes per second (one open+close = 1 op), mean latency, and how
many responses carried the persistent flag.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    host: str
    port: int
    share: str
    user: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Target:
        name, rest = text.split("=", 1)
        hostport, rest = rest.split("/", 1)
        share, user, password = rest.split(":", 2)
        host, port = hostport.rsplit(":", 1)
        return cls(name, host, int(port), share, user, password)


def _worker(t: Target, idx: int, seconds: float, start_at: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.create_contexts import (
        CreateContextName,
        SMB2CreateContextRequest,
        SMB2CreateDurableHandleRequestV2,
        SMB2CreateDurableHandleResponseV2,
    )
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    conn = Connection(uuid.uuid4(), t.host, t.port, require_signing=True)  # Samba wants a signed TREE_CONNECT
    conn.connect(Dialects.SMB_3_1_1, timeout=10)
    sess = Session(conn, t.user, t.password, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, rf"\\{t.host}\{t.share}")
    tree.connect()
    name = f"bench-openclose-{idx}.dat"
    n = persistent = 0
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"] = 0
        dh["flags"] = 0x2
        dh["create_guid"] = uuid.uuid4()
        ctx = SMB2CreateContextRequest()
        ctx["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2
        ctx["buffer_data"] = dh
        op = Open(tree, name)
        rsp = op.create(ImpersonationLevel.Impersonation, 0x3, 0x80, 0x7, CreateDisposition.FILE_OPEN_IF,
                        0x40, [ctx]) or []
        if any(isinstance(c, SMB2CreateDurableHandleResponseV2) and c["flags"].get_value() & 0x2 for c in rsp):
            persistent += 1
        op.close()
        n += 1
    elapsed = time.perf_counter() - t0
    conn.disconnect(close=True)
    out.put((n, elapsed, persistent))


def run_target(t: Target, procs: int, seconds: float) -> tuple[float, float, int, int]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 1.5  # every worker connected before the clock starts
    ps = [mp.Process(target=_worker, args=(t, i, seconds, start_at, q)) for i in range(procs)]
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 60) for _ in ps]
    for p in ps:
        p.join()
    ops = sum(r[0] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    latency = sum(r[1] / max(r[0], 1) for r in results) / len(results) * 1e3  # ms per open+close
    return rate, latency, ops, sum(r[2] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", required=True, help="NAME=HOST:PORT/SHARE:USER:PASS")
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=1, help="run the targets this many times, interleaved")
    a = ap.parse_args()
    targets = [Target.parse(x) for x in a.target]
    print(f"# open+close/s, {a.procs} processes x 1 connection, {a.seconds:.0f} s per target")
    print(f"{'target':<14} {'round':>5} {'open+close/s':>13} {'mean ms':>8} {'ops':>8} {'persistent':>10}")
    for r in range(a.rounds):
        for t in targets:
            rate, lat, ops, pers = run_target(t, a.procs, a.seconds)
            print(f"{t.name:<14} {r + 1:>5} {rate:>13.0f} {lat:>8.3f} {ops:>8} {pers:>10}", flush=True)


if __name__ == "__main__":
    main()
