"""[MS-SMB2] 2.2.26 / 2.2.27 LOCK."""
from __future__ import annotations

import pytest
from smbprotocol.open import SMB2LockElement, SMB2LockRequest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import LockFlags
from sofs.wire.errors import WireError
from sofs.wire.messages.lock import LockElement, LockRequest, LockResponse

HDR = bytes(HEADER_SIZE)
FID = bytes(range(16))


def test_lock_request_golden() -> None:
    req = LockRequest(FID, (LockElement(0, 10, LockFlags.EXCLUSIVE_LOCK | LockFlags.FAIL_IMMEDIATELY),),
                      lock_sequence=(5 << 4) | 3)
    body = bytes.fromhex("3000" "0100" "53000000") + FID + bytes.fromhex(
        "0000000000000000" "0a00000000000000" "12000000" "00000000")
    assert req.encode() == body
    got = LockRequest.decode(HDR + body)
    assert got == req and got.lock_sequence_number == 3 and got.lock_sequence_index == 5


def test_lock_request_from_smbprotocol() -> None:
    elements = []
    for off in (0, 100):
        e = SMB2LockElement()
        e["offset"] = off
        e["length"] = 5
        e["flags"] = LockFlags.UNLOCK
        elements.append(e)
    msg = SMB2LockRequest()
    msg["file_id"] = FID
    msg["locks"] = elements
    got = LockRequest.decode(HDR + msg.pack())
    assert got.locks == (LockElement(0, 5, 4), LockElement(100, 5, 4))


def test_lock_errors() -> None:
    body = LockRequest(FID, (LockElement(0, 1, 1), LockElement(1, 1, 1))).encode()
    with pytest.raises(WireError):
        LockRequest.decode(HDR + body[:-1])
    zero = bytes.fromhex("3000" "0000" "00000000") + FID + bytes(24)
    with pytest.raises(WireError):
        LockRequest.decode(HDR + zero)


def test_lock_response() -> None:
    assert LockResponse().encode() == b"\x04\x00\x00\x00"
    assert LockResponse.decode(HDR + b"\x04\x00\x00\x00") == LockResponse()
