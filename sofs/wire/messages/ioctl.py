"""[MS-SMB2] 2.2.31 IOCTL Request and 2.2.32 IOCTL Response.

Input/output buffers decode as zero-copy memoryview slices of the message; their payloads (FSCTL
structures) are in :mod:`sofs.wire.fsctl`. FileId is 16 bytes (all 0xFF for FSCTLs without a file,
e.g. VALIDATE_NEGOTIATE_INFO and QUERY_NETWORK_INTERFACE_INFO).
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.codec import HEADER_SIZE, Buffer, Layout, Message, align8, take_buffer
from sofs.wire.constants import IoctlFlags

NO_FILE_ID = b"\xff" * 16


@dataclass(frozen=True, slots=True)
class IoctlRequest(Message):
    """[MS-SMB2] 2.2.31 SMB2 IOCTL Request."""

    LAYOUT = Layout(57, (("_reserved", "H"), ("ctl_code", "I"), ("file_id", "16s"),
                         ("_input_offset", "I"), ("_input_count", "I"), ("max_input_response", "I"),
                         ("_output_offset", "I"), ("_output_count", "I"), ("max_output_response", "I"),
                         ("flags", "I"), ("_reserved2", "I")))
    ctl_code: int
    file_id: bytes = NO_FILE_ID
    input: Buffer = b""
    output: Buffer = b""
    max_input_response: int = 0
    max_output_response: int = 0
    flags: int = IoctlFlags.IS_FSCTL

    @classmethod
    def _decode(cls, msg: memoryview) -> IoctlRequest:
        (_r, ctl, fid, in_off, in_cnt, max_in, out_off, out_cnt, max_out, flags,
         _r2) = cls.LAYOUT.unpack(msg)
        return cls(ctl, fid, take_buffer(msg, in_off, in_cnt), take_buffer(msg, out_off, out_cnt),
                   max_in, max_out, flags)

    def encode(self) -> bytes:
        start = HEADER_SIZE + self.LAYOUT.size
        in_len, out_len = len(self.input), len(self.output)
        out_off = align8(start + in_len) if out_len else 0
        head = self.LAYOUT.pack(0, self.ctl_code, self.file_id, start if in_len else 0, in_len,
                                self.max_input_response, out_off, out_len, self.max_output_response,
                                self.flags, 0)
        pad = bytes(out_off - start - in_len) if out_len else b""
        return b"".join((head, bytes(self.input), pad, bytes(self.output)))


@dataclass(frozen=True, slots=True)
class IoctlResponse(Message):
    """[MS-SMB2] 2.2.32 SMB2 IOCTL Response.

    Encoded like Windows: InputOffset = 112 even when InputCount is 0, output 8-aligned after the
    input. An empty response still has one padding byte (StructureSize 49 is odd).
    """

    LAYOUT = Layout(49, (("_reserved", "H"), ("ctl_code", "I"), ("file_id", "16s"),
                         ("_input_offset", "I"), ("_input_count", "I"), ("_output_offset", "I"),
                         ("_output_count", "I"), ("flags", "I"), ("_reserved2", "I")))
    ctl_code: int
    file_id: bytes = NO_FILE_ID
    input: Buffer = b""
    output: Buffer = b""
    flags: int = 0

    @classmethod
    def _decode(cls, msg: memoryview) -> IoctlResponse:
        _r, ctl, fid, in_off, in_cnt, out_off, out_cnt, flags, _r2 = cls.LAYOUT.unpack(msg)
        return cls(ctl, fid, take_buffer(msg, in_off, in_cnt), take_buffer(msg, out_off, out_cnt), flags)

    def encode(self) -> bytes:
        start = HEADER_SIZE + self.LAYOUT.size
        in_len, out_len = len(self.input), len(self.output)
        out_off = align8(start + in_len)
        head = self.LAYOUT.pack(0, self.ctl_code, self.file_id, start, in_len, out_off, out_len,
                                self.flags, 0)
        if not in_len and not out_len:
            return head + b"\0"
        pad = bytes(out_off - start - in_len) if out_len else b""
        return b"".join((head, bytes(self.input), pad, bytes(self.output)))
