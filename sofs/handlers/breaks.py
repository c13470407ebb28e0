"""Oplock and lease breaks at run time: who holds what, sending the notifications, waiting for acks.

The decisions are pure (:mod:`sofs.handlestate.oplocks`, :mod:`sofs.handlestate.leases`); this module
keeps the per-server :class:`CachingManager` (``server.extensions["sofs.caching"]``), turns their
actions into Oplock/Lease Break Notifications sent on the holder's connection ([MS-SMB2] 3.3.4.6,
3.3.4.7), arms the 35 s acknowledgment timers, and resolves the futures that a CREATE (or anything
else that must wait for a break) awaits.

File identity is the handlers' per-stream node key ``(share, file_id, stream)``; an oplock belongs to
an :class:`~sofs.handlers.opens.Open`, a lease to (ClientGuid, LeaseKey) and is listed in
``open.ext["lease"]`` of each open that uses it.

A holder whose client cannot be reached (no live connection) is treated as having acknowledged at
once: the break completes to its target level (what Windows does after the timeout).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from sofs.handlers.eager import start_eager
from sofs.handlestate.leases import LeaseRecord, LeaseTable
from sofs.handlestate.locks import ByteRangeLocks
from sofs.handlestate.notify import NotifyTable
from sofs.handlestate.oplocks import (
    OPLOCK_BREAK_TIMEOUT_NS,
    Caching,
    Holder,
    oplock_caching,
    oplock_level,
    oplock_step,
    plan_write_breaks,
)
from sofs.wire.constants import Command, LeaseBreakFlags
from sofs.wire.header import Header
from sofs.wire.messages.oplock import LeaseBreakNotification, OplockBreakNotification

if TYPE_CHECKING:
    from sofs.handlers.opens import Open
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.breaks")
EXT_KEY = "sofs.caching"
NodeKey = Hashable


class CachingManager:
    """Oplocks, leases, byte-range locks and notify watches of one server (all its volumes)."""

    def __init__(self, server: ServerState, clock: Callable[[], int] = time.monotonic_ns,
                 timeout_ns: int = OPLOCK_BREAK_TIMEOUT_NS) -> None:
        self.server = server
        self.clock = clock
        self.timeout_ns = timeout_ns
        self.locks = ByteRangeLocks()
        self.leases = LeaseTable()
        self.notify = NotifyTable()
        self.oplock_opens: dict[NodeKey, set[Open]] = {}
        self.oplock_breaking: dict[Open, int] = {}  # open → level it is breaking to
        self.break_waiters: dict[object, list[asyncio.Future[None]]] = {}
        self.timers: dict[object, asyncio.TimerHandle] = {}
        self.lock_waiters: dict[NodeKey, list[asyncio.Future[None]]] = {}
        self.notify_waiters: dict[Open, list[tuple[asyncio.Future[tuple[int, bytes]], int]]] = {}
        self.dir_leases: dict[tuple[str, str], NodeKey] = {}  # (share, folded dir path) → node key
        self.pending_renames: dict[int, tuple[str, int]] = {}  # id(origin open) → (old path, filter)
        self.sent_breaks = 0

    # -- who holds what ---------------------------------------------------------------------------
    def holders(self, key: NodeKey, exclude_lease: LeaseRecord | None = None,
                exclude_open: Open | None = None) -> list[Holder]:
        out: list[Holder] = []
        for op in self.oplock_opens.get(key, ()):
            if op is exclude_open:
                continue
            brk = self.oplock_breaking.get(op)
            out.append(Holder(op, oplock_caching(op.oplock_level), False,
                              None if brk is None else oplock_caching(brk)))
        for lease in self.leases.of_file(key):
            if lease is exclude_lease:
                continue
            out.append(Holder(lease, lease.state, True, lease.required))
        return out

    def has_holders(self, key: NodeKey) -> bool:
        return key in self.oplock_opens or bool(self.leases.of_file(key))

    # -- breaking ---------------------------------------------------------------------------------
    def break_holder(self, ident: object, to: Caching, wait: bool) -> asyncio.Future[None] | None:
        """Break an oplock'ed open or a lease down to ``to``; a future when ``wait`` and the break
        is (still) outstanding."""
        if isinstance(ident, LeaseRecord):
            self._break_lease(ident, to)
            breaking = ident.breaking
        else:
            self._break_oplock(ident, to)  # type: ignore[arg-type]
            breaking = ident in self.oplock_breaking
        if not (wait and breaking):
            return None
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.break_waiters.setdefault(ident, []).append(fut)
        return fut

    def _break_oplock(self, op: Open, to: Caching) -> None:
        level = op.oplock_level
        state = (level, self.oplock_breaking.get(op))
        (new_level, breaking_to), actions = oplock_step(state, f"break:{oplock_level(to)}")
        self._set_oplock(op, new_level, breaking_to)
        for a in actions:
            if a.startswith("notify:") and not self._send_oplock_break(op, int(a[7:])):
                self.oplock_timeout(op)  # nobody to tell: complete as acknowledged
                return
        if breaking_to is not None and op not in self.timers:
            self._arm(op)

    def _set_oplock(self, op: Open, level: int, breaking_to: int | None) -> None:
        op.oplock_level = level
        key = op.node.key if op.node is not None else None
        if breaking_to is None:
            self.oplock_breaking.pop(op, None)
        else:
            self.oplock_breaking[op] = breaking_to
        if level == 0 and breaking_to is None:
            s = self.oplock_opens.get(key)
            if s is not None:
                s.discard(op)
                if not s:
                    del self.oplock_opens[key]
        elif key is not None:
            self.oplock_opens.setdefault(key, set()).add(op)

    def _break_lease(self, lease: LeaseRecord, to: Caching) -> None:
        actions = lease.apply(f"break:{int(to)}", self.clock(), self.timeout_ns)
        self._lease_actions(lease, actions)

    def _lease_actions(self, lease: LeaseRecord, actions: tuple[str, ...]) -> None:
        for a in actions:
            if a == "release":
                self._release(lease)
            elif a.startswith("notify:"):
                _n, cur, new, ack = a.split(":")
                if not self._send_lease_break(lease, int(cur), int(new), ack == "1"):
                    self.lease_timeout(lease, "lost")
                    return
        if lease.breaking and lease not in self.timers:
            self._arm(lease)

    def oplock_ack(self, op: Open, level: int) -> tuple[int, str | None]:
        """Apply an Oplock Break Acknowledgment; returns (new level, error status name or None)."""
        state = (op.oplock_level, self.oplock_breaking.get(op))
        (new_level, breaking_to), actions = oplock_step(state, f"ack:{level}")
        self._set_oplock(op, new_level, breaking_to)
        err = None
        for a in actions:
            if a == "release":
                self._release(op)
            elif a.startswith("error:"):
                err = a[6:]
        return new_level, err

    def lease_ack(self, lease: LeaseRecord, state: int) -> str | None:
        """Apply a Lease Break Acknowledgment; returns an error status name or None."""
        actions = lease.apply(f"ack:{state}", self.clock(), self.timeout_ns)
        for a in actions:
            if a.startswith("error:"):
                return a[6:]
        loop = asyncio.get_running_loop()
        # the ack's response goes out before any follow-up break notification
        loop.call_soon(self._lease_actions, lease, actions)
        return None

    def oplock_timeout(self, op: Open) -> None:
        state = (op.oplock_level, self.oplock_breaking.get(op))
        if state[1] is None:
            return
        (new_level, breaking_to), _actions = oplock_step(state, "timeout")
        log.info("oplock break of %s not acknowledged: now level %d", op.path, new_level)
        self._set_oplock(op, new_level, breaking_to)
        self._release(op)

    def lease_timeout(self, lease: LeaseRecord, event: str = "timeout") -> None:
        if not lease.breaking:
            return
        lease.apply(event, self.clock(), self.timeout_ns)
        log.info("lease break not acknowledged: lease now %s", lease.state)
        self._release(lease)

    def _arm(self, ident: object) -> None:
        loop = asyncio.get_running_loop()
        delay = self.timeout_ns / 1e9
        if isinstance(ident, LeaseRecord):
            self.timers[ident] = loop.call_later(delay, self.lease_timeout, ident)
        else:
            self.timers[ident] = loop.call_later(delay, self.oplock_timeout, ident)  # type: ignore[arg-type]

    def _release(self, ident: object) -> None:
        t = self.timers.pop(ident, None)
        if t is not None:
            t.cancel()
        for fut in self.break_waiters.pop(ident, ()):
            if not fut.done():
                fut.set_result(None)

    # -- sending ----------------------------------------------------------------------------------
    def _driver_of(self, op: Open) -> Any:
        session = op.session
        conns = [session.connection, *getattr(session, "channels", ())]
        for c in conns:
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

    def _send_oplock_break(self, op: Open, level: int) -> bool:
        driver = self._driver_of(op)
        if driver is None or op.closed:
            return False
        body = OplockBreakNotification(oplock_level=level, file_id=wire_file_id(op)).encode()
        self._send(driver, body, op.session)
        return True

    def _client_driver(self, client_guid: bytes) -> Any:
        """The oldest live connection of a client (by ClientGuid): where Windows and Samba send lease
        breaks, whichever connection opened the lease (smb2.lease.v2_complex1)."""
        for d in self.server.connections.values():
            conn = getattr(getattr(d, "engine", None), "conn", None)
            if (conn is not None and not d.closed and conn.client_guid == client_guid
                    and conn.dialect >= 0x0210):
                return d
        return None

    def _send_lease_break(self, lease: LeaseRecord, cur: int, new: int, ack_required: bool) -> bool:
        driver = self._client_driver(lease.client_guid)
        session = None
        for op in [lease.last_open, *lease.opens]:
            if op in lease.opens:
                d = self._driver_of(op)  # type: ignore[arg-type]
                if d is not None and (driver is None or d is driver):
                    driver, session = d, op.session  # type: ignore[attr-defined]
                    break
        if driver is None:
            return False
        if session is None:  # encrypt with a session of that connection (if it encrypts)
            session = next(iter(driver.engine.conn.sessions.values()), None)
        flags = int(LeaseBreakFlags.ACK_REQUIRED) if ack_required else 0
        body = LeaseBreakNotification(lease.key, cur, new, flags=flags,
                                      new_epoch=lease.epoch if lease.version >= 2 else 0).encode()
        self._send(driver, body, session)
        return True

    # -- writes, closes ---------------------------------------------------------------------------
    def contend_write(self, op: Open) -> None:
        """A write/lock/truncate by ``op``: read-only caching (level II, R/RH leases but the writer's
        own lease) breaks to none, without waiting."""
        node = op.node
        if node is None or not self.has_holders(node.key):
            return
        own = op.ext.get("lease")
        # the writer's own level II oplock breaks too (smb2.oplock.batch1 "self break to none");
        # its own lease does not
        for order in plan_write_breaks(self.holders(node.key, exclude_lease=own)):
            self.break_holder(order.ident, order.to, False)

    def forget_open(self, op: Open) -> None:
        """Drop the oplock and lease share of a closing open; wake whoever waited on them."""
        if op.oplock_level or op in self.oplock_breaking:
            self._set_oplock(op, 0, None)
            self._release(op)
        lease = op.ext.pop("lease", None)
        if isinstance(lease, LeaseRecord) and self.leases.detach(lease, op):
            self._release(lease)
            if lease.is_directory:
                for k, v in list(self.dir_leases.items()):
                    if v == lease.file_key and not self.leases.of_file(v):
                        del self.dir_leases[k]


_pending: set[asyncio.Task[None]] = set()


def wire_file_id(op: Open) -> bytes:
    """The 16-byte FileId of an open (the registry keeps it as bytes or as (persistent, volatile))."""
    fid = op.file_id
    if isinstance(fid, (bytes, bytearray)):
        return bytes(fid)
    from sofs.wire.codec import make_file_id

    return make_file_id(*fid)


def manager(server: ServerState) -> CachingManager:
    m = server.extensions.get(EXT_KEY)
    if m is None:
        m = server.extensions[EXT_KEY] = CachingManager(server)
    return m
