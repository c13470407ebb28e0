"""[MS-FSCC] 2.4 file information classes used by SMB2 QUERY_INFO / SET_INFO (InfoType FILE).

Each class is a frozen dataclass with ``encode() -> bytes`` and ``decode(buf) -> instance``; ``decode``
accepts any bytes-like object holding exactly the class's buffer (trailing bytes are ignored, as
Windows does for SET_INFO input) and raises only WireError. ``FILE_INFO_TYPES`` maps the information
class number to its codec. Times are signed FILETIME ints (SET_INFO uses 0/-1/-2 as sentinels).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from sofs.wire.errors import invalid
from sofs.wire.fscc_base import Buffer, align, take, unpack, utf16_decode, utf16_encode
from sofs.wire.fscc_constants import FileInfoClass as FIC

__all__ = [
    "FILE_INFO_TYPES",
    "EaEntry",
    "FileAccessInformation",
    "FileAlignmentInformation",
    "FileAllInformation",
    "FileAllocationInformation",
    "FileAttributeTagInformation",
    "FileBasicInformation",
    "FileCaseSensitiveInformation",
    "FileCompressionInformation",
    "FileDispositionInformation",
    "FileDispositionInformationEx",
    "FileEaInformation",
    "FileEndOfFileInformation",
    "FileFullEaInformation",
    "FileGetEaInformation",
    "FileIdInformation",
    "FileInternalInformation",
    "FileLinkInformation",
    "FileModeInformation",
    "FileNameInformation",
    "FileNetworkOpenInformation",
    "FilePositionInformation",
    "FileRenameInformation",
    "FileRenameInformationEx",
    "FileStandardInformation",
    "FileStandardLinkInformation",
    "FileStreamInformation",
    "FileValidDataLengthInformation",
    "StreamEntry",
]

_Q = struct.Struct("<q")
_I = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class FileBasicInformation:
    """[MS-FSCC] 2.4.7 FILE_BASIC_INFORMATION (40 bytes; a 36-byte SET_INFO buffer is accepted)."""

    INFO_CLASS: ClassVar[int] = FIC.FileBasicInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqqqI4x")
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    file_attributes: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.creation_time, self.last_access_time, self.last_write_time,
                             self.change_time, self.file_attributes)

    @classmethod
    def decode(cls, buf: Buffer) -> FileBasicInformation:
        if len(buf) < 36:
            raise invalid("FileBasicInformation shorter than 36 bytes")
        return cls(*struct.unpack_from("<qqqqI", buf, 0))


@dataclass(frozen=True, slots=True)
class FileStandardInformation:
    """[MS-FSCC] 2.4.41 FILE_STANDARD_INFORMATION (24 bytes)."""

    INFO_CLASS: ClassVar[int] = FIC.FileStandardInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqIBB2x")
    allocation_size: int = 0
    end_of_file: int = 0
    number_of_links: int = 1
    delete_pending: bool = False
    directory: bool = False

    def encode(self) -> bytes:
        return self._ST.pack(self.allocation_size, self.end_of_file, self.number_of_links,
                             int(self.delete_pending), int(self.directory))

    @classmethod
    def decode(cls, buf: Buffer) -> FileStandardInformation:
        a, e, n, dp, d = unpack(cls._ST, buf)
        return cls(a, e, n, bool(dp), bool(d))


@dataclass(frozen=True, slots=True)
class FileInternalInformation:
    """[MS-FSCC] 2.4.22 FILE_INTERNAL_INFORMATION: IndexNumber (the 64-bit file id)."""

    INFO_CLASS: ClassVar[int] = FIC.FileInternalInformation
    index_number: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.index_number)

    @classmethod
    def decode(cls, buf: Buffer) -> FileInternalInformation:
        return cls(unpack(_Q, buf)[0])


@dataclass(frozen=True, slots=True)
class FileEaInformation:
    """[MS-FSCC] 2.4.13 FILE_EA_INFORMATION: EaSize (bytes of FileFullEaInformation, 0 if none)."""

    INFO_CLASS: ClassVar[int] = FIC.FileEaInformation
    ea_size: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.ea_size)

    @classmethod
    def decode(cls, buf: Buffer) -> FileEaInformation:
        return cls(unpack(_I, buf)[0])


@dataclass(frozen=True, slots=True)
class FileAccessInformation:
    """[MS-FSCC] 2.4.1 FILE_ACCESS_INFORMATION: the granted access mask of the open."""

    INFO_CLASS: ClassVar[int] = FIC.FileAccessInformation
    access_flags: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.access_flags)

    @classmethod
    def decode(cls, buf: Buffer) -> FileAccessInformation:
        return cls(unpack(_I, buf)[0])


@dataclass(frozen=True, slots=True)
class FilePositionInformation:
    """[MS-FSCC] 2.4.35 FILE_POSITION_INFORMATION."""

    INFO_CLASS: ClassVar[int] = FIC.FilePositionInformation
    current_byte_offset: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.current_byte_offset)

    @classmethod
    def decode(cls, buf: Buffer) -> FilePositionInformation:
        return cls(unpack(_Q, buf)[0])


@dataclass(frozen=True, slots=True)
class FileModeInformation:
    """[MS-FSCC] 2.4.26 FILE_MODE_INFORMATION (FileModeFlags)."""

    INFO_CLASS: ClassVar[int] = FIC.FileModeInformation
    mode: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.mode)

    @classmethod
    def decode(cls, buf: Buffer) -> FileModeInformation:
        return cls(unpack(_I, buf)[0])


@dataclass(frozen=True, slots=True)
class FileAlignmentInformation:
    """[MS-FSCC] 2.4.3 FILE_ALIGNMENT_INFORMATION (0 = byte alignment)."""

    INFO_CLASS: ClassVar[int] = FIC.FileAlignmentInformation
    alignment_requirement: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.alignment_requirement)

    @classmethod
    def decode(cls, buf: Buffer) -> FileAlignmentInformation:
        return cls(unpack(_I, buf)[0])


@dataclass(frozen=True, slots=True)
class FileNameInformation:
    """[MS-FSCC] 2.4.28 FILE_NAME_INFORMATION; the same layout serves FileAlternateNameInformation
    (2.4.5), FileShortNameInformation and FileNormalizedNameInformation (2.4.30)."""

    INFO_CLASS: ClassVar[int] = FIC.FileNameInformation
    file_name: str = ""

    def encode(self) -> bytes:
        name = utf16_encode(self.file_name)
        return _I.pack(len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> FileNameInformation:
        (n,) = unpack(_I, buf)
        return cls(utf16_decode(buf, 4, n))


@dataclass(frozen=True, slots=True)
class FileAllInformation:
    """[MS-FSCC] 2.4.2 FILE_ALL_INFORMATION: the nine classes back to back (100 bytes + name)."""

    INFO_CLASS: ClassVar[int] = FIC.FileAllInformation
    basic: FileBasicInformation = field(default_factory=FileBasicInformation)
    standard: FileStandardInformation = field(default_factory=FileStandardInformation)
    internal: FileInternalInformation = field(default_factory=FileInternalInformation)
    ea: FileEaInformation = field(default_factory=FileEaInformation)
    access: FileAccessInformation = field(default_factory=FileAccessInformation)
    position: FilePositionInformation = field(default_factory=FilePositionInformation)
    mode: FileModeInformation = field(default_factory=FileModeInformation)
    alignment: FileAlignmentInformation = field(default_factory=FileAlignmentInformation)
    name: FileNameInformation = field(default_factory=FileNameInformation)

    def encode(self) -> bytes:
        return b"".join(p.encode() for p in (self.basic, self.standard, self.internal, self.ea,
                                             self.access, self.position, self.mode, self.alignment,
                                             self.name))

    @classmethod
    def decode(cls, buf: Buffer) -> FileAllInformation:
        if len(buf) < 100:
            raise invalid("FileAllInformation shorter than 100 bytes")
        mv = memoryview(buf)
        return cls(FileBasicInformation.decode(mv[0:40]), FileStandardInformation.decode(mv[40:64]),
                   FileInternalInformation.decode(mv[64:72]), FileEaInformation.decode(mv[72:76]),
                   FileAccessInformation.decode(mv[76:80]), FilePositionInformation.decode(mv[80:88]),
                   FileModeInformation.decode(mv[88:92]), FileAlignmentInformation.decode(mv[92:96]),
                   FileNameInformation.decode(mv[96:]))


@dataclass(frozen=True, slots=True)
class FileNetworkOpenInformation:
    """[MS-FSCC] 2.4.29 FILE_NETWORK_OPEN_INFORMATION (56 bytes)."""

    INFO_CLASS: ClassVar[int] = FIC.FileNetworkOpenInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qqqqqqI4x")
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    change_time: int = 0
    allocation_size: int = 0
    end_of_file: int = 0
    file_attributes: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.creation_time, self.last_access_time, self.last_write_time,
                             self.change_time, self.allocation_size, self.end_of_file,
                             self.file_attributes)

    @classmethod
    def decode(cls, buf: Buffer) -> FileNetworkOpenInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileAttributeTagInformation:
    """[MS-FSCC] 2.4.6 FILE_ATTRIBUTE_TAG_INFORMATION (8 bytes)."""

    INFO_CLASS: ClassVar[int] = FIC.FileAttributeTagInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<II")
    file_attributes: int = 0
    reparse_tag: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.file_attributes, self.reparse_tag)

    @classmethod
    def decode(cls, buf: Buffer) -> FileAttributeTagInformation:
        return cls(*unpack(cls._ST, buf))


def _chain(entries: list[bytes], to: int) -> bytes:
    """Join entries, each but the last padded to ``to`` bytes, with NextEntryOffset (first u32) set."""
    out = bytearray()
    for i, e in enumerate(entries):
        if i + 1 < len(entries):
            padded = align(len(e), to)
            out += _I.pack(padded) + e[4:] + b"\0" * (padded - len(e))
        else:
            out += e
    return bytes(out)


def _walk(buf: Buffer, min_entry: int) -> list[int]:
    """Offsets of the entries of a NextEntryOffset chain, with bounds and loop checks."""
    offs: list[int] = []
    off = 0
    if len(buf) == 0:
        return offs
    while True:
        if off + min_entry > len(buf):
            raise invalid("entry overruns buffer")
        offs.append(off)
        (nxt,) = unpack(_I, buf, off)
        if nxt == 0:
            return offs
        if nxt < min_entry:
            raise invalid("NextEntryOffset smaller than an entry")
        off += nxt


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One FILE_STREAM_INFORMATION entry; ``name`` as on the wire, e.g. ``::$DATA``, ``:s:$DATA``."""

    name: str
    size: int = 0
    allocation_size: int = 0


@dataclass(frozen=True, slots=True)
class FileStreamInformation:
    """[MS-FSCC] 2.4.43 FILE_STREAM_INFORMATION: a chain of 8-byte aligned entries."""

    INFO_CLASS: ClassVar[int] = FIC.FileStreamInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<IIqq")
    streams: tuple[StreamEntry, ...] = ()

    def encode(self) -> bytes:
        parts = []
        for s in self.streams:
            name = utf16_encode(s.name)
            parts.append(self._ST.pack(0, len(name), s.size, s.allocation_size) + name)
        return _chain(parts, 8)

    @classmethod
    def decode(cls, buf: Buffer) -> FileStreamInformation:
        out = []
        for off in _walk(buf, 24):
            _, n, size, alloc = unpack(cls._ST, buf, off)
            out.append(StreamEntry(utf16_decode(buf, off + 24, n), size, alloc))
        return cls(tuple(out))


_RENAME = struct.Struct("<B7xQI")
_RENAME_EX = struct.Struct("<I4xQI")


@dataclass(frozen=True, slots=True)
class FileRenameInformation:
    """[MS-FSCC] 2.4.37.2 FILE_RENAME_INFORMATION_TYPE_2 (the SMB2 form: 20 bytes + name).

    ``root_directory`` must be 0 over SMB2; ``file_name`` is relative to the share root.
    """

    INFO_CLASS: ClassVar[int] = FIC.FileRenameInformation
    replace_if_exists: bool = False
    file_name: str = ""
    root_directory: int = 0

    def encode(self) -> bytes:
        name = utf16_encode(self.file_name)
        return _RENAME.pack(int(self.replace_if_exists), self.root_directory, len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> FileRenameInformation:
        r, root, n = unpack(_RENAME, buf)
        return cls(bool(r), utf16_decode(buf, 20, n), root)


@dataclass(frozen=True, slots=True)
class FileLinkInformation:
    """[MS-FSCC] 2.4.27.2 FILE_LINK_INFORMATION_TYPE_2 (same layout as rename)."""

    INFO_CLASS: ClassVar[int] = FIC.FileLinkInformation
    replace_if_exists: bool = False
    file_name: str = ""
    root_directory: int = 0

    def encode(self) -> bytes:
        name = utf16_encode(self.file_name)
        return _RENAME.pack(int(self.replace_if_exists), self.root_directory, len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> FileLinkInformation:
        r, root, n = unpack(_RENAME, buf)
        return cls(bool(r), utf16_decode(buf, 20, n), root)


@dataclass(frozen=True, slots=True)
class FileRenameInformationEx:
    """[MS-FSCC] 2.4.38.2 FILE_RENAME_INFORMATION_EX (Flags: RenameExFlags)."""

    INFO_CLASS: ClassVar[int] = FIC.FileRenameInformationEx
    flags: int = 0
    file_name: str = ""
    root_directory: int = 0

    def encode(self) -> bytes:
        name = utf16_encode(self.file_name)
        return _RENAME_EX.pack(self.flags, self.root_directory, len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> FileRenameInformationEx:
        f, root, n = unpack(_RENAME_EX, buf)
        return cls(f, utf16_decode(buf, 20, n), root)


@dataclass(frozen=True, slots=True)
class FileDispositionInformation:
    """[MS-FSCC] 2.4.11 FILE_DISPOSITION_INFORMATION (1 byte: DeletePending)."""

    INFO_CLASS: ClassVar[int] = FIC.FileDispositionInformation
    delete_pending: bool = False

    def encode(self) -> bytes:
        return bytes([int(self.delete_pending)])

    @classmethod
    def decode(cls, buf: Buffer) -> FileDispositionInformation:
        return cls(bool(take(buf, 0, 1)[0]))


@dataclass(frozen=True, slots=True)
class FileDispositionInformationEx:
    """[MS-FSCC] 2.4.12 FILE_DISPOSITION_INFORMATION_EX (Flags: DispositionExFlags)."""

    INFO_CLASS: ClassVar[int] = FIC.FileDispositionInformationEx
    flags: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.flags)

    @classmethod
    def decode(cls, buf: Buffer) -> FileDispositionInformationEx:
        return cls(unpack(_I, buf)[0])


@dataclass(frozen=True, slots=True)
class FileEndOfFileInformation:
    """[MS-FSCC] 2.4.14 FILE_END_OF_FILE_INFORMATION."""

    INFO_CLASS: ClassVar[int] = FIC.FileEndOfFileInformation
    end_of_file: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.end_of_file)

    @classmethod
    def decode(cls, buf: Buffer) -> FileEndOfFileInformation:
        return cls(unpack(_Q, buf)[0])


@dataclass(frozen=True, slots=True)
class FileAllocationInformation:
    """[MS-FSCC] 2.4.4 FILE_ALLOCATION_INFORMATION."""

    INFO_CLASS: ClassVar[int] = FIC.FileAllocationInformation
    allocation_size: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.allocation_size)

    @classmethod
    def decode(cls, buf: Buffer) -> FileAllocationInformation:
        return cls(unpack(_Q, buf)[0])


@dataclass(frozen=True, slots=True)
class FileValidDataLengthInformation:
    """[MS-FSCC] 2.4.49 FILE_VALID_DATA_LENGTH_INFORMATION."""

    INFO_CLASS: ClassVar[int] = FIC.FileValidDataLengthInformation
    valid_data_length: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.valid_data_length)

    @classmethod
    def decode(cls, buf: Buffer) -> FileValidDataLengthInformation:
        return cls(unpack(_Q, buf)[0])


@dataclass(frozen=True, slots=True)
class EaEntry:
    """One extended attribute: ``name`` is the OEM name (latin-1 round-trip), ``flags`` EaFlags."""

    name: str
    value: bytes = b""
    flags: int = 0


_EA = struct.Struct("<IBBH")


@dataclass(frozen=True, slots=True)
class FileFullEaInformation:
    """[MS-FSCC] 2.4.15 FILE_FULL_EA_INFORMATION: NUL-terminated names, entries 4-byte aligned."""

    INFO_CLASS: ClassVar[int] = FIC.FileFullEaInformation
    eas: tuple[EaEntry, ...] = ()

    @staticmethod
    def encode_entry(ea: EaEntry) -> bytes:
        name = ea.name.encode("latin-1")
        if len(name) > 255 or len(ea.value) > 0xFFFF:
            raise ValueError("EA name or value too long")
        return _EA.pack(0, ea.flags, len(name), len(ea.value)) + name + b"\0" + ea.value

    def encode(self) -> bytes:
        return _chain([self.encode_entry(e) for e in self.eas], 4)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFullEaInformation:
        out = []
        for off in _walk(buf, 9):
            _, flags, nlen, vlen = unpack(_EA, buf, off)
            name = take(buf, off + 8, nlen + 1)
            if name[-1] != 0:
                raise invalid("EA name not NUL-terminated")
            out.append(EaEntry(name[:-1].decode("latin-1"), take(buf, off + 9 + nlen, vlen), flags))
        return cls(tuple(out))


@dataclass(frozen=True, slots=True)
class FileGetEaInformation:
    """[MS-FSCC] 2.4.15.1 FILE_GET_EA_INFORMATION list (the QUERY_INFO input buffer for EAs)."""

    names: tuple[str, ...] = ()

    def encode(self) -> bytes:
        parts = []
        for n in self.names:
            b = n.encode("latin-1")
            parts.append(_I.pack(0) + bytes([len(b)]) + b + b"\0")
        return _chain(parts, 4)

    @classmethod
    def decode(cls, buf: Buffer) -> FileGetEaInformation:
        out = []
        for off in _walk(buf, 6):
            nlen = take(buf, off + 4, 1)[0]
            name = take(buf, off + 5, nlen + 1)
            if name[-1] != 0:
                raise invalid("EA name not NUL-terminated")
            out.append(name[:-1].decode("latin-1"))
        return cls(tuple(out))


@dataclass(frozen=True, slots=True)
class FileCompressionInformation:
    """[MS-FSCC] 2.4.9 FILE_COMPRESSION_INFORMATION (16 bytes)."""

    INFO_CLASS: ClassVar[int] = FIC.FileCompressionInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<qHBBB3x")
    compressed_file_size: int = 0
    compression_format: int = 0
    compression_unit_shift: int = 0
    chunk_shift: int = 0
    cluster_shift: int = 0

    def encode(self) -> bytes:
        return self._ST.pack(self.compressed_file_size, self.compression_format,
                             self.compression_unit_shift, self.chunk_shift, self.cluster_shift)

    @classmethod
    def decode(cls, buf: Buffer) -> FileCompressionInformation:
        return cls(*unpack(cls._ST, buf))


@dataclass(frozen=True, slots=True)
class FileIdInformation:
    """[MS-FSCC] FILE_ID_INFORMATION: VolumeSerialNumber + 128-bit FileId (as an int)."""

    INFO_CLASS: ClassVar[int] = FIC.FileIdInformation
    volume_serial_number: int = 0
    file_id: int = 0

    def encode(self) -> bytes:
        return _Q.pack(self.volume_serial_number) + self.file_id.to_bytes(16, "little")

    @classmethod
    def decode(cls, buf: Buffer) -> FileIdInformation:
        (v,) = struct.unpack("<Q", take(buf, 0, 8))
        return cls(v, int.from_bytes(take(buf, 8, 16), "little"))


@dataclass(frozen=True, slots=True)
class FileStandardLinkInformation:
    """[MS-FSCC] 2.4.42 FILE_STANDARD_LINK_INFORMATION (12 bytes)."""

    INFO_CLASS: ClassVar[int] = FIC.FileStandardLinkInformation
    _ST: ClassVar[struct.Struct] = struct.Struct("<IIBB2x")
    number_of_accessible_links: int = 1
    total_number_of_links: int = 1
    delete_pending: bool = False
    directory: bool = False

    def encode(self) -> bytes:
        return self._ST.pack(self.number_of_accessible_links, self.total_number_of_links,
                             int(self.delete_pending), int(self.directory))

    @classmethod
    def decode(cls, buf: Buffer) -> FileStandardLinkInformation:
        a, t, dp, d = unpack(cls._ST, buf)
        return cls(a, t, bool(dp), bool(d))


@dataclass(frozen=True, slots=True)
class FileCaseSensitiveInformation:
    """[MS-FSCC] FILE_CASE_SENSITIVE_INFORMATION: Flags (1 = case-sensitive directory)."""

    INFO_CLASS: ClassVar[int] = FIC.FileCaseSensitiveInformation
    flags: int = 0

    def encode(self) -> bytes:
        return _I.pack(self.flags)

    @classmethod
    def decode(cls, buf: Buffer) -> FileCaseSensitiveInformation:
        return cls(unpack(_I, buf)[0])


FILE_INFO_TYPES: dict[int, type] = {
    FIC.FileBasicInformation: FileBasicInformation,
    FIC.FileStandardInformation: FileStandardInformation,
    FIC.FileInternalInformation: FileInternalInformation,
    FIC.FileEaInformation: FileEaInformation,
    FIC.FileAccessInformation: FileAccessInformation,
    FIC.FileNameInformation: FileNameInformation,
    FIC.FileRenameInformation: FileRenameInformation,
    FIC.FileLinkInformation: FileLinkInformation,
    FIC.FileDispositionInformation: FileDispositionInformation,
    FIC.FilePositionInformation: FilePositionInformation,
    FIC.FileFullEaInformation: FileFullEaInformation,
    FIC.FileModeInformation: FileModeInformation,
    FIC.FileAlignmentInformation: FileAlignmentInformation,
    FIC.FileAllInformation: FileAllInformation,
    FIC.FileAllocationInformation: FileAllocationInformation,
    FIC.FileEndOfFileInformation: FileEndOfFileInformation,
    FIC.FileAlternateNameInformation: FileNameInformation,
    FIC.FileStreamInformation: FileStreamInformation,
    FIC.FileCompressionInformation: FileCompressionInformation,
    FIC.FileNetworkOpenInformation: FileNetworkOpenInformation,
    FIC.FileAttributeTagInformation: FileAttributeTagInformation,
    FIC.FileValidDataLengthInformation: FileValidDataLengthInformation,
    FIC.FileShortNameInformation: FileNameInformation,
    FIC.FileNormalizedNameInformation: FileNameInformation,
    FIC.FileStandardLinkInformation: FileStandardLinkInformation,
    FIC.FileIdInformation: FileIdInformation,
    FIC.FileDispositionInformationEx: FileDispositionInformationEx,
    FIC.FileRenameInformationEx: FileRenameInformationEx,
    FIC.FileCaseSensitiveInformation: FileCaseSensitiveInformation,
}
