"""[MS-SMB2] ECHO, CANCEL and ERROR Response."""
from __future__ import annotations

import pytest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import ErrorId
from sofs.wire.errors import WireError
from sofs.wire.messages.misc import (
    ECHO_BODY,
    CancelRequest,
    EchoRequest,
    EchoResponse,
    ErrorContext,
    ErrorResponse,
)

HDR = bytes(HEADER_SIZE)


def test_echo_cancel() -> None:
    assert ECHO_BODY == EchoRequest().encode() == b"\x04\x00\x00\x00"
    assert EchoRequest.decode(HDR + ECHO_BODY) == EchoRequest()
    assert EchoResponse.decode(HDR + b"\x04\x00\xff\xff") == EchoResponse()  # Reserved ignored
    assert CancelRequest.decode(HDR + ECHO_BODY) == CancelRequest()
    with pytest.raises(WireError):
        EchoRequest.decode(HDR + b"\x04\x00")


def test_error_response_empty() -> None:
    body = ErrorResponse().encode()
    assert body == bytes.fromhex("0900" "00" "00" "00000000" "00")
    assert ErrorResponse.decode(HDR + body) == ErrorResponse()


def test_error_response_buffer_too_small() -> None:
    body = ErrorResponse.buffer_too_small(0x68).encode()
    assert body == bytes.fromhex("0900" "00" "00" "04000000" "68000000")
    assert bytes(ErrorResponse.decode(HDR + body).error_data) == b"\x68\0\0\0"


def test_error_contexts() -> None:
    ctxs = (ErrorContext(ErrorId.SHARE_REDIRECT, b"12345"), ErrorContext(ErrorId.DEFAULT, b"xy"))
    rsp = ErrorResponse.with_contexts(ctxs)
    body = rsp.encode()
    assert body == bytes.fromhex("0900" "02" "00" "1a000000" "05000000" "53526472") + b"12345" + bytes(3) \
        + bytes.fromhex("02000000" "00000000") + b"xy"
    got = ErrorResponse.decode(HDR + body)
    assert got == rsp and got.contexts() == ctxs


def test_error_response_overrun() -> None:
    with pytest.raises(WireError):
        ErrorResponse.decode(HDR + bytes.fromhex("0900" "00" "00" "10000000" "00"))
