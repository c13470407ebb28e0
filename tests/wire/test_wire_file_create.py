"""[MS-SMB2] 2.2.13/2.2.14 CREATE and its contexts: golden bytes, round trips, smbprotocol oracle."""
from __future__ import annotations

import uuid

import pytest
from smbprotocol import create_contexts as spc
from smbprotocol.open import SMB2CreateRequest as SpCreateRequest

from sofs.wire.codec import make_file_id
from sofs.wire.dtyp_sddl import sddl_parse
from sofs.wire.errors import WireError
from sofs.wire.fscc import EaEntry
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.create_contexts import (
    AllocationSize,
    AppInstanceId,
    AppInstanceVersion,
    CreateContext,
    CreateEaBuffer,
    CreateSdBuffer,
    DurableHandleReconnect,
    DurableHandleReconnectV2,
    DurableHandleRequest,
    DurableHandleRequestV2,
    DurableHandleResponse,
    DurableHandleResponseV2,
    LeaseV1,
    LeaseV2,
    MaximalAccessRequest,
    MaximalAccessResponse,
    QueryOnDiskIdRequest,
    QueryOnDiskIdResponse,
    TimewarpToken,
    contexts_by_name,
    decode_request_context,
    decode_response_context,
    encode_create_contexts,
    parse_create_contexts,
    to_context,
)
from sofs.wire.status import NtStatus

HDR = bytes(64)
GUID = bytes(range(16))
FID = make_file_id(0x1122, 0x3344)

REQUEST_PAYLOADS = [
    CreateEaBuffer((EaEntry("A", b"1"),)), CreateSdBuffer(sddl_parse("O:SYG:SYD:(A;;FA;;;WD)")),
    DurableHandleRequest(), DurableHandleReconnect(FID), MaximalAccessRequest(), MaximalAccessRequest(5),
    AllocationSize(4096), TimewarpToken(132223104000000000), QueryOnDiskIdRequest(),
    LeaseV1(GUID, 7, 0, 0), LeaseV2(GUID, 3, 4, 0, bytes(range(16, 32)), 9),
    DurableHandleRequestV2(60000, 2, GUID), DurableHandleReconnectV2(FID, GUID, 2),
    AppInstanceId(GUID), AppInstanceVersion(1, 2),
]
RESPONSE_PAYLOADS = [
    DurableHandleResponse(), MaximalAccessResponse(0, 0x1F01FF), QueryOnDiskIdResponse(77, 88),
    DurableHandleResponseV2(60000, 2), LeaseV2(GUID, 7, 0, 0, bytes(16), 1), LeaseV1(GUID, 1),
]


@pytest.mark.parametrize("payload", REQUEST_PAYLOADS, ids=lambda p: type(p).__name__)
def test_request_context_round_trip(payload: object) -> None:
    chain = encode_create_contexts([to_context(payload)])  # type: ignore[arg-type]
    (ctx,) = parse_create_contexts(chain)
    assert decode_request_context(ctx) == payload


@pytest.mark.parametrize("payload", RESPONSE_PAYLOADS, ids=lambda p: type(p).__name__)
def test_response_context_round_trip(payload: object) -> None:
    (ctx,) = parse_create_contexts(encode_create_contexts([to_context(payload)]))  # type: ignore[arg-type]
    assert decode_response_context(ctx) == payload


def test_context_chain_golden() -> None:
    chain = encode_create_contexts([to_context(MaximalAccessRequest()), to_context(QueryOnDiskIdRequest())])
    assert chain.hex() == (
        "18000000" "1000" "0400" "0000" "0000" "00000000" + b"MxAc".hex() + "00000000"
        "00000000" "1000" "0400" "0000" "0000" "00000000" + b"QFid".hex())
    chain = encode_create_contexts([to_context(DurableHandleResponseV2(60000, 2))])
    assert chain.hex() == ("00000000" "1000" "0400" "0000" "1800" "08000000" + b"DH2Q".hex() + "00000000"
                           "60ea0000" "02000000")


def test_app_instance_golden() -> None:
    assert AppInstanceId(GUID).encode_data().hex() == "14000000" + GUID.hex()
    assert AppInstanceVersion(1, 2).encode_data().hex() == "1800000000000000" "0100000000000000" "0200000000000000"
    assert to_context(AppInstanceId(GUID)).name.hex() == "45bca66aefa7f74a9008fa462e144d74"


def test_unknown_context_kept_raw() -> None:
    raw = CreateContext(b"ZZZZ", b"\x01\x02")
    (ctx,) = parse_create_contexts(encode_create_contexts([raw]))
    assert decode_request_context(ctx) == ctx
    assert bytes(ctx.data) == b"\x01\x02"


def test_bad_payload_sizes() -> None:
    for name, data in ((b"DHnQ", bytes(15)), (b"MxAc", bytes(4)), (b"RqLs", bytes(40)), (b"DH2Q", bytes(31)),
                       (b"DH2C", bytes(35)), (b"AlSi", b""), (APP := AppInstanceId.NAME, bytes(19))):
        with pytest.raises(WireError) as ei:
            decode_request_context(CreateContext(name, data))
        assert ei.value.status == NtStatus.INVALID_PARAMETER, name
    with pytest.raises(WireError):
        decode_request_context(CreateContext(APP, b"\x15\x00" + bytes(18)))  # StructureSize 21


def test_bad_chains() -> None:
    good = encode_create_contexts([to_context(MaximalAccessRequest()), to_context(AllocationSize(1))])
    bad = [
        good[:15],
        (3).to_bytes(4, "little") + good[4:],  # Next not 8-aligned
        (0x1000).to_bytes(4, "little") + good[4:],  # Next past the end
        good[:4] + (8).to_bytes(2, "little") + good[6:],  # NameOffset < 16
        good[:6] + (2).to_bytes(2, "little") + good[8:],  # NameLength < 4
    ]
    for b in bad:
        with pytest.raises(WireError):
            parse_create_contexts(b)
    with pytest.raises(WireError):
        contexts_by_name([CreateContext(b"MxAc"), CreateContext(b"MxAc")])


def test_create_request_golden() -> None:
    req = CreateRequest(requested_oplock_level=0xFF, impersonation_level=2, desired_access=0x12019F,
                        file_attributes=0x80, share_access=7, create_disposition=3, create_options=0x40,
                        name="a\\b.txt", contexts=[to_context(MaximalAccessRequest())])
    body = req.encode()
    assert body[:56].hex() == (
        "3900" "00" "ff" "02000000" "0000000000000000" "0000000000000000" "9f011200" "80000000" "07000000"
        "03000000" "40000000" "7800" "0e00" "88000000" "14000000")
    assert body[56:70] == "a\\b.txt".encode("utf-16-le")
    assert body[70:72] == b"\0\0"  # pad to 8 before the contexts
    assert CreateRequest.decode(HDR + body) == req


def test_create_request_empty_name_no_contexts() -> None:
    req = CreateRequest(desired_access=0x80)
    body = req.encode()
    assert len(body) == 57
    assert CreateRequest.decode(HDR + body) == req


def test_create_request_decodes_smbprotocol() -> None:
    sp = SpCreateRequest()
    sp["impersonation_level"] = 2
    sp["desired_access"] = 0x120089
    sp["file_attributes"] = 0
    sp["share_access"] = 3
    sp["create_disposition"] = 1
    sp["create_options"] = 0x20
    sp["buffer_path"] = "dir\\file".encode("utf-16-le")
    lease = spc.SMB2CreateRequestLeaseV2()
    lease["lease_key"] = GUID
    lease["lease_state"] = 7
    lease["parent_lease_key"] = bytes(16)
    lease["epoch"] = b"\x01\x00"
    dh2q = spc.SMB2CreateDurableHandleRequestV2()
    dh2q["timeout"] = 0
    dh2q["flags"] = 2
    dh2q["create_guid"] = uuid.UUID(bytes=GUID)  # smbprotocol writes UUID.bytes
    mxac = spc.SMB2CreateQueryMaximalAccessRequest()
    app = spc.SMB2CreateAppInstanceId()
    app["app_instance_id"] = GUID
    sp["buffer_contexts"] = [spc.SMB2CreateContextRequest() for _ in range(4)]
    for c, p in zip(sp["buffer_contexts"].get_value(), (lease, dh2q, mxac, app), strict=True):
        c["buffer_name"] = p.NAME
        c["buffer_data"] = p
    data = spc.SMB2CreateContextRequest.pack_multiple(sp["buffer_contexts"].get_value())
    sp["buffer_contexts"] = data
    ours = CreateRequest.decode(HDR + sp.pack())
    assert ours.name == "dir\\file" and ours.desired_access == 0x120089 and ours.create_options == 0x20
    typed = [decode_request_context(c) for c in ours.contexts]
    assert typed[0] == LeaseV2(GUID, 7, 0, 0, bytes(16), 1)
    assert typed[1] == DurableHandleRequestV2(0, 2, GUID)
    assert isinstance(typed[2], MaximalAccessRequest)
    assert typed[3] == AppInstanceId(GUID)


def test_create_response_golden_and_round_trip() -> None:
    rsp = CreateResponse(oplock_level=0, create_action=2, creation_time=1, last_access_time=2,
                         last_write_time=3, change_time=4, allocation_size=4096, end_of_file=10,
                         file_attributes=0x20, file_id=FID,
                         contexts=[to_context(MaximalAccessResponse(0, 0x1F01FF)),
                                   to_context(QueryOnDiskIdResponse(5, 6))])
    body = rsp.encode()
    assert body[:8].hex() == "5900" "00" "00" "02000000"
    assert body[64:80] == FID
    assert body[80:88].hex() == "98000000" + (len(body) - 88).to_bytes(4, "little").hex()
    assert CreateResponse.decode(HDR + body) == rsp
    empty = CreateResponse(file_id=FID)
    assert len(empty.encode()) == 89 and empty.encode()[80:88] == bytes(8)
    assert CreateResponse.decode(HDR + empty.encode()) == empty


def test_create_request_bad_offsets() -> None:
    body = bytearray(CreateRequest(name="x").encode())
    body[44:46] = (100).to_bytes(2, "little")  # NameOffset inside the fixed part
    with pytest.raises(WireError):
        CreateRequest.decode(HDR + bytes(body))
    body = bytearray(CreateRequest(name="x").encode())
    body[46:48] = (3).to_bytes(2, "little")  # odd name length
    with pytest.raises(WireError) as ei:
        CreateRequest.decode(HDR + bytes(body))
    assert ei.value.status == NtStatus.INVALID_PARAMETER
    body = bytearray(CreateRequest(name="x").encode())
    body[0] = 56
    with pytest.raises(WireError):
        CreateRequest.decode(HDR + bytes(body))
