"""`RemoteService`: a volume's HandleService at a coordinator in another process (see
:mod:`sofs.server.coordlink`).

::

    svc = await RemoteService.connect(address, link_port, secret=secret, name="n2", volume="Volume1",
                                      sink=my_sink)   # NotCoordinator / LinkRefused / LinkLost
    caller = Caller(svc.endpoint, client_guid, ...)  # Callers carry the link's endpoint
    res = await svc.admit(AdmitRequest(caller, ...), hook)
    ...
    await svc.lost                 # the link is gone (str reason): find the coordinator again
    svc.abort_link("moved")        # the cluster says the coordinator changed: fail in-flight calls now
    await svc.close_link()         # leaving: the coordinator detaches this endpoint

``close_link`` is not ``close`` because :meth:`HandleService.close` closes an open. Events from the
coordinator are given to ``sink`` in order; a False from ``sink.oplock_break``/``lease_break`` is
reported back (``CoordinatorAdmin.undeliverable``). Once the link is lost, every call raises
:class:`~sofs.server.coordlink.LinkLost` (a NotCoordinator); a RemoteService is not reopened: make a
new one (at the new coordinator) and ``reclaim`` the live opens there.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Coroutine
from typing import Any

from sofs.handlestate.api import (
    AdmitRequest,
    AdmitResult,
    AsyncHook,
    Change,
    CloseResult,
    HandleRow,
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
from sofs.server.coordlink import Link, LinkLost, log
from sofs.server.coordlink_proto import (
    ADMIN_EVENTS,
    CLIENT_OPEN,
    NONCE_LEN,
    SERVICE,
    Challenge,
    ClientHandshake,
    Event,
    Frame,
    LinkRefused,
    Method,
    Reason,
    Refuse,
    Welcome,
)

CONNECT_TIMEOUT_S = 10.0


class _ClientLink(Link):
    def __init__(self, hs: ClientHandshake, sink: Sink) -> None:
        super().__init__({Challenge: None, Refuse: None})
        self.hs = hs
        self.sink = sink
        self.opened: asyncio.Future[int] = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.send(self.hs.hello)

    def on_handshake(self, frame: Frame) -> None:
        if isinstance(frame, Challenge):
            try:
                self.send(self.hs.on_challenge(frame))
            except LinkRefused as e:
                self._fail_open(e)
                self.abort(str(e))
                return
            self.accepts = {Welcome: None, Refuse: None}
        elif isinstance(frame, Welcome):
            self.accepts = CLIENT_OPEN
            if not self.opened.done():
                self.opened.set_result(frame.endpoint)
        elif isinstance(frame, Refuse):
            if frame.reason == Reason.NOT_COORDINATOR:
                self._fail_open(NotCoordinator(frame.message))
            else:
                self._fail_open(LinkRefused(frame.reason, frame.message))
            self.close(frame.message)

    def _fail_open(self, e: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(e)

    def serve(self, cid: int, method: Method, args: tuple[Any, ...]) -> Coroutine[Any, Any, Any]:
        sink, name = self.sink, method.name  # the Sink calls a server makes (SINK_CALLS)
        if name == "moved":
            return sink.moved(*args)
        if name == "revoked":
            return sink.revoked(*args)
        if name == "end_session":
            return sink.end_session(*args)
        if name == "release":
            return sink.release(*args)
        return sink.file_facts(*args)

    def on_event(self, event: Event) -> None:
        # on the next loop turn, after the callers of the results that arrived with it resumed: a
        # break caused by a request follows that request's answer, as from an in-process coordinator
        # (which sends it on the next loop turn) and from Samba (smb2.dirlease.unlink_*). Events
        # keep their order among themselves and before the calls (file_facts, moved) sent after them.
        self.loop.call_soon(self._deliver, event)

    def _deliver(self, event: Event) -> None:
        name, args = event.method, event.args
        try:
            if name == "oplock_break":
                if not self.sink.oplock_break(*args):
                    self.notify(_UNDELIVERABLE, (OplockBreakNotice(*args),))
            elif name == "lease_break":
                if not self.sink.lease_break(*args):
                    self.notify(_UNDELIVERABLE, (LeaseBreakNotice(*args),))
            else:
                self.sink.watching(*args)
        except Exception:  # noqa: BLE001 - a Sink bug must not end the link (logged with its traceback)
            log.exception("coordlink %s: the sink failed on %s%r", self.peer, name, args)

    def on_lost(self) -> None:
        self._fail_open(LinkLost(f"link to {self.peer} lost during the handshake: {self._reason}"))
        if self.opened.done() and not self.opened.cancelled():
            self.opened.exception()  # retrieved: no "never retrieved" warning when nobody waits


class RemoteService:
    """See the module docstring. Made by :meth:`connect`."""

    def __init__(self, link: _ClientLink, endpoint: int, volume: str) -> None:
        self._link = link
        self._call = link.call
        self.endpoint = endpoint
        self.volume = volume
        self.lost: asyncio.Future[str] = link.lost
        """Done (with the reason) when the link is gone."""

    @classmethod
    async def connect(cls, host: str, port: int, *, secret: bytes, name: str, volume: str, sink: Sink,
                      timeout: float = CONNECT_TIMEOUT_S, nonce: bytes | None = None) -> RemoteService:
        """Open a link to the coordinator of ``volume`` at ``host:port``. Raises NotCoordinator (that
        process does not coordinate the volume), LinkLost (unreachable, or closed during the
        handshake), LinkRefused (authentication or version)."""
        hs = ClientHandshake(secret, nonce or secrets.token_bytes(NONCE_LEN), name, volume)
        loop = asyncio.get_running_loop()
        try:
            _, link = await asyncio.wait_for(
                loop.create_connection(lambda: _ClientLink(hs, sink), host, port), timeout)
        except (OSError, TimeoutError) as e:
            raise LinkLost(f"cannot reach the coordinator link at {host}:{port}: {e or type(e).__name__}") from e
        try:
            endpoint = await asyncio.wait_for(asyncio.shield(link.opened), timeout)
        except TimeoutError:
            link.abort("handshake timeout")
            raise LinkLost(f"no answer from the coordinator link at {host}:{port} in {timeout:g} s") from None
        except BaseException:
            link.abort("handshake failed")
            raise
        return cls(link, endpoint, volume)

    @property
    def is_open(self) -> bool:
        return not self.lost.done()

    async def close_link(self) -> None:
        """Leave: close the link (the coordinator detaches this endpoint) and wait until it is closed."""
        self._link.close("closed by the serving process")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self.lost)

    def abort_link(self, why: str) -> None:
        """Drop the link at once (the cluster moved the volume, or declared its coordinator's node
        down): in-flight calls raise LinkLost(why) now; the coordinator detaches this endpoint when
        it notices."""
        self._link.abort(why)

    # ---- HandleService ----

    async def admit(self, req: AdmitRequest, hook: AsyncHook | None) -> AdmitResult:
        r: AdmitResult = await self._call(_M["admit"], (req, _flag(hook)), hook)
        if r.facts is not None:  # applied now, before the calls that came after the answer run
            await self._link.sink.file_facts(r.facts)
        return r

    def close(self, persistent_id: int, modified: bool = False) -> Coroutine[Any, Any, CloseResult]:
        return self._call(_M["close"], (persistent_id, modified))

    def deleted(self, file_id: int, stream: str | None, change: Change | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["deleted"], (file_id, stream, change))

    def disconnect(self, persistent_id: int, position: int = 0) -> Coroutine[Any, Any, bool]:
        return self._call(_M["disconnect"], (persistent_id, position))

    def set_delete_on_close(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["set_delete_on_close"], (persistent_id, value, _flag(hook)), hook)

    def set_delete_pending(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["set_delete_pending"], (persistent_id, value, _flag(hook)), hook)

    def check_rename(self, req: RenameCheck, hook: AsyncHook | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["check_rename"], (req, _flag(hook)), hook)

    def renamed(self, persistent_id: int, old: str, new: str, new_stream: str | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["renamed"], (persistent_id, old, new, new_stream))

    def lock(self, req: LockRequest, hook: AsyncHook | None) -> Coroutine[Any, Any, None]:
        return self._call(_M["lock"], (req, _flag(hook)), hook)

    def oplock_ack(self, persistent_id: int, level: int) -> Coroutine[Any, Any, int]:
        return self._call(_M["oplock_ack"], (persistent_id, level))

    def lease_ack(self, client_guid: bytes, lease_key: bytes, state: int) -> Coroutine[Any, Any, None]:
        return self._call(_M["lease_ack"], (client_guid, lease_key, state))

    def contend_write(self, persistent_id: int) -> Coroutine[Any, Any, None]:
        return self._call(_M["contend_write"], (persistent_id,))

    def watch(self, req: WatchRequest, hook: AsyncHook | None) -> Coroutine[Any, Any, WatchResult]:
        return self._call(_M["watch"], (req, _flag(hook)), hook)

    def report(self, changes: tuple[Change, ...]) -> Coroutine[Any, Any, None]:
        return self._call(_M["report"], (changes,))

    def reconnect(self, req: ReconnectRequest) -> Coroutine[Any, Any, OpenImage]:
        return self._call(_M["reconnect"], (req,))

    def replay(self, req: ReplayRequest) -> Coroutine[Any, Any, ReplayResult]:
        return self._call(_M["replay"], (req,))

    def forget_replay(self, persistent_id: int) -> Coroutine[Any, Any, None]:
        return self._call(_M["forget_replay"], (persistent_id,))

    def set_channel_sequence(self, persistent_id: int, value: int) -> Coroutine[Any, Any, None]:
        return self._call(_M["set_channel_sequence"], (persistent_id, value))

    def set_resilient(self, persistent_id: int, timeout_ms: int) -> Coroutine[Any, Any, None]:
        return self._call(_M["set_resilient"], (persistent_id, timeout_ms))

    def list_opens(self) -> Coroutine[Any, Any, tuple[HandleRow, ...]]:
        return self._call(_M["list_opens"], ())

    def revoke(self, persistent_id: int) -> Coroutine[Any, Any, bool]:
        return self._call(_M["revoke"], (persistent_id,))

    def end_session(self, session_id: int, user: str) -> Coroutine[Any, Any, None]:
        return self._call(_M["end_session"], (session_id, user))

    # ---- CoordinatorAdmin passthrough ----

    def reclaim(self, opens: tuple[ReclaimOpen, ...]) -> Coroutine[Any, Any, tuple[int, ...]]:
        """``CoordinatorAdmin.reclaim(self.endpoint, opens)`` at the coordinator."""
        return self._call(_M["reclaim"], (opens,))


_M = SERVICE
_UNDELIVERABLE = ADMIN_EVENTS["undeliverable"]


def _flag(hook: AsyncHook | None) -> bool | None:
    """How an AsyncHook argument travels: true (PENDING may come) or nil."""
    return None if hook is None else True
