"""Byte-range locks at the coordinator ([MS-SMB2] 3.3.5.14, [MS-FSA] 2.1.5.7) and the per-file facts
remote serving processes mirror for their data path.

The request was validated by the serving process (element flags, blocking alone, unlock-only); here:
lock-sequence replay ([MS-SMB2] 3.3.5.14 LockSequenceIndex/Number, cluster-wide because it lives
with the open), all-or-nothing fail-immediately locks (LOCK_NOT_GRANTED), blocking locks that wait
(going async) until the file loses a lock, unlocks (RANGE_NOT_LOCKED), and for a persistent open the
journal before the answer. A granted lock contends level II oplocks / read leases of other opens.

Remote serving processes check READ/WRITE against a mirror of the file's locks (``FileFacts``):
every change is pushed to the processes holding opens of the file, and the call that changed it
returns only after they applied it, so a lock granted through one node is enforced on every node
before its client hears of it.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from sofs.handlestate import coord_caching as caching
from sofs.handlestate import records as R
from sofs.handlestate.api import LOCAL, AsyncHook, FileFacts, HandleStateError, LockRequest
from sofs.handlestate.locks import RangeLock, valid_range
from sofs.handlestate.model import Open
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.coordinator import FileKey, VolumeCoordinator

_RANGE_NOT_LOCKED = "range-not-locked"
SEQUENCE_SLOTS = 64


async def lock(c: VolumeCoordinator, req: LockRequest, hook: AsyncHook | None) -> None:
    c.check_fence()
    o = c.get(req.persistent_id)
    key = (o.file_id, o.stream_key)
    index, number = req.sequence_index, req.sequence_number
    seq = 1 <= index <= SEQUENCE_SLOTS
    if seq:
        seqs = o.sequences()
        if seqs.get(index) == number:
            return  # a replayed (index, number): done already
        if seqs.pop(index, None) is not None:
            c.table.log(R.LockSequenceSet(o.persistent_id, index, 0xFF), o.persistent)
    if req.held_before is not None and applied_already(c, o, key, req):
        pass  # sent again after a coordinator change: its first sending took effect
    elif req.unlock:
        _unlock_all(c, o, key, req)
    else:
        await _lock_all(c, o, key, req, hook)
    if seq:
        seqs[index] = number & 0xF
        c.table.log(R.LockSequenceSet(o.persistent_id, index, number & 0xF), o.persistent)
    if o.persistent:
        await c.commit()  # the locks a reconnect will find are durable before the answer
    await sync_facts(c, key)


def applied_already(c: VolumeCoordinator, o: Open, key: FileKey, req: LockRequest) -> bool:
    """Did the first sending of a request sent again after a coordinator change take effect (at the
    old coordinator; the reclaim or the journal brought its result here)? ``req.held_before`` is the
    open's locks on the request's ranges before it: a lock took effect when each of its ranges is held
    once more than then, an unlock when once less (an unlock names no mode: offset and length count).
    A lock is all or nothing; a request whose effect is not all here is applied again, and gets the
    answer it gets (a lock the range still conflicts with, RANGE_NOT_LOCKED for an unlock)."""
    pid, width = o.persistent_id, 2 if req.unlock else 3
    now = Counter((lk.offset, lk.length, lk.exclusive)[:width] for lk in c.table.locks.locks_of(key) if lk.owner == pid)
    before = Counter((r.offset, r.length, r.exclusive)[:width] for r in req.held_before or ())
    asked = Counter((r.offset, r.length, r.exclusive)[:width] for r in req.ranges)
    step = -1 if req.unlock else 1
    return all(now[k] == before[k] + step * n for k, n in asked.items())


def _unlock_all(c: VolumeCoordinator, o: Open, key: FileKey, req: LockRequest) -> None:
    changed = False
    try:
        for r in req.ranges:
            if not c.table.locks.unlock(key, o.persistent_id, r.offset, r.length):
                raise HandleStateError(NtStatus.RANGE_NOT_LOCKED)
            c.table.log(R.LockRemoved(o.file_id, o.persistent_id, o.stream_key, r.offset, r.length), o.persistent)
            changed = True
    finally:
        if changed:
            wake_lock_waiters(c, key)


async def _lock_all(c: VolumeCoordinator, o: Open, key: FileKey, req: LockRequest, hook: AsyncHook | None) -> None:
    wants = []
    for r in req.ranges:
        if not valid_range(r.offset, r.length):
            raise HandleStateError(NtStatus.INVALID_LOCK_RANGE)
        wants.append(RangeLock(o.persistent_id, r.offset, r.length, r.exclusive))
    locks = c.table.locks
    if not req.blocking:
        _i, blocker = locks.try_lock_all(key, wants)
        if blocker is not None:
            raise HandleStateError(NtStatus.LOCK_NOT_GRANTED)
    else:
        await _lock_blocking(c, o, key, wants[0], hook)
    for w in wants:
        c.table.log(R.LockAdded(o.file_id, o.persistent_id, o.stream_key, w.offset, w.length, w.exclusive),
                    o.persistent)
    caching.contend_write(c, o)


async def _lock_blocking(c: VolumeCoordinator, o: Open, key: FileKey, want: RangeLock,
                         hook: AsyncHook | None) -> None:
    locks = c.table.locks
    pid = o.persistent_id
    while locks.try_lock(key, want) is not None:
        if hook is not None:
            await hook.going_async()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        c.lock_waiters.setdefault(key, []).append(fut)
        c.lock_waits_of.setdefault(pid, []).append(fut)
        try:
            result = await fut
        finally:
            _discard(c.lock_waiters, key, fut)
            _discard(c.lock_waits_of, pid, fut)
        if result == _RANGE_NOT_LOCKED:
            raise HandleStateError(NtStatus.RANGE_NOT_LOCKED, "handle closed while waiting for the lock")
        if c.table.opens_by_persistent.get(pid) is not o:
            # woken by the holder's close and closed itself since: the lock was grantable when the
            # holder went away, which Windows reports as success
            if locks.conflict(key, want) is None:
                return
            raise HandleStateError(NtStatus.RANGE_NOT_LOCKED, "handle closed while waiting for the lock")


def _discard(table: dict[Any, list[asyncio.Future[Any]]], key: Any, fut: asyncio.Future[Any]) -> None:
    lst = table.get(key)
    if lst is None:
        return
    try:
        lst.remove(fut)
    except ValueError:
        pass
    if not lst:
        del table[key]


def wake_lock_waiters(c: VolumeCoordinator, key: FileKey) -> None:
    """The file lost a lock: every blocked LOCK on it tries again (in arrival order)."""
    for fut in list(c.lock_waiters.get(key, ())):
        if not fut.done():
            fut.set_result(None)


def release_open(c: VolumeCoordinator, o: Open, key: FileKey) -> None:
    """Close: drop the open's locks, wake the waiters of the file, fail the open's own waits."""
    for fut in c.lock_waits_of.pop(o.persistent_id, ()):
        if not fut.done():
            fut.set_result(_RANGE_NOT_LOCKED)
    if c.table.locks.files and c.table.locks.release_owner(key, o.persistent_id):
        wake_lock_waiters(c, key)


# --- facts for remote serving processes -------------------------------------------------------------

async def sync_facts(c: VolumeCoordinator, key: FileKey, carried: int = LOCAL) -> None:
    """Push the file's locks / read caching to every remote serving process that has opens of it and
    has not seen them yet; return once each has applied them. ``carried``: an endpoint left out,
    whose facts travel with the answer to its call (:func:`carry_facts`)."""
    sinks = c.sinks
    if not sinks or (len(sinks) == 1 and LOCAL in sinks):
        return
    f = c.table.files.get(key[0])
    endpoints = {o.endpoint for o in f.opens_of(key[1]) if o.disconnected_at is None} if f is not None else set()
    endpoints.discard(LOCAL)
    sent = c.facts_sent.get(key)
    if sent is not None:
        for ep in [ep for ep in sent if ep not in endpoints]:
            del sent[ep]
        if not sent:
            del c.facts_sent[key]
    endpoints.discard(carried)
    if not endpoints:
        return
    facts = c.facts(key)
    waits = []
    for ep in endpoints:
        sink = sinks.get(ep)
        if sink is None or (sent is not None and sent.get(ep) == facts):
            continue
        c.facts_sent.setdefault(key, {})[ep] = facts
        waits.append(sink.file_facts(facts))
    if waits:
        await asyncio.gather(*waits, return_exceptions=True)


def carry_facts(c: VolumeCoordinator, key: FileKey, endpoint: int) -> FileFacts | None:
    """The facts to send to ``endpoint`` (which has an open of ``key``) with the answer it gets now:
    None when it mirrors them already (or is this process). Taken when the answer is made, after
    every ``await``: a push of later facts (a call on the same link) then follows the answer, which
    the serving process applies as it resumes, before the calls that came after it (Sink.file_facts
    saved: one round trip less per CREATE of a file the process has no other open of)."""
    if endpoint == LOCAL:
        return None
    facts = c.facts(key)
    sent = c.facts_sent.setdefault(key, {})
    if sent.get(endpoint) == facts:
        return None
    sent[endpoint] = facts
    return facts
