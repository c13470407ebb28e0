"""Delayed write-time updates (sofs.handlers.writetime) on a real file, without sleeping."""
from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

from sofs.handlers import writetime

OLD = 1_000_000_000 * 10**9


def _op(fd: int) -> SimpleNamespace:
    return SimpleNamespace(handle=SimpleNamespace(fd=fd), stream=None, frozen_times={}, writetime=None, closed=False)


def _old_file(path) -> int:  # type: ignore[no-untyped-def]
    """An empty file whose times are OLD, opened for writing."""
    path.write_bytes(b"")
    os.utime(path, ns=(OLD, OLD))
    return os.open(path, os.O_RDWR)


def test_write_keeps_time_until_flush_then_close_updates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    old, fd = OLD, _old_file(tmp_path / "f")

    async def run() -> None:
        op = _op(fd)
        writetime.before_write(op)
        os.pwrite(fd, b"x", 0)
        writetime.after_write(op)
        assert os.fstat(fd).st_mtime_ns == old  # pinned: the write did not move it
        assert op.writetime.timer is not None  # one delayed update scheduled
        writetime.flush([op])  # FLUSH carries it out now
        moved = os.fstat(fd).st_mtime_ns
        assert moved > old
        writetime.before_write(op)
        os.pwrite(fd, b"y", 1)
        writetime.after_write(op)
        assert os.fstat(fd).st_mtime_ns == moved  # a second write does not move it again...
        assert writetime.on_close(op)  # ...until close
        assert op.writetime is None

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
        assert frozen.writetime is None  # sticky write time: nothing to delay

    try:
        asyncio.run(run())
    finally:
        os.close(fd)


def test_restore_in_a_pool_job_then_after_write_skips_the_second_futimens(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A large write puts the pinned time back in its pool job (writetime.restore); after_write on
    the loop then does not call futimens again, unless the delayed update fired in between."""
    old, fd = OLD, _old_file(tmp_path / "h")

    async def run() -> None:
        op = _op(fd)
        wt = writetime.before_write(op)
        assert wt is op.writetime
        os.pwrite(fd, b"x" * 100_000, 0)
        restored = await asyncio.get_running_loop().run_in_executor(None, writetime.restore, fd, wt)
        assert restored == old and os.fstat(fd).st_mtime_ns == old
        calls: list[object] = []
        real_utime = os.utime
        monkeypatch.setattr(writetime.os, "utime", lambda *a, **k: calls.append(a) or real_utime(*a, **k))
        writetime.after_write(op, restored)
        assert calls == [] and wt.timer is not None  # already restored; the delayed update is scheduled
        writetime.flush([op])  # the delayed update fires: the pinned time moves on
        calls.clear()
        os.pwrite(fd, b"y", 0)
        writetime.after_write(op, restored)  # a restore of the old value does not count
        assert len(calls) == 1 and os.fstat(fd).st_mtime_ns == wt.pinned_ns > old
        assert writetime.restore(fd, None) is None  # nothing pinned (a stream, a frozen write time)

    try:
        asyncio.run(run())
    finally:
        os.close(fd)
