"""Session binding across cluster nodes: a binding connection is carried to the node holding the session.

Sessions stay with the node that made them (as on a Windows Scale-Out File Server: a client binds
its channels to the interfaces of the node it is connected to, [MS-SMB2] 3.2.5.3 / 3.3.5.15.11).
A binding SESSION_SETUP ([MS-SMB2] 3.3.5.5.2) that reaches another node — a client behind a
load balancer or DNS round robin, smbtorture through ``tests/cluster/rr_proxy.py`` — would get
USER_SESSION_DELETED there. Instead:

1. **Which node.** A cluster node's session ids carry its node id (bits 40-47,
   :func:`sofs.server.placement.session_id_base`), as a worker process's carry its index: the node
   that receives the binding knows the holder without asking anyone (no broadcast, no store
   round trip, nothing to keep in step). ``holder_of`` answers None for this node's own ids, for
   id 0 (not a cluster node's) and for an id no member of the cluster has: the binding then gets
   USER_SESSION_DELETED here, as for any unknown session.
2. **Hand-over.** The connection (its only request in flight the binding, nothing else read: see
   ``SmbConnection._movable``) stops reading; the node opens a link to the holder's coordinator link
   port (``NodeRecord.link_port``, the same HMAC handshake with the cluster's link secret as
   :mod:`sofs.server.coordlink_proto`, volume :data:`~sofs.server.coordlink_proto.CHANNEL_VOLUME`),
   and sends one :class:`~sofs.server.channel_proto.Handover` (negotiated state, credits, pre-auth
   hash, the request).
3. **Splice.** From then on this node copies bytes both ways between the client's socket and the
   link (:class:`_Pipe`, with flow control), and the holder serves the link as a connection of its
   own (:meth:`NodeChannels.accept`: an ``SmbConnection`` restored from the hand-over, which
   processes the binding request again — signing keys, the channel, USER_SESSION_DELETED for a
   session that has gone meanwhile are all the holder's). Data stays direct for every other
   connection: only a binding connection to another node's session is relayed.
4. **Teardown.** Either side closing closes the other (the client's connection is then lost as on
   any failure, and the client reconnects); a holder that dies closes its links at once, so the
   relayed connections close with it. A holder that cannot be reached (or refuses) at step 2: the
   binding is answered here (USER_SESSION_DELETED).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from sofs.server.channel_proto import (
    Handover,
    HandoverError,
    decode_handover,
    encode_handover,
    split_handover,
)
from sofs.server.coordlink_codec import Codec
from sofs.server.coordlink_proto import (
    CHANNEL_VOLUME,
    NONCE_LEN,
    Challenge,
    ClientHandshake,
    FrameBuffer,
    LinkRefused,
    ProtocolError,
    Refuse,
    Welcome,
    decode_frame,
    encode_frame,
)
from sofs.server.placement import session_node

log = logging.getLogger("sofs.channels")
DIAL_TIMEOUT_S = 5.0  # connect + handshake with the holding node
INTAKE_TIMEOUT_S = 10.0  # the hand-over message after the handshake


class Carried(Protocol):
    """The connection being carried (``SmbConnection``)."""

    transport: Any
    closed: bool

    def disown(self) -> None:
        """The transport goes on with another protocol."""


class NodeChannels:
    """One node's relay of binding connections (see the module docstring).

    ``address_of(node_id)``: the (address, link port) of a member of the cluster, None when there is
    none; ``adopt(state, request)``: a new connection protocol that goes on from a hand-over."""

    def __init__(self, name: str, node_id: int, secret: bytes, address_of: Callable[[int], tuple[str, int] | None],
                 adopt: Callable[[dict[str, Any], bytes], asyncio.BufferedProtocol]) -> None:
        self.name = name
        self.node_id = node_id
        self.secret = secret
        self.address_of = address_of
        self.adopt = adopt
        self.carried = 0  # connections carried to another node
        self.accepted = 0  # connections served here for another node
        self.relayed: dict[tuple[asyncio.Transport, asyncio.Transport], int] = {}  # (client, link) -> holder
        self.serving = True  # False while the node does not serve SMB (no quorum): links are refused

    # ---- the node that received the binding ----

    def holder_of(self, session_id: int) -> int | None:
        node = session_node(session_id)
        if node in (0, self.node_id) or self.address_of(node) is None:
            return None
        return node

    async def carry(self, node: int, handover: Handover, conn: Carried) -> bool:
        """Carry ``conn`` to ``node``: True once it is relayed there (or the client left meanwhile),
        False when the node cannot be reached or refused (answer the binding here)."""
        where = self.address_of(node)
        if where is None or not where[1]:
            return False
        loop = asyncio.get_running_loop()
        hs = ClientHandshake(self.secret, secrets.token_bytes(NONCE_LEN), self.name, CHANNEL_VOLUME)
        link: asyncio.Transport | None = None
        try:
            link, dialer = await asyncio.wait_for(loop.create_connection(lambda: _Dialer(hs), *where), DIAL_TIMEOUT_S)
            await asyncio.wait_for(asyncio.shield(dialer.welcomed), DIAL_TIMEOUT_S)
            data = encode_handover(handover)
        except asyncio.CancelledError:  # the client's connection was lost meanwhile
            if link is not None:
                link.abort()
            raise
        except (OSError, TimeoutError, LinkRefused, ProtocolError, HandoverError) as e:
            log.warning("%s: binding connection from %s not carried to node %d (%s:%d): %s", self.name,
                        handover.client_address, node, where[0], where[1], e)
            if link is not None:
                link.abort()
            return False
        if link.is_closing():
            return False
        client = conn.transport
        if conn.closed or client is None or client.is_closing():
            link.close()
            return True
        conn.disown()
        link.write(data)
        pair = (client, link)
        self.relayed[pair] = node
        splice(client, link, lambda: self.relayed.pop(pair, None))
        self.carried += 1
        log.info("%s: connection from %s carried to node %d (binding to a session there)", self.name,
                 handover.client_address, node)
        return True

    def close(self, down: Callable[[int], bool] = lambda node: True) -> None:
        """Close the relayed connections whose holder is ``down`` (default: all of them, the node
        stops serving: fenced, or stopping); their clients reconnect as after a failure. For a holder
        the cluster declared down while it is silent but alive (SIGSTOP, partition): its links do not
        close by themselves."""
        for (client, link), node in list(self.relayed.items()):
            if down(node):
                client.abort()
                link.abort()
                self.relayed.pop((client, link), None)

    # ---- the node holding the session ----

    def accept(self, transport: asyncio.Transport, peer: str) -> None:
        """A link from node ``peer`` authenticated for a channel (the LinkServer's hook): its next
        bytes are a hand-over, then the client's connection. (While this node does not serve SMB,
        ``serving`` False, the LinkServer refuses channel links: the other node answers the binding.)"""
        intake = _Intake(self, peer)
        transport.set_protocol(intake)
        intake.connection_made(transport)

    def serve(self, transport: asyncio.Transport, handover: Handover, rest: bytes) -> None:
        conn = self.adopt(handover.restored_state(), handover.request)
        transport.set_protocol(conn)
        conn.connection_made(transport)
        self.accepted += 1
        if rest:
            _feed(conn, rest)


def _feed(conn: asyncio.BufferedProtocol, data: bytes) -> None:
    """``data`` into a buffered protocol, as if it had arrived from the socket."""
    view = memoryview(data)
    while view:
        buf = conn.get_buffer(len(view))
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        view = view[n:]
        conn.buffer_updated(n)


class _Dialer(asyncio.Protocol):
    """The handshake of a channel link (coordlink_proto's, volume CHANNEL_VOLUME), up to Welcome."""

    def __init__(self, hs: ClientHandshake) -> None:
        self.hs = hs
        self.codec = Codec()
        self.buffer = FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.welcomed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(encode_frame(self.codec, self.hs.hello))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            for body in self.buffer.feed(data):
                frame = decode_frame(self.codec, body)
                if isinstance(frame, Challenge):
                    self.transport.write(encode_frame(self.codec, self.hs.on_challenge(frame)))
                elif isinstance(frame, Welcome):
                    # the holder sends nothing more before the hand-over: the splice starts clean
                    self.transport.pause_reading()
                    if not self.welcomed.done():
                        self.welcomed.set_result(None)
                    return
                elif isinstance(frame, Refuse):
                    raise LinkRefused(frame.reason, frame.message)
                else:
                    raise ProtocolError(f"unexpected {type(frame).__name__} in a channel handshake")
        except (LinkRefused, ProtocolError) as e:
            if not self.welcomed.done():
                self.welcomed.set_exception(e)
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"the holding node closed the link: {exc or 'closed'}"))


class _Intake(asyncio.Protocol):
    """The holder's side of a channel link after the handshake: read the hand-over, then serve."""

    def __init__(self, channels: NodeChannels, peer: str) -> None:
        self.channels = channels
        self.peer = peer
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.timer = asyncio.get_running_loop().call_later(INTAKE_TIMEOUT_S, self._give_up, "no hand-over in time")

    def _give_up(self, why: str) -> None:
        log.warning("%s: channel link from %s dropped: %s", self.channels.name, self.peer, why)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.data += data
        try:
            got = split_handover(bytes(self.data))
            if got is None:
                return
            handover = decode_handover(got[0])
        except HandoverError as e:
            self._give_up(f"bad hand-over: {e}")
            return
        if self.timer is not None:
            self.timer.cancel()
        log.info("%s: serving a connection from %s carried by node %s", self.channels.name,
                 handover.client_address, self.peer)
        self.channels.serve(self.transport, handover, got[1])

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()


class _Pipe(asyncio.Protocol):
    """One direction of a splice: what arrives on this transport is written to ``other``."""

    def __init__(self, other: asyncio.Transport, closed: Callable[[], None]) -> None:
        self.other = other
        self.closed = closed

    def data_received(self, data: bytes) -> None:
        self.other.write(data)

    def eof_received(self) -> bool | None:
        return None  # close this side; connection_lost closes the other

    def connection_lost(self, exc: Exception | None) -> None:
        self.other.close()  # after what is already written to it
        self.closed()

    def pause_writing(self) -> None:  # this transport cannot take more: stop reading the other
        with contextlib.suppress(Exception):
            self.other.pause_reading()

    def resume_writing(self) -> None:
        with contextlib.suppress(Exception):
            self.other.resume_reading()


def splice(a: asyncio.Transport, b: asyncio.Transport, closed: Callable[[], None] = lambda: None) -> None:
    """Copy bytes both ways between ``a`` and ``b`` until one closes (then both close; ``closed`` is
    called as each side's loss is seen)."""
    for t, other in ((a, b), (b, a)):
        t.set_protocol(_Pipe(other, closed))
    for t in (a, b):
        if not t.is_closing():
            t.resume_reading()
