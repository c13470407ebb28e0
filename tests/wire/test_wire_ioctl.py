"""[MS-SMB2] 2.2.31 / 2.2.32 IOCTL request and response."""
from __future__ import annotations

import pytest
from smbprotocol.ioctl import SMB2IOCTLRequest, SMB2ValidateNegotiateInfoRequest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import CtlCode, IoctlFlags
from sofs.wire.errors import WireError
from sofs.wire.fsctl import ValidateNegotiateInfoRequest
from sofs.wire.messages.ioctl import NO_FILE_ID, IoctlRequest, IoctlResponse

HDR = bytes(HEADER_SIZE)
FID = bytes(range(16))


def test_ioctl_request_golden() -> None:
    req = IoctlRequest(CtlCode.SRV_REQUEST_RESUME_KEY, FID, b"", b"", 0, 32, IoctlFlags.IS_FSCTL)
    body = bytes.fromhex("3900" "0000" "78001400") + FID + bytes.fromhex(
        "00000000" "00000000" "00000000" "00000000" "00000000" "20000000" "01000000" "00000000")
    assert req.encode() == body
    assert IoctlRequest.decode(HDR + body) == req


def test_ioctl_request_with_both_buffers() -> None:
    req = IoctlRequest(CtlCode.PIPE_TRANSCEIVE, FID, b"abc", b"xyz12", 0, 1024)
    body = req.encode()
    assert body[24:32] == bytes.fromhex("78000000" "03000000")          # input at 120
    assert body[36:44] == bytes.fromhex("80000000" "05000000")          # output 8-aligned at 128
    got = IoctlRequest.decode(memoryview(HDR + body))
    assert got == req and isinstance(got.input, memoryview)


def test_ioctl_request_from_smbprotocol() -> None:
    vni = SMB2ValidateNegotiateInfoRequest()
    vni["capabilities"] = 0x7F
    vni["guid"] = FID
    vni["security_mode"] = 1
    vni["dialects"] = [0x0202, 0x0210, 0x0300, 0x0302]
    msg = SMB2IOCTLRequest()
    msg["ctl_code"] = CtlCode.VALIDATE_NEGOTIATE_INFO
    msg["file_id"] = NO_FILE_ID
    msg["max_output_response"] = 24
    msg["flags"] = 1
    msg["buffer"] = vni
    got = IoctlRequest.decode(HDR + msg.pack())
    assert got.ctl_code == CtlCode.VALIDATE_NEGOTIATE_INFO and got.max_output_response == 24
    payload = ValidateNegotiateInfoRequest.decode(got.input)
    assert payload == ValidateNegotiateInfoRequest(0x7F, FID, 1, (0x0202, 0x0210, 0x0300, 0x0302))


def test_ioctl_response_golden() -> None:
    rsp = IoctlResponse(CtlCode.VALIDATE_NEGOTIATE_INFO, NO_FILE_ID, b"", b"\x01" * 24)
    body = rsp.encode()
    assert body == bytes.fromhex("3100" "0000" "04021400") + NO_FILE_ID + bytes.fromhex(
        "70000000" "00000000" "70000000" "18000000" "00000000" "00000000") + b"\x01" * 24
    assert IoctlResponse.decode(HDR + body) == rsp
    empty = IoctlResponse(CtlCode.SET_SPARSE, FID).encode()
    assert len(empty) == 49 and IoctlResponse.decode(HDR + empty) == IoctlResponse(CtlCode.SET_SPARSE, FID)


def test_ioctl_bad_offsets() -> None:
    body = bytearray(IoctlRequest(CtlCode.PIPE_PEEK, FID, b"abc").encode())
    body[28:32] = (100).to_bytes(4, "little")  # InputCount beyond the message
    with pytest.raises(WireError):
        IoctlRequest.decode(HDR + bytes(body))
    body = bytearray(IoctlRequest(CtlCode.PIPE_PEEK, FID, b"abc").encode())
    body[24:28] = (8).to_bytes(4, "little")  # InputOffset inside the header
    with pytest.raises(WireError):
        IoctlRequest.decode(HDR + bytes(body))
