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

from sofs.engine.state import SessionState
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.opens import Handle, get_open
from sofs.handlestate.api import HandleStateError, LockRange
from sofs.handlestate.api import LockRequest as LockRequest_
from sofs.wire.constants import LockFlags as F
from sofs.wire.messages.lock import LockRequest, LockResponse
from sofs.wire.status import NtStatus

_LOCK_BODY = LockResponse().encode()
_BLOCKING = (int(F.SHARED_LOCK), int(F.EXCLUSIVE_LOCK))
_IMMEDIATE = (int(F.SHARED_LOCK | F.FAIL_IMMEDIATELY), int(F.EXCLUSIVE_LOCK | F.FAIL_IMMEDIATELY))
_UNLOCK = int(F.UNLOCK)
_CAP_MULTI_CHANNEL = 0x08  # [MS-SMB2] 2.2.4 SMB2_GLOBAL_CAP_MULTI_CHANNEL
_EXCLUSIVE = int(F.EXCLUSIVE_LOCK)


def lock_sequence_applies(ctx: Ctx, op: Handle) -> bool:
    """[MS-SMB2] 3.3.5.14: 2.1 with a resilient open, 3.x with a durable/resilient/persistent one or
    on a connection that negotiated multichannel (the spec's rule, which Samba follows:
    smb2.lock.replay_smb3_specification_multi; replay_broken_windows then skips)."""
    if ctx.dialect == 0x0210:
        return op.resilient
    if ctx.dialect < 0x0300:
        return False
    return bool(ctx.conn.server_capabilities & _CAP_MULTI_CHANNEL or op.durable or op.resilient)


async def handle_lock(ctx: Ctx, req: LockRequest) -> Reply:
    """[MS-SMB2] 3.3.5.14 Receiving an SMB2 LOCK Request: validated here (the first element decides
    the request kind), done by the volume's coordinator."""
    session = ctx.session
    if req.locks[0].flags != _UNLOCK and session is not None and session.state is SessionState.EXPIRED:
        # 3.3.5.2.9 lets LOCK through on an expired session for its unlocks only (Samba
        # smbd_smb2_request_process_lock; smb2.session.expire2)
        raise SmbError(NtStatus.NETWORK_SESSION_EXPIRED, "lock on an expired session")
    op = get_open(ctx, req.file_id)
    if op.is_pipe or not op.pid:
        raise SmbError(NtStatus.INVALID_PARAMETER, "LOCK on a pipe")
    first = req.locks[0].flags
    if first not in _BLOCKING and first not in _IMMEDIATE and first != _UNLOCK:
        raise SmbError(NtStatus.INVALID_PARAMETER, f"lock flags {first:#x}")
    if first in _BLOCKING and len(req.locks) > 1:
        raise SmbError(NtStatus.INVALID_PARAMETER, "blocking lock in a multi-element request")
    unlock = first == _UNLOCK
    ranges = []
    for i, e in enumerate(req.locks):
        if unlock:
            if e.flags != _UNLOCK:
                # the unlocks before it take effect (Windows): send those, then fail
                await _lock(ctx, op, tuple(ranges), True, False, 0, 0)
                raise SmbError(NtStatus.INVALID_PARAMETER, "lock element in an unlock request")
        elif i and e.flags not in _IMMEDIATE:
            raise SmbError(NtStatus.INVALID_PARAMETER, f"lock element flags {e.flags:#x}")
        ranges.append(LockRange(e.offset, e.length, bool(e.flags & _EXCLUSIVE)))
    if lock_sequence_applies(ctx, op):
        index, number = req.lock_sequence_index, req.lock_sequence_number
    else:
        index = number = 0
    await _lock(ctx, op, tuple(ranges), unlock, first in _BLOCKING, index, number)
    return reply(_LOCK_BODY)


async def _lock(ctx: Ctx, op: Handle, ranges: tuple[LockRange, ...], unlock: bool, blocking: bool,
                index: int, number: int) -> None:
    if not ranges:
        return
    try:
        await op.share.volume.svc.lock(
            LockRequest_(op.pid, ranges, unlock, blocking, index, number), ctx)
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None
