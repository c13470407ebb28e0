"""The CREATE fast paths (request name decode, field-wise response encode) give the generic results."""
from __future__ import annotations

import pytest

from sofs.wire.codec import make_file_id
from sofs.wire.errors import WireError
from sofs.wire.messages.create import CreateRequest, CreateResponse, encode_create_response
from sofs.wire.messages.create_contexts import MaximalAccessResponse, to_context

HDR = bytes(64)
FID = make_file_id(7, 9)


@pytest.mark.parametrize("name", ["", "f", "dir\\file.txt", "é\U0001f600", "\ud800lone", "x" * 300])
def test_request_decode_names(name: str) -> None:
    req = CreateRequest(desired_access=0x12019F, share_access=7, create_disposition=3, name=name,
                        requested_oplock_level=8, smb_create_flags=5, file_attributes=0x80, create_options=0x40)
    got = CreateRequest.decode(HDR + req.encode())
    assert got == req and type(got) is CreateRequest
    with pytest.raises(AttributeError):
        got.name = "other"  # type: ignore[misc]  # still frozen


def test_request_decode_bad_names() -> None:
    body = bytearray(CreateRequest(name="ab").encode())
    body[46:48] = (3).to_bytes(2, "little")  # odd NameLength
    with pytest.raises(WireError):
        CreateRequest.decode(HDR + bytes(body))
    body[46:48] = (200).to_bytes(2, "little")  # past the end of the message
    with pytest.raises(WireError):
        CreateRequest.decode(HDR + bytes(body))


@pytest.mark.parametrize("contexts", [[], [to_context(MaximalAccessResponse(0, 0x1F01FF))]])
def test_response_fields_encode_like_the_dataclass(contexts: list) -> None:  # type: ignore[type-arg]
    rsp = CreateResponse(oplock_level=1, flags=0, create_action=2, creation_time=3, last_access_time=4,
                         last_write_time=5, change_time=6, allocation_size=7, end_of_file=8,
                         file_attributes=0x20, file_id=FID, contexts=contexts)
    fast = encode_create_response(1, 2, 3, 4, 5, 6, 7, 8, 0x20, FID, contexts)
    assert fast == rsp.encode()
    assert CreateResponse.decode(HDR + fast) == rsp


def test_frozen_builder_makes_the_same_frozen_object() -> None:
    from dataclasses import FrozenInstanceError, dataclass

    from sofs.wire.codec import frozen_builder

    @dataclass(frozen=True, slots=True)
    class P:
        a: int
        b: str

    build = frozen_builder(P)
    p = build(1, "x")
    assert type(p) is P and p == P(1, "x") and hash(p) == hash(P(1, "x")) and repr(p) == repr(P(1, "x"))
    with pytest.raises(FrozenInstanceError):
        p.a = 2  # type: ignore[misc]
    assert (p.a, p.b) == (1, "x")


def test_frozen_builder_refuses_what_it_cannot_build() -> None:
    from dataclasses import dataclass, field

    from sofs.wire.codec import frozen_builder

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Mutable, Derived, NoSlots):
        with pytest.raises(TypeError):
            frozen_builder(cls)
