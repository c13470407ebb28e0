"""[MS-FSCC] constants: generic mapping, FILETIME conversion, enum values pinned to the spec."""
from __future__ import annotations

from sofs.wire.fscc_constants import (
    FILE_ALL_ACCESS,
    FILE_GENERIC_EXECUTE,
    FILE_GENERIC_READ,
    FILE_GENERIC_WRITE,
    FILETIME_UNIX_EPOCH,
    AccessMask,
    FileInfoClass,
    FsInfoClass,
    filetime_to_unix_ns,
    map_generic,
    unix_ns_to_filetime,
)


def test_generic_constants_match_winnt() -> None:
    assert FILE_GENERIC_READ == 0x120089
    assert FILE_GENERIC_WRITE == 0x120116
    assert FILE_GENERIC_EXECUTE == 0x1200A0
    assert FILE_ALL_ACCESS == 0x1F01FF


def test_map_generic() -> None:
    assert map_generic(AccessMask.GENERIC_READ) == FILE_GENERIC_READ
    assert map_generic(AccessMask.GENERIC_ALL | AccessMask.MAXIMUM_ALLOWED) == FILE_ALL_ACCESS | 0x02000000
    assert map_generic(AccessMask.GENERIC_WRITE | AccessMask.DELETE, is_directory=True) == FILE_GENERIC_WRITE | 0x10000
    assert map_generic(0x80000000 | 0x40000000 | 0x20000000) == 0x1201BF
    assert map_generic(AccessMask.FILE_READ_DATA) == 1


def test_filetime() -> None:
    assert unix_ns_to_filetime(0) == FILETIME_UNIX_EPOCH
    # 2020-01-01T00:00:00Z
    assert unix_ns_to_filetime(1577836800 * 10**9) == 132223104000000000
    assert filetime_to_unix_ns(132223104000000000) == 1577836800 * 10**9
    assert filetime_to_unix_ns(unix_ns_to_filetime(123456789012345600)) == 123456789012345600


def test_info_class_numbers() -> None:
    assert FileInfoClass.FileIdBothDirectoryInformation == 37
    assert FileInfoClass.FileNormalizedNameInformation == 48
    assert FileInfoClass.FileIdExtdDirectoryInformation == 60
    assert FileInfoClass.FileDispositionInformationEx == 64
    assert FileInfoClass.FileRenameInformationEx == 65
    assert FsInfoClass.FileFsSectorSizeInformation == 11
