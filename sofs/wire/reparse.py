"""Symbolic-link reparse data and the SMB2 symlink error response (pure bytes).

- [MS-FSCC] 2.1.2.2 REPARSE_DATA_BUFFER with 2.1.2.4 Symbolic Link Reparse Data Buffer: the input of
  FSCTL_SET_REPARSE_POINT and the output of FSCTL_GET_REPARSE_POINT for IO_REPARSE_TAG_SYMLINK.
- [MS-SMB2] 2.2.2.2.1 Symbolic Link Error Response: the ErrorData of a CREATE that met a symbolic
  link (STATUS_STOPPED_ON_SYMLINK); for dialect 3.1.1 wrapped in one SMB2 ERROR Context with ErrorId
  SMB2_ERROR_ID_DEFAULT ([MS-SMB2] 2.2.2.1, 3.3.5.9).

Names are UTF-16LE without terminating NUL. The PathBuffer holds the substitute name first, then the
print name (as Windows' ``CreateSymbolicLink`` lays it out).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sofs.wire.errors import WireError
from sofs.wire.status import NtStatus

IO_REPARSE_TAG_SYMLINK = 0xA000000C
SYMLINK_FLAG_RELATIVE = 0x00000001
SYMLINK_ERROR_TAG = 0x4C4D5953  # "SYML"
MAX_REPARSE_DATA = 16 * 1024  # MAXIMUM_REPARSE_DATA_BUFFER_SIZE ([MS-FSCC] 2.1.2.2 note)

_HEADER = struct.Struct("<IHH")  # ReparseTag, ReparseDataLength, Reserved
_SYMLINK = struct.Struct("<HHHHI")  # Substitute/Print offset+length, Flags
_ERROR = struct.Struct("<IIIHHHHHHI")


@dataclass(frozen=True, slots=True)
class SymlinkTarget:
    """What a symbolic link says: ``substitute`` (what a client resolves), ``print_name`` (shown to a
    user) and whether it is relative to the link's directory (SYMLINK_FLAG_RELATIVE)."""

    substitute: str
    print_name: str
    relative: bool

    @property
    def flags(self) -> int:
        return SYMLINK_FLAG_RELATIVE if self.relative else 0


def _bad(message: str) -> WireError:
    return WireError(NtStatus.IO_REPARSE_DATA_INVALID, message)


def _names(t: SymlinkTarget) -> tuple[bytes, bytes]:
    return t.substitute.encode("utf-16-le"), t.print_name.encode("utf-16-le")


def encode_symlink_reparse(t: SymlinkTarget) -> bytes:
    """[MS-FSCC] 2.1.2.2 + 2.1.2.4: the REPARSE_DATA_BUFFER of a symbolic link."""
    sub, prn = _names(t)
    body = _SYMLINK.pack(0, len(sub), len(sub), len(prn), t.flags) + sub + prn
    return _HEADER.pack(IO_REPARSE_TAG_SYMLINK, len(body), 0) + body


def reparse_tag(data: bytes) -> int:
    """The ReparseTag of a REPARSE_DATA_BUFFER (WireError if shorter than its header)."""
    if len(data) < _HEADER.size:
        raise _bad("reparse buffer shorter than its header")
    return int(_HEADER.unpack_from(data)[0])


def decode_symlink_reparse(data: bytes) -> SymlinkTarget:
    """Parse a symbolic-link REPARSE_DATA_BUFFER; WireError with STATUS_IO_REPARSE_DATA_INVALID on any
    inconsistency (IO_REPARSE_TAG_NOT_HANDLED for another tag)."""
    if len(data) > MAX_REPARSE_DATA:
        raise _bad("reparse buffer larger than 16 KiB")
    tag = reparse_tag(data)
    if tag != IO_REPARSE_TAG_SYMLINK:
        raise WireError(NtStatus.IO_REPARSE_TAG_NOT_HANDLED, f"reparse tag 0x{tag:08x} is not a symlink")
    _tag, length, _reserved = _HEADER.unpack_from(data)
    if length != len(data) - _HEADER.size or length < _SYMLINK.size:
        raise _bad("ReparseDataLength does not match the buffer")
    sub_off, sub_len, prn_off, prn_len, flags = _SYMLINK.unpack_from(data, _HEADER.size)
    path = data[_HEADER.size + _SYMLINK.size:]
    if sub_off + sub_len > len(path) or prn_off + prn_len > len(path) or (sub_len | prn_len | sub_off
                                                                          | prn_off) & 1:
        raise _bad("symlink names outside the PathBuffer")
    if flags & ~SYMLINK_FLAG_RELATIVE:
        raise _bad(f"unknown symlink flags 0x{flags:x}")
    try:
        sub = path[sub_off:sub_off + sub_len].decode("utf-16-le")
        prn = path[prn_off:prn_off + prn_len].decode("utf-16-le")
    except UnicodeDecodeError:
        raise _bad("symlink name is not UTF-16") from None
    if not sub:
        raise _bad("empty substitute name")
    return SymlinkTarget(sub, prn, bool(flags & SYMLINK_FLAG_RELATIVE))


def encode_symlink_error(t: SymlinkTarget, unparsed_path_length: int) -> bytes:
    """[MS-SMB2] 2.2.2.2.1 Symbolic Link Error Response. ``unparsed_path_length``: bytes (UTF-16LE) of
    the part of the client's path after the link, leading backslash included (0: the link is last)."""
    sub, prn = _names(t)
    path = sub + prn
    total = _ERROR.size + len(path)
    return _ERROR.pack(total - 4, SYMLINK_ERROR_TAG, IO_REPARSE_TAG_SYMLINK, 12 + len(path),
                       unparsed_path_length, 0, len(sub), len(sub), len(prn), t.flags) + path


def symlink_error_data(t: SymlinkTarget, unparsed_path_length: int, dialect: int) -> tuple[int, bytes]:
    """(ErrorContextCount, ErrorData) of the ERROR Response of STATUS_STOPPED_ON_SYMLINK: for 3.1.1
    one ERROR Context (ErrorDataLength, ErrorId 0 = SMB2_ERROR_ID_DEFAULT), else the raw response."""
    raw = encode_symlink_error(t, unparsed_path_length)
    if dialect >= 0x0311:
        return 1, struct.pack("<II", len(raw), 0) + raw
    return 0, raw


__all__ = ["IO_REPARSE_TAG_SYMLINK", "SYMLINK_FLAG_RELATIVE", "SymlinkTarget", "decode_symlink_reparse",
           "encode_symlink_error", "encode_symlink_reparse", "reparse_tag", "symlink_error_data"]
