"""[MS-SMB2] QUERY_DIRECTORY, QUERY_INFO, SET_INFO: golden bytes, round trips, smbprotocol oracle."""
from __future__ import annotations

import pytest
from smbprotocol.open import SMB2QueryDirectoryRequest as SpQueryDir
from smbprotocol.open import SMB2QueryInfoRequest as SpQueryInfo
from smbprotocol.open import SMB2SetInfoRequest as SpSetInfo

from sofs.wire.codec import make_file_id
from sofs.wire.constants import Command
from sofs.wire.errors import WireError
from sofs.wire.fscc import FileBasicInformation, FileGetEaInformation
from sofs.wire.messages.file_registry import FILE_REQUEST_TYPES, FILE_RESPONSE_TYPES
from sofs.wire.messages.query import (
    QueryDirectoryRequest,
    QueryDirectoryResponse,
    QueryInfoRequest,
    QueryInfoResponse,
    SetInfoRequest,
    SetInfoResponse,
)

HDR = bytes(64)
FID = make_file_id(1, 2)
FID_HEX = "0100000000000000" "0200000000000000"


def test_query_directory_request_golden_and_smbprotocol() -> None:
    req = QueryDirectoryRequest(37, 1, 0, FID, 65536, "*")
    body = req.encode()
    assert body.hex() == "2100" "25" "01" "00000000" + FID_HEX + "6000" "0200" "00000100" "2a00"
    assert QueryDirectoryRequest.decode(HDR + body) == req
    sp = SpQueryDir()
    sp["file_information_class"] = 37
    sp["flags"] = 1
    sp["file_id"] = FID
    sp["output_buffer_length"] = 65536
    sp["buffer"] = "*".encode("utf-16-le")
    assert sp.pack() == body


def test_output_buffer_responses() -> None:
    for cls_ in (QueryDirectoryResponse, QueryInfoResponse):
        rsp = cls_(b"\x01\x02\x03")
        body = rsp.encode()
        assert body.hex() == "0900" "4800" "03000000" "010203"
        assert cls_.decode(HDR + body) == rsp
        assert len(cls_(b"").encode()) == 9
        assert bytes(cls_.decode(HDR + cls_(b"").encode()).output_buffer) == b""


def test_query_info_request_golden_and_smbprotocol() -> None:
    eas = FileGetEaInformation(("EAONE",)).encode()
    req = QueryInfoRequest(1, 15, 4096, 0, 0, FID, eas)
    body = req.encode()
    assert body[:40].hex() == ("2900" "01" "0f" "00100000" "6800" "0000" + f"{len(eas):02x}000000" + "00000000"
                               "00000000" + FID_HEX)
    assert QueryInfoRequest.decode(HDR + body) == req
    sp = SpQueryInfo()
    sp["info_type"] = 3
    sp["file_info_class"] = 0
    sp["output_buffer_length"] = 1024
    sp["additional_information"] = 7
    sp["file_id"] = FID
    ours = QueryInfoRequest.decode(HDR + sp.pack())
    assert (ours.info_type, ours.output_buffer_length, ours.additional_information, ours.file_id) == (3, 1024, 7, FID)


def test_set_info_request_golden_and_smbprotocol() -> None:
    info = FileBasicInformation(0, 0, 5, 0, 0x20).encode()
    req = SetInfoRequest(1, 4, 0, FID, info)
    body = req.encode()
    assert body[:32].hex() == "2100" "01" "04" "28000000" "6000" "0000" "00000000" + FID_HEX
    assert SetInfoRequest.decode(HDR + body) == req
    sp = SpSetInfo()
    sp["info_type"] = 1
    sp["file_info_class"] = 4
    sp["file_id"] = FID
    sp["buffer"] = info
    assert sp.pack() == body
    assert SetInfoResponse().encode().hex() == "0200"
    assert SetInfoResponse.decode(HDR + b"\x02\x00") == SetInfoResponse()


def test_set_info_bad_buffer() -> None:
    body = bytearray(SetInfoRequest(1, 4, 0, FID, bytes(40)).encode())
    body[4:8] = (41).to_bytes(4, "little")
    with pytest.raises(WireError):
        SetInfoRequest.decode(HDR + bytes(body))


def test_registry() -> None:
    assert FILE_REQUEST_TYPES[Command.CREATE].__name__ == "CreateRequest"
    assert set(FILE_REQUEST_TYPES) == set(FILE_RESPONSE_TYPES)
    assert FILE_REQUEST_TYPES[Command.SET_INFO] is SetInfoRequest
