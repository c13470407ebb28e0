"""[MS-SMB2] 2.2.28-2.2.30 ECHO and CANCEL, 2.2.2 ERROR Response (with 3.1.1 error contexts)."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message, align8, need, pad8, take_buffer
from sofs.wire.constants import ErrorId


@dataclass(frozen=True, slots=True)
class EchoRequest(Message):
    """[MS-SMB2] 2.2.28 SMB2 ECHO Request."""

    LAYOUT = Layout(4, (("_reserved", "H"),))


@dataclass(frozen=True, slots=True)
class EchoResponse(Message):
    """[MS-SMB2] 2.2.29 SMB2 ECHO Response."""

    LAYOUT = Layout(4, (("_reserved", "H"),))


@dataclass(frozen=True, slots=True)
class CancelRequest(Message):
    """[MS-SMB2] 2.2.30 SMB2 CANCEL Request (never answered; matched by MessageId/AsyncId)."""

    LAYOUT = Layout(4, (("_reserved", "H"),))


_ERR_CTX = struct.Struct("<II")
ECHO_BODY = EchoResponse().encode()
"""The constant 4-byte ECHO Response body, for the engine's fast path."""


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """[MS-SMB2] 2.2.2.1 SMB2 ERROR Context: ``error_id`` plus raw data.

    2.2.2.2.1 Symbolic Link Error Response and 2.2.2.2.2 Share Redirect Error Context Response are
    carried as raw ``data`` here (ErrorId DEFAULT / SHARE_REDIRECT).
    """

    error_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ErrorResponse(Message):
    """[MS-SMB2] 2.2.2 SMB2 ERROR Response.

    ``error_data`` is the raw ErrorData; with ``error_context_count`` > 0 (3.1.1) it is a list of
    8-aligned error contexts (:meth:`with_contexts` / :meth:`contexts`). An empty ErrorData is sent as
    one zero byte (ByteCount 0), as the spec requires.
    """

    LAYOUT = Layout(9, (("error_context_count", "B"), ("_reserved", "B"), ("_byte_count", "I")))
    error_context_count: int = 0
    error_data: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> ErrorResponse:
        count, _r, byte_count = cls.LAYOUT.unpack(msg)
        return cls(count, take_buffer(msg, HEADER_SIZE + cls.LAYOUT.size, byte_count))

    def encode(self) -> bytes:
        data = bytes(self.error_data)
        return self.LAYOUT.pack(self.error_context_count, 0, len(data)) + (data or b"\0")

    @classmethod
    def with_contexts(cls, contexts: tuple[ErrorContext, ...]) -> ErrorResponse:
        """An ERROR Response carrying 3.1.1 error contexts."""
        parts: list[bytes] = []
        for i, ctx in enumerate(contexts):
            parts.append(_ERR_CTX.pack(len(ctx.data), ctx.error_id) + ctx.data)
            if i + 1 < len(contexts):
                parts.append(bytes(pad8(len(ctx.data))))
        return cls(len(contexts), b"".join(parts))

    @classmethod
    def buffer_too_small(cls, required: int) -> ErrorResponse:
        """[MS-SMB2] 2.2.2: STATUS_BUFFER_TOO_SMALL carries the required size as 4 bytes."""
        return cls(0, struct.pack("<I", required))

    def contexts(self) -> tuple[ErrorContext, ...]:
        """The error contexts in ``error_data`` (only meaningful if ``error_context_count`` > 0)."""
        data = memoryview(bytes(self.error_data))
        out: list[ErrorContext] = []
        pos = 0
        for _ in range(self.error_context_count):
            need(data, pos + 8, "error context")
            length, error_id = _ERR_CTX.unpack_from(data, pos)
            need(data, pos + 8 + length, "error context data")
            out.append(ErrorContext(error_id, bytes(data[pos + 8 : pos + 8 + length])))
            pos += 8 + align8(length)
        return tuple(out)


__all__ = ["ECHO_BODY", "CancelRequest", "EchoRequest", "EchoResponse", "ErrorContext", "ErrorId",
           "ErrorResponse"]
