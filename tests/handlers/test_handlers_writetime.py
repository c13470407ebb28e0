"""Delayed write-time updates (sofs.handlers.writetime) on a real file, without sleeping."""
from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

from sofs.handlers import writetime


def _op(fd: int) -> SimpleNamespace:
    return SimpleNamespace(handle=SimpleNamespace(fd=fd), stream=None, frozen_times={}, ext={}, closed=False)


def test_write_keeps_time_until_flush_then_close_updates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "f"
    p.write_bytes(b"")
    old = 1_000_000_000 * 10**9
    os.utime(p, ns=(old, old))
    fd = os.open(p, os.O_RDWR)

    async def run() -> None:
        op = _op(fd)
        writetime.before_write(op)
        os.pwrite(fd, b"x", 0)
        writetime.after_write(op)
        assert os.fstat(fd).st_mtime_ns == old  # pinned: the write did not move it
        assert op.ext[writetime.KEY].timer is not None  # one delayed update scheduled
        writetime.flush([op])  # FLUSH carries it out now
        moved = os.fstat(fd).st_mtime_ns
        assert moved > old
        writetime.before_write(op)
        os.pwrite(fd, b"y", 1)
        writetime.after_write(op)
        assert os.fstat(fd).st_mtime_ns == moved  # a second write does not move it again...
        assert writetime.on_close(op)  # ...until close
        assert writetime.KEY not in op.ext

    try:
        asyncio.run(run())
    finally:
        os.close(fd)


def test_explicit_time_cancels_pending_updates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "g"
    p.write_bytes(b"")
    fd = os.open(p, os.O_RDWR)

    async def run() -> None:
        a, b = _op(fd), _op(fd)
        writetime.before_write(a)
        os.pwrite(fd, b"x", 0)
        writetime.after_write(a)
        writetime.cancel_all([a, b])
        assert not writetime.on_close(a)
        frozen = _op(fd)
        frozen.frozen_times["last_write_time"] = 1
        writetime.before_write(frozen)
        assert writetime.KEY not in frozen.ext  # sticky write time: nothing to delay

    try:
        asyncio.run(run())
    finally:
        os.close(fd)
