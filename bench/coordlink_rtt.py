"""Round trips per second over the coordinator link (sofs.server.coordlink), on loopback.

A child process runs a LinkServer with a trivial coordinator (every call answers at once); this
process opens one RemoteService and keeps ``depth`` calls in flight (each task awaits its answer
before the next call), for ``--seconds``, ``--rounds`` times. Two calls: ``oplock_ack(pid, level)``
(a small call: two ints in, one out) and ``admit`` (an AdmitRequest with a Caller, a lease and a
durable request in, an AdmitResult with a LeaseGrant out). Both processes run uvloop unless
``--asyncio``. What it measures: the link's own cost per call (codec, framing, asyncio, the
kernel's loopback), not a coordinator's.

    .venv/bin/python bench/coordlink_rtt.py --depth 1 16 --seconds 3 --rounds 3

``--inproc N --call oplock_ack|admit``: both ends in this one process and event loop (still over
loopback TCP), N calls one after the other, one line printed: for bench/coordlink_icount.sh, which
counts the instructions per call with callgrind (the same count however loaded the machine is).

Prints one line per call, depth and round: calls/s and mean latency (wall clock: they drop when
other processes compete for the CPU), and the CPU time per call of both processes together (client
``process_time`` + the server's utime+stime from /proc; steadier on a shared machine); then medians.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sofs.handlestate.api import (
    AdmitRequest,
    AdmitResult,
    Caller,
    DurableGrant,
    DurableRequest,
    LeaseGrant,
    LeaseRequest,
)
from sofs.server.coordlink_client import RemoteService
from sofs.server.coordlink_server import LinkServer

SECRET = b"bench-secret-0123456789abcdefghi"
VOLUME = "Volume1"


class Coordinator:
    def __init__(self) -> None:
        self.n = 0

    def attach(self, sink: Any, name: str) -> int:
        self.n += 1
        return self.n

    async def detach(self, endpoint: int) -> None:
        pass

    async def oplock_ack(self, persistent_id: int, level: int) -> int:
        return level

    async def admit(self, req: AdmitRequest, hook: Any) -> AdmitResult:
        lease = req.lease
        assert lease is not None
        return AdmitResult(req.file_id, 0xFF, LeaseGrant(lease.key, lease.state, lease.epoch + 1, 0, 2, None),
                           DurableGrant(2, True, 60000))


def serve(port_q: Any, use_uvloop: bool) -> None:
    async def main() -> None:
        server = LinkServer(SECRET)
        server.register(VOLUME, Coordinator())  # type: ignore[arg-type]
        port_q.put(await server.start("127.0.0.1", 0))
        await asyncio.Event().wait()
    run(main(), use_uvloop)


def run(coro: Any, use_uvloop: bool) -> Any:
    if use_uvloop:
        import uvloop
        return uvloop.run(coro)
    return asyncio.run(coro)


class Sink:
    def oplock_break(self, *a: Any) -> bool:
        return True

    def lease_break(self, *a: Any) -> bool:
        return True

    def revoked(self, *a: Any) -> None:
        pass

    def watching(self, *a: Any) -> None:
        pass

    async def file_facts(self, facts: Any) -> None:
        pass


async def drive(fn: Any, stop: float) -> int:
    """Call ``fn`` one call after the other until ``stop``; how many calls."""
    n = 0
    while time.perf_counter() < stop:
        await fn()
        n += 1
    return n


def server_cpu(pid: int) -> float:
    """utime + stime of process ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calls_of(svc: RemoteService) -> dict[str, Any]:
    caller = Caller(svc.endpoint, b"G" * 16, 0x1122334455667788, 1, "S-1-5-21-1-2-3-1001", 0x311, True)
    req = AdmitRequest(caller, 0xABCDEF, None, "dir\\file.txt", False, True, 1, 0x40, 0x12019F, 0x12019F, 7, 0xFF,
                       LeaseRequest(b"k" * 16, 7, 2), DurableRequest(2, 0, True, b"c" * 16))
    return {"oplock_ack": lambda: svc.oplock_ack(5, 1), "admit": lambda: svc.admit(req, None)}


async def inproc(n: int, call: str) -> None:
    server = LinkServer(SECRET)
    server.register(VOLUME, Coordinator())  # type: ignore[arg-type]
    port = await server.start("127.0.0.1", 0)
    svc = await RemoteService.connect("127.0.0.1", port, secret=SECRET, name="bench", volume=VOLUME, sink=Sink())
    fn = calls_of(svc)[call]
    t0 = time.perf_counter()
    for _ in range(n):
        await fn()
    dt = time.perf_counter() - t0
    print(f"{call} in one process, depth 1: {n / dt:.0f} calls/s, {dt / n * 1e6:.1f} us/call")
    await svc.close_link()
    await server.close()


async def measure(port: int, pid: int, args: argparse.Namespace) -> list[tuple[str, int, float, float]]:
    svc = await RemoteService.connect("127.0.0.1", port, secret=SECRET, name="bench", volume=VOLUME, sink=Sink())
    calls = calls_of(svc)
    out = []
    for rnd in range(args.rounds):
        for name, fn in calls.items():
            for depth in args.depth:
                stop = time.perf_counter() + args.seconds
                t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(pid)
                count = sum(await asyncio.gather(*(drive(fn, stop) for _ in range(depth))))
                dt = time.perf_counter() - t0
                cpu = (time.process_time() - c0 + server_cpu(pid) - s0) / count * 1e6
                rate = count / dt
                out.append((name, depth, rate, cpu))
                print(f"round {rnd + 1} {name:<10} depth {depth:>3}: {rate:9.0f} calls/s  "
                      f"{depth / rate * 1e6:7.1f} us/call  {cpu:6.1f} us CPU/call", flush=True)
    await svc.close_link()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, nargs="+", default=[1, 16])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--asyncio", action="store_true", help="plain asyncio event loops instead of uvloop")
    p.add_argument("--inproc", type=int, default=0, metavar="N")
    p.add_argument("--call", default="oplock_ack", choices=["oplock_ack", "admit"])
    args = p.parse_args()
    if args.inproc:
        run(inproc(args.inproc, args.call), not args.asyncio)
        return
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    child = ctx.Process(target=serve, args=(q, not args.asyncio), daemon=True)
    child.start()
    try:
        port = q.get(timeout=30)
        assert child.pid is not None
        results = run(measure(port, child.pid, args), not args.asyncio)
    finally:
        child.terminate()
        child.join()
    print(f"\nmedians ({'asyncio' if args.asyncio else 'uvloop'}, {args.rounds} rounds of {args.seconds:g} s):")
    for name in ("oplock_ack", "admit"):
        for depth in args.depth:
            rates = [r for n, d, r, _ in results if n == name and d == depth]
            cpus = [c for n, d, _, c in results if n == name and d == depth]
            print(f"  {name:<10} depth {depth:>3}: {statistics.median(rates):9.0f} calls/s  "
                  f"{statistics.median(cpus):6.1f} us CPU/call")


if __name__ == "__main__":
    main()
