"""Disk witness (sofs.cluster.witness_disk): OFD locks + epoch record, in-process and across processes."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sofs.cluster.witness_disk import DiskWitness

ROOT = str(Path(__file__).resolve().parents[2])


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_two_claimants_one_wins(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        a = DiskWitness(str(tmp_path / "w"), ttl=5, clock=clock)
        b = DiskWitness(str(tmp_path / "w"), ttl=5, clock=clock)
        ca, cb = await asyncio.gather(a.acquire("c", "a", 1), b.acquire("c", "b", 1))
        assert (ca is None) != (cb is None)
        winner, loser = (a, b) if ca else (b, a)
        claim = ca or cb
        assert claim is not None and claim.generation == 1 and claim.valid_until == 1005.0
        # the holder renews; the loser keeps failing
        clock.t += 4
        renewed = await winner.renew(claim)
        assert renewed is not None and renewed.generation == 1 and renewed.valid_until == 1009.0
        assert await loser.acquire("c", "x", 1) is None
        st = await loser.probe()
        assert st.reachable and st.holder == claim.node and st.epoch == 1
        assert "holder lock held" in st.detail
        await a.close()
        await b.close()
    asyncio.run(main())


def test_holder_stops_renewing_other_wins_after_ttl(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        a = DiskWitness(str(tmp_path / "w"), ttl=5, clock=clock)
        b = DiskWitness(str(tmp_path / "w"), ttl=5, clock=clock)
        ca = await a.acquire("c", "a", 1)
        assert ca is not None
        assert await b.acquire("c", "b", 2) is None   # b starts watching the record
        clock.t += 5
        assert await b.acquire("c", "b", 2) is None   # exactly ttl: not yet
        clock.t += 0.5
        cb = await b.acquire("c", "b", 2)
        assert cb is not None and cb.generation == 2 and cb.epoch == 2
        # the stale holder resumes: its renew fails and it lets go of the holder range
        assert await a.renew(ca) is None
        assert (await a.probe()).holder == "b"
        cb2 = await b.renew(cb)   # now b also gets the holder-range lock
        assert cb2 is not None
        await a.close()
        await b.close()
    asyncio.run(main())


def test_release_frees_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        a = DiskWitness(str(tmp_path / "w"), ttl=60)
        b = DiskWitness(str(tmp_path / "w"), ttl=60)
        ca = await a.acquire("c", "a", 1)
        assert ca is not None
        await a.release(ca)
        assert (await b.probe()).holder is None
        cb = await b.acquire("c", "b", 1)
        assert cb is not None and cb.generation == 2
        await a.close()
        await b.close()
    asyncio.run(main())


def test_unreachable_witness(tmp_path: Path) -> None:
    async def main() -> None:
        w = DiskWitness(str(tmp_path / "missing-dir" / "w"), ttl=5, timeout=1)
        t0 = time.monotonic()
        assert await w.acquire("c", "a", 1) is None
        st = await w.probe()
        assert not st.reachable and "missing-dir" in st.detail
        assert time.monotonic() - t0 < 1.0
        await w.close()
    asyncio.run(main())


def test_busy_mutex_times_out(tmp_path: Path) -> None:
    """A claimant that cannot get the mutex gives up after ``timeout`` instead of hanging."""
    from sofs.cluster.witness_disk import MUTEX_BYTE, ofd_try_lock

    async def main() -> None:
        path = str(tmp_path / "w")
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        assert ofd_try_lock(fd, MUTEX_BYTE)
        w = DiskWitness(path, ttl=5, timeout=0.2)
        t0 = time.monotonic()
        assert await w.acquire("c", "a", 1) is None
        assert not (await w.probe()).reachable
        assert time.monotonic() - t0 < 2.0
        os.close(fd)
        assert await w.acquire("c", "a", 1) is not None
        await w.close()
    asyncio.run(main())


HOLDER = """
import asyncio, sys
from sofs.cluster.witness_disk import DiskWitness
async def main():
    w = DiskWitness(sys.argv[1], ttl=float(sys.argv[2]))
    c = await w.acquire("c", "proc", 1)
    print("held" if c else "lost", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def _start_holder(path: str, ttl: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, path, str(ttl)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ROOT})
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_sigkilled_holder_is_replaced_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "w")
    p = _start_holder(path, 3600)

    async def main() -> None:
        w = DiskWitness(path, ttl=3600)
        assert await w.acquire("c", "me", 2) is None
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        c = await w.acquire("c", "me", 2)   # OFD holder lock vanished: no TTL wait
        assert c is not None and c.generation == 2
        await w.close()
    try:
        asyncio.run(main())
    finally:
        p.kill()
        p.wait()


def test_sigstopped_holder_loses_after_ttl(tmp_path: Path) -> None:
    path = str(tmp_path / "w")
    p = _start_holder(path, 0.3)
    os.kill(p.pid, signal.SIGSTOP)

    async def main() -> None:
        w = DiskWitness(path, ttl=0.3)
        assert await w.acquire("c", "me", 2) is None   # hung but alive: its lock is still held
        deadline = time.monotonic() + 5
        c = None
        while c is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            c = await w.acquire("c", "me", 2)
        assert c is not None and c.generation == 2
        await w.close()
    try:
        asyncio.run(main())
    finally:
        p.kill()
        p.wait()


def test_removed_witness_is_unreachable_not_held(tmp_path: Path) -> None:
    """The holder keeps an fd on the file; deleting the directory must not let it renew the orphan inode."""
    async def main() -> None:
        import shutil
        d = tmp_path / "wd"
        d.mkdir()
        a = DiskWitness(str(d / "w"), ttl=5, clock=Clock())
        claim = await a.acquire("c", "a", 1)
        assert claim is not None
        shutil.rmtree(d)
        assert await a.renew(claim) is None
        assert not (await a.probe()).reachable
        d.mkdir()  # a new (empty) witness file: free again, taken with a new record
        again = await a.acquire("c", "a", 2)
        assert again is not None and again.epoch == 2
        await a.close()
    asyncio.run(main())
