"""The coordinator link protocol without sockets: frames, framing, methods, handshake, call ids."""
from __future__ import annotations

import dataclasses
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sofs.handlestate import api
from sofs.server.coordlink_codec import Codec, CodecError
from sofs.server.coordlink_proto import (
    ADMIN_EVENTS,
    CLIENT_OPEN,
    MAX_FRAME,
    PROTOCOL_VERSION,
    SERVER_OPEN,
    SERVICE,
    SINK_CALLS,
    SINK_EVENTS,
    Auth,
    Call,
    CallBook,
    Cancel,
    Challenge,
    ClientHandshake,
    Error,
    Event,
    FrameBuffer,
    Hello,
    LinkRefused,
    Pending,
    ProtocolError,
    Reason,
    Refuse,
    Result,
    ServerHandshake,
    Welcome,
    check_frame,
    decode_frame,
    encode_frame,
)

SECRET = b"s" * 32
CN, SN = bytes(32), bytes(range(32))
LOCK = api.LockRequest(5, (api.LockRange(0, 1, True),), False, True)
FRAMES = [
    Hello(PROTOCOL_VERSION, CN, "n2", "Volume1"), Challenge(SN, b"p" * 32), Auth(b"a" * 32), Welcome(3),
    Refuse(Reason.AUTH, "authentication failed"), Call(1, "close", (5, False)), Call(2, "lock", (LOCK, True)),
    Result(1, (False, None)), Result(2, None), Error(2, api.HandleStateError(0xC0000054)),
    Error(3, api.NotCoordinator("moved")), Pending(2), Cancel(2), Event("watching", (True,)),
]
"""(A Result's value is in wire form: the link encodes it by its call's method.)"""


def test_golden_frames() -> None:
    c = Codec()
    # length 12, array [1 (Call), 1 (id), "close", [5, false]]
    assert encode_frame(c, Call(1, "close", (5, False))).hex(" ") == "00 00 00 0c 94 01 01 a5 63 6c 6f 73 65 92 05 c2"
    # [1, 2, "lock", [[5, [[0, 1, true]], false, true, 0, 0, nil], true]]: a message as the array of its fields
    assert encode_frame(c, Call(2, "lock", (LOCK, True))).hex(" ") == (
        "00 00 00 16 94 01 02 a4 6c 6f 63 6b 92 97 05 91 93 00 01 c3 c2 c3 00 00 c0 c3")
    assert encode_frame(c, Pending(7)).hex(" ") == "00 00 00 03 92 04 07"
    assert encode_frame(c, Welcome(1)).hex(" ") == "00 00 00 03 92 13 01"
    # [3 (Error), 2, [100, status, ""]]
    assert encode_frame(c, Error(2, api.HandleStateError(0xC0000054))).hex(" ") == (
        "00 00 00 0b 93 03 02 93 64 ce c0 00 00 54 a0")


def test_hello_keeps_its_layout() -> None:
    """Every version's Hello is [0x10, version, nonce, name, volume]: a peer of another version
    reads it and refuses with Reason.VERSION instead of failing on the bytes."""
    assert encode_frame(Codec(), Hello(1, b"n", "a", "v")).hex(" ") == "00 00 00 0a 95 10 01 c4 01 6e a1 61 a1 76"


def typed(frame: object) -> object:
    """A decoded frame with a Call's or Event's arguments decoded as its receiver does."""
    if isinstance(frame, Call):
        return check_frame(frame, SERVER_OPEN)
    if isinstance(frame, Event):
        return check_frame(frame, CLIENT_OPEN)
    return frame


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_frames_round_trip(frame: object) -> None:
    c = Codec()
    data = encode_frame(c, frame)  # type: ignore[arg-type]
    bodies = FrameBuffer().feed(data)
    assert len(bodies) == 1
    back = decode_frame(c, bodies[0])
    if isinstance(frame, Error):
        assert isinstance(back, Error) and type(back.error) is type(frame.error) and str(back.error) == str(frame.error)
    else:
        assert typed(back) == frame


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_framing_survives_any_split(cuts: list[int]) -> None:
    c = Codec()
    stream = b"".join(encode_frame(c, f) for f in FRAMES if not isinstance(f, Error))
    buf = FrameBuffer()
    bodies: list[bytes] = []
    pos = 0
    for cut in sorted(min(x, len(stream)) for x in cuts) + [len(stream)]:
        bodies += buf.feed(stream[pos:cut])
        pos = cut
    assert [typed(decode_frame(c, b)) for b in bodies] == [f for f in FRAMES if not isinstance(f, Error)]


def test_oversized_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        FrameBuffer().feed((MAX_FRAME + 1).to_bytes(4, "big"))


@pytest.mark.parametrize("body", [
    "c0",  # nil, not an array
    "91 7f",  # unknown kind
    "93 01 01 a5",  # truncated
    "93 02 01",  # Result without its value field
    "94 01 c3 a5 63 6c 6f 73 65 91 05",  # Call id true
    "93 03 01 01",  # Error carrying an int, not an exception
    "93 03 01 92 70 a1 78",  # Error with an unknown tag
    "92 13 a1 31",  # Welcome endpoint "1"
])
def test_bad_frames_are_protocol_errors(body: str) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(Codec(), bytes.fromhex(body))


# ---- method tables ----

def test_every_handle_service_method_travels() -> None:
    names = {n for n, f in inspect.getmembers(api.HandleService, inspect.isfunction) if not n.startswith("_")}
    assert set(SERVICE) == names | {"reclaim"}
    assert SERVICE["reclaim"].params == ("opens",)  # the endpoint is the link's
    assert {n for n, m in SERVICE.items() if m.hook is not None} == {
        "admit", "set_delete_on_close", "set_delete_pending", "check_rename", "lock", "watch"}
    # every Sink method travels
    assert set(SINK_EVENTS) | set(SINK_CALLS) == {
        n for n, f in inspect.getmembers(api.Sink, inspect.isfunction) if not n.startswith("_")}
    assert ADMIN_EVENTS["undeliverable"].params == ("notice",)


def wire(v: object) -> object:
    """``v`` with every message as the tuple of its fields (any arguments, not only well-typed ones)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return tuple(wire(getattr(v, f.name)) for f in dataclasses.fields(v))
    return tuple(wire(x) for x in v) if isinstance(v, tuple) else v


@pytest.mark.parametrize(("method", "args", "ok"), [
    ("close", (5, False), True),
    ("close", (5, True), True),
    ("close", (5,), False),
    ("close", ("5", False), False),
    ("close", (5, 6), False),
    ("lock", (api.LockRequest(1, (), False, False), True), True),
    ("lock", (api.LockRequest(1, (), False, False), None), True),
    ("lock", (api.LockRequest(1, (), False, False), 1), False),  # a hook travels as true or nil
    ("deleted", (1, None, None), True),
    ("deleted", (1, b"s", None), False),
    ("report", ((api.Change("a", 1, 2),),), True),
    ("report", ((api.Change("a", 1, 2), 5),), False),
    ("reclaim", ((),), True),
])
def test_call_arguments_are_checked(method: str, args: tuple[object, ...], ok: bool) -> None:
    frame = Call(1, method, wire(args))
    if ok:
        assert check_frame(frame, SERVER_OPEN) == Call(1, method, args)
    else:
        with pytest.raises(ProtocolError, match=method):
            check_frame(frame, SERVER_OPEN)


@pytest.mark.parametrize(("frame", "accepts"), [
    (Pending(1), SERVER_OPEN),  # only the coordinator side sends Pending
    (Call(1, "file_facts", (api.FileFacts(1, "", (), False),)), SERVER_OPEN),
    (Call(1, "admit", (None, None)), CLIENT_OPEN),
    (Event("oplock_break", (1, 1)), SERVER_OPEN),
    (Event("undeliverable", (api.OplockBreakNotice(1, 1),)), CLIENT_OPEN),
    (Event("lease_break", (b"g", b"k", 7, 1, True, 2, 2)), CLIENT_OPEN),  # one argument short
    (Hello(1, CN, "n", "v"), SERVER_OPEN),
    (Call(1, "__init__", ()), SERVER_OPEN),
])
def test_frames_out_of_place_are_refused(frame: object, accepts: dict[type, object]) -> None:
    with pytest.raises(ProtocolError):
        check_frame(frame, accepts)  # type: ignore[arg-type]


def test_a_result_of_the_wrong_type_is_refused() -> None:
    close = SERVICE["close"]
    assert close.returns.dec(close.returns.enc(api.CloseResult(True, None))) == api.CloseResult(True, None)
    with pytest.raises(CodecError, match="CloseResult: int fields"):
        close.returns.dec(5)


# ---- handshake ----

def test_handshake_with_the_same_secret() -> None:
    client, server = ClientHandshake(SECRET, CN, "n2", "Volume1"), ServerHandshake(SECRET, SN)
    challenge = server.on_hello(client.hello)
    assert isinstance(challenge, Challenge) and challenge.nonce == SN
    assert server.on_auth(client.on_challenge(challenge))
    assert server.hello == client.hello


def test_client_refuses_a_server_without_the_secret() -> None:
    client, server = ClientHandshake(SECRET, CN, "n2", "Volume1"), ServerHandshake(b"x" * 32, SN)
    challenge = server.on_hello(client.hello)
    assert isinstance(challenge, Challenge)
    with pytest.raises(LinkRefused) as e:
        client.on_challenge(challenge)
    assert e.value.reason == Reason.AUTH


def test_server_refuses_a_client_without_the_secret() -> None:
    client, server = ClientHandshake(b"x" * 32, CN, "n2", "Volume1"), ServerHandshake(SECRET, SN)
    challenge = server.on_hello(client.hello)
    assert isinstance(challenge, Challenge)
    # a client that skips checking the server's proof still cannot produce its own
    forged = Auth(ClientHandshake(b"x" * 32, CN, "n2", "Volume1").on_challenge(
        ServerHandshake(b"x" * 32, SN).on_hello(client.hello)).proof)  # type: ignore[arg-type]
    assert not server.on_auth(forged)


def test_proofs_are_bound_to_role_nonces_and_names() -> None:
    client, server = ClientHandshake(SECRET, CN, "n2", "Volume1"), ServerHandshake(SECRET, SN)
    challenge = server.on_hello(client.hello)
    assert isinstance(challenge, Challenge)
    assert not server.on_auth(Auth(challenge.proof))  # the server's own proof reflected back
    other = ServerHandshake(SECRET, bytes(reversed(SN)))
    other.on_hello(client.hello)
    assert not other.on_auth(client.on_challenge(challenge))  # replayed on another connection
    renamed = ServerHandshake(SECRET, SN)
    renamed.on_hello(Hello(PROTOCOL_VERSION, CN, "n2", "Volume2"))
    assert not renamed.on_auth(client.on_challenge(challenge))  # the volume is part of the proof


def test_server_refuses_other_versions_and_bad_nonces() -> None:
    server = ServerHandshake(SECRET, SN)
    r = server.on_hello(Hello(PROTOCOL_VERSION + 1, CN, "n2", "V"))
    assert isinstance(r, Refuse) and r.reason == Reason.VERSION
    r = server.on_hello(Hello(PROTOCOL_VERSION, b"short", "n2", "V"))
    assert isinstance(r, Refuse) and r.reason == Reason.PROTOCOL


# ---- call ids ----

def test_call_book() -> None:
    book: CallBook[str] = CallBook()
    close = SERVICE["close"]
    a, b = book.start(close, "a"), book.start(close, "b")
    assert (a, b) == (1, 2)
    assert book.peek(a) == (close, "a")
    assert book.settle(a) == (close, "a")
    assert book.settle(a) is None  # a late duplicate answer is ignored
    assert book.abandon(b) == "b"
    assert book.settle(b) is None  # the answer to a cancelled call
    with pytest.raises(ProtocolError, match="never made"):
        book.settle(3)
    with pytest.raises(ProtocolError):
        book.peek(0)
    c = book.start(close, "c")
    assert book.outstanding() == ["c"] and book.settle(c) is None


def test_call_book_serving() -> None:
    book: CallBook[str] = CallBook()
    book.serve(5)
    with pytest.raises(ProtocolError, match="already"):
        book.serve(5)
    assert book.served(5)
    assert not book.served(5)  # cancelled (or finished) already
    book.serve(5)  # an id may be reused once done
    with pytest.raises(ProtocolError):
        book.serve(0)
