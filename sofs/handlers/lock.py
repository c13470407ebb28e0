"""SMB2 LOCK ([MS-SMB2] 3.3.5.14) and the byte-range checks of READ/WRITE (3.3.5.12, 3.3.5.13).

Parse and validate as Samba/Windows do (``smbd_smb2_lock_send``): the first element decides the
request kind (a blocking lock must be alone; an unlock request holds only unlocks, a bad element
in it fails with INVALID_PARAMETER after the unlocks before it took effect); then do the work on
:class:`~sofs.handlestate.locks.ByteRangeLocks`:

- fail-immediately locks are all-or-nothing (LOCK_NOT_GRANTED, the earlier ones of the request
  undone); SMB2 always answers LOCK_NOT_GRANTED (the SMB1 FILE_LOCK_CONFLICT heuristic for repeated
  failures at one offset is mapped to LOCK_NOT_GRANTED by SMB2 servers, Windows and Samba alike);
- a blocking lock that conflicts goes async (interim STATUS_PENDING) and waits until the file loses
  a lock (unlock or close), then tries again; CANCEL ends it with STATUS_CANCELLED, closing the
  handle with RANGE_NOT_LOCKED;
- lock sequence numbers ([MS-SMB2] 3.3.5.14 with 2.1 resilient / 3.x durable, resilient or
  persistent opens): a replayed (index, number) pair answers SUCCESS without doing anything.

A granted lock contends level II oplocks / read leases of other opens (Samba does so).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.breaks import CachingManager, manager
from sofs.handlers.opens import Open, get_open
from sofs.handlestate.locks import LockSequences, RangeLock, valid_range
from sofs.wire.constants import LockFlags as F
from sofs.wire.messages.lock import LockRequest, LockResponse
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

_LOCK_BODY = LockResponse().encode()
_BLOCKING = (int(F.SHARED_LOCK), int(F.EXCLUSIVE_LOCK))
_IMMEDIATE = (int(F.SHARED_LOCK | F.FAIL_IMMEDIATELY), int(F.EXCLUSIVE_LOCK | F.FAIL_IMMEDIATELY))
_UNLOCK = int(F.UNLOCK)
_CAP_MULTI_CHANNEL = 0x08  # [MS-SMB2] 2.2.4 SMB2_GLOBAL_CAP_MULTI_CHANNEL
_RANGE_NOT_LOCKED = "range-not-locked"


def _sequences(op: Open) -> LockSequences:
    seq = op.ext.get("lock_sequences")
    if seq is None:
        seq = op.ext["lock_sequences"] = LockSequences()
    return seq


def lock_sequence_applies(ctx: Ctx, op: Open) -> bool:
    """[MS-SMB2] 3.3.5.14: 2.1 with a resilient open, 3.x with a durable/resilient/persistent one or
    on a connection that negotiated multichannel.

    The durable-handle code (issue 5) marks opens with ``op.ext["durable"]``/``["resilient"]``/
    ``["persistent"]``; a server may also install ``extensions["lock_sequence_applies"]``."""
    hook = ctx.server.extensions.get("lock_sequence_applies")
    if hook is not None:
        return bool(hook(ctx, op))
    ext = op.ext
    if ctx.dialect == 0x0210:
        return bool(ext.get("resilient"))
    if ctx.dialect < 0x0300:
        return False
    # 3.x with SMB2_GLOBAL_CAP_MULTI_CHANNEL negotiated: every open (the spec's rule, which Samba
    # follows; smb2.lock.replay_smb3_specification_multi; replay_broken_windows then skips)
    return bool(ctx.conn.server_capabilities & _CAP_MULTI_CHANNEL or ext.get("durable")
                or ext.get("resilient") or ext.get("persistent"))


async def handle_lock(ctx: Ctx, req: LockRequest) -> Reply:
    """[MS-SMB2] 3.3.5.14 Receiving an SMB2 LOCK Request."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe or op.node is None:
        raise SmbError(NtStatus.INVALID_PARAMETER, "LOCK on a pipe")
    first = req.locks[0].flags
    if first not in _BLOCKING and first not in _IMMEDIATE and first != _UNLOCK:
        raise SmbError(NtStatus.INVALID_PARAMETER, f"lock flags {first:#x}")
    if first in _BLOCKING and len(req.locks) > 1:
        raise SmbError(NtStatus.INVALID_PARAMETER, "blocking lock in a multi-element request")
    unlock = first == _UNLOCK
    if not unlock:
        for e in req.locks[1:]:
            if e.flags not in _IMMEDIATE:
                raise SmbError(NtStatus.INVALID_PARAMETER, f"lock element flags {e.flags:#x}")
    seq = _sequences(op) if lock_sequence_applies(ctx, op) else None
    index, number = req.lock_sequence_index, req.lock_sequence_number
    if seq is not None:
        if seq.is_replay(index, number):
            return reply(_LOCK_BODY)
        seq.begin(index)
    mgr = manager(ctx.server)
    if unlock:
        _unlock_all(mgr, op, req)
    else:
        await _lock_all(ctx, mgr, op, req, blocking=first in _BLOCKING)
    if seq is not None:
        seq.done(index, number)
    return reply(_LOCK_BODY)


def _unlock_all(mgr: CachingManager, op: Open, req: LockRequest) -> None:
    assert op.node is not None
    key = op.node.key
    changed = False
    try:
        for e in req.locks:
            if e.flags != _UNLOCK:
                raise SmbError(NtStatus.INVALID_PARAMETER, "lock element in an unlock request")
            if not mgr.locks.unlock(key, op, e.offset, e.length):
                raise SmbError(NtStatus.RANGE_NOT_LOCKED)
            changed = True
    finally:
        if changed:
            wake_lock_waiters(mgr, key)


async def _lock_all(ctx: Ctx, mgr: CachingManager, op: Open, req: LockRequest, blocking: bool) -> None:
    assert op.node is not None
    key = op.node.key
    wants = []
    for e in req.locks:
        if not valid_range(e.offset, e.length):
            raise SmbError(NtStatus.INVALID_LOCK_RANGE)
        wants.append(RangeLock(op, e.offset, e.length, bool(e.flags & F.EXCLUSIVE_LOCK)))
    if not blocking:
        _i, blocker = mgr.locks.try_lock_all(key, wants)
        if blocker is not None:
            raise SmbError(NtStatus.LOCK_NOT_GRANTED)
    else:
        await _lock_blocking(ctx, mgr, op, key, wants[0])
    mgr.contend_write(op)


async def _lock_blocking(ctx: Ctx, mgr: CachingManager, op: Open, key: Any, want: RangeLock) -> None:
    while mgr.locks.try_lock(key, want) is not None:
        await ctx.go_async()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiters = mgr.lock_waiters.setdefault(key, [])
        waiters.append(fut)
        op.ext.setdefault("lock_waits", []).append(fut)
        try:
            result = await fut
        finally:
            _discard(mgr, key, fut)
            try:
                op.ext.get("lock_waits", []).remove(fut)
            except ValueError:
                pass
        if result == _RANGE_NOT_LOCKED:
            raise SmbError(NtStatus.RANGE_NOT_LOCKED, "handle closed while waiting for the lock")
        if op.closed:
            # woken by the holder's close and closed itself since (tree disconnect / logoff close
            # both): the lock was grantable when the holder went away, which Windows reports as success
            if mgr.locks.conflict(key, want) is None:
                return
            raise SmbError(NtStatus.RANGE_NOT_LOCKED, "handle closed while waiting for the lock")


def _discard(mgr: CachingManager, key: Any, fut: asyncio.Future[None]) -> None:
    lst = mgr.lock_waiters.get(key)
    if lst is None:
        return
    try:
        lst.remove(fut)
    except ValueError:
        pass
    if not lst:
        del mgr.lock_waiters[key]


def wake_lock_waiters(mgr: CachingManager, key: Any) -> None:
    """The file lost a lock: every blocked LOCK on it tries again (in arrival order)."""
    for fut in list(mgr.lock_waiters.get(key, ())):
        if not fut.done():
            fut.set_result(None)


# --- hooks: READ/WRITE checks and close -----------------------------------------------------------

def check_io(server: ServerState, op: Open, offset: int, length: int, write: bool) -> None:
    """FILE_LOCK_CONFLICT when another open's lock (or for a write, the writer's own shared lock)
    covers the range ([MS-SMB2] 3.3.5.12/3.3.5.13)."""
    node = op.node
    if node is None:
        return
    mgr: CachingManager | None = server.extensions.get("sofs.caching")
    if mgr is None or not mgr.locks.files:
        return
    if mgr.locks.check_io(node.key, op, offset, length, write) is not None:
        raise SmbError(NtStatus.FILE_LOCK_CONFLICT)


def check_read_hook(ctx: Ctx, op: Open, offset: int, length: int) -> None:
    check_io(ctx.server, op, offset, length, False)


def check_write_hook(ctx: Ctx, op: Open, offset: int, length: int) -> None:
    check_io(ctx.server, op, offset, length, True)


def release_open_locks(mgr: CachingManager, op: Open) -> None:
    """Close: drop the open's locks, wake the waiters of the file, fail the open's own waits."""
    node = op.node
    for fut in op.ext.pop("lock_waits", ()):
        if not fut.done():
            fut.set_result(_RANGE_NOT_LOCKED)
    if node is not None and mgr.locks.release_owner(node.key, op):
        wake_lock_waiters(mgr, node.key)
