"""Oplocks and leases at the coordinator: who holds what, breaking, acknowledgments, timeouts, grants.

[MS-SMB2] 3.3.4.6 / 3.3.4.7 (breaks), 3.3.5.22 (acknowledgments), 3.3.5.9.8 / .11 (lease grants),
[MS-FSA] 2.1.5.17 (what contends with what). The decisions are the pure tables of
:mod:`~sofs.handlestate.oplocks` and :mod:`~sofs.handlestate.leases`; these functions apply them to a
:class:`~sofs.handlestate.coordinator.VolumeCoordinator` and send the notifications through the
holder's serving process (its :class:`~sofs.handlestate.api.Sink`).

Holders are identified by ids: an oplock'ed open by its persistent id, a lease by its
:class:`~sofs.handlestate.leases.LeaseRecord` (one per ClientGuid + LeaseKey). A holder that cannot
be told (no serving process has its client) is treated as having acknowledged at once: the break
completes to its target (what Windows does after the 35 s timeout); a disconnected non-persistent
durable open that owes a break is closed instead (purged, Samba's rule).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from sofs.handlestate import records as R
from sofs.handlestate.api import AsyncHook, HandleStateError, LeaseGrant
from sofs.handlestate.leases import LeaseError, LeaseRecord, LeaseTable
from sofs.handlestate.model import Open
from sofs.handlestate.notify import fold
from sofs.handlestate.oplocks import (
    LEASE,
    NONE,
    RWH,
    Caching,
    Holder,
    grant_oplock,
    is_stat_open,
    oplock_caching,
    oplock_level,
    oplock_step,
    plan_breaks,
    plan_write_breaks,
)
from sofs.wire.constants import LeaseFlags
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import map_generic
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.api import AdmitRequest
    from sofs.handlestate.coordinator import FileKey, VolumeCoordinator

log = logging.getLogger("sofs.breaks")
OVERWRITE = (D.SUPERSEDE, D.OVERWRITE, D.OVERWRITE_IF)
MAX_BREAK_ROUNDS = 8
INTERIM_DELAY_S = 0.001  # Samba: 500 µs (smb2_create); uvloop timers have 1 ms resolution
_LEASE_FLAGS_BREAK = int(LeaseFlags.BREAK_IN_PROGRESS)
_LEASE_FLAGS_PARENT = int(LeaseFlags.PARENT_LEASE_KEY_SET)


def caching_of(o: Open) -> Caching:
    if o.lease is not None:
        return o.lease.state  # type: ignore[no-any-return]
    return oplock_caching(o.oplock_level)


# --- who holds what ------------------------------------------------------------------------------

def holders(c: VolumeCoordinator, key: FileKey, exclude_lease: LeaseRecord | None = None,
            exclude_pid: int = 0) -> list[Holder]:
    out: list[Holder] = []
    opens = c.table.opens_by_persistent
    for pid in c.oplock_opens.get(key, ()):
        if pid == exclude_pid:
            continue
        o = opens[pid]
        brk = o.oplock_breaking
        out.append(Holder(pid, oplock_caching(o.oplock_level), False, None if brk is None else oplock_caching(brk)))
    for lease in c.table.leases.of_file(key):
        if lease is exclude_lease:
            continue
        out.append(Holder(lease, lease.state, True, lease.required))
    return out


def has_holders(c: VolumeCoordinator, key: FileKey) -> bool:
    return key in c.oplock_opens or bool(c.table.leases.of_file(key))


def has_read_cachers(c: VolumeCoordinator, key: FileKey) -> bool:
    return has_holders(c, key)


# --- breaking ------------------------------------------------------------------------------------

def break_holder(c: VolumeCoordinator, ident: Hashable, to: Caching, wait: bool) -> asyncio.Future[None] | None:
    """Break an oplock'ed open or a lease down to ``to``; a future when ``wait`` and the break is
    (still) outstanding."""
    if isinstance(ident, LeaseRecord):
        _break_lease(c, ident, to)
        breaking = ident.breaking
    else:
        assert isinstance(ident, int)
        _break_oplock(c, ident, to)
        o = c.table.opens_by_persistent.get(ident)
        breaking = o is not None and o.oplock_breaking is not None
    if not (wait and breaking):
        return None
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    c.break_waiters.setdefault(ident, []).append(fut)
    return fut


def _break_oplock(c: VolumeCoordinator, pid: int, to: Caching) -> None:
    o = c.table.opens_by_persistent.get(pid)
    if o is None:
        return
    (new_level, breaking_to), actions = oplock_step((o.oplock_level, o.oplock_breaking), f"break:{oplock_level(to)}")
    set_oplock(c, o, new_level, breaking_to)
    for a in actions:
        if a.startswith("notify:") and not _send_oplock_break(c, o, int(a[7:])):
            oplock_timeout(c, pid)  # nobody to tell: complete as acknowledged
            return
    if breaking_to is not None and pid not in c.timers:
        _arm(c, pid)


def set_oplock(c: VolumeCoordinator, o: Open, level: int, breaking_to: int | None) -> None:
    o.oplock_level = level
    o.oplock_breaking = breaking_to
    key = (o.file_id, o.stream_key)
    if level == 0 and breaking_to is None:
        s = c.oplock_opens.get(key)
        if s is not None:
            s.discard(o.persistent_id)
            if not s:
                del c.oplock_opens[key]
    else:
        c.oplock_opens.setdefault(key, set()).add(o.persistent_id)


def _break_lease(c: VolumeCoordinator, lease: LeaseRecord, to: Caching) -> None:
    actions = lease.apply(f"break:{int(to)}", c.clock(), c.timeout_ns)
    _lease_actions(c, lease, actions)


def _lease_actions(c: VolumeCoordinator, lease: LeaseRecord, actions: tuple[str, ...]) -> None:
    for a in actions:
        if a == "release":
            release(c, lease)
        elif a.startswith("notify:"):
            _n, cur, new, ack = a.split(":")
            if not _send_lease_break(c, lease, int(cur), int(new), ack == "1"):
                lease_timeout(c, lease, "lost")
                return
    if lease.breaking and lease not in c.timers:
        _arm(c, lease)


async def oplock_ack(c: VolumeCoordinator, pid: int, level: int) -> int:
    """[MS-SMB2] 3.3.5.22.1: apply an Oplock Break Acknowledgment; returns the new level."""
    o = c.get(pid)
    if o.lease is not None:
        raise HandleStateError(NtStatus.INVALID_OPLOCK_PROTOCOL, "oplock ack on a leased open")
    (new_level, breaking_to), actions = oplock_step((o.oplock_level, o.oplock_breaking), f"ack:{level}")
    set_oplock(c, o, new_level, breaking_to)
    err = None
    for a in actions:
        if a == "release":
            release(c, pid)
        elif a.startswith("error:"):
            err = a[6:]
    if o.persistent:
        c.table.log(R.OplockSet(pid, new_level), True)
        await c.commit()
    from sofs.handlestate.coord_locks import sync_facts

    await sync_facts(c, (o.file_id, o.stream_key))
    if err is not None:
        raise HandleStateError(NtStatus[err])
    return new_level


async def lease_ack(c: VolumeCoordinator, client_guid: bytes, key: bytes, state: int) -> None:
    """[MS-SMB2] 3.3.5.22.2: apply a Lease Break Acknowledgment."""
    lease = c.table.leases.get(client_guid, key)
    if lease is None:
        raise HandleStateError(NtStatus.OBJECT_NAME_NOT_FOUND, "unknown lease key")
    actions = lease.apply(f"ack:{state}", c.clock(), c.timeout_ns)
    for a in actions:
        if a.startswith("error:"):
            raise HandleStateError(NtStatus[a[6:]])
    # the ack's response goes out before any follow-up break notification
    asyncio.get_running_loop().call_soon(_lease_actions, c, lease, actions)
    persistent = [c.table.opens_by_persistent[p] for p in lease.opens
                  if p in c.table.opens_by_persistent and c.table.opens_by_persistent[p].persistent]
    if persistent:
        journal_lease(c, persistent[0])
        await c.commit()
    from sofs.handlestate.coord_locks import sync_facts

    await sync_facts(c, lease.file_key)  # type: ignore[arg-type]


def oplock_timeout(c: VolumeCoordinator, pid: int) -> None:
    o = c.table.opens_by_persistent.get(pid)
    if o is None or o.oplock_breaking is None:
        return
    (new_level, breaking_to), _actions = oplock_step((o.oplock_level, o.oplock_breaking), "timeout")
    log.info("oplock break of %s not acknowledged: now level %d", o.path, new_level)
    set_oplock(c, o, new_level, breaking_to)
    release(c, pid)


def lease_timeout(c: VolumeCoordinator, lease: LeaseRecord, event: str = "timeout") -> None:
    if not lease.breaking:
        return
    lease.apply(event, c.clock(), c.timeout_ns)
    log.info("lease break not acknowledged: lease now %s", lease.state)
    release(c, lease)


def _arm(c: VolumeCoordinator, ident: Hashable) -> None:
    loop = asyncio.get_running_loop()
    delay = c.timeout_ns / 1e9
    if isinstance(ident, LeaseRecord):
        c.timers[ident] = loop.call_later(delay, _timed_out_lease, c, ident)
    else:
        c.timers[ident] = loop.call_later(delay, _timed_out_oplock, c, ident)


def _timed_out_lease(c: VolumeCoordinator, lease: LeaseRecord) -> None:
    if lease.breaking:
        c.stats.breaks_timed_out += 1
    lease_timeout(c, lease)
    _facts_soon(c, lease.file_key)  # type: ignore[arg-type]


def _timed_out_oplock(c: VolumeCoordinator, pid: int) -> None:
    o = c.table.opens_by_persistent.get(pid)
    if o is not None and o.oplock_breaking is not None:
        c.stats.breaks_timed_out += 1
    oplock_timeout(c, pid)
    o = c.table.opens_by_persistent.get(pid)
    if o is not None:
        _facts_soon(c, (o.file_id, o.stream_key))


def _facts_soon(c: VolumeCoordinator, key: FileKey) -> None:
    from sofs.handlestate.coord_locks import sync_facts

    if len(c.sinks) > 1 or (c.sinks and 0 not in c.sinks):
        c.spawn(sync_facts(c, key))


def release(c: VolumeCoordinator, ident: Hashable) -> None:
    t = c.timers.pop(ident, None)
    if t is not None:
        t.cancel()
    for fut in c.break_waiters.pop(ident, ()):
        if not fut.done():
            fut.set_result(None)


# --- sending -------------------------------------------------------------------------------------

def _abandoned(o: Open) -> bool:
    """A disconnected non-persistent durable open: nobody can receive its breaks."""
    return o.disconnected_at is not None and not o.persistent


def _purge(c: VolumeCoordinator, opens: list[Open]) -> None:
    for o in opens:
        log.info("purging disconnected durable open of %s: a break is owed", o.path)
        c.spawn(c._close_without_handle(o))


def _send_oplock_break(c: VolumeCoordinator, o: Open, level: int) -> bool:
    if _abandoned(o):
        _purge(c, [o])
        return False
    sink = c.sink_of(o)
    if sink is None:
        return False
    c.stats.breaks_sent += 1
    return bool(sink.oplock_break(o.persistent_id, level))


def _send_lease_break(c: VolumeCoordinator, lease: LeaseRecord, cur: int, new: int, ack_required: bool) -> bool:
    opens = [c.table.opens_by_persistent[p] for p in lease.opens if p in c.table.opens_by_persistent]
    if opens and all(_abandoned(o) for o in opens):
        _purge(c, opens)
        return False
    target = c.table.opens_by_persistent.get(lease.last_open)  # type: ignore[call-overload]
    if target is None or target.disconnected_at is not None or target.endpoint not in c.sinks:
        target = next((o for o in opens if o.disconnected_at is None and o.endpoint in c.sinks), None)
    if target is None:
        return False
    first = _first_open_of_client(c, lease)
    if first is not None and first.endpoint != target.endpoint:
        target = first
    c.stats.breaks_sent += 1
    return bool(c.sinks[target.endpoint].lease_break(
        lease.client_guid, lease.key, cur, new, ack_required, lease.epoch if lease.version >= 2 else 0,
        lease.version, target.persistent_id))


def _first_open_of_client(c: VolumeCoordinator, lease: LeaseRecord) -> Open | None:
    """The client's oldest connected open of the lease's file, whatever lease it names. A lease break
    goes to the client's oldest connection (Windows, Samba; smb2.lease.v2_complex1), which the
    serving process picks among its own connections; across processes the coordinator knows no
    connection ages, so it sends the break to the process of the client's first open of the file."""
    f = c.table.files.get(lease.file_key[0])  # type: ignore[index]
    if f is None:
        return None
    guid = lease.client_guid
    sinks = c.sinks
    for o in f.opens.values():
        if o.client_guid == guid and o.disconnected_at is None and o.endpoint in sinks:
            return o
    return None


def undeliverable_oplock(c: VolumeCoordinator, pid: int) -> None:
    """A remote serving process could not deliver an oplock break: as if acknowledged."""
    oplock_timeout(c, pid)


def undeliverable_lease(c: VolumeCoordinator, client_guid: bytes, key: bytes) -> None:
    lease = c.table.leases.get(client_guid, key)
    if lease is not None:
        lease_timeout(c, lease, "lost")


# --- writes, closes ------------------------------------------------------------------------------

def contend_write(c: VolumeCoordinator, o: Open) -> None:
    """A write/lock/truncate by ``o``: read-only caching (level II, R/RH leases but the writer's own
    lease) breaks to none, without waiting ([MS-FSA] 2.1.4.12). The writer's own level II oplock
    breaks too (smb2.oplock.batch1 "self break to none"); its own lease does not."""
    key = (o.file_id, o.stream_key)
    if not has_holders(c, key):
        return
    for order in plan_write_breaks(holders(c, key, exclude_lease=o.lease), o.persistent_id):
        break_holder(c, order.ident, order.to, False)


def forget_open(c: VolumeCoordinator, o: Open) -> None:
    """Drop the oplock and lease share of a closing open; wake whoever waited on them."""
    if o.oplock_level or o.oplock_breaking is not None:
        set_oplock(c, o, 0, None)
        release(c, o.persistent_id)
    lease = o.lease
    if lease is not None:
        o.lease = None
        if c.table.leases.detach(lease, o.persistent_id):
            release(c, lease)
            if lease.is_directory:
                for k, v in list(c.dir_leases.items()):
                    if v == lease.file_key and not c.table.leases.of_file(v):
                        del c.dir_leases[k]
                c.set_watching()


def journal_lease(c: VolumeCoordinator, o: Open) -> None:
    """The lease state a persistent open's client relies on goes to the journal."""
    lease = o.lease
    if lease is None or not o.persistent:
        return
    c.table.log(R.LeaseSet(o.file_id, lease.client_guid, lease.key, int(lease.state), lease.epoch,
                           lease.version, lease.parent_key), True)


# --- the CREATE path: breaks before admission, then the grant --------------------------------------

async def wait_breaks(hook: AsyncHook | None, futs: list[asyncio.Future[None]]) -> None:
    """Wait for the acknowledgments of breaks; go async (interim STATUS_PENDING) only when they take
    longer than :data:`INTERIM_DELAY_S`, as Samba does: a client that answers the break at once gets
    no interim response."""
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
        if hook is not None:
            await hook.going_async()
        for f in pending:
            if not f.done():
                await f


def effective_access(desired: int, is_directory: bool) -> int:
    access = map_generic(desired, is_directory)
    if access & A.MAXIMUM_ALLOWED:
        access |= A.FILE_READ_DATA | A.FILE_WRITE_DATA
    return int(access)


def _sharing_violation(c: VolumeCoordinator, key: FileKey, access: int, share_access: int) -> bool:
    from sofs.handlestate.rules import check_share_access

    f = c.table.files.get(key[0])
    if f is None:
        return False
    return check_share_access(f.opens_of(key[1]), access, share_access) != NtStatus.SUCCESS


async def resolve_breaks(c: VolumeCoordinator, req: AdmitRequest, key: FileKey, hook: AsyncHook | None) -> bool:
    """Break what a new open of ``key`` contends with; wait (async CREATE) for the breaks that must be
    acknowledged first, then look again (the holder may have closed its handle meanwhile). True when
    it waited (the caller looks at the file again)."""
    if not has_holders(c, key):
        return False
    access = effective_access(req.desired_access, req.is_directory)
    overwrite = req.existed and req.disposition in OVERWRITE
    oplock_stat = is_stat_open(access) and not overwrite
    lease_stat = is_stat_open(access, lease=True) and not overwrite
    if oplock_stat and lease_stat:
        return False  # stat opens break nothing unless they overwrite
    own = None
    if wants_lease(req):
        assert req.lease is not None
        own = c.table.leases.get(req.caller.client_guid, req.lease.key)
    waited = False
    for _round in range(MAX_BREAK_ROUNDS):
        sv = _sharing_violation(c, key, access, req.share_access)
        hs = [h for h in holders(c, key, exclude_lease=own) if not (lease_stat if h.is_lease else oplock_stat)]
        orders = plan_breaks(hs, sv, overwrite, first_attempt=_round == 0)
        futs = [f for o in orders if (f := break_holder(c, o.ident, o.to, o.wait)) is not None]
        if not futs:
            return waited
        waited = True
        await wait_breaks(hook, futs)
    return waited


def wants_lease(req: AdmitRequest) -> bool:
    return req.oplock == LEASE and req.lease is not None and req.caller.dialect >= 0x0210


def _others(c: VolumeCoordinator, o: Open, lease: LeaseRecord | None) -> list[Open]:
    f = c.table.files.get(o.file_id)
    if f is None:
        return []
    skey = o.stream_key
    return [x for x in f.opens.values()
            if x is not o and x.stream_key == skey and (lease is None or x.lease is not lease)]


def _has_brlocks(c: VolumeCoordinator, o: Open, req: AdmitRequest) -> bool:
    """A file with byte-range locks gets no read or handle caching (neither R/H lease bits nor an
    oplock) unless this open overwrites it (Samba ``delay_for_oplock`` / ``file_has_brlocks``;
    smb2.lease.lease-epoch)."""
    return req.disposition not in OVERWRITE and bool(c.table.locks.locks_of((o.file_id, o.stream_key)))


def grant_oplock_level(c: VolumeCoordinator, o: Open, req: AdmitRequest) -> int:
    """[MS-FSA] 2.1.5.17.1 for a new open that asked for an oplock (not a lease)."""
    requested = req.oplock
    if requested == NONE or requested == LEASE or o.is_directory:
        return NONE
    if _has_brlocks(c, o, req):
        return NONE
    others = _others(c, o, None)
    handle_lease = any(x.lease is not None and x.lease.state & Caching.H for x in others)
    level = grant_oplock(requested, [caching_of(x) for x in others], handle_lease,
                         is_stat_open(o.granted_access), o.is_directory)
    if level != NONE:
        set_oplock(c, o, level, None)
    return level


def grant_lease(c: VolumeCoordinator, o: Open, req: AdmitRequest) -> LeaseGrant | None:
    """Grant/upgrade the lease a CREATE names ([MS-SMB2] 3.3.5.9.8, .11).

    The lease keeps the version it was created with: later requests in the other format get
    answers in the lease's own format (smb2.lease.v2_epoch2/3). A request for a state without R
    (H, W, HW) is answered with a lease of state none (smb2.lease.request); a directory gets a lease
    only when the connection negotiated SMB2_GLOBAL_CAP_DIRECTORY_LEASING.
    W needs every other (non-stat) open to share the lease; H is withheld while another open holds
    an oplock (Samba ``grant_fsp_oplock_type``). Raises INVALID_PARAMETER when the key names
    another file (the caller takes the open back)."""
    rq = req.lease
    assert rq is not None
    caller = req.caller
    v2 = rq.version >= 2 and caller.dialect >= 0x0300
    parent = rq.parent_key if v2 else None
    if o.is_directory and not (caller.dialect >= 0x0300 and caller.dir_leasing):
        o.oplock_level = NONE  # no directory leases unless NEGOTIATE advertised them
        return None
    key = (o.file_id, o.stream_key)
    try:
        lease = c.table.leases.lookup_for_open(caller.client_guid, rq.key, key, o.is_directory,
                                               2 if v2 else 1, parent, rq.epoch if v2 else 0)
    except LeaseError as e:
        raise HandleStateError(NtStatus[e.status], "lease key already used on another file") from None
    c.table.leases.attach(lease, o.persistent_id)
    o.lease = lease
    o.lease_key = lease.key
    o.oplock_level = LEASE
    allowed = RWH
    # W: every other open counts unless it is an oplock stat open (no READ_CONTROL) without an
    # oplock or lease of its own (Samba ``delay_for_oplock_fn`` disallow_write_lease;
    # smb2.lease.statopen/statopen3, smb2.durable-v2-open.nonstat-and-lease)
    others = [x for x in _others(c, o, lease)
              if not is_stat_open(x.granted_access) or x.lease is not None or x.oplock_level not in (NONE, LEASE)]
    if others:
        allowed &= ~Caching.W
    if any(x.lease is None and x.oplock_level not in (NONE, LEASE) for x in others):
        allowed &= ~Caching.H
    if _has_brlocks(c, o, req):
        allowed &= ~(Caching.R | Caching.H)
    if o.is_directory:
        allowed = Caching.R | Caching.H
        c.dir_leases[fold(o.path)] = key
        c.set_watching()
    g = LeaseTable.grant(lease, rq.state, allowed)
    flags = _LEASE_FLAGS_BREAK if g.break_in_progress else 0
    if lease.version >= 2 and lease.parent_key is not None:
        flags |= _LEASE_FLAGS_PARENT
    return LeaseGrant(lease.key, int(g.state), g.epoch, flags, lease.version, lease.parent_key)


def lease_image(o: Open) -> LeaseGrant | None:
    """The open's lease as a CREATE response (reconnect, replay) states it."""
    lease = o.lease
    if lease is None:
        return None
    flags = _LEASE_FLAGS_PARENT if lease.parent_key else 0
    return LeaseGrant(lease.key, int(lease.state), lease.epoch, flags, lease.version, lease.parent_key)


async def break_handle_caching(c: VolumeCoordinator, o: Open, hook: AsyncHook | None) -> None:
    """Before a rename or delete through ``o``: other holders lose H (cached handles would keep the
    old name alive) and the operation waits for their acknowledgments ([MS-FSA] 2.1.5.14.2,
    Samba ``delay_rename_for_lease_break``)."""
    key = (o.file_id, o.stream_key)
    await break_key_handle_caching(c, key, o.lease, o.persistent_id, hook)


async def break_key_handle_caching(c: VolumeCoordinator, key: FileKey, own: LeaseRecord | None,
                                   exclude_pid: int, hook: AsyncHook | None) -> None:
    if not has_holders(c, key):
        return
    for _round in range(MAX_BREAK_ROUNDS):
        futs = []
        for h in holders(c, key, exclude_lease=own, exclude_pid=exclude_pid):
            cur = h.breaking_to if h.breaking_to is not None else h.caching
            if h.is_lease and cur & Caching.H:
                f = break_holder(c, h.ident, cur & ~Caching.H, True)
            elif h.is_lease and h.breaking_to is not None and h.caching & Caching.H:
                f = break_holder(c, h.ident, cur, True)
            else:
                continue
            if f is not None:
                futs.append(f)
        if not futs:
            return
        await wait_breaks(hook, futs)


async def break_for_rename(c: VolumeCoordinator, o: Open, hook: AsyncHook | None) -> None:
    """:func:`break_handle_caching`, and for a directory the handle caching of the opens below it
    (Windows, Samba ``delay_for_handle_lease_break_below``): file by file, the holders of H are
    broken (H dropped) and the rename waits; a file still open after its break (acknowledged
    instead of closed, or unanswered) fails the rename with ACCESS_DENIED at once. Opens without H
    are left alone here: the rename refuses them afterwards (smb2.lease.rename_dir_openfile)."""
    await break_handle_caching(c, o, hook)
    if not o.is_directory:
        return
    own = o.lease
    keys: list[FileKey] = []
    for x in c.table.opens_below(o.path):
        k = (x.file_id, x.stream_key)
        if k not in keys and any(h.caching & Caching.H for h in holders(c, k, exclude_lease=own)):
            keys.append(k)
    for k in keys:
        futs = []
        for h in holders(c, k, exclude_lease=own):
            if h.caching & Caching.H:
                to = h.caching & ~Caching.H if h.is_lease else h.caching & Caching.R
                f = break_holder(c, h.ident, to, True)
                if f is not None:
                    futs.append(f)
        if futs:
            await wait_breaks(hook, futs)
        f2 = c.table.files.get(k[0])
        if f2 is not None and f2.opens_of(k[1]):
            raise HandleStateError(NtStatus.ACCESS_DENIED, "an open below the directory kept its handle")
