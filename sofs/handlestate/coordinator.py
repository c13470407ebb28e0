"""The volume coordinator: the one owner of a volume's handle state ([MS-SMB2] 3.3.1.10 GlobalOpenTable,
as Windows' Cluster Shared Volumes keep it on the volume's coordinator node).

:class:`VolumeCoordinator` implements :class:`~sofs.handlestate.api.HandleService` (what serving
processes ask) and :class:`~sofs.handlestate.api.CoordinatorAdmin` (how they plug in). It holds the
:class:`~sofs.handlestate.table.OpenTable` with the volume's locks and leases, the oplock/lease break
machinery (:mod:`.coord_caching`), CREATE admission, replay and reconnect (:mod:`.coord_create`),
byte-range locks (:mod:`.coord_locks`), change notify (:mod:`.coord_notify`) and rename / delete
(:mod:`.coord_names`). Each topic module holds functions of the coordinator; this class holds the
state and the public calls.

It runs on one event loop and touches its state only there: decisions and the mutations that follow
are not separated by an ``await``. It reaches serving processes only through their
:class:`~sofs.handlestate.api.Sink` (endpoint numbers; :data:`~sofs.handlestate.api.LOCAL` is its own
process). Persistent state is journaled (a :class:`~sofs.handlestate.journal.PersistentHandleJournal`
on a continuously available volume) before the response that grants it; every record carries the
coordinator's epoch, and ``may_act`` (the cluster's fencing check: does this node still own the
volume at this epoch?) is asked before anything is granted or appended: a stale coordinator raises
:class:`~sofs.handlestate.api.NotCoordinator` and changes nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from sofs.handlestate import coord_caching as caching
from sofs.handlestate import coord_create as create
from sofs.handlestate import coord_locks as locks
from sofs.handlestate import coord_names as names
from sofs.handlestate import coord_notify as notify
from sofs.handlestate import records as R
from sofs.handlestate.api import (
    LOCAL,
    AsyncHook,
    Change,
    CloseResult,
    FileFacts,
    FileLock,
    HandleRow,
    HandleStateError,
    LeaseBreakNotice,
    LockRequest,
    NotCoordinator,
    OpenImage,
    OplockBreakNotice,
    ReclaimOpen,
    ReconnectRequest,
    RenameCheck,
    ReplayRequest,
    ReplayResult,
    Sink,
    WatchRequest,
    WatchResult,
)
from sofs.handlestate.barrier import OutputBarrier
from sofs.handlestate.durable import survives_disconnect
from sofs.handlestate.model import Open, stream_key
from sofs.handlestate.notify import NotifyTable, fold
from sofs.handlestate.oplocks import OPLOCK_BREAK_TIMEOUT_NS, Caching
from sofs.handlestate.stats import HandleStats
from sofs.handlestate.table import OpenTable
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.coordinator")
_KEPT = CloseResult(False, None)  # the usual close: nothing to delete (shared, never mutated)
NO_ENDPOINT = -1
FileKey = tuple[int, str]


class VolumeCoordinator:
    """The handle state of one volume and the calls on it (see the module docstring)."""

    def __init__(self, name: str, table: OpenTable | None = None, *, journal: Any = None,
                 clock: Callable[[], int] = time.monotonic_ns, timeout_ns: int = OPLOCK_BREAK_TIMEOUT_NS,
                 may_act: Callable[[], bool] | None = None,
                 delete_path: Callable[[str], Any] | None = None, stats: HandleStats | None = None) -> None:
        self.name = name
        self.stats = stats if stats is not None else HandleStats()  # the node's, shared by its volumes
        self.table = table if table is not None else OpenTable()
        self.journal = journal
        if journal is not None:
            self.table.journal = journal
        self.clock = clock
        self.timeout_ns = timeout_ns
        self.may_act = may_act
        self.delete_path = delete_path  # housekeeping: remove an object whose last open went with no handle
        self.sinks: dict[int, Sink] = {}
        self.remote_sinks = False  # serving processes other than this one attached (kept by _sinks_changed)
        self.endpoint_names: dict[int, str] = {}
        self._next_endpoint = LOCAL + 1
        # oplock/lease break machinery (coord_caching)
        self.oplock_opens: dict[FileKey, set[int]] = {}
        self.break_waiters: dict[Hashable, list[asyncio.Future[None]]] = {}
        self.timers: dict[Hashable, asyncio.TimerHandle] = {}
        self.dir_leases: dict[str, FileKey] = {}  # folded volume path of a leased directory
        # byte-range lock waiters (coord_locks)
        self.lock_waiters: dict[FileKey, list[asyncio.Future[Any]]] = {}
        self.lock_waits_of: dict[int, list[asyncio.Future[Any]]] = {}
        # change notify (coord_notify)
        self.notify = NotifyTable()
        self.notify_waiters: dict[int, list[tuple[asyncio.Future[tuple[int, bytes]], int]]] = {}
        self.pending_renames: dict[int, tuple[str, int]] = {}
        # directory-lease exemption of a delete (coord_notify.removal_exemption): the parent lease key
        # of the open that set the pending delete, then, once the last close deletes, the key spared
        self.delete_tokens: dict[FileKey, bytes | None] = {}
        self.removals: dict[FileKey, bytes | None] = {}
        # new opens waiting for the last closer's delete-on-close to be done (coord_create.admit)
        self.delete_waiters: dict[FileKey, asyncio.Event] = {}
        self.watching = False
        # what remote endpoints mirror of each file (coord_locks.sync_facts), by file then endpoint:
        # a sync looks at one file's entries, not at every file's (issue 16: 100,000 opens)
        self.facts_sent: dict[FileKey, dict[int, FileFacts]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        # after a coordinator change: new opens wait until the serving processes reclaimed theirs
        self.grace: asyncio.Event | None = None
        self._grace_expect: set[str] = set()
        # the output barrier of the process whose connections are the LOCAL endpoint (owe_commit)
        self.barrier: OutputBarrier | None = None

    def restore(self) -> int:
        """After a journal replay (a restart, or a takeover from a dead coordinator): every
        persistent open is disconnected (its CA timeout counts from now: monotonic clocks do not
        survive a restart) and waits for its client; the oplock and directory-lease indexes are
        rebuilt. Returns how many opens came back."""
        now = self.clock()
        n = 0
        for o in list(self.table.opens_by_persistent.values()):
            if not o.persistent:
                continue
            if o.disconnected_at is None:
                self.table.apply(R.OpenDisconnected(o.persistent_id, now))
            o.disconnected_at = now
            o.endpoint = NO_ENDPOINT
            if o.oplock_level and o.lease is None:
                caching.set_oplock(self, o, o.oplock_level, None)
            if o.lease is not None and o.is_directory:
                self.dir_leases[fold(o.path)] = (o.file_id, o.stream_key)
            n += 1
        self.set_watching()
        return n

    # ---- grace after a takeover ---------------------------------------------------------------------
    def start_grace(self, expect: set[str], timeout_s: float) -> None:
        """Hold new opens and locks until every process named in ``expect`` reclaimed its opens (or
        ``timeout_s`` passed): an open granted before a survivor re-registered its handles could
        conflict with them."""
        if not expect:
            return
        self.grace = asyncio.Event()
        self._grace_expect = set(expect)
        asyncio.get_running_loop().call_later(timeout_s, self._end_grace, "timeout")

    def reclaimed(self, endpoint: int) -> None:
        self._grace_expect.discard(self.endpoint_names.get(endpoint, ""))
        if not self._grace_expect:
            self._end_grace("all reclaimed")

    def _end_grace(self, why: str) -> None:
        if self.grace is not None and not self.grace.is_set():
            log.info("volume %s: grace ended (%s)", self.name, why)
            self.grace.set()
        self.grace = None
        self._grace_expect.clear()

    async def wait_grace(self) -> None:
        g = self.grace
        if g is not None:
            await g.wait()

    # ---- plumbing ---------------------------------------------------------------------------------
    def check_fence(self) -> None:
        """Refuse to act when this process no longer coordinates the volume at its epoch."""
        if self.closed or (self.may_act is not None and not self.may_act()):
            raise NotCoordinator(f"volume {self.name}: not the coordinator (epoch {self.table.epoch})")

    def get(self, persistent_id: int) -> Open:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is None:
            raise HandleStateError(NtStatus.FILE_CLOSED, f"no open {persistent_id:#x}")
        return o

    async def commit(self) -> None:
        j = self.journal
        if j is not None and j.pending:
            self.check_fence()
            if not j.commit_now():
                await j.commit()

    def owe_commit(self, endpoint: int) -> bool:
        """Leave the commit of what was just journaled to the output barrier: True when the answer
        goes to a connection of this process (``endpoint`` LOCAL) and the journal commits inline,
        so the commit is made before that connection's output leaves, batched with the others of
        the same read (:mod:`sofs.handlestate.barrier`). False: the caller commits now."""
        b = self.barrier
        j = self.journal
        if b is None or endpoint != LOCAL or j is None or not j.inline_ready:
            return False
        b.owe(self)
        return True

    def commit_inline(self) -> bool:
        """The barrier's commit: fencing check, then the journal's inline commit (False: it cannot
        commit on this thread now; :meth:`commit` waits for the group commit)."""
        j = self.journal
        if j is None or not j.pending:
            return True
        self.check_fence()
        return bool(j.commit_now())

    def commit_soon(self) -> None:
        j = self.journal
        if j is None or not j.pending:
            return
        try:
            if j.commit_now():
                return
        except OSError:
            log.exception("volume %s: journal commit failed", self.name)
            return
        self.spawn(self._quiet_commit())

    async def _quiet_commit(self) -> None:
        try:
            await self.commit()
        except (OSError, NotCoordinator):
            log.exception("volume %s: journal commit failed", self.name)

    def spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def sink_of(self, o: Open) -> Sink | None:
        if o.disconnected_at is not None:
            return None
        return self.sinks.get(o.endpoint)

    # ---- CoordinatorAdmin -----------------------------------------------------------------------
    def attach_local(self, sink: Sink, name: str = "", barrier: OutputBarrier | None = None) -> int:
        """This process's serving side; ``barrier``: its output barrier (commits owed to it are
        made before its connections' responses leave; None: every commit before the answer)."""
        self.barrier = barrier
        self.sinks[LOCAL] = sink
        self.endpoint_names[LOCAL] = name
        self._sinks_changed()
        sink.watching(self.watching)
        return LOCAL

    def _sinks_changed(self) -> None:
        # are serving processes other than this one attached (facts need pushing)? An attribute: the
        # plain open and close ask it every time
        self.remote_sinks = len(self.sinks) > (1 if LOCAL in self.sinks else 0)

    def attach(self, sink: Sink, name: str) -> int:
        ep = self._next_endpoint
        self._next_endpoint += 1
        self.sinks[ep] = sink
        self.endpoint_names[ep] = name
        self._sinks_changed()
        sink.watching(self.watching)
        return ep

    async def detach(self, endpoint: int) -> None:
        """The serving process is gone: its durable opens stay disconnected, the others close. A
        coordinator that no longer coordinates (the volume moved: the processes leave it to
        re-register elsewhere) changes nothing: its state is not the volume's any more."""
        self.sinks.pop(endpoint, None)
        self._sinks_changed()
        if self.closed or (self.may_act is not None and not self.may_act()):
            self.endpoint_names.pop(endpoint, None)
            return
        for key, sent in list(self.facts_sent.items()):
            if sent.pop(endpoint, None) is not None and not sent:
                del self.facts_sent[key]
        gone = self.table.opens_of_endpoint(endpoint)
        kept = 0
        for o in gone:
            if self.table.opens_by_persistent.get(o.persistent_id) is not o:
                continue
            if self._disconnect(o):
                kept += 1
                continue
            await self._close_without_handle(o)
        if gone:
            log.warning("volume %s: serving process %s gone: %d open(s) kept disconnected, %d closed",
                        self.name, self.endpoint_names.get(endpoint, endpoint), kept, len(gone) - kept)
        self.endpoint_names.pop(endpoint, None)
        await self.commit()

    async def reclaim(self, endpoint: int, opens: tuple[ReclaimOpen, ...]) -> tuple[int, ...]:
        return await create.reclaim(self, endpoint, opens)

    async def undeliverable(self, endpoint: int, notice: OplockBreakNotice | LeaseBreakNotice) -> None:
        """A remote process could not deliver a break: as if its client acknowledged (the break
        completes to its target, as for an unreachable holder)."""
        if isinstance(notice, OplockBreakNotice):
            o = self.table.opens_by_persistent.get(notice.persistent_id)
            if o is not None and o.endpoint == endpoint and o.oplock_breaking is not None:
                caching.undeliverable_oplock(self, notice.persistent_id)
        else:
            caching.undeliverable_lease(self, notice.client_guid, notice.lease_key)

    # ---- HandleService --------------------------------------------------------------------------
    admit = create.admit  # (req, hook) -> AdmitResult, bound here: no coroutine in between

    async def close(self, persistent_id: int, modified: bool = False) -> CloseResult:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is None:
            return _KEPT
        res = self._close(o, modified)
        if o.persistent and not self.owe_commit(o.endpoint):
            await self.commit()
        if self.remote_sinks:
            await locks.sync_facts(self, (o.file_id, o.stream_key))
        return res

    def close_now(self, persistent_id: int, modified: bool = False) -> CloseResult | None:
        """``close`` for the in-process caller, without a coroutine, when nothing is to be waited for
        (the usual open: not persistent, no other serving process to tell); None: ``close`` it."""
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is None:
            return _KEPT
        if o.persistent or self.remote_sinks:
            return None
        return self._close(o, modified)

    def _close(self, o: Open, modified: bool) -> CloseResult:
        if modified:
            notify.modified_closed(self, o)
        lease = o.lease
        closing_key = lease.parent_key if lease is not None else None  # notify.parent_key_of
        res = self.close_sync(o)
        if not res.delete:
            return _KEPT
        removed = (res.file_id, stream_key(res.stream))
        self.removals[removed] = notify.removal_exemption(closing_key, self.delete_tokens.pop(removed, None))
        delete_path = None
        if res.stream is None and o.stream is not None:
            delete_path = res.path  # the file's pending delete waited for this stream's open
        return CloseResult(True, res.stream, delete_path)

    def close_sync(self, o: Open) -> Any:
        """Take an open out of everything (caching, locks, notify, table); returns the TableClose."""
        key = (o.file_id, o.stream_key)
        if o.delete_on_close and key not in self.delete_tokens:
            self.delete_tokens[key] = notify.parent_key_of(o)  # no disposition set it before
        pid = o.persistent_id
        if self.table.locks.files or pid in self.lock_waits_of:
            locks.release_open(self, o, key)
        if o.oplock_level or o.lease is not None or o.oplock_breaking is not None:
            caching.forget_open(self, o)
        # a directory's close matters to notify only while CHANGE_NOTIFYs wait (notify.forget_open)
        if pid in self.notify.watches or pid in self.pending_renames or (o.is_directory and self.notify_waiters):
            notify.forget_open(self, o)
        return self.table.close_open(pid)

    async def _close_without_handle(self, o: Open) -> bool:
        """Close an open no serving process holds (expired, revoked from a dead process, purged):
        the coordinator does the delete-on-close itself, by path. True when the object was deleted."""
        res = self.close_sync(o)
        if res.delete:
            self.delete_tokens.pop((res.file_id, stream_key(res.stream)), None)
            if self.delete_path is not None:
                try:
                    await self.delete_path(res.path + (":" + res.stream if res.stream else ""))
                except Exception:
                    log.exception("volume %s: delete of %s failed", self.name, res.path)
            self.table.finish_delete(res.file_id, res.stream)
            self._delete_done((res.file_id, stream_key(res.stream)))
        await locks.sync_facts(self, (o.file_id, o.stream_key))
        return bool(res.delete)

    def _delete_done(self, key: FileKey) -> None:
        ev = self.delete_waiters.pop(key, None)
        if ev is not None:
            ev.set()

    async def until_deleted(self, key: FileKey) -> None:
        """Until the pending delete of ``key``, whose last open closed, is done (bounded by the
        break timeout: a closer that died before reporting it leaves the flag to the next open)."""
        ev = self.delete_waiters.setdefault(key, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), self.timeout_ns / 1e9)

    async def deleted(self, file_id: int, stream: str | None, change: Change | None) -> None:
        self.table.finish_delete(file_id, stream)
        self._delete_done((file_id, stream_key(stream)))
        exempt = self.removals.pop((file_id, stream_key(stream)), None)
        if change is not None:
            notify.report_removal(self, change, exempt)

    async def disconnect(self, persistent_id: int, position: int = 0) -> bool:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is None:
            return False
        o.position = position
        kept = self._disconnect(o)
        if kept:
            self.commit_soon()
        return kept

    def _disconnect(self, o: Open) -> bool:
        """[MS-SMB2] 3.3.7.1 for one open whose connection is gone: True when it stays disconnected."""
        if not (o.durable or o.resilient) or o.disconnected_at is not None:
            return o.disconnected_at is not None
        lease = o.lease
        breaking = lease.breaking if lease is not None else o.oplock_breaking is not None
        if breaking:
            if not o.persistent:
                # a new open conflicts with this one: a disconnected durable open it conflicts with
                # is purged ([MS-SMB2] 3.3.5.9; Samba refuses the durable disconnect of an open with a
                # break in flight), so close it now: that completes the waiting CREATE at once
                # (smbtorture durable-open.oplock/.lease/.open2-*)
                return False
            # a persistent open stays; its holder is gone, so the break completes as unanswered
            if lease is not None:
                caching.lease_timeout(self, lease, "lost")
            else:
                caching.oplock_timeout(self, o.persistent_id)
        has_locks = any(lk.owner == o.persistent_id for lk in self.table.locks.locks_of((o.file_id, o.stream_key)))
        if not survives_disconnect(persistent=o.persistent, has_locks=has_locks,
                                   lease_state=int(lease.state) if lease is not None else None):
            return False
        caching.journal_lease(self, o)
        self.table.disconnect(o.persistent_id, self.clock())
        o.endpoint = NO_ENDPOINT
        notify.forget_open(self, o)
        return True

    async def set_delete_on_close(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> None:
        await names.set_delete_on_close(self, persistent_id, value, hook)

    async def set_delete_pending(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> None:
        await names.set_delete_pending(self, persistent_id, value, hook)

    async def check_rename(self, req: RenameCheck, hook: AsyncHook | None) -> None:
        await names.check_rename(self, req, hook)

    async def renamed(self, persistent_id: int, old: str, new: str, new_stream: str | None) -> None:
        await names.renamed(self, persistent_id, old, new, new_stream)

    async def lock(self, req: LockRequest, hook: AsyncHook | None) -> None:
        await locks.lock(self, req, hook)

    async def oplock_ack(self, persistent_id: int, level: int) -> int:
        return await caching.oplock_ack(self, persistent_id, level)

    async def lease_ack(self, client_guid: bytes, lease_key: bytes, state: int) -> None:
        await caching.lease_ack(self, client_guid, lease_key, state)

    async def contend_write(self, persistent_id: int) -> None:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is not None:
            caching.contend_write(self, o)
            await locks.sync_facts(self, (o.file_id, o.stream_key))

    def contend_now(self, persistent_id: int) -> None:
        """``contend_write`` for the in-process caller (no coroutine)."""
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is not None:
            caching.contend_write(self, o)
            if len(self.sinks) > 1:
                self.spawn(locks.sync_facts(self, (o.file_id, o.stream_key)))

    async def watch(self, req: WatchRequest, hook: AsyncHook | None) -> WatchResult:
        return await notify.watch(self, req, hook)

    async def report(self, changes: tuple[Change, ...]) -> None:
        notify.report(self, changes)

    def report_now(self, changes: tuple[Change, ...]) -> None:
        """``report`` for the in-process caller (no coroutine)."""
        notify.report(self, changes)

    async def reconnect(self, req: ReconnectRequest) -> OpenImage:
        return await create.reconnect(self, req)

    async def replay(self, req: ReplayRequest) -> ReplayResult:
        return await create.replay(self, req)

    async def forget_replay(self, persistent_id: int) -> None:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is not None and o.create_guid is not None and \
                self.table.by_create_guid.get(o.create_guid) == persistent_id:
            del self.table.by_create_guid[o.create_guid]

    async def set_channel_sequence(self, persistent_id: int, value: int) -> None:
        o = self.get(persistent_id)
        if o.channel_sequence != value:
            self.check_fence()
            self.table.log(R.ChannelSequenceSet(persistent_id, value), o.persistent)
            o.channel_sequence = value
            await self.commit()

    async def set_resilient(self, persistent_id: int, timeout_ms: int) -> None:
        """FSCTL_LMR_REQUEST_RESILIENCY ([MS-SMB2] 3.3.5.15.9): the open survives a network failure
        for ``timeout_ms`` (a persistent open keeps its own, longer life)."""
        o = self.get(persistent_id)
        o.resilient = True
        if not o.persistent:
            o.durable_timeout_ms = timeout_ms

    async def list_opens(self) -> tuple[HandleRow, ...]:
        rows = []
        for o in self.table.opens_by_persistent.values():
            nlocks = sum(1 for lk in self.table.locks.locks_of((o.file_id, o.stream_key)) if lk.owner == o.persistent_id)
            rows.append(HandleRow(
                o.persistent_id, o.path, o.stream, o.endpoint, o.session_id, o.client_guid, o.owner_sid,
                o.granted_access, o.share_access, o.oplock_level,
                int(o.lease.state) if o.lease is not None else 0, o.durable, o.persistent,
                o.disconnected_at is None, nlocks))
        return tuple(rows)

    def endpoint_name(self, endpoint: int) -> str:
        return self.endpoint_names.get(endpoint, "")

    async def revoke(self, persistent_id: int) -> bool:
        o = self.table.opens_by_persistent.get(persistent_id)
        if o is None:
            return False
        self.check_fence()
        sink = self.sink_of(o)
        if sink is not None:
            await sink.revoked(persistent_id)
        await self._close_without_handle(o)
        if o.persistent:
            await self.commit()
        return True

    async def end_session(self, session_id: int, user: str) -> None:
        endpoints = {o.endpoint for o in self.table.opens_by_persistent.values()
                     if o.session_id == session_id and o.disconnected_at is None}
        sinks = [s for ep in endpoints if (s := self.sinks.get(ep)) is not None]
        if sinks:
            await asyncio.gather(*(s.end_session(session_id, user) for s in sinks))

    async def close_expired(self) -> int:
        """The scavenger's work: disconnected opens whose timeout has passed are closed."""
        n = 0
        for o in self.table.expired(self.clock()):
            log.info("volume %s: durable open %s (%#x) expired", self.name, o.path, o.persistent_id)
            await self._close_without_handle(o)
            n += 1
        if n:
            await self.commit()
        return n

    # ---- facts a serving process mirrors ----------------------------------------------------------
    def facts(self, key: FileKey) -> FileFacts:
        lks = tuple(FileLock(lk.owner, lk.offset, lk.length, lk.exclusive)  # type: ignore[arg-type]
                    for lk in self.table.locks.locks_of(key))
        f = self.table.files.get(key[0])
        pending = f is not None and (key[1] in f.stream_delete_pending if key[1] else f.delete_pending)
        return FileFacts(key[0], key[1], lks, caching.has_read_cachers(self, key), pending)

    def io_conflict(self, persistent_id: int, file_id: int, stream_key: str, offset: int, length: int,
                    write: bool) -> bool:
        """READ/WRITE against the byte-range locks ([MS-SMB2] 3.3.5.12/13), for the local process."""
        t = self.table.locks
        return bool(t.files) and t.check_io((file_id, stream_key), persistent_id, offset, length, write) is not None

    def write_contends(self, file_id: int, stream_key: str) -> bool:
        """Does a write to this stream have read caching to break (level II oplocks, R leases)?"""
        key = (file_id, stream_key)  # (every WRITE asks: the lease index read without of_file's call)
        return key in self.oplock_opens or bool(self.table.leases.by_file.get(key))

    def set_watching(self) -> None:
        on = bool(self.notify.watches or self.dir_leases)
        if on != self.watching:
            self.watching = on
            for sink in list(self.sinks.values()):
                sink.watching(on)

    async def stop(self) -> None:
        """Stop coordinating (the volume moved away or the process ends): wake every waiter."""
        self.closed = True
        for t in list(self.timers.values()):
            t.cancel()
        self.timers.clear()
        for futs in list(self.break_waiters.values()):
            for f in futs:
                if not f.done():
                    f.cancel()
        for futs in list(self.lock_waiters.values()):
            for f in futs:
                if not f.done():
                    f.cancel()
        for lst in list(self.notify_waiters.values()):
            for f, _n in lst:
                if not f.done():
                    f.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.journal is not None:
            try:
                await self.journal.close()
            except Exception:
                log.exception("volume %s: closing the journal failed", self.name)


def caching_of(o: Open) -> Caching:
    """The caching an open holds: its lease's state, or its oplock's bundle."""
    return caching.caching_of(o)
