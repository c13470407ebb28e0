"""A request sent again after a coordinator change takes effect once (issue 13, acceptance 3).

A serving process whose LOCK (or unlock) meets a coordinator change does not know whether the old
coordinator applied it: its answer was lost with the link. What the old coordinator did reaches the
new one through the process's reclaim (its mirror of the file's locks, pushed before a LOCK is
answered). The request sent again carries the open's locks on its ranges as the process knew them
before the first sending (``LockRequest.held_before``); the new coordinator answers success when its
state shows the request applied, and applies it otherwise. Explicit ordering, fake sinks, no sockets.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from test_coordinator import RD, SHARE_ALL, WR, Sink, admit_req, caller, run

from sofs.handlestate.api import (
    HandleStateError,
    LockRange,
    LockRequest,
    OpenImage,
    ReclaimOpen,
)
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.wire.status import NtStatus as S

L = LockRange(0, 4096, True)
FILE = (10, "")


def mirrored(sink: Sink, pid: int) -> tuple[LockRange, ...]:
    """The open's locks as the serving process mirrors them (what its reclaim re-declares)."""
    facts = sink.facts.get(FILE)
    return tuple(LockRange(lk.offset, lk.length, lk.exclusive) for lk in (facts.locks if facts else ())
                 if lk.owner == pid)


async def moved(old: VolumeCoordinator, sink: Sink, pid: int) -> tuple[VolumeCoordinator, Sink]:
    """The volume moves: a new coordinator, to which the serving process re-declares its open."""
    held = mirrored(sink, pid)
    await old.stop()
    new = VolumeCoordinator("vol", timeout_ns=10**12)
    sink2 = Sink("n2")
    ep = new.attach(sink2, "n2")
    image = OpenImage(pid, 10, "f.txt", None, False, RD | WR, SHARE_ALL, 0, 0, None, None, 1, 0, False)
    assert await new.reclaim(ep, (ReclaimOpen(caller(ep), image, held),)) == ()
    return new, sink2


async def opened() -> tuple[VolumeCoordinator, Sink, int]:
    c = VolumeCoordinator("vol", timeout_ns=10**12)
    sink = Sink("n2")
    ep = c.attach(sink, "n2")
    res = await c.admit(admit_req(caller(ep), access=RD | WR), None)
    return c, sink, res.persistent_id


def locks_of(c: VolumeCoordinator, pid: int) -> list[tuple[int, int, bool]]:
    return [(lk.offset, lk.length, lk.exclusive) for lk in c.table.locks.locks_of(FILE) if lk.owner == pid]


def test_a_lock_granted_by_the_old_coordinator_whose_answer_was_lost_is_granted_once() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        before = mirrored(sink, pid)  # () : nothing held yet
        await old.lock(LockRequest(pid, (L,), False, False), None)  # granted, mirrored; the answer is lost
        new, _ = await moved(old, sink, pid)
        assert locks_of(new, pid) == [(0, 4096, True)]  # the reclaim carried the granted lock
        # sent again as it was, the lock meets itself (the lead's run: LOCK_NOT_GRANTED at a move)
        with pytest.raises(HandleStateError) as ei:
            await new.lock(LockRequest(pid, (L,), False, False), None)
        assert ei.value.status == S.LOCK_NOT_GRANTED
        # sent again with what the open held before: it took effect, success, and held once
        await new.lock(LockRequest(pid, (L,), False, False, held_before=before), None)
        assert locks_of(new, pid) == [(0, 4096, True)]
        new.table.check_invariants()
    run(body)


def test_a_lock_the_old_coordinator_never_applied_is_applied_by_the_new_one() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        new, _ = await moved(old, sink, pid)  # the link broke before the LOCK reached the old coordinator
        await new.lock(LockRequest(pid, (L,), False, False, held_before=()), None)
        assert locks_of(new, pid) == [(0, 4096, True)]
    run(body)


def test_a_second_lock_of_a_range_held_before_still_conflicts_when_sent_again() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        await old.lock(LockRequest(pid, (L,), False, False), None)  # answered: the client holds it
        before = mirrored(sink, pid)
        new, _ = await moved(old, sink, pid)  # the second LOCK of the range never reached the old one
        with pytest.raises(HandleStateError) as ei:
            await new.lock(LockRequest(pid, (L,), False, False, held_before=before), None)
        assert ei.value.status == S.LOCK_NOT_GRANTED
        assert locks_of(new, pid) == [(0, 4096, True)]
    run(body)


def test_an_unlock_applied_by_the_old_coordinator_whose_answer_was_lost_succeeds_once() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        await old.lock(LockRequest(pid, (L,), False, False), None)
        before = mirrored(sink, pid)
        await old.lock(LockRequest(pid, (L,), True, False), None)  # unlocked, mirrored; the answer is lost
        new, _ = await moved(old, sink, pid)
        assert locks_of(new, pid) == []
        with pytest.raises(HandleStateError) as ei:  # the kill's RANGE_NOT_LOCKED in the bench
            await new.lock(LockRequest(pid, (L,), True, False), None)
        assert ei.value.status == S.RANGE_NOT_LOCKED
        await new.lock(LockRequest(pid, (L,), True, False, held_before=before), None)
        assert locks_of(new, pid) == []
    run(body)


def test_an_unlock_of_a_range_not_held_before_is_refused_when_sent_again() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        new, _ = await moved(old, sink, pid)
        with pytest.raises(HandleStateError) as ei:
            await new.lock(LockRequest(pid, (L,), True, False, held_before=()), None)
        assert ei.value.status == S.RANGE_NOT_LOCKED
    run(body)


def test_an_unlock_the_old_coordinator_never_applied_is_applied_by_the_new_one() -> None:
    async def body() -> None:
        old, sink, pid = await opened()
        await old.lock(LockRequest(pid, (L,), False, False), None)
        before = mirrored(sink, pid)
        new, _ = await moved(old, sink, pid)
        assert locks_of(new, pid) == [(0, 4096, True)]
        await new.lock(LockRequest(pid, (L,), True, False, held_before=before), None)
        assert locks_of(new, pid) == []
    run(body)


def test_a_reclaim_pushes_the_files_facts_before_it_answers() -> None:
    """The process's next reclaim (a second move) and its data path read the mirror: the locks it
    re-declared are there again before the reclaim returns."""
    async def body() -> None:
        old, sink, pid = await opened()
        await old.lock(LockRequest(pid, (L,), False, False), None)
        _new, sink2 = await moved(old, sink, pid)
        assert mirrored(sink2, pid) == (L,)
    run(body)


def _journaled(tmp_path: Path, epoch: int) -> tuple[Any, Any]:
    from sofs.handlestate.journal import PersistentHandleJournal, snapshot_records
    from sofs.handlestate.table import OpenTable

    table = OpenTable(epoch=epoch)
    j = PersistentHandleJournal(tmp_path / "j", epoch, lambda: snapshot_records(table), inline_sync_max_us=1e9)
    loaded = j.load()
    if loaded.entries:
        table.epoch = j.epoch = loaded.epoch + 1
        table.replay(loaded.entries)
    j.start()
    return table, j


def test_a_persistent_admit_journaled_by_the_old_coordinator_whose_answer_was_lost_is_the_callers(
        tmp_path: Path) -> None:
    """The old coordinator journaled a persistent open and died before answering; the new one brought
    it back disconnected. The admit sent again (``resent``) gets that open — not FILE_NOT_AVAILABLE
    from its own waiting handle, nor DUPLICATE_OBJECTID for its CreateGuid — with the caching granted
    first; another client's does not."""
    from test_coordinator import admit_req

    from sofs.handlestate.api import LeaseRequest
    from sofs.handlestate.durable import DurableRequest
    from sofs.handlestate.oplocks import LEASE

    async def body() -> None:
        table, j = _journaled(tmp_path, 1)
        old = VolumeCoordinator("vol", table, journal=j)
        ep = old.attach(Sink("n2"), "n2")
        guid, key = b"g" * 16, b"k" * 16
        req = admit_req(caller(ep), access=RD | WR, ca=True, oplock=LEASE, lease=LeaseRequest(key, 7, 2),
                        durable=DurableRequest(2, 0, True, guid))
        first = await old.admit(req, None)  # journaled; the answer is lost with the coordinator
        await old.stop()
        table2, j2 = _journaled(tmp_path, 1)
        new = VolumeCoordinator("vol", table2, journal=j2)
        assert new.restore() == 1
        ep2 = new.attach(Sink("n2"), "n2")
        again = dataclasses.replace(req, caller=caller(ep2))
        with pytest.raises(HandleStateError) as ei:  # not resent: a reused CreateGuid ([MS-SMB2] 3.3.5.9.10)
            await new.admit(again, None)
        assert ei.value.status == S.DUPLICATE_OBJECTID
        stranger = dataclasses.replace(again, caller=caller(ep2, b"z" * 16), resent=True)
        with pytest.raises(HandleStateError) as ei:  # another client's resent admit is no owner
            await new.admit(stranger, None)
        assert ei.value.status == S.FILE_NOT_AVAILABLE
        res = await new.admit(dataclasses.replace(again, resent=True), None)
        assert res.persistent_id == first.persistent_id and res.durable == first.durable
        assert res.lease is not None and res.lease.state == first.lease.state  # type: ignore[union-attr]
        o = new.table.opens_by_persistent[res.persistent_id]
        assert o.disconnected_at is None and o.endpoint == ep2
        new.table.check_invariants()
        await new.stop()
    run(body)
