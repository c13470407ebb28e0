"""Run-time state of durable/persistent handles per share, and what survives a restart.

One :class:`VolumeHandles` per share (``server.extensions["sofs.durable"][share name]``):

- ``table``: a :class:`~sofs.handlestate.table.OpenTable` holding the durable and persistent opens
  of the share (their persistent id is the handlers' FileId persistent half); every change is a
  record, and on a CA share the table's journal hook is the share's
  :class:`~sofs.handlestate.journal.PersistentHandleJournal` (persistent opens only);
- ``live``: persistent id → the handlers' :class:`~sofs.handlers.opens.Open`.

Restart (``restore``): the journal is replayed into the table, every persistent open comes back
**disconnected** (its CA timeout starts now) as a handler ``Open`` without a VFS handle, registered
in the open registry (so its share modes block other opens), with its byte-range locks put back in
the caching manager's lock table (owner = that Open) and its lease re-created in the lease table.
A DH2C reconnect then gives that same Open a VFS handle and the new session.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sofs.engine.state import ConnectionState, Session, TreeConnect
from sofs.handlers.opens import Open, registry
from sofs.handlestate import records as R
from sofs.handlestate.durable import survives_disconnect
from sofs.handlestate.journal import PersistentHandleJournal, journal_dir, snapshot_records
from sofs.handlestate.model import Lease, LeaseState
from sofs.handlestate.model import Open as HOpen
from sofs.handlestate.table import OpenTable
from sofs.wire.codec import make_file_id

if TYPE_CHECKING:
    from sofs.server.state import ServerState, Share

log = logging.getLogger("sofs.durable")
EXT_KEY = "sofs.durable"
Clock = Callable[[], int]

# A disconnected open belongs to no connection, session or tree: these placeholders are never
# reachable from a client (get_open compares the session by identity).
_NO_CONN = ConnectionState(conn_id=0)
_NO_SESSION = Session(session_id=0, connection=_NO_CONN)


def _no_tree(share: Any) -> TreeConnect:
    return TreeConnect(0, _NO_SESSION, share, 0)


def pid_of(file_id: bytes) -> int:
    return int.from_bytes(file_id[:8], "little")


@dataclass(eq=False)
class VolumeHandles:
    share: Any
    table: OpenTable
    journal: PersistentHandleJournal | None = None
    live: dict[int, Open] = field(default_factory=dict)

    async def commit(self) -> None:
        if self.journal is not None and self.journal.pending:
            await self.journal.commit()

    def commit_soon(self) -> None:
        """Durable now if the journal commits inline, else by a background commit."""
        j = self.journal
        if j is None or not j.pending:
            return
        try:
            if j.commit_now():
                return
        except OSError:
            log.exception("journal commit failed")
            return
        _spawn(_quiet_commit(j))


async def _quiet_commit(j: PersistentHandleJournal) -> None:
    try:
        await j.commit()
    except OSError:
        log.exception("journal commit failed")


_tasks: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> None:
    try:
        task = asyncio.get_running_loop().create_task(coro)
    except RuntimeError:
        coro.close()
        return
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


REPLAY_KEY = "sofs.durable.replay"


def replay_cache(server: ServerState) -> dict[tuple[bytes, bytes], tuple[Open, str]]:
    """(ClientGuid, CreateGuid) → (open, owner) for every open created with DH2Q on SMB 3.x."""
    cache = server.extensions.get(REPLAY_KEY)
    if cache is None:
        cache = server.extensions[REPLAY_KEY] = {}
    return cache  # type: ignore[no-any-return]


def remember_create(server: ServerState, op: Open, client_guid: bytes, create_guid: bytes, owner: str) -> None:
    key = (bytes(client_guid), bytes(create_guid))
    replay_cache(server)[key] = (op, owner)
    op.ext["replay_key"] = key


def volumes(server: ServerState) -> dict[str, VolumeHandles]:
    vols = server.extensions.get(EXT_KEY)
    if vols is None:
        vols = server.extensions[EXT_KEY] = {}
    return vols  # type: ignore[no-any-return]


def clock(server: ServerState) -> int:
    fn = server.extensions.get("durable_clock", time.monotonic_ns)
    return int(fn())


def volume(server: ServerState, share: Any) -> VolumeHandles:
    vols = volumes(server)
    v = vols.get(share.name.lower())
    if v is None:
        v = vols[share.name.lower()] = VolumeHandles(share, OpenTable())
    return v


def restore(server: ServerState, share: Share) -> VolumeHandles:
    """Create the share's state; on a CA share load the journal and bring persistent opens back."""
    vols = volumes(server)
    if not share.config.continuously_available:
        return volume(server, share)
    table = OpenTable()
    jdir = journal_dir(share.config.path, server.extensions.get("node_name"))
    journal = PersistentHandleJournal(jdir, 1, lambda: snapshot_records(table))
    res = journal.load()
    journal.epoch = table.epoch = res.epoch + 1
    table.replay(res.entries)
    v = vols[share.name.lower()] = VolumeHandles(share, table, journal)
    now = clock(server)
    for hop in list(table.opens_by_persistent.values()):
        if not hop.persistent:
            continue
        if hop.connected:
            table._apply(R.OpenDisconnected(hop.persistent_id, now))
        else:
            hop.disconnected_at = now  # monotonic clocks do not survive a restart
        bring_back(server, share, v, hop)
    journal.start()  # new generation, new epoch: fences a previous writer, drops a torn tail
    table.journal = journal
    if res.entries:
        log.info("share %s: %d persistent open(s) restored from the journal (epoch %d)",
                 share.name, len(v.live), journal.epoch)
    return v


def bring_back(server: ServerState, share: Any, v: VolumeHandles, hop: HOpen) -> Open:
    """A disconnected persistent open of ``v.table`` made visible to the handlers (share modes, locks,
    lease, replay cache): after a restart (:func:`restore`), or for a dead node's opens (``durable_adopt``)."""
    reg = registry(server)
    node = reg.node(share.name, hop.file_id, hop.stream)
    op = Open(file_id=make_file_id(hop.persistent_id, hop.volatile_id), session=_NO_SESSION,
              tree=_no_tree(share), share=share, path=hop.path, stream=hop.stream,
              is_directory=hop.is_directory, handle=None, granted_access=hop.granted_access,
              share_access=hop.share_access, create_options=hop.create_options, node=node,
              delete_on_close=hop.delete_on_close, oplock_level=hop.oplock_level)
    node.opens.append(op)
    node.path = hop.path
    reg.add(op)
    mark(op, hop)
    if hop.create_guid is not None:
        remember_create(server, op, hop.client_guid, hop.create_guid, hop.owner_sid)
    v.live[hop.persistent_id] = op
    f = v.table.files.get(hop.file_id)
    mgr = caching(server)
    if f is not None and mgr is not None:
        from sofs.handlestate.locks import RangeLock

        for lk in f.locks:
            if lk.owner == hop.persistent_id:
                mgr.locks.try_lock(node.key, RangeLock(op, lk.offset, lk.length, lk.exclusive))
        lease = f.leases.get((hop.client_guid, hop.lease_key)) if hop.lease_key else None
        if lease is not None:
            from sofs.handlestate.oplocks import Caching

            rec = mgr.leases.lookup_for_open(hop.client_guid, hop.lease_key, node.key, hop.is_directory,
                                             lease.version, lease.parent_lease_key, lease.epoch)
            rec.state = Caching(int(lease.state))
            rec.epoch = lease.epoch
            rec.fresh = False  # a restored lease is not new: upgrades must be grantable in full
            mgr.leases.attach(rec, op)
            op.ext["lease"] = rec
    if hop.lock_sequences:
        from sofs.handlestate.locks import LockSequences

        op.ext["lock_sequences"] = LockSequences(dict(hop.lock_sequences))
    return op


def mark(op: Open, hop: HOpen) -> None:
    """Flag a handler Open as durable (the lock code reads these ``ext`` keys)."""
    op.ext["durable"] = hop
    if hop.persistent:
        op.ext["persistent"] = True


def caching(server: ServerState) -> Any:
    mgr = server.extensions.get("caching")
    if mgr is None:
        try:
            from sofs.handlers.breaks import manager
        except ImportError:
            return None
        mgr = manager(server)
    return mgr


# --- keeping the table in step with the run-time objects ------------------------------------------

def sync_locks(server: ServerState, op: Open) -> bool:
    """Journal the difference between the open's locks (caching manager) and the table's.

    Returns True when something changed (the caller then awaits ``commit``)."""
    hop: HOpen | None = op.ext.get("durable")
    mgr = caching(server)
    if hop is None or op.node is None or mgr is None:
        return False
    v = volume(server, op.share)
    f = v.table.files.get(hop.file_id)
    if f is None or v.table.get_by_persistent(hop.persistent_id) is not hop:
        return False
    pid = hop.persistent_id
    have = {(lk.offset, lk.length, lk.exclusive) for lk in mgr.locks.locks_of(op.node.key) if lk.owner is op}
    stored = {(lk.offset, lk.length, lk.exclusive) for lk in f.locks if lk.owner == pid}
    changed = False
    for off, ln, ex in stored - have:
        v.table.remove_lock(hop.file_id, pid, hop.stream_key, off, ln)
        changed = True
    for off, ln, ex in sorted(have - stored):
        v.table.apply(R.LockAdded(hop.file_id, pid, hop.stream_key, off, ln, ex))
        changed = True
    seqs = op.ext.get("lock_sequences")
    if seqs is not None:
        for idx, num in seqs.slots.items():
            if hop.lock_sequences.get(idx) != num:
                v.table.set_lock_sequence(pid, idx, num)
                changed = True
    return changed


def sync_lease(server: ServerState, op: Open) -> bool:
    """Journal the open's current lease state if it changed."""
    hop: HOpen | None = op.ext.get("durable")
    lease = op.ext.get("lease")
    if hop is None or lease is None:
        return False
    v = volume(server, op.share)
    f = v.table.files.get(hop.file_id)
    if f is None:
        return False
    cur = f.leases.get((lease.client_guid, lease.key))
    if cur is not None and int(cur.state) == int(lease.state) and cur.epoch == lease.epoch:
        return False
    v.table.set_lease(hop.file_id, Lease(lease.client_guid, lease.key, LeaseState(int(lease.state)),
                                         lease.epoch, lease.version, lease.parent_key))
    return True


def disconnect(server: ServerState, op: Open) -> bool:
    """Connection lost: keep a durable open, disconnected (True), or let it close (False)."""
    hop: HOpen | None = op.ext.get("durable")
    if hop is None or op.closed:
        return False
    v = volume(server, op.share)
    if v.table.get_by_persistent(hop.persistent_id) is not hop:
        return False
    mgr = caching(server)
    lease = op.ext.get("lease")
    if _break_pending(mgr, op, lease):
        if not hop.persistent:
            # a new open conflicts with this one: a disconnected durable open it conflicts with is
            # purged ([MS-SMB2] 3.3.5.9; Samba refuses the durable disconnect of an open with a
            # break in flight), so close it now: that completes the waiting CREATE at once instead
            # of after the 35 s break timeout (smbtorture durable-open.oplock/.lease/.open2-*)
            return False
        # a persistent open stays; its holder is gone, so the break completes as unanswered
        if lease is not None and lease.breaking:
            mgr.lease_timeout(lease, "lost")
        else:
            mgr.oplock_timeout(op)
    has_locks = mgr is not None and op.node is not None and any(
        lk.owner is op for lk in mgr.locks.locks_of(op.node.key))
    if not survives_disconnect(persistent=hop.persistent, has_locks=has_locks,
                               lease_state=int(lease.state) if lease is not None else None):
        return False
    sync_locks(server, op)
    sync_lease(server, op)
    if hop.connected:
        v.table.disconnect(hop.persistent_id, clock(server))
    if op.tree.open_count:
        op.tree.open_count -= 1
    v.commit_soon()
    return True


def _break_pending(mgr: Any, op: Open, lease: Any) -> bool:
    """A break sent to ``op`` (its oplock, or its lease) not acknowledged yet."""
    if mgr is None:
        return False
    if lease is not None:
        return bool(getattr(lease, "breaking", False))
    return op in getattr(mgr, "oplock_breaking", {})


def detach_session(server: ServerState, session: Any, disconnected: bool) -> None:
    """``on_session_end`` hook (runs first): a session torn down by a PreviousSessionId
    ([MS-SMB2] 3.3.5.5.3) or a LOGOFF keeps its durable opens, disconnected and owned by no
    session, so the close of the session's opens that follows passes them by (Samba closes a
    logged-off session's files with SHUTDOWN_CLOSE, which keeps durable ones; smbtorture
    durable-open.reopen4 reclaims one after LOGOFF)."""
    for op in [o for o in list(registry(server).by_id.values()) if o.session is session]:
        if disconnect(server, op):
            op.session, op.tree = _NO_SESSION, _no_tree(op.share)


def abandoned(server: ServerState, op: Any) -> bool:
    """A disconnected non-persistent durable open: nobody can receive its breaks."""
    hop: HOpen | None = op.ext.get("durable")
    if hop is None or op.closed or hop.persistent or hop.connected:
        return False
    return volume(server, op.share).table.get_by_persistent(hop.persistent_id) is hop


def install_break_purge(server: ServerState) -> None:
    """Adapter on the caching manager's senders: a break owed by a disconnected non-persistent
    durable open closes that open instead (Samba: the break cannot be delivered, so the durable
    handle is purged; smbtorture durable-v2-open.purge-disconnected-rh-with-write). The break then
    completes as if acknowledged, as the manager does for any unreachable holder."""
    mgr = caching(server)
    if mgr is None or getattr(mgr, "_sofs_durable_purge", False):
        return
    send_oplock, send_lease = mgr._send_oplock_break, mgr._send_lease_break

    def oplock_break(op: Any, level: int) -> bool:
        if abandoned(server, op):
            _purge(server, [op])
            return False
        return bool(send_oplock(op, level))

    def lease_break(lease: Any, cur: int, new: int, ack_required: bool) -> bool:
        ops = list(lease.opens)
        if ops and all(abandoned(server, o) for o in ops):
            _purge(server, ops)
            return False
        return bool(send_lease(lease, cur, new, ack_required))

    mgr._send_oplock_break, mgr._send_lease_break = oplock_break, lease_break
    mgr._sofs_durable_purge = True


def _purge(server: ServerState, ops: list[Any]) -> None:
    from sofs.handlers.close import close_open

    for op in ops:
        log.info("purging disconnected durable open of %s: a break is owed", op.path)
        _spawn(close_open(server, op))


def forget(server: ServerState, op: Open) -> None:
    """The open is closed for good: drop it from the table (journaled) and the replay cache."""
    key = op.ext.get("replay_key")
    if key is not None:
        cache = replay_cache(server)
        if cache.get(key, (None,))[0] is op:
            del cache[key]
    hop: HOpen | None = op.ext.get("durable")
    if hop is None:
        return
    v = volume(server, op.share)
    if v.table.get_by_persistent(hop.persistent_id) is hop:
        v.table.close_open(hop.persistent_id)
        # a delete-pending flag left on the table's file is bookkeeping only: the handlers delete
        f = v.table.files.get(hop.file_id)
        if f is not None and not f.opens:
            v.table.finish_delete(hop.file_id, hop.stream)
    v.live.pop(hop.persistent_id, None)
    v.commit_soon()


async def close_expired(server: ServerState) -> int:
    """Close every disconnected open whose timeout has passed (the scavenger's work)."""
    from sofs.handlers.close import close_open

    now = clock(server)
    n = 0
    for v in list(volumes(server).values()):
        for hop in v.table.expired(now):
            op = v.live.get(hop.persistent_id)
            log.info("durable open %s (0x%x) expired", hop.path, hop.persistent_id)
            if op is not None:
                await close_open(server, op)
            if v.table.get_by_persistent(hop.persistent_id) is hop:
                v.table.close_open(hop.persistent_id)
            n += 1
        await v.commit()
    return n
