"""Property tests: decoders raise only WireError on any input; decode(encode(x)) == x.

Covers every decoder in REQUEST_TYPES / RESPONSE_TYPES (the file-operation ones included when
present), the header, the FSCTL payloads and the SMB1 negotiate sniffing.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.errors import WireError
from sofs.wire.fsctl import (
    DuplicateExtentsData,
    FileLevelTrim,
    NetworkInterfaceInfo,
    PipeWaitRequest,
    SrvCopychunk,
    SrvCopychunkCopy,
    SrvSnapshotArray,
    ValidateNegotiateInfoRequest,
    ValidateNegotiateInfoResponse,
    decode_allocated_ranges,
    decode_network_interfaces,
)
from sofs.wire.header import Header
from sofs.wire.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    BreakAcknowledgment,
    ChangeNotifyRequest,
    ChangeNotifyResponse,
    CompressionCapabilities,
    EchoRequest,
    EncryptionCapabilities,
    ErrorResponse,
    FileNotifyInformation,
    IoctlRequest,
    IoctlResponse,
    LeaseBreakAcknowledgment,
    LeaseBreakNotification,
    LockElement,
    LockRequest,
    NegotiateRequest,
    NegotiateResponse,
    NetnameNegotiateContextId,
    OplockBreakAcknowledgment,
    PreauthIntegrityCapabilities,
    RawNegotiateContext,
    SessionSetupRequest,
    SessionSetupResponse,
    SigningCapabilities,
    TransportCapabilities,
    TreeConnectContext,
    TreeConnectRequest,
    TreeConnectResponse,
    decode_file_notify_information,
    encode_file_notify_information,
)
from sofs.wire.smb1 import smb1_negotiate_dialects

HDR = bytes(HEADER_SIZE)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)
b16 = st.binary(min_size=16, max_size=16)
blob = st.binary(max_size=64)
# Names: no surrogates (encode/decode are symmetric for them too, but keep the strategy plain).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
dialects = st.lists(u16, min_size=1, max_size=6).map(tuple)

negotiate_context = st.one_of(
    st.builds(PreauthIntegrityCapabilities, st.lists(u16, max_size=3).map(tuple), blob),
    st.builds(EncryptionCapabilities, st.lists(u16, max_size=4).map(tuple)),
    st.builds(CompressionCapabilities, st.lists(u16, max_size=4).map(tuple), u32),
    st.builds(NetnameNegotiateContextId, text.map(lambda s: s.replace("\0", ""))),
    st.builds(TransportCapabilities, u32),
    st.builds(SigningCapabilities, st.lists(u16, max_size=3).map(tuple)),
    st.builds(RawNegotiateContext, st.integers(0x100, 0xFFFF), blob),
)


@st.composite
def negotiate_request(draw: st.DrawFn) -> NegotiateRequest:
    ds = draw(dialects)
    ctxs: tuple[Any, ...] = ()
    if 0x0311 in ds:
        ctxs = tuple(draw(st.lists(negotiate_context, max_size=4)))
    return NegotiateRequest(ds, draw(u16), draw(u32), draw(b16), ctxs)


@st.composite
def negotiate_response(draw: st.DrawFn) -> NegotiateResponse:
    dialect = draw(st.sampled_from([0x0202, 0x0210, 0x0300, 0x0302, 0x0311]))
    ctxs = tuple(draw(st.lists(negotiate_context, max_size=3))) if dialect == 0x0311 else ()
    return NegotiateResponse(draw(u16), dialect, draw(b16), draw(u32), draw(u32), draw(u32), draw(u32),
                             draw(u64), draw(u64), draw(blob), ctxs)


@st.composite
def tree_connect_request(draw: st.DrawFn) -> TreeConnectRequest:
    flags = draw(st.sampled_from([0, 1, 2, 4, 5]))
    ctxs: tuple[TreeConnectContext, ...] = ()
    if flags & 4:
        ctxs = tuple(draw(st.lists(st.builds(TreeConnectContext, u16, blob), max_size=3)))
    return TreeConnectRequest(flags, draw(text), ctxs)


messages = st.one_of(
    negotiate_request(), negotiate_response(), tree_connect_request(),
    st.builds(SessionSetupRequest, u8, u8, u32, u32, u64, blob),
    st.builds(SessionSetupResponse, u16, blob),
    st.builds(TreeConnectResponse, u8, u32, u32, u32),
    st.builds(ErrorResponse, u8, blob),
    st.builds(IoctlRequest, u32, b16, blob, blob, u32, u32, u32),
    st.builds(IoctlResponse, u32, b16, blob, blob, u32),
    st.builds(LockRequest, b16, st.lists(st.builds(LockElement, u64, u64, u32), min_size=1,
                                         max_size=4).map(tuple), u32),
    st.builds(ChangeNotifyRequest, u16, u32, b16, u32),
    st.builds(ChangeNotifyResponse, blob),
    st.builds(OplockBreakAcknowledgment, u8, b16),
    st.builds(LeaseBreakAcknowledgment, b16, u32, u32, u64),
    st.builds(LeaseBreakNotification, b16, u32, u32, u32, u16, u32, u32, u32),
    st.builds(EchoRequest),
)


@FAST
@given(messages)
def test_roundtrip(msg: Any) -> None:
    assert type(msg).decode(HDR + msg.encode()) == msg


@FAST
@given(st.builds(Header, u16, u16, u32, u32, u32, u64, u16, u32, u32, st.just(0), u64, b16))
def test_header_roundtrip(h: Header) -> None:
    h.flags &= ~2  # sync form; async tested below
    assert Header.decode(h.encode()) == h
    h.flags |= 2
    h.async_id, h.process_id, h.tree_id = h.process_id | (h.tree_id << 32), 0, 0
    assert Header.decode(h.encode()) == h


DECODERS = sorted({*REQUEST_TYPES.values(), *RESPONSE_TYPES.values(), ErrorResponse}, key=lambda c: c.__name__)


def _only_wire_errors(decode: Any, data: bytes) -> None:
    try:
        decode(data)
    except WireError:
        pass


@FAST
@given(st.sampled_from(DECODERS), st.binary(max_size=300))
def test_random_bodies(cls: Any, body: bytes) -> None:
    _only_wire_errors(cls.decode, HDR + body)


@FAST
@given(st.sampled_from(DECODERS), st.binary(min_size=2, max_size=300))
def test_random_bodies_with_right_structure_size(cls: Any, body: bytes) -> None:
    layout = getattr(cls, "LAYOUT", None)
    size = layout.structure_size if layout is not None else 24
    _only_wire_errors(cls.decode, HDR + size.to_bytes(2, "little") + body[2:])


@FAST
@given(messages, st.data())
def test_truncated_and_mutated(msg: Any, data: st.DataObject) -> None:
    wire = bytearray(HDR + msg.encode())
    cut = data.draw(st.integers(0, len(wire)))
    _only_wire_errors(type(msg).decode, bytes(wire[:cut]))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(HEADER_SIZE, len(wire) - 1))
        wire[pos] = data.draw(u8)
    _only_wire_errors(type(msg).decode, bytes(wire))
    _only_wire_errors(type(msg).decode, bytes(wire) + data.draw(st.binary(max_size=40)))


PAYLOAD_DECODERS: list[Any] = [
    ValidateNegotiateInfoRequest.decode, ValidateNegotiateInfoResponse.decode, NetworkInterfaceInfo.decode,
    SrvCopychunkCopy.decode, SrvSnapshotArray.decode, DuplicateExtentsData.decode, FileLevelTrim.decode,
    PipeWaitRequest.decode, decode_network_interfaces, decode_allocated_ranges,
    decode_file_notify_information, smb1_negotiate_dialects, Header.decode, BreakAcknowledgment.decode,
]


@FAST
@given(st.sampled_from(PAYLOAD_DECODERS), st.binary(max_size=400))
def test_payload_decoders_random(decode: Any, data: bytes) -> None:
    _only_wire_errors(decode, data)


@FAST
@given(st.lists(st.builds(FileNotifyInformation, st.integers(1, 11), text), min_size=1, max_size=5))
def test_notify_roundtrip(entries: list[FileNotifyInformation]) -> None:
    assert decode_file_notify_information(encode_file_notify_information(entries)) == entries


@FAST
@given(b16 | st.just(bytes(24)), st.lists(st.builds(SrvCopychunk, u64, u64, u32), max_size=4))
def test_copychunk_roundtrip(key: bytes, chunks: list[SrvCopychunk]) -> None:
    copy = SrvCopychunkCopy(key.ljust(24, b"\0"), tuple(chunks))
    assert SrvCopychunkCopy.decode(copy.encode()) == copy
