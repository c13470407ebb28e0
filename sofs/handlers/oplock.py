"""Oplocks and leases on the CREATE path, and the OPLOCK_BREAK command ([MS-SMB2] 3.3.5.9, 3.3.5.22).

CREATE integration (see :mod:`sofs.server.caching_install` for the hook names):

- :func:`before_admit` runs after the VFS open and before the share-mode check: it breaks what the
  new open contends with ([MS-FSA] 2.1.5.17.2) and, when a break must be acknowledged first, sends
  the interim STATUS_PENDING and waits (up to the 35 s break timeout) before the CREATE goes on;
- :func:`create_context_handler` (``server.extensions["create_context_handlers"]``) runs once the open
  is admitted: it does the breaking itself if ``before_admit`` was not wired in, then grants the
  oplock or lease and returns the lease response context.

OPLOCK_BREAK: :func:`handle_oplock_break` takes oplock and lease acknowledgments.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.breaks import manager, wire_file_id
from sofs.handlers.opens import Open, get_open, registry
from sofs.handlestate.leases import LeaseError, LeaseTable
from sofs.handlestate.oplocks import (
    LEASE,
    NONE,
    RWH,
    Caching,
    grant_oplock,
    is_stat_open,
    oplock_caching,
    plan_breaks,
)
from sofs.wire.constants import LeaseFlags
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import map_generic
from sofs.wire.messages.create_contexts import CreateContext, LeaseV1, LeaseV2, to_context
from sofs.wire.messages.oplock import (
    LeaseBreakAcknowledgment,
    LeaseBreakResponse,
    OplockBreakAcknowledgment,
    OplockBreakResponse,
)
from sofs.wire.status import NtStatus

_OVERWRITE = (D.SUPERSEDE, D.OVERWRITE, D.OVERWRITE_IF)
_DONE_FLAG = "_sofs_caching_breaks_done"
MAX_BREAK_ROUNDS = 8
_CAP_DIRECTORY_LEASING = 0x20  # [MS-SMB2] 2.2.4 SMB2_GLOBAL_CAP_DIRECTORY_LEASING


INTERIM_DELAY_S = 0.001  # Samba: 500 µs (smb2_create); uvloop timers have 1 ms resolution


async def wait_breaks(ctx: Ctx, futs: list[asyncio.Future[None]]) -> None:
    """Wait for the acknowledgments of breaks; go async (interim STATUS_PENDING) only when they take
    longer than :data:`INTERIM_DELAY_S`, as Samba does: a client that answers the break at once gets
    no interim response (half of the oplock1 benchmark's round trips otherwise). A CANCEL that
    arrives meanwhile is honoured by ``ctx.go_async`` (CANCELLED) if the wait goes on."""
    pending = [f for f in futs if not f.done()]
    if not pending:
        return
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    left = len(pending)

    def open_gate(_f: object = None) -> None:
        if not gate.done():
            gate.set_result(None)

    def one_done(_f: object) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            open_gate()

    timer = loop.call_later(INTERIM_DELAY_S, open_gate)
    for f in pending:
        f.add_done_callback(one_done)
    try:
        await gate
    finally:
        timer.cancel()
    if left:
        await ctx.go_async()
        await wait_all(pending)


async def wait_all(futs: list[asyncio.Future[None]]) -> None:
    """Wait until every break future is resolved (what ``asyncio.wait`` does, without its waiter
    future and per-future callbacks: this is on the oplock1 benchmark's hot path). The futures are
    this waiter's own (one per waiter, see ``CachingManager.break_holder``), so a cancellation that
    reaches one of them harms nobody else."""
    for f in futs:
        if not f.done():
            await f


def _wants_lease(ctx: Ctx, req: Any, contexts: Any) -> bool:
    return bool(req.requested_oplock_level == LEASE and contexts.lease is not None and ctx.dialect >= 0x0210)


def _effective_access(req: Any, is_directory: bool) -> int:
    access = map_generic(req.desired_access, is_directory)
    if access & A.MAXIMUM_ALLOWED:
        access |= A.FILE_READ_DATA | A.FILE_WRITE_DATA
    return int(access)


def _sharing_violation(ctx: Ctx, key: Any, access: int, share_access: int) -> bool:
    from sofs.handlers.open_logic import check_share_access

    node = registry(ctx.server).nodes.get(key)
    if node is None:
        return False
    try:
        check_share_access(node.opens, access, share_access)
    except SmbError:
        return True
    return False


async def resolve_breaks(ctx: Ctx, req: Any, contexts: Any, key: Any, is_directory: bool,
                         existed: bool, check_sharing: bool) -> None:
    """Break what a new open of ``key`` contends with; wait (async CREATE) for the breaks that must be
    acknowledged first, then look again (the holder may have closed its handle meanwhile)."""
    mgr = manager(ctx.server)
    if not mgr.has_holders(key):
        return
    access = _effective_access(req, is_directory)
    overwrite = existed and req.create_disposition in _OVERWRITE
    oplock_stat = is_stat_open(access) and not overwrite
    lease_stat = is_stat_open(access, lease=True) and not overwrite
    if oplock_stat and lease_stat:
        return  # stat opens break nothing unless they overwrite
    own = None
    if _wants_lease(ctx, req, contexts):
        own = mgr.leases.get(ctx.conn.client_guid, contexts.lease.lease_key)
    for _round in range(MAX_BREAK_ROUNDS):
        sv = check_sharing and _sharing_violation(ctx, key, access, req.share_access)
        holders = [h for h in mgr.holders(key, exclude_lease=own)
                   if not (lease_stat if h.is_lease else oplock_stat)]
        orders = plan_breaks(holders, sv, overwrite, first_attempt=_round == 0)
        futs = [f for o in orders if (f := mgr.break_holder(o.ident, o.to, o.wait)) is not None]
        if not futs:
            return
        await wait_breaks(ctx, futs)


def before_admit(ctx: Ctx, req: Any, contexts: Any, handle: Any, info: Any) -> Awaitable[None] | None:
    """CREATE hook between the VFS open and the share-mode check (``create_before_admit``).

    Returns an awaitable only when the file has oplock/lease holders (breaks to send, maybe to wait
    for); the common case costs no coroutine."""
    assert ctx.tree is not None
    key = (ctx.tree.share.name.lower(), info.file_id, (handle.stream or "").upper())
    if manager(ctx.server).has_holders(key):
        node = registry(ctx.server).nodes.get(key)
        if node is not None and node.delete_pending:
            return None  # the open fails with DELETE_PENDING and breaks nothing (smb2.oplock.doc)
        return _break_before_admit(ctx, req, contexts, key, info.is_directory)
    _mark_breaks_done(contexts)
    return None


async def _break_before_admit(ctx: Ctx, req: Any, contexts: Any, key: Any, is_directory: bool) -> None:
    await resolve_breaks(ctx, req, contexts, key, is_directory, True, True)
    _mark_breaks_done(contexts)


def _mark_breaks_done(contexts: Any) -> None:
    try:
        setattr(contexts, _DONE_FLAG, True)
    except AttributeError:
        pass


def _others(op: Open, lease: Any) -> list[Open]:
    node = op.node
    if node is None:
        return []
    return [o for o in node.opens if o is not op and (lease is None or o.ext.get("lease") is not lease)]


def _caching_of(o: Open) -> Caching:
    lease = o.ext.get("lease")
    if lease is not None:
        return lease.state  # type: ignore[no-any-return]
    return oplock_caching(o.oplock_level)


def create_context_handler(ctx: Ctx, req: Any, contexts: Any, op: Open,
                           *_: Any) -> list[CreateContext] | Awaitable[list[CreateContext]]:
    """``create_context_handlers`` hook: breaks (if not done before admission), then the grant.

    Answers a list at once when there is nothing to grant and no break left to do (an open that
    asks no oplock and no lease: the common case costs no coroutine), else an awaitable."""
    if op.node is None or op.pipe is not None:
        return []
    if getattr(contexts, _DONE_FLAG, False) and not _wants_lease(ctx, req, contexts):
        requested = req.requested_oplock_level
        if requested == NONE or requested == LEASE or op.is_directory:
            return []  # grant_oplock would answer NONE: nothing to record
    return _grant(ctx, req, contexts, op)


async def _grant(ctx: Ctx, req: Any, contexts: Any, op: Open) -> list[CreateContext]:
    assert op.node is not None
    if not getattr(contexts, _DONE_FLAG, False):
        await resolve_breaks(ctx, req, contexts, op.node.key, op.is_directory, True, False)
    if _wants_lease(ctx, req, contexts):
        return await _grant_lease(ctx, req, contexts, op, is_stat_open(op.granted_access))
    requested = req.requested_oplock_level
    if requested == NONE or requested == LEASE or op.is_directory:
        return []  # grant_oplock would answer NONE: nothing to record
    mgr = manager(ctx.server)
    stat = is_stat_open(op.granted_access)
    if _has_brlocks(mgr, op, req):
        return []
    others = [_caching_of(o) for o in _others(op, None)]
    handle_lease = any(o.ext.get("lease") is not None and o.ext["lease"].state & Caching.H
                       for o in _others(op, None))
    level = grant_oplock(req.requested_oplock_level, others, handle_lease, stat, op.is_directory)
    if level != NONE:
        mgr._set_oplock(op, level, None)
    return []


def _has_brlocks(mgr: Any, op: Open, req: Any) -> bool:
    """A file with byte-range locks gets no read or handle caching (neither R/H lease bits nor an
    oplock) unless this open overwrites it (Samba ``delay_for_oplock`` / ``file_has_brlocks``;
    smb2.lease.lease-epoch)."""
    return (op.node is not None and req.create_disposition not in _OVERWRITE
            and bool(mgr.locks.locks_of(op.node.key)))


async def _grant_lease(ctx: Ctx, req: Any, contexts: Any, op: Open, stat: bool) -> list[CreateContext]:
    """Grant/upgrade the lease a CREATE names ([MS-SMB2] 3.3.5.9.8, .11).

    The lease keeps the version it was created with: later requests in the other format get
    answers in the lease's own format (smb2.lease.v2_epoch2/3). A request for a state without R
    (H, W, HW) is answered with a lease of state none (smb2.lease.request); a directory gets a lease
    only when the connection negotiated SMB2_GLOBAL_CAP_DIRECTORY_LEASING.
    W needs every other (non-stat) open to share the lease; H is withheld while another open holds
    an oplock (Samba ``grant_fsp_oplock_type``)."""
    mgr = manager(ctx.server)
    rq = contexts.lease
    v2_req = isinstance(rq, LeaseV2) and ctx.dialect >= 0x0300
    parent = rq.parent_lease_key if v2_req and rq.flags & LeaseFlags.PARENT_LEASE_KEY_SET else None
    assert op.node is not None and ctx.tree is not None
    if op.is_directory and not (ctx.dialect >= 0x0300 and ctx.conn.server_capabilities & _CAP_DIRECTORY_LEASING):
        op.oplock_level = NONE  # no directory leases unless NEGOTIATE advertised them
        return []
    try:
        lease = mgr.leases.lookup_for_open(ctx.conn.client_guid, rq.lease_key, op.node.key, op.is_directory,
                                           2 if v2_req else 1, parent, rq.epoch if v2_req else 0)
    except LeaseError as e:
        from sofs.handlers.close import close_open

        await close_open(ctx.server, op)
        raise SmbError(NtStatus[e.status], "lease key already used on another file") from None
    mgr.leases.attach(lease, op)
    op.ext["lease"] = lease
    op.oplock_level = LEASE
    allowed = RWH
    # W: every other open counts unless it is an oplock stat open (no READ_CONTROL) without an
    # oplock or lease of its own (Samba ``delay_for_oplock_fn`` disallow_write_lease;
    # smb2.lease.statopen/statopen3, smb2.durable-v2-open.nonstat-and-lease)
    others = [o for o in _others(op, lease)
              if not is_stat_open(o.granted_access) or o.ext.get("lease") is not None
              or o.oplock_level not in (NONE, LEASE)]
    if others:
        allowed &= ~Caching.W
    if any(o.ext.get("lease") is None and o.oplock_level not in (NONE, LEASE) for o in others):
        allowed &= ~Caching.H
    if _has_brlocks(mgr, op, req):
        allowed &= ~(Caching.R | Caching.H)
    if op.is_directory:
        allowed = Caching.R | Caching.H
        mgr.dir_leases[(ctx.tree.share.name.lower(), op.path.strip("\\").upper())] = op.node.key
    g = LeaseTable.grant(lease, rq.lease_state, allowed)
    flags = int(LeaseFlags.BREAK_IN_PROGRESS) if g.break_in_progress else 0
    if lease.version >= 2:
        if lease.parent_key is not None:
            flags |= int(LeaseFlags.PARENT_LEASE_KEY_SET)
        return [to_context(LeaseV2(rq.lease_key, int(g.state), flags, 0, lease.parent_key or bytes(16), g.epoch))]
    return [to_context(LeaseV1(rq.lease_key, int(g.state), flags, 0))]


async def break_handle_caching(ctx: Ctx, op: Open) -> None:
    """Before a rename or delete through ``op``: other holders lose H (cached handles would keep the
    old name alive) and the operation waits for their acknowledgments ([MS-FSA] 2.1.5.14.2,
    Samba ``delay_rename_for_lease_break``). ``server.extensions["before_rename"]`` /
    ``["before_delete"]``: ``await f(ctx, op)``."""
    node = op.node
    if node is None:
        return
    mgr = manager(ctx.server)
    if not mgr.has_holders(node.key):
        return
    own = op.ext.get("lease")
    for _round in range(MAX_BREAK_ROUNDS):
        futs = []
        for h in mgr.holders(node.key, exclude_lease=own, exclude_open=op):
            cur = h.breaking_to if h.breaking_to is not None else h.caching
            if h.is_lease and cur & Caching.H:
                f = mgr.break_holder(h.ident, cur & ~Caching.H, True)
            elif h.is_lease and h.breaking_to is not None and h.caching & Caching.H:
                f = mgr.break_holder(h.ident, cur, True)
            else:
                continue
            if f is not None:
                futs.append(f)
        if not futs:
            return
        await wait_breaks(ctx, futs)


def _opens_below(ctx: Ctx, op: Open) -> list[Open]:
    from sofs.vfs.names import fold_name

    prefix = fold_name(op.path) + "\\"
    return [o for o in registry(ctx.server).by_id.values()
            if o.share is op.share and not o.closed and fold_name(o.path).startswith(prefix)]


async def break_for_rename(ctx: Ctx, op: Open) -> None:
    """``before_rename``: :func:`break_handle_caching`, and for a directory the handle caching of
    the opens below it (Windows, Samba ``delay_for_handle_lease_break_below``): file by file, the
    holders of H are broken (H dropped) and the rename waits; a file still open after its break
    (acknowledged instead of closed, or unanswered) fails the rename with ACCESS_DENIED at once.
    Opens without H are left alone here: the rename refuses them afterwards
    (smb2.lease.rename_dir_openfile)."""
    await break_handle_caching(ctx, op)
    if not op.is_directory or op.node is None:
        return
    mgr = manager(ctx.server)
    own = op.ext.get("lease")
    keys: list[Any] = []
    for o in _opens_below(ctx, op):
        k = o.node.key if o.node is not None else None
        if k is not None and k not in keys and any(
                h.caching & Caching.H for h in mgr.holders(k, exclude_lease=own)):
            keys.append(k)
    reg = registry(ctx.server)
    for k in keys:
        futs = []
        for h in mgr.holders(k, exclude_lease=own):
            if h.caching & Caching.H:
                to = h.caching & ~Caching.H if h.is_lease else h.caching & Caching.R
                f = mgr.break_holder(h.ident, to, True)
                if f is not None:
                    futs.append(f)
        if futs:
            await wait_breaks(ctx, futs)
        node = reg.nodes.get(k)
        if node is not None and any(not o.closed for o in node.opens):
            raise SmbError(NtStatus.ACCESS_DENIED, "an open below the directory kept its handle")


async def handle_oplock_break(ctx: Ctx, req: Any) -> Reply:
    """[MS-SMB2] 3.3.5.22 Receiving an SMB2 OPLOCK_BREAK Acknowledgment (oplock or lease)."""
    mgr = manager(ctx.server)
    if isinstance(req, OplockBreakAcknowledgment):
        op = get_open(ctx, req.file_id)
        if op.ext.get("lease") is not None:
            raise SmbError(NtStatus.INVALID_OPLOCK_PROTOCOL, "oplock ack on a leased open")
        level, err = mgr.oplock_ack(op, req.oplock_level)
        if err is not None:
            raise SmbError(NtStatus[err])
        return reply(OplockBreakResponse(oplock_level=level, file_id=wire_file_id(op)).encode())
    if isinstance(req, LeaseBreakAcknowledgment):
        if ctx.dialect < 0x0210:
            raise SmbError(NtStatus.INVALID_PARAMETER, "lease ack before SMB 2.1")
        lease = mgr.leases.get(ctx.conn.client_guid, req.lease_key)
        if lease is None:
            raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "unknown lease key")
        err = mgr.lease_ack(lease, req.lease_state)
        if err is not None:
            raise SmbError(NtStatus[err])
        # the acknowledged state, even when a follow-up break already lowered it (smb2.lease.breaking3)
        return reply(LeaseBreakResponse(req.lease_key, int(req.lease_state)).encode())
    raise SmbError(NtStatus.INVALID_PARAMETER, "unknown OPLOCK_BREAK")
