"""[MS-SMB2] 2.2.5-2.2.8 SESSION_SETUP / LOGOFF."""
from __future__ import annotations

import pytest
from smbprotocol.session import SMB2SessionSetupRequest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import SessionFlags
from sofs.wire.errors import WireError
from sofs.wire.messages.session import (
    LogoffRequest,
    LogoffResponse,
    SessionSetupRequest,
    SessionSetupResponse,
)

HDR = bytes(HEADER_SIZE)


def test_session_setup_request_golden() -> None:
    req = SessionSetupRequest(flags=1, security_mode=1, capabilities=1, channel=0,
                              previous_session_id=0x42, security_buffer=b"\x60\x48")
    body = bytes.fromhex("1900" "01" "01" "01000000" "00000000" "5800" "0200" "4200000000000000" "6048")
    assert req.encode() == body
    assert SessionSetupRequest.decode(HDR + body) == req


def test_session_setup_request_from_smbprotocol() -> None:
    msg = SMB2SessionSetupRequest()
    msg["security_mode"] = 2
    msg["buffer"] = b"NTLMSSP\0token"
    got = SessionSetupRequest.decode(HDR + msg.pack())
    assert got.security_mode == 2 and bytes(got.security_buffer) == b"NTLMSSP\0token"


def test_session_setup_response() -> None:
    rsp = SessionSetupResponse(SessionFlags.ENCRYPT_DATA, b"\xa1\x07")
    body = rsp.encode()
    assert body == bytes.fromhex("0900" "0400" "4800" "0200" "a107")
    assert SessionSetupResponse.decode(HDR + body) == rsp
    empty = SessionSetupResponse().encode()
    assert empty == bytes.fromhex("0900" "0000" "4800" "0000" "00")
    assert SessionSetupResponse.decode(HDR + empty) == SessionSetupResponse()


def test_session_setup_bad_buffer() -> None:
    body = bytes.fromhex("1900" "00" "01" "00000000" "00000000" "5800" "1000" "0000000000000000" "60")
    with pytest.raises(WireError):
        SessionSetupRequest.decode(HDR + body)


def test_logoff() -> None:
    assert LogoffRequest().encode() == b"\x04\x00\x00\x00"
    assert LogoffResponse.decode(HDR + b"\x04\x00\x00\x00") == LogoffResponse()
    with pytest.raises(WireError):
        LogoffRequest.decode(HDR + b"\x05\x00\x00\x00")
