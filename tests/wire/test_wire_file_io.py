"""[MS-SMB2] CLOSE, FLUSH, READ, WRITE: golden bytes, round trips, zero-copy, smbprotocol oracle."""
from __future__ import annotations

import pytest
from smbprotocol.open import SMB2ReadRequest as SpRead
from smbprotocol.open import SMB2WriteRequest as SpWrite

from sofs.wire.codec import make_file_id
from sofs.wire.errors import WireError
from sofs.wire.messages.close import CloseRequest, CloseResponse, FlushRequest, FlushResponse
from sofs.wire.messages.io import READ_DATA_OFFSET, ReadRequest, ReadResponse, WriteRequest, WriteResponse

HDR = bytes(64)
FID = make_file_id(1, 2)
FID_HEX = "0100000000000000" "0200000000000000"


def test_close_golden() -> None:
    assert CloseRequest(1, FID).encode().hex() == "1800" "0100" "00000000" + FID_HEX
    assert CloseRequest.decode(HDR + CloseRequest(1, FID).encode()) == CloseRequest(1, FID)
    rsp = CloseResponse(1, 1, 2, 3, 4, 4096, 5, 0x20)
    body = rsp.encode()
    assert len(body) == 60 and body[:8].hex() == "3c00" "0100" "00000000"
    assert CloseResponse.decode(HDR + body) == rsp


def test_flush_golden() -> None:
    assert FlushRequest(FID).encode().hex() == "1800" "0000" "00000000" + FID_HEX
    assert FlushRequest.decode(HDR + FlushRequest(FID).encode()) == FlushRequest(FID)
    assert FlushResponse().encode().hex() == "04000000"


def test_read_request_golden_and_smbprotocol() -> None:
    req = ReadRequest(padding=0x50, flags=0, length=65536, offset=4096, file_id=FID, minimum_count=1)
    body = req.encode()
    assert body.hex() == ("3100" "50" "00" "00000100" "0010000000000000" + FID_HEX + "01000000" "00000000"
                          "00000000" "0000" "0000" "00")
    assert ReadRequest.decode(HDR + body) == req
    sp = SpRead()
    sp["padding"] = 0x50
    sp["length"] = 65536
    sp["offset"] = 4096
    sp["file_id"] = FID
    sp["minimum_count"] = 1
    assert sp.pack() == body


def test_read_response_fixed_part_and_data() -> None:
    fixed = ReadResponse.encode_fixed(5, 0)
    assert fixed.hex() == "1100" "50" "00" "05000000" "00000000" "00000000"
    assert READ_DATA_OFFSET == 0x50
    rsp = ReadResponse.decode(HDR + fixed + b"hello")
    assert bytes(rsp.data) == b"hello"
    assert ReadResponse(b"hello").encode() == fixed + b"hello"
    assert len(ReadResponse.encode_fixed(0)) == 17
    assert len(ReadResponse.encode_fixed(4, data_offset=0x58)) == 24
    with pytest.raises(ValueError):
        ReadResponse.encode_fixed(4, data_offset=0x40)


def test_write_request_zero_copy_and_smbprotocol() -> None:
    payload = bytes(range(256)) * 4
    sp = SpWrite()
    sp["offset"] = 12345
    sp["file_id"] = FID
    sp["buffer"] = payload
    sp["flags"] = 1
    msg = memoryview(HDR + sp.pack())
    req = WriteRequest.decode(msg)
    assert isinstance(req.data, memoryview) and req.data.obj is msg.obj  # a slice, not a copy
    assert bytes(req.data) == payload and req.offset == 12345 and req.file_id == FID and req.flags == 1
    ours = WriteRequest(12345, FID, payload, flags=1).encode()
    assert ours == sp.pack()
    assert ours[:8].hex() == "3100" "7000" "00040000"


def test_write_request_channel_info_round_trip() -> None:
    req = WriteRequest(1, FID, b"abc", channel=1, write_channel_info=b"\x01" * 16)
    back = WriteRequest.decode(HDR + req.encode())
    assert back == req
    empty = WriteRequest(0, FID)
    assert WriteRequest.decode(HDR + empty.encode()) == empty


def test_write_request_bad_offset() -> None:
    body = bytearray(WriteRequest(0, FID, b"abcd").encode())
    body[2:4] = (0x40).to_bytes(2, "little")  # DataOffset inside the header
    with pytest.raises(WireError):
        WriteRequest.decode(HDR + bytes(body))
    body = bytearray(WriteRequest(0, FID, b"abcd").encode())
    body[4:8] = (5).to_bytes(4, "little")  # Length past the end
    with pytest.raises(WireError):
        WriteRequest.decode(HDR + bytes(body))


def test_write_response_golden() -> None:
    body = WriteResponse(4096, 0).encode()
    assert body.hex() == "1100" "0000" "00100000" "00000000" "0000" "0000" "00"
    assert WriteResponse.decode(HDR + body) == WriteResponse(4096, 0)


def test_write_request_data_must_lie_in_the_message() -> None:
    """WriteRequest.decode's inline bounds check is take_buffer's: data before the end of the fixed
    part or past the message is INVALID_PARAMETER; a zero length takes any offset."""
    good = bytearray(HDR + WriteRequest(7, FID, b"abcd").encode())
    assert bytes(WriteRequest.decode(good).data) == b"abcd"
    for off, length in ((64 + 47, 4), (64 + 48, 5), (0xFFFF, 1)):
        bad = bytearray(good)
        bad[64 + 2:64 + 8] = off.to_bytes(2, "little") + length.to_bytes(4, "little")
        with pytest.raises(WireError) as e:
            WriteRequest.decode(bad)
        assert e.value.status == 0xC000000D
    empty = bytearray(good)
    empty[64 + 2:64 + 8] = (12).to_bytes(2, "little") + bytes(4)
    assert bytes(WriteRequest.decode(empty).data) == b""
    with pytest.raises(WireError):
        WriteRequest.decode(good[:64 + 47])  # shorter than the fixed part
    wrong = bytearray(good)
    wrong[64] = 48  # StructureSize
    with pytest.raises(WireError):
        WriteRequest.decode(wrong)
