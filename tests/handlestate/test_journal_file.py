"""PersistentHandleJournal on disk: group commit, reload, compaction and its crash points, torn tails."""
from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from sofs.handlestate import records as R
from sofs.handlestate.journal import PersistentHandleJournal, load_dir, snapshot_records
from sofs.handlestate.journal_codec import JournalHeader, encode_entry
from sofs.handlestate.locks import RangeLock
from sofs.handlestate.model import Open
from sofs.handlestate.oplocks import Caching
from sofs.handlestate.table import OpenTable


def _open(fid: int, persistent: bool = True, **kw: object) -> Open:
    return Open(0, 0, fid, f"f{fid}.txt", None, False, 0x12019F, 1, 0, client_guid=b"g" * 16,
                durable=True, persistent=persistent, durable_timeout_ms=60000,
                create_guid=kw.pop("create_guid", None), **kw)  # type: ignore[arg-type]


def _state(t: OpenTable) -> object:
    return sorted((o.persistent_id, o.path, o.connected, o.channel_sequence, tuple(sorted((o.lock_sequences or {}).items())),
                   tuple(sorted((lk.offset, lk.length) for lk in t.locks.locks_of((o.file_id, o.stream_key)))),
                   (o.lease.key, int(o.lease.state)) if o.lease is not None else None)
                  for o in t.opens_by_persistent.values() if o.persistent)


def _make(tmp: Path, epoch: int = 1, **kw: object) -> tuple[PersistentHandleJournal, OpenTable]:
    table = OpenTable(epoch=epoch)
    j = PersistentHandleJournal(tmp / "j", epoch, lambda: snapshot_records(table), **kw)  # type: ignore[arg-type]
    res = j.load()
    table.replay(res.entries)
    j.start()
    table.journal = j
    return j, table


def _mutate(t: OpenTable) -> None:
    a = t.add_open(_open(10, create_guid=b"c" * 16, lease_key=b"k" * 16))
    b = t.add_open(_open(11))
    t.add_open(_open(12, persistent=False))  # not journaled
    # the lock / lease machines change memory, the table journals what they did
    t.locks.try_lock((10, ""), RangeLock(a.persistent_id, 0, 100, True))
    t.log(R.LockAdded(10, a.persistent_id, "", 0, 100, True), True)
    lease = t.leases.lookup_for_open(b"g" * 16, b"k" * 16, (10, ""), False, 2, None, 1)
    t.leases.attach(lease, a.persistent_id)
    a.lease, lease.state = lease, Caching.R | Caching.H | Caching.W
    t.log(R.LeaseSet(10, b"g" * 16, b"k" * 16, int(lease.state), 1, 2, None), True)
    a.channel_sequence = 4
    t.log(R.ChannelSequenceSet(a.persistent_id, 4), True)
    a.sequences()[3] = 9
    t.log(R.LockSequenceSet(a.persistent_id, 3, 9), True)
    t.disconnect(b.persistent_id, 5)


def test_append_commit_reload(tmp_path: Path) -> None:
    async def main() -> object:
        j, t = _make(tmp_path)
        _mutate(t)
        await j.commit()
        await j.close()
        return _state(t)

    before = asyncio.run(main())
    res = load_dir(tmp_path / "j")
    t2 = OpenTable(epoch=2)
    t2.replay(res.entries)
    assert _state(t2) == before
    assert res.epoch == 1 and res.torn_bytes == 0
    assert all(e.persistent for e in res.entries)
    t2.check_invariants()


def test_group_commit_shares_fsyncs(tmp_path: Path) -> None:
    gate = threading.Event()
    calls: list[int] = []

    def slow_fsync(fd: int) -> None:
        calls.append(fd)
        gate.wait(2)
        os.fdatasync(fd)

    async def main() -> tuple[int, int]:
        gate.set()
        j, t = _make(tmp_path, fsync=slow_fsync, inline_sync_max_us=0)  # the threaded path
        before = j.fsyncs
        gate.clear()

        async def one(i: int) -> None:
            t.add_open(_open(100 + i))
            await j.commit()

        tasks = [asyncio.create_task(one(i)) for i in range(50)]
        for _ in range(5):
            await asyncio.sleep(0)  # every task appends; the first flush blocks in the gate
        gate.set()
        await asyncio.gather(*tasks)
        return j.fsyncs - before, len(t.opens_by_persistent)

    fsyncs, n = asyncio.run(main())
    assert n == 50
    assert fsyncs <= 3  # 50 commits, one flush in flight + at most two batches
    assert len(load_dir(tmp_path / "j").entries) == 50


def test_non_persistent_entries_are_skipped_and_commit_is_free(tmp_path: Path) -> None:
    async def main() -> int:
        j, t = _make(tmp_path)
        before = j.fsyncs
        t.add_open(_open(1, persistent=False))
        await j.commit()
        return j.fsyncs - before

    assert asyncio.run(main()) == 0


def test_compaction_keeps_state_and_shrinks(tmp_path: Path) -> None:
    async def main() -> object:
        j, t = _make(tmp_path, compact_bytes=4096, fsync=lambda fd: None)
        _mutate(t)
        for i in range(150):  # churn: opens that come and go
            o = t.add_open(_open(1000 + i))
            t.close_open(o.persistent_id)
            await j.commit()
        assert j.compactions >= 2
        await j.close()
        return _state(t)

    before = asyncio.run(main())
    files = os.listdir(tmp_path / "j")
    assert len(files) == 1 and files[0].startswith("journal.")
    assert os.path.getsize(tmp_path / "j" / files[0]) < 8192
    t2 = OpenTable(epoch=2)
    t2.replay(load_dir(tmp_path / "j").entries)
    assert _state(t2) == before


def test_restart_epoch_and_torn_tail_repaired(tmp_path: Path) -> None:
    async def first() -> object:
        j, t = _make(tmp_path)
        _mutate(t)
        await j.commit()
        await j.close()
        return _state(t)

    before = asyncio.run(first())
    d = tmp_path / "j"
    (name,) = os.listdir(d)
    with open(d / name, "ab") as f:  # a torn half record after a crash
        f.write(encode_entry(R.JournalEntry(1, 999, R.OpenRemoved(1), True))[:11])
    res = load_dir(d)
    assert res.torn_bytes == 11
    _j2, t2 = _make(tmp_path, epoch=2)
    assert _state(t2) == before
    (name2,) = os.listdir(d)
    assert name2 != name  # start() wrote a new generation without the torn tail
    assert load_dir(d).torn_bytes == 0 and load_dir(d).epoch == 2


def test_crash_before_rename_keeps_old_generation(tmp_path: Path) -> None:
    async def first() -> object:
        j, t = _make(tmp_path)
        _mutate(t)
        await j.commit()
        await j.close()
        return _state(t)

    before = asyncio.run(first())
    d = tmp_path / "j"
    (name,) = os.listdir(d)
    gen = int(name.split(".")[1])
    (d / f"journal.{gen + 1}.tmp").write_bytes(b"half a snapsh")  # crashed mid-compaction
    res = load_dir(d)
    t2 = OpenTable(epoch=2)
    t2.replay(res.entries)
    assert _state(t2) == before
    assert os.listdir(d) == [name]


def test_crash_after_rename_uses_new_generation(tmp_path: Path) -> None:
    d = tmp_path / "j"
    d.mkdir()
    old = encode_entry((1, 0, JournalHeader(1, 1), True)) + encode_entry(R.JournalEntry(1, 1, R.OpenRemoved(7), True))
    new = encode_entry((2, 0, JournalHeader(2, 2), True)) + encode_entry(R.JournalEntry(2, 1, R.OpenRemoved(8), True))
    (d / "journal.1").write_bytes(old)
    (d / "journal.2").write_bytes(new)
    res = load_dir(d)
    assert res.generation == 2 and res.epoch == 2
    assert [e.record for e in res.entries] == [R.OpenRemoved(8)]
    assert os.listdir(d) == ["journal.2"]


def test_stale_writer_records_are_fenced(tmp_path: Path) -> None:
    d = tmp_path / "j"
    d.mkdir()
    data = (encode_entry((3, 0, JournalHeader(1, 3), True))
            + encode_entry(R.JournalEntry(3, 1, R.OpenRemoved(1), True))
            + encode_entry(R.JournalEntry(2, 2, R.OpenRemoved(2), True)))  # old owner, after takeover
    (d / "journal.1").write_bytes(data)
    res = load_dir(d)
    assert [e.record for e in res.entries] == [R.OpenRemoved(1)] and res.fenced == 1


def test_failed_write_fails_commit(tmp_path: Path) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "EIO")

    async def main() -> str:
        table = OpenTable()
        j = PersistentHandleJournal(tmp_path / "j", 1, lambda: snapshot_records(table), fsync=os.fdatasync)
        j.load()
        j.start()
        j._fsync = broken
        table.journal = j
        table.add_open(_open(1))
        try:
            await j.commit()
        except OSError as e:
            return str(e)
        return "no error"

    assert "journal failed" in asyncio.run(main())


def test_a_stale_writer_cannot_replace_the_new_generation(tmp_path: Path) -> None:
    """A coordinator that was frozen (SIGSTOP, a partition) while another took the volume over comes
    back and compacts: its generation would be the one the new coordinator already wrote. The link
    fails, the stale journal fails, and the new coordinator's file is untouched."""
    async def main() -> tuple[str, object, object]:
        old, old_t = _make(tmp_path, epoch=1)
        _mutate(old_t)
        await old.commit()
        new, new_t = _make(tmp_path, epoch=2)  # takes over: loads generation g, writes g + 1
        new_t.add_open(_open(20))
        await new.commit()
        expected = _state(new_t)
        old_t.add_open(_open(30))  # the stale writer appends (to its unlinked file) and compacts
        old.request_compaction()
        try:
            await old.commit()
            err = "no error"
        except OSError as e:
            err = str(e)
        await new.close()
        return err, expected, new.generation

    err, expected, gen = asyncio.run(main())
    assert "another writer took the journal over" in err
    res = load_dir(tmp_path / "j")
    t = OpenTable(epoch=3)
    t.replay(res.entries)
    assert res.generation == gen and res.epoch == 2 and _state(t) == expected
    assert sorted(os.listdir(tmp_path / "j")) == [f"journal.{gen}"]
