"""The coordinator link's value codec (wire version 2): golden bytes, round trips of every message
type and every method's arguments and result, bad input."""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sofs.handlestate import api
from sofs.handlestate.durable import DurableGrant, DurableRequest
from sofs.server.coordlink_codec import (
    ERROR_TYPES,
    Codec,
    CodecError,
    CoordinatorFault,
    decode_error,
    encode_error,
    form_of,
)
from sofs.server.coordlink_proto import METHODS

CALLER = api.Caller(3, bytes(range(16)), 0x1122334455667788, 5, "S-1-5-21-1-2-3-1001", 0x311, True)
MESSAGES = sorted({c for _, c in inspect.getmembers(api, inspect.isclass)
                   if dataclasses.is_dataclass(c) and c.__module__ == api.__name__} | {DurableRequest, DurableGrant},
                  key=lambda c: c.__name__)


def wire(value: object, tp: Any) -> bytes:
    return Codec().pack(form_of(tp).enc(value))


@pytest.mark.parametrize(("value", "tp", "golden"), [
    # the array [0, 10, true]
    (api.LockRange(0, 10, True), api.LockRange, "93 00 0a c3"),
    # array of 7: 3, bin8(16), uint64, 5, str(19), 0x311, true
    (CALLER, api.Caller, ("97 03 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f cf 11 22 33 44 55 66 77 88"
                          " 05 b3 53 2d 31 2d 35 2d 32 31 2d 31 2d 32 2d 33 2d 31 30 30 31 cd 03 11 c3")),
    # [true, "s", nil]
    (api.CloseResult(True, "s"), api.CloseResult, "93 c3 a1 73 c0"),
    # an optional message, absent and present
    (None, api.FileFacts | None, "c0"),
    (api.FileFacts(7, "", (api.FileLock(1, 0, 1, False),), True, False), api.FileFacts | None,
     "95 07 a0 91 94 01 00 01 c2 c3 c2"),
    # a union of two messages: [index of the alternative, fields]
    (api.LeaseBreakNotice(b"g", b"k", 7, 1, True, 2, 2, 0), api.OplockBreakNotice | api.LeaseBreakNotice,
     "92 01 98 c4 01 67 c4 01 6b 07 01 c3 02 02 00"),
])
def test_golden_bytes(value: object, tp: Any, golden: str) -> None:
    assert wire(value, tp).hex(" ") == golden
    assert form_of(tp).dec(Codec.unpack(bytes.fromhex(golden))) == value


def test_golden_errors() -> None:
    c = Codec()
    # [tag 100, status, message]
    assert c.pack(encode_error(api.HandleStateError(0xC0000043, "x"))).hex(" ") == "93 64 ce c0 00 00 43 a1 78"
    assert c.pack(encode_error(api.NotCoordinator("gone"))).hex(" ") == "92 65 a4 67 6f 6e 65"


# ---- round trips of every message type, with values of the declared types ----

def strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of annotation ``tp`` as a message field can hold them."""
    if tp is type(None) or tp is None:
        return st.none()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy(a) for a in typing.get_args(tp)))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy(a) for a in args))
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**63), 2**64 - 1)
    if tp is str:
        return st.text(max_size=20)
    if tp is bytes:
        return st.binary(max_size=20)
    return message(tp)


def message(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, *(strategy(hints[f.name]) for f in dataclasses.fields(cls)))


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_message(cls: type, data: st.DataObject) -> None:
    value = data.draw(message(cls))
    back = form_of(cls).dec(Codec.unpack(wire(value, cls)))
    assert back == value and type(back) is cls


def _params(method: Any) -> list[Any]:
    fn = getattr(api.HandleService, method.name, None) or getattr(api.Sink, method.name, None) \
        or getattr(api.CoordinatorAdmin, method.name)
    hints = typing.get_type_hints(fn)
    names = list(inspect.signature(fn).parameters)[1:]
    return [hints[n] for n in names if n in method.params]


@pytest.mark.parametrize("name", sorted(METHODS))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_round_trip_every_method(name: str, data: st.DataObject) -> None:
    m = METHODS[name]
    args = tuple(st.sampled_from([None, True]) if i == m.hook else strategy(tp)
                 for i, tp in enumerate(_params(m)))
    value = data.draw(st.tuples(*args))
    assert m.dec_args(Codec.unpack(Codec().pack(m.enc_args(value)))) == value
    fn = getattr(api.HandleService, name, None) or getattr(api.Sink, name, None) or getattr(api.CoordinatorAdmin, name)
    result = data.draw(strategy(typing.get_type_hints(fn)["return"]))
    assert m.returns.dec(Codec.unpack(Codec().pack(m.returns.enc(result)))) == result


@settings(max_examples=60, deadline=None)
@given(status=st.integers(0, 2**32 - 1), text=st.text(max_size=30))
def test_round_trip_errors(status: int, text: str) -> None:
    c = Codec()
    for e in (api.HandleStateError(status, text), api.NotCoordinator(text), CoordinatorFault(text)):
        back = decode_error(c.unpack(c.pack(encode_error(e))))
        assert type(back) is type(e) and str(back) == str(e)
    back = decode_error(c.unpack(c.pack(encode_error(api.HandleStateError(status, text)))))
    assert isinstance(back, api.HandleStateError) and (back.status, back.message) == (status, text)
    assert set(ERROR_TYPES) == {100, 101, 102}


# ---- bad input ----

@pytest.mark.parametrize(("tp", "data", "complaint"), [
    (api.LockRange, "92 00 0a", "LockRange: 2 fields, expected 3"),
    (api.LockRange, "93 00 0a 01", "LockRange.exclusive: unexpected int"),
    (api.LockRange, "93 c3 0a c3", "LockRange.offset: unexpected bool"),
    (api.LockRange, "c0", "LockRange: NoneType fields, expected 3"),
    (api.CloseResult, "93 c3 01 c0", "CloseResult.stream: unexpected int"),
    (api.CloseResult, "d4 08 00", "CloseResult: ExtType fields"),  # a version-1 value
    (api.AdmitResult | None, "96 01 00 c0 93 01 c3 c3 c2 c0",
     "AdmitResult.durable: DurableGrant.timeout_ms: unexpected bool"),
    (api.LockRequest, "97 07 91 94 01 00 01 c2 c2 c3 00 00 c0", "LockRequest.ranges: LockRange: 4 fields"),
    (api.OplockBreakNotice | api.LeaseBreakNotice, "92 02 92 01 01", "unexpected"),
    (tuple[int, ...], "92 01 c3", "unexpected tuple"),
])
def test_bad_values_are_codec_errors(tp: Any, data: str, complaint: str) -> None:
    with pytest.raises(CodecError, match=complaint):
        form_of(tp).dec(Codec.unpack(bytes.fromhex(data)))


@pytest.mark.parametrize("data", [
    "93 01",  # truncated array
    "01 02",  # trailing bytes
    "81 01 02",  # a map with an int key
])
def test_bad_bytes_are_codec_errors(data: str) -> None:
    with pytest.raises(CodecError, match="not a msgpack value"):
        Codec.unpack(bytes.fromhex(data))


def test_unencodable_values_are_refused_and_the_codec_stays_usable() -> None:
    c = Codec()
    good = c.pack(form_of(api.Change).enc(api.Change("a", 1, 2)))
    for bad in (form_of(api.Change).enc(api.Change("a", 1, 2, object())),  # type: ignore[arg-type]
                form_of(api.Change).enc(api.Change("a", 1, 2, 2**70)), {1, 2}):
        with pytest.raises(CodecError):
            c.pack(bad)
        assert c.pack(form_of(api.Change).enc(api.Change("a", 1, 2))) == good
    with pytest.raises(CodecError, match="not a registered exception"):
        encode_error(ValueError("x"))
