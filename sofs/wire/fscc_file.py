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
from sofs.wire.fscc_base import Buffer, chain_entries, take, unpack, utf16_decode, utf16_encode, walk_entries
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.fscc_file_set import (
    EaEntry,
    FileAllocationInformation,
    FileDispositionInformation,
    FileDispositionInformationEx,
    FileEndOfFileInformation,
    FileFullEaInformation,
    FileGetEaInformation,
    FileLinkInformation,
    FileRenameInformation,
    FileRenameInformationEx,
    FileValidDataLengthInformation,
)

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

    # the fixed 100 bytes in one pack: Basic (40), Standard (24), Internal (8), Ea, Access (4 + 4),
    # Position (8), Mode, Alignment (4 + 4), then the name's length (4); the name follows
    _FIXED: ClassVar[struct.Struct] = struct.Struct("<qqqqI4xqqIBB2xqIIqIII")

    def encode(self) -> bytes:
        b, s = self.basic, self.standard
        return self.pack(b.creation_time, b.last_access_time, b.last_write_time, b.change_time,
                         b.file_attributes, s.allocation_size, s.end_of_file, s.number_of_links,
                         s.delete_pending, s.directory, self.internal.index_number, self.ea.ea_size,
                         self.access.access_flags, self.position.current_byte_offset, self.mode.mode,
                         self.alignment.alignment_requirement, self.name.file_name)

    @classmethod
    def pack(cls, creation_time: int, last_access_time: int, last_write_time: int, change_time: int,
             attributes: int, allocation_size: int, end_of_file: int, number_of_links: int,
             delete_pending: bool, directory: bool, index_number: int, ea_size: int, access_flags: int,
             position: int, mode: int, alignment: int, file_name: str) -> bytes:
        """The encoding of the instance these fields would make, without making it (QUERY_INFO's
        most asked class: Explorer and Office ask it of every file they open)."""
        name = utf16_encode(file_name)
        return cls._FIXED.pack(creation_time, last_access_time, last_write_time, change_time, attributes,
                               allocation_size, end_of_file, number_of_links, int(delete_pending),
                               int(directory), index_number, ea_size, access_flags, position, mode,
                               alignment, len(name)) + name

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
        return chain_entries(parts, 8)

    @classmethod
    def decode(cls, buf: Buffer) -> FileStreamInformation:
        out = []
        for off in walk_entries(buf, 24):
            _, n, size, alloc = unpack(cls._ST, buf, off)
            out.append(StreamEntry(utf16_decode(buf, off + 24, n), size, alloc))
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
