"""[MS-FSCC] information classes: one import point plus the output-size rules of QUERY_INFO.

Re-exports ``fscc_file`` (file classes), ``fscc_dir`` (QUERY_DIRECTORY classes) and ``fscc_fs``
(file system classes), and adds the table of minimum output sizes ([MS-SMB2] 3.3.5.20.1):
a buffer smaller than a class's fixed part gets STATUS_INFO_LENGTH_MISMATCH; a buffer that holds the
fixed part but not the variable tail gets STATUS_BUFFER_OVERFLOW with the data truncated. The fixed
sizes are those Windows enforces (smbtorture smb2.getinfo.q*_buffercheck), e.g. 104 for
FileAllInformation and 24 for FileFsVolumeInformation (the C struct sizes with one name character).
"""
from __future__ import annotations

from dataclasses import dataclass

from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.fscc_constants import FsInfoClass as FSC
from sofs.wire.fscc_dir import (
    DIR_INFO_CLASSES,
    DirEntry,
    decode_dir_entries,
    encode_dir_entries,
    encode_dir_entry,
)
from sofs.wire.fscc_file import *
from sofs.wire.fscc_file import FILE_INFO_TYPES
from sofs.wire.fscc_file import __all__ as _file_all
from sofs.wire.fscc_fs import *
from sofs.wire.fscc_fs import FS_INFO_TYPES
from sofs.wire.fscc_fs import __all__ as _fs_all
from sofs.wire.status import NtStatus

__all__ = [  # noqa: PLE0604
    *_file_all, *_fs_all, "DIR_INFO_CLASSES", "DirEntry", "decode_dir_entries", "encode_dir_entries",
    "encode_dir_entry", "InfoSize", "FILE_INFO_SIZES", "FS_INFO_SIZES", "buffer_for", "fit_output",
    "FILE_INFO_TYPES", "FS_INFO_TYPES", "SET_FILE_INFO_MIN_SIZES", "SET_FS_INFO_MIN_SIZES", "decode_set_info",
]


@dataclass(frozen=True, slots=True)
class InfoSize:
    """Minimum OutputBufferLength of a class and whether it has a variable-length tail."""

    min_size: int
    variable: bool


_FIXED = False
_VAR = True

FILE_INFO_SIZES: dict[int, InfoSize] = {
    FIC.FileBasicInformation: InfoSize(40, _FIXED),
    FIC.FileStandardInformation: InfoSize(24, _FIXED),
    FIC.FileInternalInformation: InfoSize(8, _FIXED),
    FIC.FileEaInformation: InfoSize(4, _FIXED),
    FIC.FileAccessInformation: InfoSize(4, _FIXED),
    FIC.FileNameInformation: InfoSize(8, _VAR),
    FIC.FilePositionInformation: InfoSize(8, _FIXED),
    FIC.FileModeInformation: InfoSize(4, _FIXED),
    FIC.FileAlignmentInformation: InfoSize(4, _FIXED),
    FIC.FileAllInformation: InfoSize(104, _VAR),
    FIC.FileAlternateNameInformation: InfoSize(8, _VAR),
    FIC.FileStreamInformation: InfoSize(32, _VAR),
    FIC.FileCompressionInformation: InfoSize(16, _FIXED),
    FIC.FileNetworkOpenInformation: InfoSize(56, _FIXED),
    FIC.FileAttributeTagInformation: InfoSize(8, _FIXED),
    FIC.FileNormalizedNameInformation: InfoSize(8, _VAR),
    FIC.FileStandardLinkInformation: InfoSize(12, _FIXED),
    FIC.FileIdInformation: InfoSize(24, _FIXED),
    FIC.FileCaseSensitiveInformation: InfoSize(4, _FIXED),
    # EAs: the handler answers BUFFER_TOO_SMALL when not even one entry fits ([MS-SMB2] 3.3.5.20.1).
    FIC.FileFullEaInformation: InfoSize(0, _VAR),
}

FS_INFO_SIZES: dict[int, InfoSize] = {
    FSC.FileFsVolumeInformation: InfoSize(24, _VAR),
    FSC.FileFsSizeInformation: InfoSize(24, _FIXED),
    FSC.FileFsDeviceInformation: InfoSize(8, _FIXED),
    FSC.FileFsAttributeInformation: InfoSize(16, _VAR),
    FSC.FileFsControlInformation: InfoSize(48, _FIXED),
    FSC.FileFsFullSizeInformation: InfoSize(32, _FIXED),
    FSC.FileFsObjectIdInformation: InfoSize(64, _FIXED),
    FSC.FileFsSectorSizeInformation: InfoSize(28, _FIXED),
}


def buffer_for(info_type: int, info_class: int) -> InfoSize | None:
    """Size rule for (InfoType, class): InfoType 1 = FILE, 2 = FILESYSTEM ([MS-SMB2] 2.2.37).

    None for classes not in the table (the handler answers INVALID_INFO_CLASS / NOT_SUPPORTED).
    """
    table = FILE_INFO_SIZES if info_type == 1 else FS_INFO_SIZES if info_type == 2 else {}
    return table.get(info_class)


def fit_output(size: InfoSize, data: bytes, output_buffer_length: int) -> tuple[int, bytes]:
    """Apply [MS-SMB2] 3.3.5.20.1 to an encoded class: (NTSTATUS, bytes to send).

    Buffer below the fixed size → (INFO_LENGTH_MISMATCH, b''); whole data fits → (SUCCESS, data);
    otherwise (BUFFER_OVERFLOW, data truncated to the buffer) for variable classes.
    """
    if output_buffer_length < size.min_size:
        return NtStatus.INFO_LENGTH_MISMATCH, b""
    if len(data) <= output_buffer_length:
        return NtStatus.SUCCESS, data
    if not size.variable:
        return NtStatus.INFO_LENGTH_MISMATCH, b""
    return NtStatus.BUFFER_OVERFLOW, data[:output_buffer_length]


# SET_INFO: fixed-part sizes below which [MS-FSA] 2.1.5.14 answers STATUS_INFO_LENGTH_MISMATCH.
# FileBasicInformation accepts 36 (the Reserved field is optional, as Windows accepts).
SET_FILE_INFO_MIN_SIZES: dict[int, int] = {
    FIC.FileBasicInformation: 36,
    FIC.FileRenameInformation: 20,
    FIC.FileRenameInformationEx: 20,
    FIC.FileLinkInformation: 20,
    FIC.FileDispositionInformation: 1,
    FIC.FileDispositionInformationEx: 4,
    FIC.FilePositionInformation: 8,
    FIC.FileModeInformation: 4,
    FIC.FileAllocationInformation: 8,
    FIC.FileEndOfFileInformation: 8,
    FIC.FileValidDataLengthInformation: 8,
    FIC.FileFullEaInformation: 0,
    FIC.FileShortNameInformation: 4,
    FIC.FileCaseSensitiveInformation: 4,
}

SET_FS_INFO_MIN_SIZES: dict[int, int] = {
    FSC.FileFsLabelInformation: 4,
    FSC.FileFsControlInformation: 48,
    FSC.FileFsObjectIdInformation: 64,
}


def decode_set_info(info_type: int, info_class: int, buf: bytes | bytearray | memoryview) -> object:
    """Decode a SET_INFO buffer (InfoType 1 FILE or 2 FILESYSTEM) to its fscc class.

    WireError(INVALID_INFO_CLASS) for a class that cannot be set, (INFO_LENGTH_MISMATCH) for a buffer
    shorter than the fixed part, (INVALID_PARAMETER) for inconsistent contents.
    """
    sizes, types = ((SET_FILE_INFO_MIN_SIZES, FILE_INFO_TYPES) if info_type == 1
                    else (SET_FS_INFO_MIN_SIZES, FS_INFO_TYPES) if info_type == 2 else ({}, {}))
    if info_class not in sizes:
        raise WireError(NtStatus.INVALID_INFO_CLASS, f"SET_INFO class {info_class}")
    if len(buf) < sizes[info_class]:
        raise WireError(NtStatus.INFO_LENGTH_MISMATCH, f"SET_INFO class {info_class}: {len(buf)} bytes")
    result: object = types[info_class].decode(buf)  # type: ignore[attr-defined]
    return result
