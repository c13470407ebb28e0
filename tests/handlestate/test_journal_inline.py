"""PersistentHandleJournal inline commits: chosen by the start-up probe, done without suspending,
moved to the thread (and back) by the measured write + sync time, failures fail the journal."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from sofs.handlestate.journal import PersistentHandleJournal, load_dir, snapshot_records
from sofs.handlestate.model import Open
from sofs.handlestate.table import OpenTable


class FakeDisk:
    """An fsync that costs ``us`` microseconds of a fake clock (and really syncs)."""

    def __init__(self, us: float) -> None:
        self.us = us
        self.now = 0.0
        self.fail = False

    def clock(self) -> float:
        return self.now

    def fsync(self, fd: int) -> None:
        if self.fail:
            raise OSError(5, "EIO")
        self.now += self.us / 1e6
        os.fdatasync(fd)


def _open(fid: int) -> Open:
    return Open(0, 0, fid, f"f{fid}.txt", None, False, 0x12019F, 1, 0, client_guid=b"g" * 16,
                durable=True, persistent=True, durable_timeout_ms=60000)


def _make(tmp: Path, disk: FakeDisk, **kw: object) -> tuple[PersistentHandleJournal, OpenTable]:
    table = OpenTable(epoch=1)
    j = PersistentHandleJournal(tmp / "j", 1, lambda: snapshot_records(table), fsync=disk.fsync,
                                clock=disk.clock, inline_sync_max_us=100, **kw)  # type: ignore[arg-type]
    table.replay(j.load().entries)
    j.start()
    table.journal = j
    return j, table


def test_fast_volume_commits_inline_without_suspending(tmp_path: Path) -> None:
    disk = FakeDisk(5)
    j, t = _make(tmp_path, disk)
    assert j.inline and j.sync_us == pytest.approx(5)
    assert not os.path.exists(tmp_path / "j" / "probe.tmp")
    before = j.fsyncs
    t.add_open(_open(1))
    coro = j.commit()
    with pytest.raises(StopIteration):  # finished on the first step: no await, no event loop needed
        coro.send(None)
    assert j.fsyncs == before + 1 and not j.pending
    assert len(load_dir(tmp_path / "j").entries) == 1
    assert j.commit_now()  # nothing pending: no sync
    assert j.fsyncs == before + 1


def test_slow_volume_uses_the_thread_and_the_average_moves_it(tmp_path: Path) -> None:
    disk = FakeDisk(5000)
    j, t = _make(tmp_path, disk)
    assert not j.inline

    async def main() -> None:
        t.add_open(_open(1))
        assert not j.commit_now()  # threaded: the caller awaits the flusher
        await j.commit()
        disk.us = 5  # the disk got fast: the moving average brings commits back inline
        for i in range(40):
            t.add_open(_open(10 + i))
            await j.commit()
        assert j.inline
        disk.us = 2000  # and slow again: back to the thread
        for i in range(40):
            t.add_open(_open(100 + i))
            await j.commit()
        assert not j.inline

    asyncio.run(main())
    assert len(load_dir(tmp_path / "j").entries) == 81


def test_zero_limit_never_inline(tmp_path: Path) -> None:
    disk = FakeDisk(1)
    table = OpenTable(epoch=1)
    j = PersistentHandleJournal(tmp_path / "j", 1, lambda: snapshot_records(table), fsync=disk.fsync,
                                clock=disk.clock, inline_sync_max_us=0)
    j.load()
    j.start()
    table.journal = j
    table.add_open(_open(1))
    assert not j.inline and not j.commit_now()
    asyncio.run(j.commit())
    assert not j.pending


def test_inline_failure_fails_the_journal(tmp_path: Path) -> None:
    disk = FakeDisk(5)
    j, t = _make(tmp_path, disk)
    disk.fail = True
    t.add_open(_open(1))
    with pytest.raises(OSError):
        j.commit_now()
    assert j.failed is not None
    with pytest.raises(OSError):
        asyncio.run(j.commit())


def test_inline_commit_waits_for_a_queued_compaction(tmp_path: Path) -> None:
    disk = FakeDisk(5)
    j, t = _make(tmp_path, disk, compact_bytes=2048)

    async def main() -> None:
        for i in range(60):
            o = t.add_open(_open(100 + i))
            t.close_open(o.persistent_id)
            await j.commit()
        await j.close()

    asyncio.run(main())
    assert j.compactions >= 2
    t2 = OpenTable(epoch=2)
    t2.replay(load_dir(tmp_path / "j").entries)
    assert t2.opens_by_persistent == {}


def test_commits_land_in_the_latency_histogram(tmp_path: Path) -> None:
    """Issue 15 metrics: every write + fdatasync (inline or in the thread) is one commit in the node's
    HandleStats histogram, in the bucket of its measured time; the probe and snapshots are not."""
    from sofs.handlestate.stats import BUCKETS_S, HandleStats

    stats = HandleStats()
    disk = FakeDisk(5)
    j, t = _make(tmp_path, disk, stats=stats)
    assert sum(stats.commit_hist) == 0  # the start-up probe is not a commit
    t.add_open(_open(1))
    assert j.commit_now()
    disk.us = 4000  # 4 ms: the (0.0025, 0.005] bucket

    async def main() -> None:
        t.add_open(_open(2))
        await j.commit()

    asyncio.run(main())
    assert sum(stats.commit_hist) == 2
    assert stats.commit_hist[0] == 1 and stats.commit_hist[BUCKETS_S.index(0.005)] == 1
    assert stats.commit_seconds == pytest.approx(0.000005 + 0.004)
