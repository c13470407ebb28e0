"""[MS-SMB2] 2.2.19-2.2.22 READ and WRITE (FLUSH lives in ``close``).

Zero-copy rules: ``WriteRequest.data`` is a memoryview slice of the received message;
``ReadResponse.encode_fixed`` returns only the 16-byte fixed part so the server can hand the file
data to the transport as a separate buffer.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message, take_buffer
from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus

_INVALID = NtStatus.INVALID_PARAMETER
_EMPTY = memoryview(b"")
_RW_BODY = HEADER_SIZE + 48
"""Where a READ/WRITE request's variable part may start (header + fixed part)."""

__all__ = ["READ_DATA_OFFSET", "READ_FIXED", "ReadRequest", "ReadResponse", "WriteRequest", "WriteResponse"]


@dataclass(slots=True)
class ReadRequest(Message):
    """[MS-SMB2] 2.2.19 SMB2 READ Request; ``read_channel_info`` only for RDMA channels.

    Not frozen, unlike most messages, nor is :class:`WriteRequest`: a frozen dataclass sets each
    field through ``object.__setattr__``, which made building one cost ~4x a plain one, on every
    READ/WRITE (handlers do not change requests)."""

    LAYOUT = Layout(49, (
        ("padding", "B"), ("flags", "B"), ("length", "I"), ("offset", "Q"), ("file_id", "16s"),
        ("minimum_count", "I"), ("channel", "I"), ("remaining_bytes", "I"),
        ("_channel_info_offset", "H"), ("_channel_info_length", "H"),
    ))
    padding: int = 0
    flags: int = 0
    length: int = 0
    offset: int = 0
    file_id: bytes = bytes(16)
    minimum_count: int = 0
    channel: int = 0
    remaining_bytes: int = 0
    read_channel_info: Buffer = b""

    @classmethod
    def decode(cls, msg: Buffer) -> ReadRequest:
        """:meth:`Message.decode` in one pass (every READ): one unpack, no per-field calls."""
        if type(msg) is not memoryview:
            msg = memoryview(msg)
        try:
            (size, pad, flags, length, offset, fid, min_count, channel, remaining, ci_off,
             ci_len) = _READ_REQUEST.unpack_from(msg, HEADER_SIZE)
        except struct.error:
            raise WireError(_INVALID, f"body shorter than {_READ_REQUEST.size} bytes") from None
        if size != 49:
            raise WireError(_INVALID, f"StructureSize {size} != 49")
        return cls(pad, flags, length, offset, fid, min_count, channel, remaining,
                   take_buffer(msg, ci_off, ci_len, _RW_BODY) if ci_len else _EMPTY)

    def encode(self) -> bytes:
        ci = bytes(self.read_channel_info)
        return self.LAYOUT.pack(
            self.padding, self.flags, self.length, self.offset, self.file_id, self.minimum_count,
            self.channel, self.remaining_bytes, HEADER_SIZE + self.LAYOUT.size if ci else 0, len(ci),
        ) + (ci or b"\0")


READ_DATA_OFFSET = HEADER_SIZE + 16
"""DataOffset of a READ response whose data follows the fixed part directly (0x50)."""
READ_FIXED = struct.Struct("<HBxIII")
"""The fixed part of a READ response: StructureSize 17, DataOffset, DataLength, DataRemaining, Flags."""


@dataclass(frozen=True, slots=True)
class ReadResponse(Message):
    """[MS-SMB2] 2.2.20 SMB2 READ Response."""

    LAYOUT = Layout(17, (("_data_offset", "B"), ("_reserved", "B"), ("_data_length", "I"),
                         ("data_remaining", "I"), ("flags", "I")))
    data: Buffer = b""
    data_remaining: int = 0
    flags: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> ReadResponse:
        off, _, length, remaining, flags = cls.LAYOUT.unpack(msg)
        return cls(take_buffer(msg, off, length, HEADER_SIZE + cls.LAYOUT.size), remaining, flags)

    @staticmethod
    def encode_fixed(data_length: int, data_remaining: int = 0, flags: int = 0,
                     data_offset: int = READ_DATA_OFFSET) -> bytes:
        """The fixed part (+ zero padding up to ``data_offset``) for ``data_length`` bytes sent
        separately. With no data, one pad byte is added (the body is never shorter than 17)."""
        fixed = READ_FIXED.pack(17, data_offset, data_length, data_remaining, flags)
        pad = data_offset - READ_DATA_OFFSET
        if pad < 0 or data_offset > 0xFF:
            raise ValueError(f"DataOffset {data_offset} out of range")
        return fixed + b"\0" * (pad if data_length else max(pad, 1))

    def encode(self) -> bytes:
        return self.encode_fixed(len(self.data), self.data_remaining, self.flags) + bytes(self.data)


@dataclass(slots=True)
class WriteRequest(Message):
    """[MS-SMB2] 2.2.21 SMB2 WRITE Request; ``data`` is a zero-copy slice of the message."""

    LAYOUT = Layout(49, (
        ("_data_offset", "H"), ("_length", "I"), ("offset", "Q"), ("file_id", "16s"), ("channel", "I"),
        ("remaining_bytes", "I"), ("_channel_info_offset", "H"), ("_channel_info_length", "H"),
        ("flags", "I"),
    ))
    offset: int = 0
    file_id: bytes = bytes(16)
    data: Buffer = b""
    channel: int = 0
    remaining_bytes: int = 0
    flags: int = 0
    write_channel_info: Buffer = b""

    @classmethod
    def decode(cls, msg: Buffer) -> WriteRequest:
        """:meth:`Message.decode` in one pass (every WRITE): one unpack, the data sliced in place
        with :func:`take_buffer`'s bounds check inline."""
        if type(msg) is not memoryview:
            msg = memoryview(msg)
        try:
            (size, d_off, d_len, offset, fid, channel, remaining, ci_off, ci_len,
             flags) = _WRITE_REQUEST.unpack_from(msg, HEADER_SIZE)
        except struct.error:
            raise WireError(_INVALID, f"body shorter than {_WRITE_REQUEST.size} bytes") from None
        if size != 49:
            raise WireError(_INVALID, f"StructureSize {size} != 49")
        if not d_len:
            data = _EMPTY
        elif d_off < _RW_BODY or d_off + d_len > len(msg):
            raise WireError(_INVALID, f"buffer [{d_off}, +{d_len}) outside message of {len(msg)} bytes")
        else:
            data = msg[d_off:d_off + d_len]
        return cls(offset, fid, data, channel, remaining, flags,
                   take_buffer(msg, ci_off, ci_len, _RW_BODY) if ci_len else _EMPTY)

    def encode(self) -> bytes:
        data_off = HEADER_SIZE + self.LAYOUT.size
        ci = bytes(self.write_channel_info)
        fixed = self.LAYOUT.pack(data_off, len(self.data), self.offset, self.file_id, self.channel,
                                 self.remaining_bytes, data_off + len(self.data) if ci else 0, len(ci),
                                 self.flags)
        return fixed + bytes(self.data) + ci if (len(self.data) or ci) else fixed + b"\0"


@dataclass(frozen=True, slots=True)
class WriteResponse(Message):
    """[MS-SMB2] 2.2.22 SMB2 WRITE Response."""

    LAYOUT = Layout(17, (("_reserved", "H"), ("count", "I"), ("remaining", "I"),
                         ("_channel_info_offset", "H"), ("_channel_info_length", "H")))
    count: int = 0
    remaining: int = 0

    def encode(self) -> bytes:
        return self.LAYOUT.pack(0, self.count, self.remaining, 0, 0) + b"\0"


_READ_REQUEST = ReadRequest.LAYOUT.struct
_WRITE_REQUEST = WriteRequest.LAYOUT.struct
assert _READ_REQUEST.size == _WRITE_REQUEST.size == _RW_BODY - HEADER_SIZE
