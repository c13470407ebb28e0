"""fsio.Serial: large writes to one file run one at a time, in submission order, errors delivered."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sofs.handlers.base import SmbError
from sofs.handlers.fsio import Serial
from sofs.vfs.base import VfsError
from sofs.wire.status import NtStatus


def test_serial_runs_in_order_one_at_a_time() -> None:
    running = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def job(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)  # a blocking call in a pool thread (what a pwrite is)
        order.append(i)
        with lock:
            running -= 1
        return i * 10

    async def main() -> list[int]:
        s = Serial()
        return list(await asyncio.gather(*(s.run(job, i) for i in range(20))))

    assert asyncio.run(main()) == [i * 10 for i in range(20)]
    assert order == list(range(20))
    assert peak == 1


def test_serial_delivers_errors_and_keeps_going() -> None:
    def bad() -> None:
        raise VfsError(NtStatus.DISK_FULL, "full")

    def boom() -> None:
        raise OSError(28, "No space left on device")

    async def main() -> tuple[object, ...]:
        s = Serial()
        return tuple(await asyncio.gather(s.run(bad), s.run(boom), s.run(lambda: 7), return_exceptions=True))

    r1, r2, r3 = asyncio.run(main())
    assert isinstance(r1, SmbError) and r1.status == NtStatus.DISK_FULL
    assert isinstance(r2, OSError) and r2.errno == 28
    assert r3 == 7


def test_serial_cancelled_waiter_does_not_break_the_queue() -> None:
    gate = threading.Event()

    async def main() -> int:
        s = Serial()
        first = asyncio.ensure_future(s.run(gate.wait, 5))
        second = asyncio.ensure_future(s.run(lambda: 2))
        await asyncio.sleep(0.01)
        first.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(main()) == 2
