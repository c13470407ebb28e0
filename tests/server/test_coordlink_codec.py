"""The coordinator link's value codec: golden bytes, round trips of every message type, bad input."""
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
    BY_TAG,
    ERROR_TYPES,
    VALUE_TYPES,
    Codec,
    CodecError,
    CoordinatorFault,
)

CALLER = api.Caller(3, bytes(range(16)), 0x1122334455667788, 5, "S-1-5-21-1-2-3-1001", 0x311, True)


def test_every_api_message_is_registered_once() -> None:
    messages = {c for _, c in inspect.getmembers(api, inspect.isclass)
                if dataclasses.is_dataclass(c) and c.__module__ == api.__name__}
    assert messages | {DurableRequest, DurableGrant} == set(VALUE_TYPES.values())
    assert len(set(VALUE_TYPES.values())) == len(VALUE_TYPES)
    assert not set(VALUE_TYPES) & set(ERROR_TYPES)
    assert all(0 < t < 128 for t in BY_TAG)  # msgpack application ext types


@pytest.mark.parametrize(("value", "golden"), [
    # fixext 4, tag 13, array [0, 10, true]
    (api.LockRange(0, 10, True), "d6 0d 93 00 0a c3"),
    # ext 8 (len 0x36), tag 1, array of 7: 3, bin8(16), uint64, 5, str(19), 0x311, true
    (CALLER, ("c7 36 01 97 03 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f cf 11 22 33 44 55 66 77 88"
              " 05 b3 53 2d 31 2d 35 2d 32 31 2d 31 2d 32 2d 33 2d 31 30 30 31 cd 03 11 c3")),
    # ext 8 (len 5), tag 8, [true, "s", nil]
    (api.CloseResult(True, "s"), "c7 05 08 93 c3 a1 73 c0"),
    # nested: WatchResult(0, b"") inside a tuple, and a plain tuple
    ((api.WatchResult(0x10C, b"\x01"), (1, None)), "92 c7 07 10 92 cd 01 0c c4 01 01 92 01 c0"),
    # an exception: fixext 8, tag 100, [status, message]
    (api.HandleStateError(0xC0000043, "x"), "d7 64 92 ce c0 00 00 43 a1 78"),
    (api.NotCoordinator("gone"), "c7 06 65 91 a4 67 6f 6e 65"),
])
def test_golden_bytes(value: object, golden: str) -> None:
    c = Codec()
    assert c.pack(value).hex(" ") == golden
    back = c.unpack(bytes.fromhex(golden))
    if isinstance(value, Exception):
        assert type(back) is type(value) and back.args == value.args
    else:
        assert back == value


# ---- round trips of every registered type, with values of the declared types ----

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


@pytest.mark.parametrize("cls", list(VALUE_TYPES.values()), ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_message(cls: type, data: st.DataObject) -> None:
    value = data.draw(message(cls))
    c = Codec()
    assert c.unpack(c.pack(value)) == value
    assert type(c.unpack(c.pack((value,)))[0]) is cls


@settings(max_examples=60, deadline=None)
@given(status=st.integers(0, 2**32 - 1), text=st.text(max_size=30))
def test_round_trip_errors(status: int, text: str) -> None:
    c = Codec()
    for e in (api.HandleStateError(status, text), api.NotCoordinator(text), CoordinatorFault(text)):
        back = c.unpack(c.pack(e))
        assert type(back) is type(e) and str(back) == str(e)
    back = c.unpack(c.pack(api.HandleStateError(status, text)))
    assert (back.status, back.message) == (status, text)


def test_bytes_stay_bytes_and_lists_become_tuples() -> None:
    c = Codec()
    assert c.unpack(c.pack(b"\x00\xff")) == b"\x00\xff"
    assert c.unpack(c.pack([1, [2, b"x"]])) == (1, (2, b"x"))


# ---- bad input ----

@pytest.mark.parametrize(("data", "complaint"), [
    ("c7 03 0d 92 00 0a", "LockRange: 2 fields, expected 3"),
    ("d6 0d 93 00 0a 01", "LockRange.exclusive: unexpected int"),
    ("d6 0d 93 c3 0a c3", "LockRange.offset: unexpected bool"),
    ("c7 03 08 93 c3 c3", "not a msgpack value"),  # truncated inside the ext
    ("d4 50 00", "unknown type tag 80"),
    ("c7 04 08 93 c3 01 c0", "CloseResult.stream: unexpected int"),
    ("93 01", "not a msgpack value"),  # truncated array
    ("01 02", "not a msgpack value"),  # trailing bytes
    ("81 01 02", "not a msgpack value"),  # a map with an int key
])
def test_bad_bytes_are_codec_errors(data: str, complaint: str) -> None:
    c = Codec()
    with pytest.raises(CodecError, match=complaint):
        c.unpack(bytes.fromhex(data))


def test_nested_field_types_are_checked() -> None:
    c = Codec()
    bad = c.pack(api.LockRequest(7, (api.FileLock(1, 0, 1, False),), False, True))  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="LockRequest.ranges"):
        c.unpack(bad)
    bad = c.pack(api.AdmitResult(1, 0, None, DurableRequest(1)))  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="AdmitResult.durable: unexpected DurableRequest"):
        c.unpack(bad)


def test_unencodable_values_are_refused_and_the_codec_stays_usable() -> None:
    c = Codec()
    good = c.pack((api.Change("a", 1, 2),))
    for bad in ((api.Change("a", 1, 2, object()),), api.Change("a", 1, 2, 2**70), {1, 2}):
        with pytest.raises(CodecError):
            c.pack(bad)
        assert c.pack((api.Change("a", 1, 2),)) == good
