"""`LinkServer`: the coordinator side of the link (see :mod:`sofs.server.coordlink`).

Every node process runs one, listening on the node's own address at its link port
(``NodeRecord.link_port``; 0 = any free port, which the node then writes into its record so the
other nodes find it). The node registers the coordinator of every volume it coordinates::

    server = LinkServer(secret)              # the cluster's link secret (ClusterClient.link_secret())
    port = await server.start(address, rec.link_port)
    server.register("Volume1", coordinator)  # HandleService + CoordinatorAdmin (+ undeliverable)
    ...
    server.unregister("Volume1")       # moved away or fenced: its links close, without detach
    await server.close()

Per connection: the handshake of :mod:`~sofs.server.coordlink_proto` (a peer without the secret is
refused before anything is attached; a peer naming a volume not registered here gets
Refuse(NOT_COORDINATOR), which its RemoteService raises as NotCoordinator), then
``coordinator.attach(sink, name)``; the endpoint goes back in Welcome. Every Call starts on the
coordinator as it is read (its own task once it waits), with the arguments as sent; a Caller inside them must carry the link's
endpoint (the serving process builds it from ``RemoteService.endpoint``), else the call fails with
CoordinatorFault. When the link closes for any reason other than unregister/close,
``coordinator.detach(endpoint)`` is called at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sofs.handlers.eager import run_eager
from sofs.handlestate.api import (
    CoordinatorAdmin,
    FileFacts,
    HandleService,
    NotCoordinator,
)
from sofs.server.coordlink import Link, LinkLost
from sofs.server.coordlink_codec import CoordinatorFault
from sofs.server.coordlink_proto import (
    CHANNEL_VOLUME,
    NONCE_LEN,
    SERVER_OPEN,
    SERVICE,
    SINK_CALLS,
    SINK_EVENTS,
    Auth,
    Event,
    Frame,
    Hello,
    Method,
    Pending,
    Reason,
    Refuse,
    ServerHandshake,
    Welcome,
)

log = logging.getLogger("sofs.coordlink")
HANDSHAKE_TIMEOUT_S = 10.0


class LinkedCoordinator(HandleService, CoordinatorAdmin, Protocol):
    """What a LinkServer serves for one volume: the coordinator's calls and its admin side."""


class ChannelTaker(Protocol):
    """Where a channel link goes (a client connection carried here by another node)."""

    serving: bool  # False: refused (this node does not serve SMB now)

    def accept(self, transport: asyncio.Transport, peer: str) -> None:
        """The link's transport, after Welcome: its next bytes are the hand-over."""


class LinkServer:
    """See the module docstring. ``nonce``: the random source of handshake nonces (tests inject)."""

    def __init__(self, secret: bytes, *, handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
                 nonce: Callable[[], bytes] = lambda: secrets.token_bytes(NONCE_LEN)) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must have at least 16 bytes")
        self.secret = secret
        self.handshake_timeout = handshake_timeout
        self.nonce = nonce
        self._coordinators: dict[str, LinkedCoordinator] = {}
        self._links: dict[str, set[_ServerLink]] = {}
        self._pending: set[_ServerLink] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.channels: ChannelTaker | None = None
        """Takes the links that authenticate for :data:`CHANNEL_VOLUME` (``NodeChannels`` of
        :mod:`sofs.server.channel_relay`); None: such a link is refused as for an unknown volume."""

    async def start(self, host: str, port: int = 0) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ServerLink(self), host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def register(self, volume: str, coordinator: LinkedCoordinator) -> None:
        """This process coordinates ``volume`` from now on (a new coordinator object for a volume
        already registered, e.g. at a new epoch, first ends the links to the old one, as unregister)."""
        old = self._coordinators.get(volume)
        if old is not None and old is not coordinator:
            self.unregister(volume, "the volume's coordinator was replaced")
        self._coordinators[volume] = coordinator
        self._links.setdefault(volume, set())

    def unregister(self, volume: str, why: str = "the volume's coordinator left this node") -> None:
        """Stop coordinating ``volume`` here: its links close without detach (the serving processes
        reclaim their opens at the next coordinator); their calls fail with NotCoordinator(why)."""
        self._coordinators.pop(volume, None)
        for link in list(self._links.pop(volume, ())):
            link.goodbye(why)

    def drop_node(self, node: str, why: str = "the cluster declared the node down") -> int:
        """Abort every link from ``node`` (peer name ``node`` or ``node/<worker>``), each detached as
        on a link loss: for a node that is silent but alive (SIGSTOP, partition), whose links do not
        close by themselves. Returns how many links were dropped."""
        links = [lk for v in self._links.values() for lk in v
                 if lk.name == node or lk.name.startswith(node + "/")]
        for link in links:
            link.abort(why)
        return len(links)

    def attached(self, volume: str) -> list[tuple[str, int]]:
        """(name, endpoint) of the serving processes linked to ``volume`` now."""
        return sorted((lk.name, lk.endpoint) for lk in self._links.get(volume, ()))

    async def close(self) -> None:
        """Stop listening and close every link (without detach: this coordinator goes away too)."""
        if self._server is not None:
            self._server.close()
        for volume in list(self._links):
            self.unregister(volume, "the node is shutting down")
        for link in list(self._pending):
            link.abort("the node is shutting down")
        if self._server is not None:
            await self._server.wait_closed()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- for _ServerLink ----

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str, eager: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if eager:
            try:
                done, task = run_eager(loop, coro)
            except Exception:
                log.exception("coordlink: %s failed", what)
                return
            if done:
                return
        else:
            task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("coordlink: %s failed", what, exc_info=task.exception())


class _ServerLink(Link):
    eager_serve = True  # a coordinator call that does not wait is answered in the same loop turn

    def __init__(self, server: LinkServer) -> None:
        super().__init__({Hello: None})
        self.server = server
        self.hs = ServerHandshake(server.secret, server.nonce())
        self.name = ""
        self.volume = ""
        self.endpoint = -1
        self.coordinator: LinkedCoordinator | None = None
        self._detach = True
        self._timer: asyncio.TimerHandle | None = None
        self._held: list[Frame] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server._pending.add(self)
        self._timer = self.loop.call_later(self.server.handshake_timeout, self.abort, "handshake timeout")

    def on_handshake(self, frame: Frame) -> None:
        if isinstance(frame, Hello):
            answer = self.hs.on_hello(frame)
            self.send(answer)
            if isinstance(answer, Refuse):
                self.close(answer.message)
            else:
                self.accepts = {Auth: None}
        elif isinstance(frame, Auth):
            self._on_auth(frame)

    def _on_auth(self, frame: Auth) -> None:
        hello = self.hs.hello
        assert hello is not None
        if not self.hs.on_auth(frame):
            log.warning("coordlink %s: %r failed authentication (wrong cluster link secret)", self.peer, hello.name)
            self.send(Refuse(Reason.AUTH, "authentication failed"))
            self.close("authentication failed")
            return
        channels = self.server.channels
        if hello.volume == CHANNEL_VOLUME and channels is not None:
            if not channels.serving:
                self.send(Refuse(Reason.NOT_COORDINATOR, "this node does not serve SMB now"))
                self.close("not serving")
                return
            self._to_channel(hello.name, channels)
            return
        coordinator = self.server._coordinators.get(hello.volume)
        if coordinator is None:
            self.send(Refuse(Reason.NOT_COORDINATOR, f"this node does not coordinate {hello.volume!r}"))
            self.close("not coordinator")
            return
        self._held = []  # events the coordinator sends from attach() go out after Welcome
        try:
            self.endpoint = coordinator.attach(_RemoteSink(self), hello.name)
        except NotCoordinator as e:
            self._held = None
            self.send(Refuse(Reason.NOT_COORDINATOR, str(e) or f"this node does not coordinate {hello.volume!r}"))
            self.close("not coordinator")
            return
        finally:
            held, self._held = self._held, None
        self.name, self.volume, self.coordinator = hello.name, hello.volume, coordinator
        self.server._pending.discard(self)
        self.server._links[hello.volume].add(self)
        if self._timer is not None:
            self._timer.cancel()
        self.accepts = SERVER_OPEN
        self.send(Welcome(self.endpoint))
        for early in held or ():
            self.send(early)
        log.info("coordlink %s: %s attached to %s as endpoint %d", self.peer, self.name, self.volume, self.endpoint)

    def _to_channel(self, name: str, channels: ChannelTaker) -> None:
        """The link becomes a carried client connection: Welcome(0), then the transport is ``take``'s
        (the peer sends nothing after Auth before Welcome, so nothing read is left here)."""
        self.server._pending.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        self._detach = False
        self.send(Welcome(0))
        self.flush()  # before the transport changes hands
        t, self.transport = self.transport, None
        assert t is not None
        log.info("coordlink %s: %s opened a channel link", self.peer, name)
        channels.accept(t, name)

    def send(self, frame: Frame) -> bool:
        if self._held is not None:
            self._held.append(frame)
            return self.transport is not None
        return super().send(frame)

    def serve(self, cid: int, method: Method, args: tuple[Any, ...]) -> Coroutine[Any, Any, Any]:
        coordinator = self.coordinator
        assert coordinator is not None
        hook = method.hook
        if hook is not None and args[hook] is True:
            args = (*args[:hook], _LinkHook(self, cid), *args[hook + 1:])
        bad = _foreign_caller(args, method.callers, self.endpoint) if method.callers else None
        if bad is not None:
            return _fail(CoordinatorFault(f"{method.name}: Caller.endpoint {bad} is not this link's ({self.endpoint})"))
        if method is _RECLAIM:
            return coordinator.reclaim(self.endpoint, *args)
        fn: Callable[..., Coroutine[Any, Any, Any]] | None = getattr(coordinator, method.name, None)
        if fn is None:
            return _fail(CoordinatorFault(f"the coordinator of {self.volume!r} has no {method.name}()"))
        return fn(*args)

    def on_event(self, event: Event) -> None:  # undeliverable, the only Event a client may send
        assert self.coordinator is not None
        # started now, as the calls (eager_serve): it takes effect before the calls sent after it
        self.server.spawn(self.coordinator.undeliverable(self.endpoint, *event.args), f"undeliverable {event.args!r:.80}",
                          eager=True)

    def goodbye(self, why: str) -> None:
        """Unregistered: tell the peer why and close, without detach."""
        self._detach = False
        self.send(Refuse(Reason.NOT_COORDINATOR, why))
        self.close(why)

    def on_lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.server._pending.discard(self)
        links = self.server._links.get(self.volume)
        if links is not None:
            links.discard(self)
        if self.coordinator is not None and self._detach:
            log.info("coordlink %s: %s (endpoint %d of %s) gone: %s", self.peer, self.name, self.endpoint,
                     self.volume, self._reason)
            self.server.spawn(self.coordinator.detach(self.endpoint), f"detach {self.name} from {self.volume}")


async def _fail(e: Exception) -> None:
    raise e


def _foreign_caller(args: tuple[Any, ...], callers: tuple[int, ...], endpoint: int) -> int | None:
    """The endpoint of a Caller in ``args[i]`` for ``i`` in ``callers`` (Method.callers: a request or
    a tuple of them) other than ``endpoint``, if any."""
    for i in callers:
        a = args[i]
        for item in a if type(a) is tuple else (a,):
            if item.caller.endpoint != endpoint:
                return int(item.caller.endpoint)
    return None


class _LinkHook:
    """The AsyncHook the coordinator gets for a call that came with one: going_async sends Pending."""

    __slots__ = ("_id", "_link", "_sent")

    def __init__(self, link: Link, cid: int) -> None:
        self._link, self._id, self._sent = link, cid, False

    async def going_async(self) -> None:
        if not self._sent:
            self._sent = True
            self._link.send(Pending(self._id))


class _RemoteSink:
    """The Sink a coordinator gets for a linked serving process (see coordlink's docstring)."""

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    def oplock_break(self, persistent_id: int, level: int) -> bool:
        return self._link.notify(_OPLOCK_BREAK, (persistent_id, level))

    def lease_break(self, client_guid: bytes, lease_key: bytes, current: int, new: int,
                    ack_required: bool, epoch: int, version: int, hint: int) -> bool:
        return self._link.notify(_LEASE_BREAK, (client_guid, lease_key, current, new, ack_required, epoch,
                                                version, hint))

    async def revoked(self, persistent_id: int) -> None:
        with contextlib.suppress(LinkLost):  # the process is gone: so is its handle
            await self._link.call(_REVOKED, (persistent_id,))

    async def end_session(self, session_id: int, user: str) -> None:
        with contextlib.suppress(LinkLost):  # the process is gone: so is its session
            await self._link.call(_END_SESSION, (session_id, user))

    async def release(self, persistent_id: int) -> bool:
        try:
            r: bool = await self._link.call(_RELEASE, (persistent_id,))
        except LinkLost:  # the process is gone: so is its client's connection
            return True
        return r

    async def file_facts(self, facts: FileFacts) -> None:
        with contextlib.suppress(LinkLost):  # the process is gone: detach follows
            await self._link.call(_FILE_FACTS, (facts,))

    async def moved(self, old: str, new: str, is_directory: bool) -> None:
        with contextlib.suppress(LinkLost):
            await self._link.call(_MOVED, (old, new, is_directory))

    def watching(self, on: bool) -> None:
        self._link.notify(_WATCHING, (on,))


_RECLAIM = SERVICE["reclaim"]
_OPLOCK_BREAK = SINK_EVENTS["oplock_break"]
_LEASE_BREAK = SINK_EVENTS["lease_break"]
_REVOKED = SINK_CALLS["revoked"]
_WATCHING = SINK_EVENTS["watching"]
_FILE_FACTS = SINK_CALLS["file_facts"]
_MOVED = SINK_CALLS["moved"]
_END_SESSION = SINK_CALLS["end_session"]
_RELEASE = SINK_CALLS["release"]
