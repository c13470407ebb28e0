"""[MS-FSCC] 2.4 directory information classes returned by SMB2 QUERY_DIRECTORY.

One :class:`DirEntry` describes a directory entry independently of the class; ``encode_dir_entries``
packs as many entries as fit into the client's OutputBufferLength, 8-byte aligned and chained by
NextEntryOffset (last one 0), never splitting an entry ([MS-SMB2] 3.3.5.18).
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sofs.wire.errors import WireError, invalid
from sofs.wire.fscc_base import Buffer, take, unpack, utf16_decode, utf16_encode
from sofs.wire.fscc_constants import FileAttributes
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.status import NtStatus

__all__ = ["DIR_INFO_CLASSES", "DirEntry", "decode_dir_entries", "encode_dir_entries", "encode_dir_entry"]


@dataclass(frozen=True, slots=True)
class DirEntry:
    """A directory entry as QUERY_DIRECTORY reports it; times are FILETIME ints.

    ``ea_size`` is reported in the EaSize field unless ``attributes`` has REPARSE_POINT, in which case
    that field carries ``reparse_tag`` ([MS-FSCC] 2.4.14). ``file_id`` is the 64-bit id (128-bit for
    the *Extd* classes, zero-extended). ``short_name`` is the 8.3 name ('' when short names are off).
    """

    name: str
    file_id: int = 0
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    end_of_file: int = 0
    allocation_size: int = 0
    attributes: int = 0
    ea_size: int = 0
    short_name: str = ""
    reparse_tag: int = 0
    file_index: int = 0


# NextEntryOffset, FileIndex, 4 times, EndOfFile, AllocationSize, FileAttributes, FileNameLength
_DIR = struct.Struct("<IIqqqqqqII")  # 64 bytes, FileDirectoryInformation
_U32 = struct.Struct("<I")
_NAMES = struct.Struct("<III")
# each class's fixed part in one pack (the common 64 bytes, then the class's own fields)
_FULL = struct.Struct("<IIqqqqqqIII")  # + EaSize
_ID_FULL = struct.Struct("<IIqqqqqqIII4xQ")  # + EaSize, Reserved, FileId
_BOTH = struct.Struct("<IIqqqqqqIII26s")  # + EaSize, ShortNameLength, Reserved1, ShortName[24]
_ID_BOTH = struct.Struct("<IIqqqqqqIII26s2xQ")  # + Reserved2, FileId
_EXTD = struct.Struct("<IIqqqqqqIIII16s")  # + EaSize, ReparsePointTag, FileId (128 bits)


_NO_SHORT = bytes(26)  # ShortNameLength 0, Reserved, ShortName[24] zeroed
_REPARSE_POINT = int(FileAttributes.REPARSE_POINT)  # int: ``int & IntFlag`` builds a member per entry


def _short(e: DirEntry) -> bytes:
    if not e.short_name:
        return _NO_SHORT
    s = utf16_encode(e.short_name)[:24]
    return bytes([len(s), 0]) + s + b"\0" * (24 - len(s))


def _ea_field(e: DirEntry) -> int:
    return e.reparse_tag if e.attributes & _REPARSE_POINT else e.ea_size


def _enc_directory(e: DirEntry, name: bytes) -> bytes:
    return _DIR.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time,
                     e.change_time, e.end_of_file, e.allocation_size, e.attributes, len(name)) + name


def _enc_full(e: DirEntry, name: bytes) -> bytes:
    return _FULL.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                      e.end_of_file, e.allocation_size, e.attributes, len(name), _ea_field(e)) + name


def _enc_id_full(e: DirEntry, name: bytes) -> bytes:
    return _ID_FULL.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                         e.end_of_file, e.allocation_size, e.attributes, len(name), _ea_field(e),
                         e.file_id) + name


def _enc_both(e: DirEntry, name: bytes) -> bytes:
    return _BOTH.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                      e.end_of_file, e.allocation_size, e.attributes, len(name), _ea_field(e), _short(e)) + name


def _enc_id_both(e: DirEntry, name: bytes) -> bytes:
    return _ID_BOTH.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                         e.end_of_file, e.allocation_size, e.attributes, len(name), _ea_field(e), _short(e),
                         e.file_id) + name


def _enc_names(e: DirEntry, name: bytes) -> bytes:
    return _NAMES.pack(0, e.file_index, len(name)) + name


def _enc_id_extd(e: DirEntry, name: bytes) -> bytes:
    return _EXTD.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                      e.end_of_file, e.allocation_size, e.attributes, len(name), e.ea_size, e.reparse_tag,
                      e.file_id.to_bytes(16, "little")) + name


def _enc_id_extd_both(e: DirEntry, name: bytes) -> bytes:
    return _EXTD.pack(0, e.file_index, e.creation_time, e.last_access_time, e.last_write_time, e.change_time,
                      e.end_of_file, e.allocation_size, e.attributes, len(name), e.ea_size, e.reparse_tag,
                      e.file_id.to_bytes(16, "little")) + _short(e) + name


_Encoder = Callable[[DirEntry, bytes], bytes]
# info class -> (encoder, size of the fixed part before FileName)
_ENCODERS: dict[int, tuple[_Encoder, int]] = {
    FIC.FileDirectoryInformation: (_enc_directory, 64),
    FIC.FileFullDirectoryInformation: (_enc_full, 68),
    FIC.FileIdFullDirectoryInformation: (_enc_id_full, 80),
    FIC.FileBothDirectoryInformation: (_enc_both, 94),
    FIC.FileIdBothDirectoryInformation: (_enc_id_both, 104),
    FIC.FileNamesInformation: (_enc_names, 12),
    FIC.FileIdExtdDirectoryInformation: (_enc_id_extd, 88),
    FIC.FileIdExtdBothDirectoryInformation: (_enc_id_extd_both, 114),
}
DIR_INFO_CLASSES: frozenset[int] = frozenset(_ENCODERS)


def _encoder(info_class: int) -> tuple[_Encoder, int]:
    try:
        return _ENCODERS[info_class]
    except KeyError:
        raise WireError(NtStatus.INVALID_INFO_CLASS, f"directory class {info_class}") from None


def encode_dir_entry(info_class: int, entry: DirEntry) -> bytes:
    """One entry, unpadded, NextEntryOffset 0. WireError(INVALID_INFO_CLASS) for other classes."""
    enc, _ = _encoder(info_class)
    return enc(entry, utf16_encode(entry.name))


def encode_dir_entries(info_class: int, entries: Iterable[DirEntry], max_bytes: int) -> tuple[bytes, int]:
    """Pack entries into at most ``max_bytes``; returns (buffer, number of entries packed).

    Stops at the first entry that does not fit whole. That entry has been pulled from ``entries`` but
    is not counted: pass a sequence (or slice) and resume at index ``count``. Entries are 8-byte
    aligned; the last entry is not padded and its NextEntryOffset is 0.
    """
    enc, _ = _encoder(info_class)
    out = bytearray()
    prev = -1
    count = end = 0
    for e in entries:
        data = enc(e, utf16_encode(e.name))
        pos = (end + 7) & ~7
        if pos + len(data) > max_bytes:
            break
        if prev >= 0:
            out += _PAD[pos - end]
            _U32.pack_into(out, prev, pos - prev)
        out += data
        prev = pos
        end = pos + len(data)
        count += 1
    return bytes(out), count


_PAD = tuple(bytes(n) for n in range(8))


def _dec_short(buf: Buffer, off: int) -> str:
    n = take(buf, off, 1)[0]
    if n > 24:
        raise invalid("ShortNameLength > 24")
    return utf16_decode(buf, off + 2, n)


def _decode_one(info_class: int, buf: Buffer, off: int) -> DirEntry:
    if info_class == FIC.FileNamesInformation:
        _, idx, n = unpack(_NAMES, buf, off)
        return DirEntry(utf16_decode(buf, off + 12, n), file_index=idx)
    _, idx, ct, at, wt, cht, eof, alloc, attrs, n = unpack(_DIR, buf, off)
    kw: dict[str, object] = {}
    name_off = off + 64
    if info_class != FIC.FileDirectoryInformation:
        (ea,) = unpack(_U32, buf, off + 64)
        if info_class in (FIC.FileIdExtdDirectoryInformation, FIC.FileIdExtdBothDirectoryInformation):
            kw["ea_size"] = ea
            kw["reparse_tag"] = unpack(_U32, buf, off + 68)[0]
            kw["file_id"] = int.from_bytes(take(buf, off + 72, 16), "little")
            name_off = off + 88
            if info_class == FIC.FileIdExtdBothDirectoryInformation:
                kw["short_name"] = _dec_short(buf, off + 88)
                name_off = off + 114
        else:
            if attrs & FileAttributes.REPARSE_POINT:
                kw["reparse_tag"] = ea
            else:
                kw["ea_size"] = ea
            name_off = off + 68
            if info_class == FIC.FileIdFullDirectoryInformation:
                kw["file_id"] = struct.unpack("<Q", take(buf, off + 72, 8))[0]
                name_off = off + 80
            elif info_class in (FIC.FileBothDirectoryInformation, FIC.FileIdBothDirectoryInformation):
                kw["short_name"] = _dec_short(buf, off + 68)
                name_off = off + 94
                if info_class == FIC.FileIdBothDirectoryInformation:
                    kw["file_id"] = struct.unpack("<Q", take(buf, off + 96, 8))[0]
                    name_off = off + 104
    return DirEntry(utf16_decode(buf, name_off, n), creation_time=ct, last_access_time=at,
                    last_write_time=wt, change_time=cht, end_of_file=eof, allocation_size=alloc,
                    attributes=attrs, file_index=idx, **kw)  # type: ignore[arg-type]


def decode_dir_entries(info_class: int, buf: Buffer) -> list[DirEntry]:
    """Parse a QUERY_DIRECTORY output buffer (for tests and clients); WireError on bad chains."""
    _, fixed = _encoder(info_class)
    out = []
    off = 0
    while len(buf):
        out.append(_decode_one(info_class, buf, off))
        (nxt,) = unpack(_U32, buf, off)
        if nxt == 0:
            break
        if nxt < fixed:
            raise invalid("NextEntryOffset smaller than an entry")
        off += nxt
    return out
