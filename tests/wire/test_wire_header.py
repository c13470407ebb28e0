"""[MS-SMB2] 2.2.1 header codec: golden bytes, round trip, errors."""
from __future__ import annotations

import pytest

from sofs.wire.constants import Command, HeaderFlags
from sofs.wire.errors import WireError
from sofs.wire.header import HEADER_SIZE, SMB2_MAGIC, Header
from sofs.wire.status import NtStatus

# ECHO request, sync, MessageId 7, TreeId 0x11, SessionId 0x1000000000001, CreditRequest 31.
GOLDEN_SYNC = bytes.fromhex(
    "fe534d42" "4000" "0100" "00000000" "0d00" "1f00" "00000000" "00000000" "0700000000000000"
    "feff0000" "11000000" "0100000000000100" + "00" * 16
)
# Async interim response: STATUS_PENDING, AsyncId 0x0102030405060708, signed.
GOLDEN_ASYNC = bytes.fromhex(
    "fe534d42" "4000" "0100" "03010000" "0500" "0100" "0b000000" "00000000" "0900000000000000"
    "0807060504030201" "2200000000000000" + "aa" * 16
)


def test_sync_header_golden() -> None:
    h = Header.decode(GOLDEN_SYNC)
    assert h == Header(command=Command.ECHO, credit_charge=1, credits=31, message_id=7,
                       process_id=0xFFFE, tree_id=0x11, session_id=0x1000000000001)
    assert h.encode() == GOLDEN_SYNC
    assert not h.is_async and not h.is_response


def test_async_header_golden() -> None:
    h = Header.decode(GOLDEN_ASYNC)
    assert h.is_async and h.is_response and h.is_signed
    assert h.async_id == 0x0102030405060708 and h.process_id == 0 and h.tree_id == 0
    assert h.status == NtStatus.PENDING and h.command == Command.CREATE
    assert h.signature == b"\xaa" * 16
    assert h.encode() == GOLDEN_ASYNC


def test_encode_into_offset() -> None:
    buf = bytearray(4 + HEADER_SIZE)
    Header.decode(GOLDEN_SYNC).encode_into(buf, 4)
    assert bytes(buf[4:]) == GOLDEN_SYNC
    assert Header.decode(buf, 4) == Header.decode(GOLDEN_SYNC)


def test_channel_sequence_and_flags() -> None:
    h = Header(status=0x0000ABCD, flags=HeaderFlags.REPLAY_OPERATION | HeaderFlags.RELATED_OPERATIONS
               | (3 << 4))
    assert h.channel_sequence == 0xABCD and h.is_replay and h.is_related and h.priority == 3
    h.channel_sequence = 0x1234
    assert h.status == 0x1234


@pytest.mark.parametrize("data", [
    b"", GOLDEN_SYNC[:63], b"\xffSMB" + GOLDEN_SYNC[4:], GOLDEN_SYNC[:4] + b"\x41\x00" + GOLDEN_SYNC[6:],
])
def test_bad_headers(data: bytes) -> None:
    with pytest.raises(WireError) as info:
        Header.decode(data)
    assert info.value.status == NtStatus.INVALID_PARAMETER


def test_magic() -> None:
    assert SMB2_MAGIC == b"\xfeSMB"
