"""The coordinator link protocol, sans I/O: frames, handshake, call bookkeeping (no sockets, no clock).

A link is one TCP connection from a serving process (the *client*) to the node process that
coordinates one volume (the *server*, a :class:`~sofs.server.coordlink.LinkServer`). It carries
the :class:`~sofs.handlestate.api.HandleService` calls of that process for that volume, and the
:class:`~sofs.handlestate.api.Sink` events back.

Framing: every frame is a 4-byte big-endian length followed by that many bytes (at most
:data:`MAX_FRAME`): a msgpack array ``[kind, field...]``. A Call's or Event's ``args`` are the
array of its method's arguments, each in the wire form of its declared type
(:mod:`~sofs.server.coordlink_codec`: a message is the array of its fields, no type tags); a
Result's ``value`` is in the form of the method's return type (its receiver knows the method from
the call id); an Error's ``exception`` is ``[tag, fields...]``::

    kind  frame       fields                              sent by
    0x10  Hello       version, nonce(32), name, volume    client, first
    0x11  Challenge   nonce(32), proof(32)                server, answer to Hello
    0x12  Auth        proof(32)                           client, answer to Challenge
    0x13  Welcome     endpoint                            server: the link is open
    0x14  Refuse      reason, message                     server, then it closes the link
    1     Call        id, method, args                    both (client: HandleService; server: Sink.file_facts, moved)
    2     Result      id, value                           both: the call returned value
    3     Error       id, exception                       both: the call raised
    4     Pending     id                                  server: the call's hook.going_async() was called
    5     Cancel      id                                  both: the caller's task was cancelled
    6     Event       method, args                        both, no answer (server: Sink events; client: undeliverable)

Versions: Hello carries :data:`PROTOCOL_VERSION` and keeps the same layout in every version; a server
refuses a Hello of another version with Refuse(VERSION) naming both, which the client raises as
:class:`LinkRefused` (a worker or node of another release fails at connect, not on the first call).

Handshake (HMAC-SHA256 with the cluster's link secret, RFC 2104 through :mod:`hmac`): the client sends
Hello with a random nonce; the server answers with its own nonce and a proof
``HMAC(secret, transcript("server"))``; the client checks it (so it never talks to a process
without the secret) and answers ``HMAC(secret, transcript("client"))``; the server checks that, then
attaches the client to the volume's coordinator and sends Welcome with the endpoint number, or
Refuse (:class:`Reason`). A Hello naming :data:`CHANNEL_VOLUME` asks for a channel link instead (a
client connection carried to this node, :mod:`sofs.server.channel_relay`): after Welcome(0) the
link carries a hand-over and then that connection's bytes, no frames. The transcript is the msgpack array ``["sofs-link", role, version,
client nonce, server nonce, name, volume]``: both nonces make a proof good for one connection only,
the role keeps one side's proof from serving as the other's. The link is authenticated at connect,
not encrypted: run it on a trusted cluster network.

Calls: ids are chosen by the caller, from 1 up, per direction. ``args`` are the method's positional
arguments after ``self``; an :class:`~sofs.handlestate.api.AsyncHook` argument travels as ``true``
(the callee may send Pending) or ``nil`` (no hook). ``reclaim`` is CoordinatorAdmin.reclaim without
its endpoint (the link's). A Result or Error for an id the caller has cancelled is ignored; an id it
never issued is a protocol error. Any protocol error (bad framing, a value the codec refuses, a
frame or method not allowed in the state) ends the link.
"""
from __future__ import annotations

import dataclasses
import enum
import hmac
import inspect
import struct
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgpack  # type: ignore[import-untyped]

from sofs.handlestate import api
from sofs.server.coordlink_codec import (
    Codec,
    CodecError,
    Form,
    decode_error,
    encode_error,
    form_of,
    record,
)

PROTOCOL_VERSION = 2
"""Wire version of the link (Hello.version; the server refuses another with Reason.VERSION).
1: values as msgpack ext types tagged by message type. 2: values by their declared type, untagged
(:mod:`~sofs.server.coordlink_codec`)."""
CHANNEL_VOLUME = "\\channel"  # the Hello volume of a channel link (a volume name has no backslash)
MAX_FRAME = 16 << 20
NONCE_LEN = 32
T = TypeVar("T")
FRAME_LENGTH = struct.Struct(">I")
"""The length prefix of a frame."""


class ProtocolError(Exception):
    """The peer broke the protocol: the link is dropped."""


class Reason(enum.IntEnum):
    """Why a server refuses or ends a link (Refuse.reason)."""

    AUTH = 1  # wrong secret
    NOT_COORDINATOR = 2  # this process does not coordinate the volume (any more)
    VERSION = 3  # unsupported protocol version
    PROTOCOL = 4  # malformed handshake


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    nonce: bytes
    name: str
    volume: str


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class Auth:
    proof: bytes


@dataclass(frozen=True, slots=True)
class Welcome:
    endpoint: int


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: int
    message: str


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    method: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Result:
    id: int
    value: Any


@dataclass(frozen=True, slots=True)
class Error:
    id: int
    error: Exception


@dataclass(frozen=True, slots=True)
class Pending:
    id: int


@dataclass(frozen=True, slots=True)
class Cancel:
    id: int


@dataclass(frozen=True, slots=True)
class Event:
    method: str
    args: tuple[Any, ...]


Frame = Hello | Challenge | Auth | Welcome | Refuse | Call | Result | Error | Pending | Cancel | Event
FRAMES: dict[int, type] = {0x10: Hello, 0x11: Challenge, 0x12: Auth, 0x13: Welcome, 0x14: Refuse,
                           1: Call, 2: Result, 3: Error, 4: Pending, 5: Cancel, 6: Event}
KIND = {cls: kind for kind, cls in FRAMES.items()}
_FIELD_TYPES: dict[type, tuple[Any, ...]] = {
    Hello: (int, bytes, str, str), Challenge: (bytes, bytes), Auth: (bytes,), Welcome: (int,),
    Refuse: (int, str), Call: (int, str, tuple), Result: (int, None), Error: (int, tuple),
    Pending: (int,), Cancel: (int,), Event: (str, tuple),
}  # None: any value


def encode_frame(codec: Codec, frame: Frame) -> bytes:
    """Length prefix + msgpack array ``[kind, fields...]``. A Call's or Event's arguments are
    encoded by its method's parameter types (:data:`METHODS`); a Result's value must be in wire form
    already (the link encodes it by the method's return type: ``Method.enc_result``). Raises
    CodecError for a value with no wire form (the frame is not sent)."""
    kind = KIND[type(frame)]
    if isinstance(frame, Call | Event):
        try:
            args = _method(frame.method).enc_args(frame.args)
        except CodecError:
            raise
        except Exception as e:  # not the method's arguments (count, a message's attributes)
            raise CodecError(f"{frame.method}: cannot encode {frame.args!r:.60}: {type(e).__name__}: {e}") from e
        parts: tuple[Any, ...] = (kind, frame.id, frame.method, args) if isinstance(frame, Call) \
            else (kind, frame.method, args)
    elif isinstance(frame, Error):
        parts = (kind, frame.id, encode_error(frame.error))
    else:
        parts = (kind, *(getattr(frame, n) for n in frame.__slots__))
    return framed(codec.pack(parts))


def framed(body: bytes) -> bytes:
    """The length prefix and ``body``; CodecError if it is longer than :data:`MAX_FRAME`."""
    if len(body) > MAX_FRAME:
        raise CodecError(f"a frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return FRAME_LENGTH.pack(len(body)) + body


def _method(name: str) -> Method:
    m = METHODS.get(name)
    if m is None:
        raise CodecError(f"no method {name!r}")
    return m


def decode_frame(codec: Codec, body: bytes) -> Frame:
    """A frame from its body (without the length prefix); ProtocolError if it is not one. A Call's
    or Event's arguments and a Result's value stay in wire form: :func:`check_frame` decodes the
    arguments by the method, the link a Result by the method of its call."""
    try:
        t = codec.unpack(body)
    except CodecError as e:
        raise ProtocolError(str(e)) from e
    return frame_of(t)


def frame_of(t: Any) -> Frame:
    """The frame of an unpacked body (see :func:`decode_frame`)."""
    if type(t) is not tuple or not t or type(t[0]) is not int or t[0] not in FRAMES:
        raise ProtocolError(f"not a frame: {t!r:.80}")
    cls = FRAMES[t[0]]
    want = _FIELD_TYPES[cls]
    fields = t[1:]
    if len(fields) != len(want) or not all(w is None or type(v) is w for w, v in zip(want, fields)):
        raise ProtocolError(f"bad {cls.__name__} frame: {fields!r:.80}")
    if cls is Error:
        try:
            return Error(fields[0], decode_error(fields[1]))
        except CodecError as e:
            raise ProtocolError(f"bad Error frame: {e}") from None
    frame: Frame = cls(*fields)
    return frame


class FrameBuffer:
    """Splits a byte stream into frame bodies."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if not buf:  # the usual case, whole frames in one read: sliced from ``data``, no copy kept
            out, pos = self._split(data)
            if pos < len(data):
                buf += data[pos:]
            return out
        buf += data
        out, pos = self._split(buf)
        if pos:
            del buf[:pos]
        return out

    def _split(self, data: bytes | bytearray) -> tuple[list[bytes], int]:
        """The whole frames' bodies in ``data`` and where the rest begins."""
        out = []
        pos = 0
        end = len(data)
        while end - pos >= 4:
            (n,) = FRAME_LENGTH.unpack_from(data, pos)
            if n > self._max:
                raise ProtocolError(f"frame of {n} bytes exceeds {self._max}")
            if end - pos - 4 < n:
                break
            out.append(bytes(data[pos + 4:pos + 4 + n]))
            pos += 4 + n
        return out, pos


# ---- methods ----

HOOK = Form("AsyncHook | None", lambda x: x, lambda x: f"({x} is None or {x} is True)", lambda x: x, plain=True)
"""An AsyncHook argument travels as true (the callee may send Pending) or nil."""


@dataclass(frozen=True, slots=True, eq=False)
class Method:
    """A call or event that may travel: its parameters' and result's wire forms, and their
    compiled encoders and decoders (looked up once, not per call)."""

    name: str
    params: tuple[str, ...]
    args: Form
    """The arguments (after ``self`` and the link-supplied ones), as one record."""
    returns: Form
    hook: int | None = None  # index of the AsyncHook argument
    callers: tuple[int, ...] = ()
    """Indexes of the arguments that carry a Caller (a request with a ``caller`` field, or a tuple
    of them): the link checks it names the link's endpoint."""
    enc_args: Callable[[tuple[Any, ...]], tuple[Any, ...]] = dataclasses.field(init=False)
    enc_result: Callable[[Any], Any] = dataclasses.field(init=False)
    dec_result: Callable[[Any], Any] = dataclasses.field(init=False)
    """The returned value from its wire form; CodecError if it is not of the return type."""
    _dec_args: Callable[[Any], tuple[Any, ...]] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        for name, fn in (("enc_args", self.args.enc), ("_dec_args", self.args.dec),
                         ("enc_result", self.returns.enc), ("dec_result", self.returns.dec)):
            object.__setattr__(self, name, fn)

    def dec_args(self, wire: Any) -> tuple[Any, ...]:
        """The arguments from their wire form; ProtocolError if they are not this method's."""
        try:
            return self._dec_args(wire)
        except CodecError as e:
            raise ProtocolError(f"{self.name}: {e}") from None


def methods_of(proto: type, names: tuple[str, ...], *, skip: tuple[str, ...] = ()) -> dict[str, Method]:
    """The :class:`Method` table of ``names`` in protocol class ``proto``, from its type hints
    (``skip``: leading parameters the link supplies itself, e.g. ``endpoint``)."""
    out = {}
    for name in names:
        fn = getattr(proto, name)
        hints = typing.get_type_hints(fn)
        params = [p for p in list(inspect.signature(fn).parameters)[1:] if p not in skip]
        hook = [i for i, p in enumerate(params) if api.AsyncHook in typing.get_args(hints[p])]
        forms = tuple((p, HOOK if i in hook else form_of(hints[p])) for i, p in enumerate(params))
        callers = tuple(i for i, p in enumerate(params) if _carries_caller(hints[p]))
        out[name] = Method(name, tuple(params), record(f"{name}()", forms, None, attrs=False),
                           form_of(hints["return"]), hook[0] if hook else None, callers)
    return out


def _carries_caller(tp: Any) -> bool:
    """A message with a ``caller`` field, or a tuple of such messages."""
    if typing.get_origin(tp) is tuple:
        return any(_carries_caller(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return dataclasses.is_dataclass(tp) and "caller" in {f.name for f in dataclasses.fields(tp)}


SERVICE: dict[str, Method] = {
    **methods_of(api.HandleService, tuple(n for n in vars(api.HandleService)
                                          if not n.startswith("_") and callable(getattr(api.HandleService, n)))),
    **methods_of(api.CoordinatorAdmin, ("reclaim",), skip=("endpoint",)),
}
"""What a client may Call: every HandleService method, and reclaim."""
SINK_EVENTS = methods_of(api.Sink, ("oplock_break", "lease_break", "watching"))
"""What a server may send as Event."""
SINK_CALLS = methods_of(api.Sink, ("file_facts", "moved", "revoked", "end_session", "release"))
"""What a server may Call (the client answers when the Sink applied it)."""
ADMIN_EVENTS = methods_of(api.CoordinatorAdmin, ("undeliverable",), skip=("endpoint",))
"""What a client may send as Event."""
METHODS: dict[str, Method] = {**SINK_EVENTS, **SINK_CALLS, **ADMIN_EVENTS, **SERVICE}
"""Every method by name (``end_session`` is a HandleService call and a Sink call of the same
parameters; encoding needs only the parameters)."""


# ---- handshake ----

def proof(secret: bytes, role: str, hello: Hello, server_nonce: bytes) -> bytes:
    """HMAC-SHA256 over the transcript of the handshake, for ``role`` "server" or "client"."""
    transcript = msgpack.packb(("sofs-link", role, hello.version, hello.nonce, server_nonce, hello.name,
                                hello.volume))
    return hmac.digest(secret, transcript, "sha256")


class LinkRefused(Exception):
    """The link could not be opened: ``reason`` (:class:`Reason`) and the server's message."""

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(f"{Reason(reason).name if reason in Reason._value2member_map_ else reason}: {message}")
        self.reason = reason


class ServerHandshake:
    """The server's half of the handshake. ``nonce``: NONCE_LEN random bytes (injected)."""

    def __init__(self, secret: bytes, nonce: bytes) -> None:
        self._secret = secret
        self._nonce = nonce
        self.hello: Hello | None = None

    def on_hello(self, hello: Hello) -> Challenge | Refuse:
        if hello.version != PROTOCOL_VERSION:
            return Refuse(Reason.VERSION, f"link protocol {hello.version} not supported (this node: "
                                          f"{PROTOCOL_VERSION})")
        if len(hello.nonce) != NONCE_LEN:
            return Refuse(Reason.PROTOCOL, "bad nonce")
        self.hello = hello
        return Challenge(self._nonce, proof(self._secret, "server", hello, self._nonce))

    def on_auth(self, auth: Auth) -> bool:
        """Whether the client proved it holds the secret."""
        assert self.hello is not None
        want = proof(self._secret, "client", self.hello, self._nonce)
        return hmac.compare_digest(want, auth.proof)


class ClientHandshake:
    """The client's half. ``nonce``: NONCE_LEN random bytes (injected)."""

    def __init__(self, secret: bytes, nonce: bytes, name: str, volume: str) -> None:
        self._secret = secret
        self.hello = Hello(PROTOCOL_VERSION, nonce, name, volume)

    def on_challenge(self, ch: Challenge) -> Auth:
        """The answer to the server's challenge; LinkRefused when the server does not know the secret."""
        if not hmac.compare_digest(proof(self._secret, "server", self.hello, ch.nonce), ch.proof):
            raise LinkRefused(Reason.AUTH, "the server could not prove it holds the cluster link secret")
        return Auth(proof(self._secret, "client", self.hello, ch.nonce))


# ---- calls ----

class CallBook(Generic[T]):
    """The calls one side of a link has made (id -> the caller's slot) and is serving (ids).

    Ids of own calls grow from 1; an answer for an id already settled (cancelled by the caller) is
    late and ignored; an answer for an id never issued, or a second Call with an id being served,
    is a :class:`ProtocolError`."""

    def __init__(self) -> None:
        self._next = 1
        self._out: dict[int, tuple[Method, T]] = {}
        self._serving: set[int] = set()

    def start(self, method: Method, slot: T) -> int:
        cid = self._next
        self._next += 1
        self._out[cid] = (method, slot)
        return cid

    def _known(self, cid: int) -> None:
        if not 0 < cid < self._next:
            raise ProtocolError(f"answer for call {cid}, which was never made")

    def peek(self, cid: int) -> tuple[Method, T] | None:
        self._known(cid)
        return self._out.get(cid)

    def settle(self, cid: int) -> tuple[Method, T] | None:
        """The answer arrived: the call's method and slot, or None when it was cancelled before."""
        got = self._out.pop(cid, None)
        if got is None:
            self._known(cid)
        return got

    def abandon(self, cid: int) -> T | None:
        """The caller gave up (cancelled): its slot, None if already settled."""
        got = self._out.pop(cid, None)
        return None if got is None else got[1]

    def outstanding(self) -> list[T]:
        """Every unanswered call's slot, forgetting them (the link is gone)."""
        slots = [s for _, s in self._out.values()]
        self._out.clear()
        return slots

    def serve(self, cid: int) -> None:
        if cid in self._serving or cid < 1:
            raise ProtocolError(f"call id {cid} already in progress")
        self._serving.add(cid)

    def served(self, cid: int) -> bool:
        """The served call ended; False if it was not being served (cancelled meanwhile)."""
        if cid in self._serving:
            self._serving.discard(cid)
            return True
        return False


def check_frame(frame: Frame, accepts: dict[type, dict[str, Method] | None]) -> Frame:
    """``frame`` if it is allowed (``accepts``: frame type -> allowed methods or None), a Call's or
    Event's arguments decoded by its method; else ProtocolError."""
    kind = type(frame)
    if kind not in accepts:
        raise ProtocolError(f"unexpected {kind.__name__} frame")
    table = accepts[kind]
    if table is None:
        return frame
    assert isinstance(frame, Call | Event)
    m = table.get(frame.method)
    if m is None:
        raise ProtocolError(f"unknown {kind.__name__.lower()} {frame.method!r}")
    if isinstance(frame, Call):
        return Call(frame.id, frame.method, m.dec_args(frame.args))
    return Event(frame.method, m.dec_args(frame.args))


SERVER_OPEN: dict[type, dict[str, Method] | None] = {
    Call: SERVICE, Event: ADMIN_EVENTS, Result: None, Error: None, Cancel: None}
CLIENT_OPEN: dict[type, dict[str, Method] | None] = {
    Call: SINK_CALLS, Event: SINK_EVENTS, Result: None, Error: None, Pending: None, Cancel: None,
    Refuse: None}
