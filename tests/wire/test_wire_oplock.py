"""[MS-SMB2] 2.2.23-2.2.25 oplock / lease breaks."""
from __future__ import annotations

import pytest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import LeaseBreakFlags, LeaseState, OplockLevel
from sofs.wire.errors import WireError
from sofs.wire.messages.oplock import (
    BreakAcknowledgment,
    LeaseBreakAcknowledgment,
    LeaseBreakNotification,
    LeaseBreakResponse,
    OplockBreakAcknowledgment,
    OplockBreakNotification,
    OplockBreakResponse,
)

HDR = bytes(HEADER_SIZE)
FID = bytes(range(16))
KEY = bytes(range(16, 32))


def test_oplock_break_golden() -> None:
    body = bytes.fromhex("1800" "01" "00" "00000000") + FID
    for cls in (OplockBreakNotification, OplockBreakAcknowledgment, OplockBreakResponse):
        msg = cls(OplockLevel.II, FID)
        assert msg.encode() == body
        assert cls.decode(HDR + body) == msg
    assert BreakAcknowledgment.decode(HDR + body) == OplockBreakAcknowledgment(1, FID)


def test_lease_break_notification_golden() -> None:
    note = LeaseBreakNotification(KEY, LeaseState.READ_CACHING | LeaseState.WRITE_CACHING,
                                  LeaseState.READ_CACHING, LeaseBreakFlags.ACK_REQUIRED, new_epoch=3)
    body = bytes.fromhex("2c00" "0300" "01000000") + KEY + bytes.fromhex(
        "05000000" "01000000" "00000000" "00000000" "00000000")
    assert note.encode() == body and len(body) == 44
    assert LeaseBreakNotification.decode(HDR + body) == note


def test_lease_break_ack_response() -> None:
    ack = LeaseBreakAcknowledgment(KEY, LeaseState.READ_CACHING)
    body = bytes.fromhex("2400" "0000" "00000000") + KEY + bytes.fromhex("01000000" "0000000000000000")
    assert ack.encode() == body
    assert BreakAcknowledgment.decode(HDR + body) == ack
    rsp = LeaseBreakResponse(KEY, LeaseState.NONE)
    assert LeaseBreakResponse.decode(HDR + rsp.encode()) == rsp


def test_break_ack_bad_size() -> None:
    with pytest.raises(WireError):
        BreakAcknowledgment.decode(HDR + b"\x19\x00" + bytes(22))
    with pytest.raises(WireError):
        BreakAcknowledgment.decode(HDR + b"\x24\x00" + bytes(10))
    with pytest.raises(WireError):
        BreakAcknowledgment.decode(b"")


def test_break_server_message_dispatch() -> None:
    from sofs.wire.messages.oplock import BreakServerMessage

    note = LeaseBreakNotification(KEY, 7, 1)
    assert BreakServerMessage.decode(HDR + note.encode()) == note
    rsp = LeaseBreakResponse(KEY, 1)
    assert BreakServerMessage.decode(HDR + rsp.encode()) == rsp
    orsp = OplockBreakResponse(0, FID)
    assert BreakServerMessage.decode(HDR + orsp.encode()) == orsp
    with pytest.raises(WireError):
        BreakServerMessage.decode(HDR + b"\x04\x00\x00\x00")
