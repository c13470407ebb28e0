"""Codec helpers, status names and WireError."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sofs.wire.codec import (
    HEADER_SIZE,
    RELATED_FILE_ID,
    Layout,
    Message,
    align8,
    decode_utf16,
    encode_utf16,
    make_file_id,
    pad8,
    split_file_id,
    take_buffer,
)
from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus, is_error, is_warning, status_name


@dataclass(frozen=True, slots=True)
class _Sample(Message):
    LAYOUT = Layout(8, (("a", "H"), ("_reserved", "H"), ("b", "H")))
    a: int
    b: int


def test_layout_message_roundtrip() -> None:
    body = _Sample(1, 2).encode()
    assert body == bytes.fromhex("0800" "0100" "0000" "0200")
    assert _Sample.decode(bytes(HEADER_SIZE) + body) == _Sample(1, 2)


def test_layout_errors() -> None:
    with pytest.raises(WireError):
        _Sample.decode(bytes(HEADER_SIZE) + bytes.fromhex("0900010000000200"))
    with pytest.raises(WireError):
        _Sample.decode(bytes(HEADER_SIZE + 7))


def test_take_buffer() -> None:
    msg = memoryview(bytes(range(100)))
    assert bytes(take_buffer(msg, 64, 4)) == bytes([64, 65, 66, 67])
    assert len(take_buffer(msg, 9999, 0)) == 0
    for off, ln in ((64, 37), (10, 4), (99, 2)):
        with pytest.raises(WireError):
            take_buffer(msg, off, ln)


def test_alignment() -> None:
    assert [pad8(n) for n in (0, 1, 7, 8, 9)] == [0, 7, 1, 0, 7]
    assert align8(13) == 16


def test_utf16() -> None:
    assert decode_utf16(encode_utf16("dir\\fïle")) == "dir\\fïle"
    with pytest.raises(WireError) as info:
        decode_utf16(b"a\x00b")
    assert info.value.status == NtStatus.OBJECT_NAME_INVALID
    assert decode_utf16(b"\x00\xd8") == "\ud800"  # lone surrogates kept (UCS-2 names)


def test_file_id() -> None:
    fid = make_file_id(1, 0x1122334455667788)
    assert fid == bytes.fromhex("0100000000000000" "8877665544332211")
    assert split_file_id(fid) == (1, 0x1122334455667788)
    assert RELATED_FILE_ID == b"\xff" * 16


def test_status_names() -> None:
    assert status_name(0xC0000022) == "STATUS_ACCESS_DENIED"
    assert status_name(0xC0FFEE00) == "0xC0FFEE00"
    assert NtStatus.LOGON_FAILURE == 0xC000006D and NtStatus.NETWORK_SESSION_EXPIRED == 0xC000035C
    assert is_error(NtStatus.ACCESS_DENIED) and is_warning(NtStatus.BUFFER_OVERFLOW)
    assert not is_error(NtStatus.PENDING)
    err = WireError(NtStatus.INVALID_PARAMETER, "bad")
    assert isinstance(err, ValueError) and err.status == NtStatus.INVALID_PARAMETER


def test_request_types_table() -> None:
    from sofs.wire.constants import Command
    from sofs.wire.messages import REQUEST_TYPES, RESPONSE_TYPES

    mine = {Command.NEGOTIATE, Command.SESSION_SETUP, Command.LOGOFF, Command.TREE_CONNECT,
            Command.TREE_DISCONNECT, Command.LOCK, Command.IOCTL, Command.CANCEL, Command.ECHO,
            Command.CHANGE_NOTIFY, Command.OPLOCK_BREAK}
    assert mine <= set(REQUEST_TYPES)
    assert all(hasattr(cls, "decode") for cls in (*REQUEST_TYPES.values(), *RESPONSE_TYPES.values()))
    assert Command.CANCEL not in RESPONSE_TYPES  # CANCEL is never answered


def test_ctl_codes_unique() -> None:
    from sofs.wire.constants import CtlCode

    assert len(CtlCode.__members__) == len(CtlCode)  # no accidental aliases (duplicate values)
    assert CtlCode.VALIDATE_NEGOTIATE_INFO == 0x00140204
    assert CtlCode.QUERY_NETWORK_INTERFACE_INFO == 0x001401FC
