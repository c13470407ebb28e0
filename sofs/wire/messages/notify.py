"""[MS-SMB2] 2.2.35 CHANGE_NOTIFY Request, 2.2.36 Response, [MS-FSCC] 2.7.1 FILE_NOTIFY_INFORMATION."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.codec import (
    HEADER_SIZE,
    Buffer,
    Layout,
    Message,
    align4,
    decode_utf16,
    encode_utf16,
    need,
    take_buffer,
)
from sofs.wire.errors import invalid

_NOTIFY = struct.Struct("<III")


@dataclass(frozen=True, slots=True)
class ChangeNotifyRequest(Message):
    """[MS-SMB2] 2.2.35 SMB2 CHANGE_NOTIFY Request (``flags``: ChangeNotifyFlags)."""

    LAYOUT = Layout(32, (("flags", "H"), ("output_buffer_length", "I"), ("file_id", "16s"),
                         ("completion_filter", "I"), ("_reserved", "I")))
    flags: int
    output_buffer_length: int
    file_id: bytes
    completion_filter: int


@dataclass(frozen=True, slots=True)
class ChangeNotifyResponse(Message):
    """[MS-SMB2] 2.2.36 SMB2 CHANGE_NOTIFY Response; ``output`` is encoded FILE_NOTIFY_INFORMATION."""

    LAYOUT = Layout(9, (("_offset", "H"), ("_length", "I")))
    output: Buffer = b""

    @classmethod
    def _decode(cls, msg: memoryview) -> ChangeNotifyResponse:
        off, length = cls.LAYOUT.unpack(msg)
        return cls(take_buffer(msg, off, length))

    def encode(self) -> bytes:
        data = bytes(self.output)
        return self.LAYOUT.pack(HEADER_SIZE + self.LAYOUT.size, len(data)) + (data or b"\0")


@dataclass(frozen=True, slots=True)
class FileNotifyInformation:
    """[MS-FSCC] 2.7.1 FILE_NOTIFY_INFORMATION entry (``action``: NotifyAction)."""

    action: int
    file_name: str


def encode_file_notify_information(entries: list[FileNotifyInformation]) -> bytes:
    """The NextEntryOffset chain, each entry 4-byte aligned; the last has NextEntryOffset 0."""
    parts: list[bytes] = []
    for i, entry in enumerate(entries):
        name = encode_utf16(entry.file_name)
        size = _NOTIFY.size + len(name)
        last = i + 1 == len(entries)
        next_offset = 0 if last else align4(size)
        parts.append(_NOTIFY.pack(next_offset, entry.action, len(name)) + name)
        if not last:
            parts.append(bytes(next_offset - size))
    return b"".join(parts)


def decode_file_notify_information(data: Buffer) -> list[FileNotifyInformation]:
    """Follow the NextEntryOffset chain; WireError on overruns or a non-advancing offset."""
    mv = memoryview(data)
    out: list[FileNotifyInformation] = []
    pos = 0
    while True:
        need(mv, pos + _NOTIFY.size, "FILE_NOTIFY_INFORMATION")
        next_offset, action, length = _NOTIFY.unpack_from(mv, pos)
        need(mv, pos + _NOTIFY.size + length, "FILE_NOTIFY_INFORMATION name")
        name = decode_utf16(mv[pos + _NOTIFY.size : pos + _NOTIFY.size + length])
        out.append(FileNotifyInformation(action, name))
        if next_offset == 0:
            return out
        if next_offset < _NOTIFY.size:
            raise invalid("FILE_NOTIFY_INFORMATION NextEntryOffset too small")
        pos += next_offset
