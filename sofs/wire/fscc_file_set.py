"""[MS-FSCC] 2.4 file information classes mostly used by SET_INFO: rename, link, disposition,
end-of-file, allocation, valid data length, and the extended-attribute lists (FullEa / GetEa).

Same conventions as ``fscc_file`` (which re-exports these classes and registers them in
``FILE_INFO_TYPES``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from sofs.wire.errors import invalid
from sofs.wire.fscc_base import Buffer, chain_entries, take, unpack, utf16_decode, utf16_encode, walk_entries
from sofs.wire.fscc_constants import FileInfoClass as FIC

__all__ = [
    "EaEntry", "FileAllocationInformation", "FileDispositionInformation", "FileDispositionInformationEx",
    "FileEndOfFileInformation", "FileFullEaInformation", "FileGetEaInformation", "FileLinkInformation",
    "FileRenameInformation", "FileRenameInformationEx", "FileValidDataLengthInformation",
]

_Q = struct.Struct("<q")
_I = struct.Struct("<I")


_RENAME = struct.Struct("<B7xQI")
_RENAME_EX = struct.Struct("<I4xQI")


@dataclass(frozen=True, slots=True)
class _RenameLayout:
    """The 20-byte + name layout FILE_RENAME_INFORMATION and FILE_LINK_INFORMATION share (SMB2 form)."""

    replace_if_exists: bool = False
    file_name: str = ""
    root_directory: int = 0

    def encode(self) -> bytes:
        name = utf16_encode(self.file_name)
        return _RENAME.pack(int(self.replace_if_exists), self.root_directory, len(name)) + name

    @classmethod
    def decode(cls, buf: Buffer) -> Self:
        r, root, n = unpack(_RENAME, buf)
        return cls(bool(r), utf16_decode(buf, 20, n), root)


@dataclass(frozen=True, slots=True)
class FileRenameInformation(_RenameLayout):
    """[MS-FSCC] 2.4.37.2 FILE_RENAME_INFORMATION_TYPE_2 (the SMB2 form: 20 bytes + name).

    ``root_directory`` must be 0 over SMB2; ``file_name`` is relative to the share root.
    """

    INFO_CLASS: ClassVar[int] = FIC.FileRenameInformation


@dataclass(frozen=True, slots=True)
class FileLinkInformation(_RenameLayout):
    """[MS-FSCC] 2.4.27.2 FILE_LINK_INFORMATION_TYPE_2 (same layout as rename)."""

    INFO_CLASS: ClassVar[int] = FIC.FileLinkInformation


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
        return chain_entries([self.encode_entry(e) for e in self.eas], 4)

    @classmethod
    def decode(cls, buf: Buffer) -> FileFullEaInformation:
        out = []
        for off in walk_entries(buf, 9):
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
        return chain_entries(parts, 4)

    @classmethod
    def decode(cls, buf: Buffer) -> FileGetEaInformation:
        out = []
        for off in walk_entries(buf, 6):
            nlen = take(buf, off + 4, 1)[0]
            name = take(buf, off + 5, nlen + 1)
            if name[-1] != 0:
                raise invalid("EA name not NUL-terminated")
            out.append(name[:-1].decode("latin-1"))
        return cls(tuple(out))
