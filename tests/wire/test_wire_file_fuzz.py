"""Fuzz the file-operation decoders: random bytes, truncations and bit flips of valid messages
raise only WireError (never IndexError, struct.error, UnicodeError...)."""
from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofs.wire import fscc
from sofs.wire.codec import make_file_id
from sofs.wire.dtyp import SecurityDescriptor
from sofs.wire.dtyp_sddl import sddl_parse
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.messages.close import CloseRequest, CloseResponse, FlushRequest, FlushResponse
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.create_contexts import (
    AppInstanceId,
    CreateContext,
    DurableHandleRequestV2,
    LeaseV2,
    MaximalAccessRequest,
    decode_request_context,
    decode_response_context,
    parse_create_contexts,
    to_context,
)
from sofs.wire.messages.io import ReadRequest, ReadResponse, WriteRequest, WriteResponse
from sofs.wire.messages.query import (
    QueryDirectoryRequest,
    QueryDirectoryResponse,
    QueryInfoRequest,
    QueryInfoResponse,
    SetInfoRequest,
    SetInfoResponse,
)

HDR = bytes(64)
FID = make_file_id(7, 9)
GUID = bytes(range(16))

CTX_CHAIN = CreateRequest(contexts=[
    to_context(LeaseV2(GUID, 1)),
    CreateContext(b"ExtA", fscc.FileFullEaInformation((fscc.EaEntry("A", b"1"),)).encode()),
    to_context(MaximalAccessRequest(3)),
]).encode()[56:]

VALID: list[tuple[Callable[[bytes], object], bytes]] = [
    (CreateRequest.decode, HDR + CreateRequest(name="dir\\f.txt", contexts=[
        to_context(MaximalAccessRequest()), to_context(LeaseV2(GUID, 7)),
        to_context(DurableHandleRequestV2(0, 2, GUID)), to_context(AppInstanceId(GUID))]).encode()),
    (CreateResponse.decode, HDR + CreateResponse(file_id=FID, contexts=[CreateContext(b"MxAc", bytes(8))]).encode()),
    (CloseRequest.decode, HDR + CloseRequest(1, FID).encode()),
    (CloseResponse.decode, HDR + CloseResponse(1, 2).encode()),
    (FlushRequest.decode, HDR + FlushRequest(FID).encode()),
    (FlushResponse.decode, HDR + FlushResponse().encode()),
    (ReadRequest.decode, HDR + ReadRequest(length=10, file_id=FID, read_channel_info=b"x" * 16).encode()),
    (ReadResponse.decode, HDR + ReadResponse(b"data").encode()),
    (WriteRequest.decode, HDR + WriteRequest(5, FID, b"payload", write_channel_info=b"c" * 16).encode()),
    (WriteResponse.decode, HDR + WriteResponse(3).encode()),
    (QueryDirectoryRequest.decode, HDR + QueryDirectoryRequest(37, 0, 0, FID, 100, "*.txt").encode()),
    (QueryDirectoryResponse.decode, HDR + QueryDirectoryResponse(b"entries").encode()),
    (QueryInfoRequest.decode, HDR + QueryInfoRequest(1, 15, 100, 0, 0, FID, b"\0" * 12).encode()),
    (QueryInfoResponse.decode, HDR + QueryInfoResponse(b"info").encode()),
    (SetInfoRequest.decode, HDR + SetInfoRequest(1, 10, 0, FID, fscc.FileRenameInformation(True, "n").encode()).encode()),
    (SetInfoResponse.decode, HDR + SetInfoResponse().encode()),
    (parse_create_contexts, CTX_CHAIN),
    (SecurityDescriptor.decode, sddl_parse("O:SYG:BAD:P(A;OICI;FA;;;SY)S:(AU;SA;FA;;;WD)").encode()),
]
for _cls, _obj in (
    (fscc.FileAllInformation, fscc.FileAllInformation(name=fscc.FileNameInformation("\\x"))),
    (fscc.FileStreamInformation, fscc.FileStreamInformation((fscc.StreamEntry("::$DATA"), fscc.StreamEntry(":a:$DATA")))),
    (fscc.FileFullEaInformation, fscc.FileFullEaInformation((fscc.EaEntry("A", b"1"), fscc.EaEntry("BB", b"")))),
    (fscc.FileGetEaInformation, fscc.FileGetEaInformation(("A", "BB"))),
    (fscc.FileRenameInformation, fscc.FileRenameInformation(False, "abc")),
    (fscc.FileFsVolumeInformation, fscc.FileFsVolumeInformation(1, 2, "v")),
    (fscc.FileFsAttributeInformation, fscc.FileFsAttributeInformation()),
):
    VALID.append((_cls.decode, _obj.encode()))
for _ic in sorted(fscc.DIR_INFO_CLASSES):
    VALID.append((lambda b, ic=_ic: fscc.decode_dir_entries(ic, b),
                  fscc.encode_dir_entries(_ic, [fscc.DirEntry("a.txt", short_name="A.TXT"), fscc.DirEntry("b")],
                                          4096)[0]))
VALID.append((lambda b: [decode_request_context(c) for c in parse_create_contexts(b)], CTX_CHAIN))
VALID.append((lambda b: [decode_response_context(c) for c in parse_create_contexts(b)], CTX_CHAIN))
del _ic

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_wire_error(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        decode(data)
    except WireError:
        pass


def test_valid_samples_decode() -> None:
    for decode, data in VALID:
        decode(data)


def test_every_truncation() -> None:
    for decode, data in VALID:
        for n in range(len(data)):
            _only_wire_error(decode, data[:n])


@_SETTINGS
@given(idx=st.integers(0, len(VALID) - 1), data=st.data())
def test_mutations(idx: int, data: st.DataObject) -> None:
    decode, valid = VALID[idx]
    buf = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    _only_wire_error(decode, bytes(buf))


@_SETTINGS
@given(idx=st.integers(0, len(VALID) - 1), tail=st.binary(max_size=300))
def test_random_bodies(idx: int, tail: bytes) -> None:
    decode, valid = VALID[idx]
    # keep a plausible StructureSize so the body parser itself is exercised
    prefix = valid[:66] if valid[:64] == HDR else b""
    _only_wire_error(decode, prefix + tail)


@_SETTINGS
@given(st.integers(0, 80), st.binary(max_size=400))
def test_info_classes_random(info_class: int, data: bytes) -> None:
    t = fscc.FILE_INFO_TYPES.get(info_class) or fscc.FS_INFO_TYPES.get(info_class)
    if t is not None:
        _only_wire_error(t.decode, data)
    if info_class in fscc.DIR_INFO_CLASSES or info_class == FIC.FileBasicInformation:
        _only_wire_error(lambda b: fscc.decode_dir_entries(info_class, b), data)
    _only_wire_error(SecurityDescriptor.decode, data)
    _only_wire_error(lambda b: [decode_request_context(c) for c in parse_create_contexts(b)], data)
