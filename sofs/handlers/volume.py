"""A volume as a serving process sees it: the handle service to call, and the events it delivers.

:class:`VolumeClient` (``share.volume``; shares of one volume share it) holds the volume's
:class:`~sofs.handlestate.api.HandleService` — the in-process
:class:`~sofs.handlestate.coordinator.VolumeCoordinator` when this process coordinates the volume,
else a link to the process that does — and what the data path needs without a round trip: whether
a READ/WRITE meets a byte-range lock, whether a write has read caching to break, whether a file is
delete-pending (asked of the coordinator directly when it is in-process, else of the facts it
pushes), and whether changes need reporting at all (``watching``).

:class:`ProcessSink` is this process's :class:`~sofs.handlestate.api.Sink` for the volume: it turns
the coordinator's events into Oplock/Lease Break Notifications on the client's connection
([MS-SMB2] 3.3.4.6, 3.3.4.7), drops handles the coordinator closed, and keeps the facts mirror.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sofs.handlers.eager import start_eager
from sofs.handlestate.api import Change, FileFacts, HandleService, LockRange
from sofs.handlestate.apply import moved_path
from sofs.handlestate.locks import RangeLock, io_conflicts
from sofs.wire.constants import Command, LeaseBreakFlags
from sofs.wire.header import Header
from sofs.wire.messages.oplock import LeaseBreakNotification, OplockBreakNotification

if TYPE_CHECKING:
    from sofs.handlers.opens import Handle
    from sofs.handlestate.coordinator import VolumeCoordinator
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.volume")
_ACK_REQUIRED = int(LeaseBreakFlags.ACK_REQUIRED)


class VolumeClient:
    """The serving side of one volume (see the module docstring)."""

    def __init__(self, name: str, svc: HandleService, endpoint: int = 0,
                 local: VolumeCoordinator | None = None) -> None:
        self.name = name
        self.svc = svc
        self.endpoint = endpoint
        self.local = local  # the coordinator itself when it runs in this process
        self.watching = False
        self.facts: dict[tuple[int, str], FileFacts] = {}
        self.prefixes: dict[str, str] = {}  # share name (folded) -> its directory on the volume
        self._reports: list[Change] = []

    # ---- paths --------------------------------------------------------------------------------
    def to_volume(self, share: Any, path: str) -> str:
        """A share-relative path as the coordinator knows it (volume-relative)."""
        if not self.prefixes:  # a standalone server: every share is its own volume
            return path
        prefix = self.prefixes.get(share.name.lower(), "")
        if not prefix:
            return path
        return f"{prefix}\\{path}" if path else prefix

    def to_share(self, share: Any, path: str) -> str | None:
        """A volume-relative path as ``share`` names it (None: outside the share)."""
        prefix = self.prefixes.get(share.name.lower(), "")
        if not prefix:
            return path
        if path.lower() == prefix.lower():
            return ""
        if path[:len(prefix) + 1].lower() == prefix.lower() + "\\":
            return path[len(prefix) + 1:]
        return None

    # ---- the data path ------------------------------------------------------------------------
    def io_conflict(self, h: Handle, offset: int, length: int, write: bool) -> bool:
        """Does a byte-range lock refuse this READ/WRITE ([MS-SMB2] 3.3.5.12/13)?"""
        local = self.local
        if local is not None:
            if not local.table.locks.files:  # no byte-range lock on the volume (the usual case)
                return False
            return local.io_conflict(h.pid, h.vfile_id, h.stream_key, offset, length, write)
        facts = self.facts.get((h.vfile_id, h.stream_key))
        if facts is None or not facts.locks or length == 0:
            return False
        for lk in facts.locks:
            if io_conflicts(RangeLock(lk.owner, lk.offset, lk.length, lk.exclusive), h.pid, offset, length, write):
                return True
        return False

    def held_locks(self, h: Handle, ranges: tuple[LockRange, ...]) -> tuple[LockRange, ...]:
        """The locks ``h`` holds on ``ranges`` (same offset and length), as this process knows them:
        the coordinator's own when it is in-process, else the mirror (pushed before a LOCK is
        answered, so it holds what the client was told)."""
        spans = {(r.offset, r.length) for r in ranges}
        local = self.local
        if local is not None:
            held: Any = local.table.locks.locks_of((h.vfile_id, h.stream_key))
        else:
            facts = self.facts.get((h.vfile_id, h.stream_key))
            held = facts.locks if facts is not None else ()
        return tuple(LockRange(lk.offset, lk.length, lk.exclusive) for lk in held
                     if lk.owner == h.pid and (lk.offset, lk.length) in spans)

    def write_contends(self, h: Handle) -> bool:
        local = self.local
        if local is not None:
            return local.write_contends(h.vfile_id, h.stream_key)
        facts = self.facts.get((h.vfile_id, h.stream_key))
        return facts is not None and facts.read_cachers

    def contend_write(self, h: Handle) -> None:
        """A write, truncation or size change through ``h``: other opens' read caching breaks
        ([MS-FSA] 2.1.4.12), without waiting; nothing to do (no message) when nobody caches."""
        local = self.local
        if local is not None:  # every WRITE comes here: the in-process coordinator asked directly
            if local.write_contends(h.vfile_id, h.stream_key):
                local.contend_now(h.pid)
            return
        if not self.write_contends(h):
            return
        if not _caches_alone(h):
            _spawn(self.svc.contend_write(h.pid))

    def delete_pending(self, h: Handle) -> bool:
        local = self.local
        if local is not None:
            f = local.table.files.get(h.vfile_id)
            if f is None:
                return False
            skey = h.stream_key
            return skey in f.stream_delete_pending if skey else f.delete_pending
        facts = self.facts.get((h.vfile_id, h.stream_key))
        return facts is not None and facts.delete_pending

    def report(self, change: Change) -> None:
        """Tell the coordinator about a change: at once in-process, else batched per loop turn."""
        local = self.local
        if local is not None:
            local.report_now((change,))
            return
        self._reports.append(change)
        if len(self._reports) == 1:
            asyncio.get_running_loop().call_soon(self._flush_reports)

    def flush_reports(self) -> None:
        """Send the change reports of this loop turn now: before any later call of this process to
        the coordinator (``Router``), so the coordinator sees a change before, e.g., the CLOSE of the
        open that made it — the change's directory-lease exemption is that open's parent lease key
        (smb2.dirlease.rename across nodes when the CLOSE overtook the report)."""
        if self._reports:
            self._flush_reports()

    def _flush_reports(self) -> None:
        batch, self._reports = tuple(self._reports), []
        if batch:
            start_eager(asyncio.get_running_loop(), self._send_reports(batch))

    async def _send_reports(self, batch: tuple[Change, ...]) -> None:
        try:
            await self.svc.report(batch)
        except Exception:  # noqa: BLE001 - a lost notification is what a coordinator change costs
            log.warning("volume %s: %d change report(s) lost", self.name, len(batch))


class ProcessSink:
    """This process's Sink for one volume (see the module docstring)."""

    def __init__(self, server: ServerState, volume: VolumeClient) -> None:
        self.server = server
        self.volume = volume
        self.sent_breaks = 0

    def _handle(self, pid: int) -> Handle | None:
        return self.server.handles.of_pid(self.volume.name, pid)

    def _driver_of(self, h: Handle) -> Any:
        session = h.session
        for c in (session.connection, *session.channels):
            if c is None:
                continue
            d = self.server.connections.get(c.conn_id)
            if d is not None and not d.closed:
                return d
        return None

    def _send(self, driver: Any, body: bytes, session: Any) -> None:
        hdr = Header(command=Command.OPLOCK_BREAK, message_id=0xFFFFFFFFFFFFFFFF)
        self.sent_breaks += 1
        # eagerly: the notification joins the connection's output now, ahead of the responses to
        # requests that arrived after the one causing the break (smb2.lease.rename_wait)
        try:
            task = start_eager(asyncio.get_running_loop(), driver.send_notification(hdr, body, session))
        except Exception:  # a dead transport: the break times out like an unanswered one
            log.exception("sending a break notification failed")
            return
        if task is not None:
            _pending.add(task)
            task.add_done_callback(_pending.discard)

    def oplock_break(self, persistent_id: int, level: int) -> bool:
        h = self._handle(persistent_id)
        if h is None or h.closed:
            return False
        driver = self._driver_of(h)
        if driver is None:
            return True  # see _losing
        h.oplock_level = level
        self._send(driver, OplockBreakNotification(oplock_level=level, file_id=h.file_id).encode(), h.session)
        return True

    # _losing: a live handle whose client connections are all gone is being handed back (connection
    # loss: durable ones are disconnected at the coordinator, others closed; the call is on its way).
    # Its break is taken as delivered: it stays outstanding until that call arrives, which then
    # purges a durable open owing a break, as when the disconnect came first. Answering "cannot be
    # reached" would complete the break as acknowledged and keep the durable open
    # (smb2.durable-open.open2-oplock when the other client's CREATE reaches the coordinator first).

    def _client_driver(self, client_guid: bytes) -> Any:
        """The oldest live connection of a client (by ClientGuid): where Windows and Samba send lease
        breaks, whichever connection opened the lease (smb2.lease.v2_complex1)."""
        for d in self.server.connections.values():
            conn = getattr(getattr(d, "engine", None), "conn", None)
            if (conn is not None and not d.closed and conn.client_guid == client_guid
                    and conn.dialect >= 0x0210):
                return d
        return None

    def lease_break(self, client_guid: bytes, lease_key: bytes, current: int, new: int, ack_required: bool,
                    epoch: int, version: int, hint: int) -> bool:
        driver = self._client_driver(client_guid)
        session = None
        h = self._handle(hint)
        if h is not None and not h.closed:
            d = self._driver_of(h)
            if d is not None and (driver is None or d is driver):
                driver, session = d, h.session
        if driver is None:
            return h is not None and not h.closed  # see _losing
        if session is None:  # encrypt with a session of that connection (if it encrypts)
            session = next(iter(driver.engine.conn.sessions.values()), None)
        body = LeaseBreakNotification(lease_key, current, new, flags=_ACK_REQUIRED if ack_required else 0,
                                      new_epoch=epoch).encode()
        if not ack_required:
            self.lease_state(client_guid, lease_key, new, epoch)
        self._send(driver, body, session)
        return True

    def lease_state(self, client_guid: bytes, lease_key: bytes, state: int, epoch: int | None = None) -> None:
        """Remember a lease's new state on this process's handles of it (what a reclaim re-declares)."""
        for h in self.server.handles.by_pid.values():
            g = h.lease
            if g is not None and g.key == lease_key and h.share.volume is self.volume \
                    and h.session.connection.client_guid == client_guid:
                h.lease = dataclasses.replace(g, state=state, epoch=g.epoch if epoch is None else epoch)

    async def revoked(self, persistent_id: int) -> None:
        h = self._handle(persistent_id)
        if h is not None and not h.closed:
            from sofs.handlers.opens import drop_handle

            log.info("volume %s: %s closed by the coordinator", self.volume.name, h.path)
            await drop_handle(self.server, h)

    async def end_session(self, session_id: int, user: str) -> None:
        from sofs.handlers.session import end_previous_session

        await end_previous_session(self.server, session_id, user)

    async def release(self, persistent_id: int) -> bool:
        h = self._handle(persistent_id)
        if h is None or h.closed:
            return True
        if self._driver_of(h) is not None:
            return False
        if not h.lost:  # its loss not begun here: the claimer takes the open over, nothing to report
            from sofs.handlers.opens import drop_handle

            h.lost = True
            await drop_handle(self.server, h)
        return True

    async def moved(self, old: str, new: str, is_directory: bool) -> None:
        vol = self.volume
        for h in list(self.server.handles.by_pid.values()):
            if h.share.volume is not vol or h.closed:
                continue
            vpath = vol.to_volume(h.share, h.path)
            moved = moved_path(vpath, old, new, is_directory)
            if moved is None:
                continue
            spath = vol.to_share(h.share, moved)
            if spath is None:
                continue
            h.path = spath
            if h.handle is not None:
                h.handle.path = spath

    async def file_facts(self, facts: FileFacts) -> None:
        self.volume.facts[(facts.file_id, facts.stream_key)] = facts

    def watching(self, on: bool) -> None:
        self.volume.watching = on


def _caches_alone(h: Handle) -> bool:
    """``h`` holds an exclusive or batch oplock (as this process knows it: lowered when a break is
    sent): no other open caches the file, so its writes contend nobody. The message is not sent: it
    would travel after the write's answer, could reach the coordinator after another client's CREATE
    began breaking ``h`` to level II, and then break it to none (smb2.oplock.brl1 across nodes: the
    client's acknowledgment failed). A writer's own lease is never broken by its writes."""
    return h.oplock_level in (_EXCLUSIVE, _BATCH)


_EXCLUSIVE, _BATCH = 0x08, 0x09
_pending: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def local_volume(server: ServerState, name: str, coordinator: VolumeCoordinator,
                 node_name: str = "") -> VolumeClient:
    """A volume this process coordinates: the coordinator is called directly, events are delivered
    directly (endpoint LOCAL)."""
    vol = VolumeClient(name, coordinator, 0, coordinator)
    coordinator.attach_local(ProcessSink(server, vol), node_name, server.barrier)
    return vol


Factory = Callable[[Any], VolumeClient]
