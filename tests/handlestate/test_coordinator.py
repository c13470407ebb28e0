"""The volume coordinator through its interface, with serving processes as fake sinks (no sockets).

Two endpoints stand for two nodes (or worker processes): what one grants the other sees, breaks go
to the process that holds the client, a process that goes away leaves its durable opens
disconnected, and a fenced coordinator changes nothing.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sofs.handlestate.api import (
    AdmitRequest,
    Caller,
    Change,
    FileFacts,
    HandleStateError,
    LeaseRequest,
    LockRange,
    LockRequest,
    NotCoordinator,
    OpenImage,
    ReclaimOpen,
    ReconnectRequest,
    ReplayRequest,
    WatchRequest,
)
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.handlestate.durable import DurableRequest
from sofs.handlestate.journal import PersistentHandleJournal, snapshot_records
from sofs.handlestate.oplocks import BATCH, LEASE, LEVEL_II
from sofs.handlestate.table import OpenTable
from sofs.wire.status import NtStatus as S

RD, WR, DEL = 0x1, 0x2, 0x10000
RWH = 0x7
SHARE_ALL = 7


class Sink:
    """A serving process as the coordinator sees it: records what it is told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.oplock_breaks: list[tuple[int, int]] = []
        self.lease_breaks: list[tuple[bytes, int, int, bool]] = []
        self.revoked_ids: list[int] = []
        self.ended_sessions: list[tuple[int, str]] = []
        self.facts: dict[tuple[int, str], FileFacts] = {}
        self.moves: list[tuple[str, str]] = []
        self.is_watching = False
        self.deliver = True

    def oplock_break(self, persistent_id: int, level: int) -> bool:
        self.oplock_breaks.append((persistent_id, level))
        return self.deliver

    def lease_break(self, client_guid: bytes, lease_key: bytes, current: int, new: int, ack_required: bool,
                    epoch: int, version: int, hint: int) -> bool:
        self.lease_breaks.append((lease_key, current, new, ack_required))
        return self.deliver

    async def revoked(self, persistent_id: int) -> None:
        self.revoked_ids.append(persistent_id)

    async def end_session(self, session_id: int, user: str) -> None:
        self.ended_sessions.append((session_id, user))

    async def release(self, persistent_id: int) -> bool:
        return False  # its client is still connected

    async def moved(self, old: str, new: str, is_directory: bool) -> None:
        self.moves.append((old, new))

    async def file_facts(self, facts: FileFacts) -> None:
        self.facts[(facts.file_id, facts.stream_key)] = facts

    def watching(self, on: bool) -> None:
        self.is_watching = on


class Hook:
    def __init__(self) -> None:
        self.went_async = 0
        self.event = asyncio.Event()

    async def going_async(self) -> None:
        self.went_async += 1
        self.event.set()

    async def waiting(self) -> None:
        """Until the coordinator said it waits for another client (bounded: a hang fails)."""
        await asyncio.wait_for(self.event.wait(), 30)


def caller(ep: int, client: bytes = b"c" * 16, session: int = 1, dialect: int = 0x0311) -> Caller:
    return Caller(ep, client, session, 1, "S-1-5-21-1-2-3-1000", dialect, True)


def admit_req(c: Caller, file_id: int = 10, access: int = RD, share: int = SHARE_ALL, path: str = "f.txt",
              oplock: int = 0, lease: LeaseRequest | None = None, durable: DurableRequest | None = None,
              existed: bool = True, disposition: int = 1, ca: bool = False, **kw: Any) -> AdmitRequest:
    return AdmitRequest(c, file_id, None, path, False, existed, disposition, 0, access, access, share, oplock,
                        lease, durable, ca=ca, ca_timeout_s=60, persistent_capable=True, **kw)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def two() -> tuple[VolumeCoordinator, Sink, Sink, int, int]:
    c = VolumeCoordinator("vol", timeout_ns=10**12)
    a, b = Sink("n1"), Sink("n2")
    return c, a, b, c.attach(a, "n1"), c.attach(b, "n2")


def test_share_modes_hold_across_serving_processes() -> None:
    async def body() -> None:
        c, _a, _b, ep1, ep2 = two()
        first = await c.admit(admit_req(caller(ep1), access=RD | WR, share=0), None)
        with pytest.raises(HandleStateError) as ei:
            await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD, share=SHARE_ALL), None)
        assert ei.value.status == S.SHARING_VIOLATION
        await c.close(first.persistent_id)
        await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD | WR, share=0), None)
        c.table.check_invariants()
    run(body)


def test_batch_oplock_of_one_process_is_broken_for_an_open_through_another() -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        first = await c.admit(admit_req(caller(ep1), access=RD | WR, oplock=BATCH), None)
        assert first.oplock_level == BATCH
        hook = Hook()
        second = asyncio.create_task(c.admit(admit_req(caller(ep2, b"d" * 16), access=RD), hook))
        await hook.waiting()
        assert a.oplock_breaks == [(first.persistent_id, LEVEL_II)] and not second.done()
        assert hook.went_async == 1  # the client is told STATUS_PENDING while the holder decides
        assert await c.oplock_ack(first.persistent_id, LEVEL_II) == LEVEL_II
        res = await second
        assert res.oplock_level == 0
        c.table.check_invariants()
    run(body)


def test_lease_break_goes_to_the_holders_process_and_a_write_open_waits_for_the_ack() -> None:
    async def body() -> None:
        c, a, b, ep1, ep2 = two()
        key = b"k" * 16
        first = await c.admit(admit_req(caller(ep1), access=RD | WR, oplock=LEASE,
                                        lease=LeaseRequest(key, RWH, 2)), None)
        assert first.lease is not None and first.lease.state == RWH
        hook = Hook()
        second = asyncio.create_task(c.admit(admit_req(caller(ep2, b"d" * 16), access=RD | WR), hook))
        await hook.waiting()
        assert a.lease_breaks == [(key, RWH, 0x3, True)] and b.lease_breaks == [] and not second.done()
        await c.lease_ack(b"c" * 16, key, 0x3)
        await second
    run(body)


def test_a_lock_through_one_process_is_enforced_by_the_others_mirror_before_the_answer() -> None:
    async def body() -> None:
        c, _a, b, ep1, ep2 = two()
        o1 = await c.admit(admit_req(caller(ep1), access=RD | WR), None)
        o2 = await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD | WR), None)
        await c.lock(LockRequest(o1.persistent_id, (LockRange(0, 100, True),), False, False), None)
        facts = b.facts[(10, "")]  # pushed to n2 before lock() returned
        assert [(lk.owner, lk.offset, lk.length) for lk in facts.locks] == [(o1.persistent_id, 0, 100)]
        with pytest.raises(HandleStateError) as ei:
            await c.lock(LockRequest(o2.persistent_id, (LockRange(50, 10, False),), False, False), None)
        assert ei.value.status == S.LOCK_NOT_GRANTED
        hook = Hook()
        waiter = asyncio.create_task(c.lock(LockRequest(o2.persistent_id, (LockRange(50, 10, True),), False, True),
                                            hook))
        await hook.waiting()
        assert hook.went_async == 1 and not waiter.done()
        await c.lock(LockRequest(o1.persistent_id, (LockRange(0, 100),), True, False), None)
        await waiter  # woken by the unlock through the other process
        assert [lk.owner for lk in b.facts[(10, "")].locks] == [o2.persistent_id]
        c.table.check_invariants()
    run(body)


def test_the_admitting_process_gets_the_files_facts_with_the_answer_once() -> None:
    async def body() -> None:
        c, _a, b, ep1, ep2 = two()
        o1 = await c.admit(admit_req(caller(ep1), access=RD | WR), None)
        await c.lock(LockRequest(o1.persistent_id, (LockRange(0, 100, True),), False, False), None)
        first = await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD), None)
        # carried by the answer, not pushed by a call of its own
        assert (10, "") not in b.facts and first.facts is not None
        assert [(lk.owner, lk.offset, lk.length) for lk in first.facts.locks] == [(o1.persistent_id, 0, 100)]
        again = await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD), None)
        assert again.facts is None  # the process mirrors them already
        local = await c.admit(admit_req(caller(ep1), access=RD), None)
        assert local.facts is None  # ep1 has them too (pushed with the lock)
        for r in (first, again):
            await c.close(r.persistent_id)
        third = await c.admit(admit_req(caller(ep2, b"d" * 16), access=RD), None)
        assert third.facts == first.facts  # its opens were gone: the coordinator forgot what it sent
    run(body)


def test_lock_sequence_replay_answers_success_without_locking_again() -> None:
    async def body() -> None:
        c, _a, _b, ep1, _ep2 = two()
        o = await c.admit(admit_req(caller(ep1), access=RD | WR), None)
        req = LockRequest(o.persistent_id, (LockRange(0, 10, True),), False, False, 5, 3)
        await c.lock(req, None)
        await c.lock(req, None)  # the same (index, number): a replay, not a second lock
        assert len(c.table.locks.locks_of((10, ""))) == 1
    run(body)


def test_a_gone_process_leaves_its_persistent_open_waiting_and_nobody_else_gets_the_file() -> None:
    async def body() -> None:
        c, _a, b, ep1, ep2 = two()
        res = await c.admit(admit_req(caller(ep1), access=RD | WR, ca=True,
                                      durable=DurableRequest(2, 0, True, b"g" * 16)), None)
        assert res.durable is not None and res.durable.persistent
        plain = await c.admit(admit_req(caller(ep1), file_id=11, path="plain.txt"), None)
        await c.lock(LockRequest(res.persistent_id, (LockRange(0, 4096, True),), False, False), None)
        await c.detach(ep1)  # its link closed: the process is gone
        assert c.table.opens_by_persistent[res.persistent_id].disconnected_at is not None
        assert plain.persistent_id not in c.table.opens_by_persistent  # not durable: closed
        for access in (RD | WR, RD):
            with pytest.raises(HandleStateError) as ei:
                await c.admit(admit_req(caller(ep2, b"d" * 16), access=access), None)
            assert ei.value.status == S.FILE_NOT_AVAILABLE  # [MS-SMB2] 3.3.5.9
        img = await c.reconnect(ReconnectRequest(caller(ep2, session=9), res.persistent_id, 2, b"g" * 16, None,
                                                 "f.txt"))
        assert img.persistent_id == res.persistent_id and img.durable is not None
        assert c.table.opens_by_persistent[res.persistent_id].endpoint == ep2
        assert [lk.owner for lk in b.facts[(10, "")].locks] == [res.persistent_id]  # its lock came along
    run(body)


def test_a_fenced_coordinator_grants_nothing() -> None:
    async def body() -> None:
        owned = [True]
        c = VolumeCoordinator("vol", may_act=lambda: owned[0])
        ep = c.attach(Sink("n1"), "n1")
        o = await c.admit(admit_req(caller(ep), access=RD | WR), None)
        owned[0] = False  # the cluster moved the volume (or our lease ran out)
        with pytest.raises(NotCoordinator):
            await c.admit(admit_req(caller(ep), file_id=11), None)
        with pytest.raises(NotCoordinator):
            await c.lock(LockRequest(o.persistent_id, (LockRange(0, 1, True),), False, False), None)
        assert list(c.table.opens_by_persistent) == [o.persistent_id] and not c.table.locks.files
    run(body)


def test_a_change_through_one_process_completes_a_watch_of_another() -> None:
    async def body() -> None:
        c, a, b, ep1, _ep2 = two()
        d = await c.admit(AdmitRequest(caller(ep1), 5, None, "dir", True, True, 1, 1, 1, 1, SHARE_ALL, 0), None)
        hook = Hook()
        w = asyncio.create_task(c.watch(WatchRequest(d.persistent_id, 0x1, False, 4096), hook))
        await hook.waiting()
        assert a.is_watching and b.is_watching  # both processes now report changes
        await c.report((Change("dir\\new.txt", 1, 0x1),))
        res = await w
        assert res.status == 0 and "new.txt".encode("utf-16-le") in res.data
        await c.close(d.persistent_id)
        assert not a.is_watching
    run(body)


def test_revoke_tells_the_holder_and_replay_finds_the_open() -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        res = await c.admit(admit_req(caller(ep1), durable=DurableRequest(2, 0, False, b"g" * 16)), None)
        same = await c.replay(ReplayRequest(caller(ep1), b"g" * 16, True, None))
        assert same.image is not None and same.image.persistent_id == res.persistent_id
        other = await c.replay(ReplayRequest(caller(ep2, b"x" * 16), b"g" * 16, True, None))
        assert other.image is None and other.status == 0  # another client: a new open
        assert await c.revoke(res.persistent_id)
        assert a.revoked_ids == [res.persistent_id] and not c.table.opens_by_persistent
    run(body)


def test_a_previous_session_is_ended_by_the_process_holding_its_live_opens() -> None:
    """A client reconnecting through another node names its old session (PreviousSessionId): the
    coordinator has the process holding live opens of that session end it; nobody else is asked."""
    async def body() -> None:
        c, a, b, ep1, ep2 = two()
        await c.admit(admit_req(caller(ep1, session=0x51)), None)
        gone = await c.admit(admit_req(caller(ep2, session=0x52), file_id=11, oplock=BATCH,
                                       durable=DurableRequest(2, 0, False, b"g" * 16)), None)
        assert await c.disconnect(gone.persistent_id)
        await c.end_session(0x51, "alice")
        await c.end_session(0x52, "alice")  # only a disconnected open: no process has the session
        await c.end_session(0x53, "alice")
        assert a.ended_sessions == [(0x51, "alice")] and b.ended_sessions == []
    run(body)


def test_an_open_waiting_for_a_holder_that_closes_with_delete_on_close_starts_over() -> None:
    """The broken holder's client is gone and its durable open is purged (its loss reached the
    coordinator after the new CREATE, as across nodes): its delete-on-close removes the file, and
    the waiting CREATE starts over once the object is gone, instead of DELETE_PENDING."""
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        first = await c.admit(admit_req(caller(ep1), access=RD | WR | DEL, share=0, oplock=BATCH,
                                        durable=DurableRequest(1, 0, False, None)), None)
        await c.set_delete_on_close(first.persistent_id, True, None)
        hook = Hook()
        second = asyncio.create_task(c.admit(admit_req(caller(ep2, b"d" * 16), access=RD | WR, share=0), hook))
        await hook.waiting()
        assert a.oplock_breaks == [(first.persistent_id, LEVEL_II)]
        assert not await c.disconnect(first.persistent_id)  # owes a break: not kept, the process closes it
        assert (await c.close(first.persistent_id)).delete
        await asyncio.sleep(0)
        assert not second.done()  # the closer deletes the object now
        await c.deleted(10, None, None)
        assert (await asyncio.wait_for(second, 5)).reopen
        c.table.check_invariants()
    run(body)


def test_a_new_coordinator_rebuilds_from_the_journal_and_holds_opens_until_the_survivors_reclaim(
        tmp_path: Path) -> None:
    async def body() -> None:
        table = OpenTable(epoch=1)
        j = PersistentHandleJournal(tmp_path / "j", 1, lambda: snapshot_records(table), inline_sync_max_us=1e9)
        j.load()
        j.start()
        old = VolumeCoordinator("vol", table, journal=j)
        ep = old.attach(Sink("n2"), "n2")
        res = await old.admit(admit_req(caller(ep), access=RD | WR, ca=True,
                                        durable=DurableRequest(2, 0, True, b"g" * 16)), None)
        plain = await old.admit(admit_req(caller(ep), file_id=11, path="plain.txt", share=0), None)
        await old.stop()  # the coordinator dies; n2 lives on with both handles
        table2 = OpenTable()
        j2 = PersistentHandleJournal(tmp_path / "j", 1, lambda: snapshot_records(table2), inline_sync_max_us=1e9)
        loaded = j2.load()
        table2.epoch = j2.epoch = loaded.epoch + 1
        table2.replay(loaded.entries)
        j2.start()
        new = VolumeCoordinator("vol", table2, journal=j2)
        assert new.restore() == 1
        assert set(table2.opens_by_persistent) == {res.persistent_id}  # the journal had the persistent one
        new.start_grace({"n2"}, 30)
        ep2 = new.attach(Sink("n2"), "n2")
        blocked = asyncio.create_task(new.admit(admit_req(caller(ep2, b"z" * 16), file_id=11,
                                                          path="plain.txt"), None))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not blocked.done()  # nothing is granted before the survivors re-registered
        images = [ReclaimOpen(caller(ep2), OpenImage(p, fid, path, None, False, RD | WR, share, 0, 0, None, None,
                                                     1, 0, False))
                  for p, fid, path, share in ((res.persistent_id, 10, "f.txt", SHARE_ALL),
                                              (plain.persistent_id, 11, "plain.txt", 0))]
        assert await new.reclaim(ep2, tuple(images)) == ()
        with pytest.raises(HandleStateError) as ei:
            await blocked  # the reclaimed plain open kept its share mode
        assert ei.value.status == S.SHARING_VIOLATION
        assert new.table.opens_by_persistent[res.persistent_id].endpoint == ep2
        assert (new.table.epoch > 1) and (res.persistent_id >> 40) == 1
        new.table.check_invariants()
    run(body)


def test_breaks_sent_and_timed_out_are_counted_in_the_nodes_stats() -> None:
    """Issue 15 metrics: a break sent counts once; a break nobody acknowledges within the break
    timeout counts as timed out; an acknowledged one does not. The stats object is the node's
    (shared by every volume it coordinates)."""
    from sofs.handlestate.stats import HandleStats

    async def body() -> None:
        stats = HandleStats()
        c = VolumeCoordinator("vol", timeout_ns=50_000_000, stats=stats)  # 50 ms break timeout
        a, b = Sink("n1"), Sink("n2")
        ep1, ep2 = c.attach(a, "n1"), c.attach(b, "n2")
        first = await c.admit(admit_req(caller(ep1), access=RD | WR, oplock=BATCH), None)
        hook = Hook()
        second = asyncio.create_task(c.admit(admit_req(caller(ep2, b"d" * 16), access=RD), hook))
        await hook.waiting()
        assert (stats.breaks_sent, stats.breaks_timed_out) == (1, 0)
        await c.oplock_ack(first.persistent_id, LEVEL_II)
        await second
        assert (stats.breaks_sent, stats.breaks_timed_out) == (1, 0)
        other = VolumeCoordinator("vol2", timeout_ns=50_000_000, stats=stats)  # a second volume, same node
        x, y = Sink("n1"), Sink("n2")
        ep1, ep2 = other.attach(x, "n1"), other.attach(y, "n2")
        key = b"k" * 16
        await other.admit(admit_req(caller(ep1), access=RD | WR, oplock=LEASE, lease=LeaseRequest(key, RWH, 2)),
                          None)
        await other.admit(admit_req(caller(ep2, b"d" * 16), access=RD | WR), Hook())  # waits out the timeout
        assert x.lease_breaks and (stats.breaks_sent, stats.breaks_timed_out) == (2, 1)
    run(body)


def test_close_now_closes_the_usual_open_and_leaves_the_others_to_close() -> None:
    """The in-process caller's close without a coroutine: only when nothing is to be waited for (a
    persistent open's journal commit, facts for other serving processes); None leaves it to close."""
    async def body() -> None:
        c = VolumeCoordinator("vol", timeout_ns=10**12)
        ep = c.attach_local(Sink("n1"))
        plain = await c.admit(admit_req(caller(ep), access=RD | WR | DEL, share=0), None)
        persistent = await c.admit(admit_req(caller(ep), file_id=11, path="g.txt", ca=True,
                                             durable=DurableRequest(2, 0, True, b"g" * 16)), None)
        assert persistent.durable is not None and persistent.durable.persistent
        assert c.close_now(persistent.persistent_id) is None  # the journal: close it
        assert persistent.persistent_id in c.table.opens_by_persistent
        res = c.close_now(plain.persistent_id)
        assert res is not None and not res.delete
        assert plain.persistent_id not in c.table.opens_by_persistent and 10 not in c.table.files
        assert c.close_now(plain.persistent_id) == res  # already gone: nothing to delete
        again = await c.admit(admit_req(caller(ep), access=RD, share=0), None)  # the share mode went too
        c.attach(Sink("n2"), "n2")  # another serving process: facts to push, close it
        assert c.close_now(again.persistent_id) is None
        assert again.persistent_id in c.table.opens_by_persistent
        await c.close(again.persistent_id)
        await c.close(persistent.persistent_id)
        c.table.check_invariants()
        assert not c.table.opens_by_persistent
    run(body)
