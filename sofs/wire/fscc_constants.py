"""[MS-FSCC] / [MS-SMB2] constants for file operations: information classes, attributes, access masks,
CREATE dispositions and options, security-information selectors, reparse tags and FILETIME helpers.

Pure values only; the structures that use them live in ``fscc_file``, ``fscc_dir``, ``fscc_fs`` and
``dtyp``.
"""
from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "FILETIME_NO_CHANGE",
    "FILETIME_RESUME_UPDATES",
    "FILETIME_STOP_UPDATES",
    "FILETIME_UNIX_EPOCH",
    "FILE_ALL_ACCESS",
    "FILE_GENERIC_EXECUTE",
    "FILE_GENERIC_READ",
    "FILE_GENERIC_WRITE",
    "GENERIC_MASK",
    "AccessMask",
    "CreateAction",
    "CreateDisposition",
    "CreateOptions",
    "DeviceCharacteristics",
    "DeviceType",
    "DispositionExFlags",
    "EaFlags",
    "FileAttributes",
    "FileInfoClass",
    "FileModeFlags",
    "FileSystemAttributes",
    "FsInfoClass",
    "ImpersonationLevel",
    "RenameExFlags",
    "ReparseTag",
    "SecurityInformation",
    "ShareAccess",
    "filetime_to_unix_ns",
    "map_generic",
    "unix_ns_to_filetime",
]


class FileInfoClass(IntEnum):
    """[MS-FSCC] 2.4 file information classes (FileInformationClass of QUERY/SET_INFO, QUERY_DIRECTORY)."""

    FileDirectoryInformation = 1
    FileFullDirectoryInformation = 2
    FileBothDirectoryInformation = 3
    FileBasicInformation = 4
    FileStandardInformation = 5
    FileInternalInformation = 6
    FileEaInformation = 7
    FileAccessInformation = 8
    FileNameInformation = 9
    FileRenameInformation = 10
    FileLinkInformation = 11
    FileNamesInformation = 12
    FileDispositionInformation = 13
    FilePositionInformation = 14
    FileFullEaInformation = 15
    FileModeInformation = 16
    FileAlignmentInformation = 17
    FileAllInformation = 18
    FileAllocationInformation = 19
    FileEndOfFileInformation = 20
    FileAlternateNameInformation = 21
    FileStreamInformation = 22
    FilePipeInformation = 23
    FilePipeLocalInformation = 24
    FilePipeRemoteInformation = 25
    FileMailslotQueryInformation = 26
    FileMailslotSetInformation = 27
    FileCompressionInformation = 28
    FileObjectIdInformation = 29
    FileCompletionInformation = 30
    FileMoveClusterInformation = 31
    FileQuotaInformation = 32
    FileReparsePointInformation = 33
    FileNetworkOpenInformation = 34
    FileAttributeTagInformation = 35
    FileTrackingInformation = 36
    FileIdBothDirectoryInformation = 37
    FileIdFullDirectoryInformation = 38
    FileValidDataLengthInformation = 39
    FileShortNameInformation = 40
    FileIoCompletionNotificationInformation = 41
    FileIoStatusBlockRangeInformation = 42
    FileIoPriorityHintInformation = 43
    FileSfioReserveInformation = 44
    FileSfioVolumeInformation = 45
    FileHardLinkInformation = 46
    FileProcessIdsUsingFileInformation = 47
    FileNormalizedNameInformation = 48
    FileNetworkPhysicalNameInformation = 49
    FileIdGlobalTxDirectoryInformation = 50
    FileIsRemoteDeviceInformation = 51
    FileUnusedInformation = 52
    FileNumaNodeInformation = 53
    FileStandardLinkInformation = 54
    FileRemoteProtocolInformation = 55
    FileRenameInformationBypassAccessCheck = 56
    FileLinkInformationBypassAccessCheck = 57
    FileVolumeNameInformation = 58
    FileIdInformation = 59
    FileIdExtdDirectoryInformation = 60
    FileReplaceCompletionInformation = 61
    FileHardLinkFullIdInformation = 62
    FileIdExtdBothDirectoryInformation = 63
    FileDispositionInformationEx = 64
    FileRenameInformationEx = 65
    FileRenameInformationExBypassAccessCheck = 66
    FileDesiredStorageClassInformation = 67
    FileStatInformation = 68
    FileMemoryPartitionInformation = 69
    FileStatLxInformation = 70
    FileCaseSensitiveInformation = 71
    FileLinkInformationEx = 72


class FsInfoClass(IntEnum):
    """[MS-FSCC] 2.5 file system information classes (QUERY_INFO with InfoType FILESYSTEM)."""

    FileFsVolumeInformation = 1
    FileFsLabelInformation = 2
    FileFsSizeInformation = 3
    FileFsDeviceInformation = 4
    FileFsAttributeInformation = 5
    FileFsControlInformation = 6
    FileFsFullSizeInformation = 7
    FileFsObjectIdInformation = 8
    FileFsDriverPathInformation = 9
    FileFsVolumeFlagsInformation = 10
    FileFsSectorSizeInformation = 11


class FileAttributes(IntFlag):
    """[MS-FSCC] 2.6 file attributes."""

    READONLY = 0x00000001
    HIDDEN = 0x00000002
    SYSTEM = 0x00000004
    DIRECTORY = 0x00000010
    ARCHIVE = 0x00000020
    NORMAL = 0x00000080
    TEMPORARY = 0x00000100
    SPARSE_FILE = 0x00000200
    REPARSE_POINT = 0x00000400
    COMPRESSED = 0x00000800
    OFFLINE = 0x00001000
    NOT_CONTENT_INDEXED = 0x00002000
    ENCRYPTED = 0x00004000
    INTEGRITY_STREAM = 0x00008000
    NO_SCRUB_DATA = 0x00020000
    RECALL_ON_OPEN = 0x00040000
    PINNED = 0x00080000
    UNPINNED = 0x00100000
    RECALL_ON_DATA_ACCESS = 0x00400000


class AccessMask(IntFlag):
    """[MS-SMB2] 2.2.13.1.1 / 2.2.13.1.2 access mask bits (file and directory names share values)."""

    FILE_READ_DATA = 0x00000001
    FILE_LIST_DIRECTORY = 0x00000001
    FILE_WRITE_DATA = 0x00000002
    FILE_ADD_FILE = 0x00000002
    FILE_APPEND_DATA = 0x00000004
    FILE_ADD_SUBDIRECTORY = 0x00000004
    FILE_READ_EA = 0x00000008
    FILE_WRITE_EA = 0x00000010
    FILE_EXECUTE = 0x00000020
    FILE_TRAVERSE = 0x00000020
    FILE_DELETE_CHILD = 0x00000040
    FILE_READ_ATTRIBUTES = 0x00000080
    FILE_WRITE_ATTRIBUTES = 0x00000100
    DELETE = 0x00010000
    READ_CONTROL = 0x00020000
    WRITE_DAC = 0x00040000
    WRITE_OWNER = 0x00080000
    SYNCHRONIZE = 0x00100000
    ACCESS_SYSTEM_SECURITY = 0x01000000
    MAXIMUM_ALLOWED = 0x02000000
    GENERIC_ALL = 0x10000000
    GENERIC_EXECUTE = 0x20000000
    GENERIC_WRITE = 0x40000000
    GENERIC_READ = 0x80000000


_STANDARD_RIGHTS_REQUIRED = 0x000F0000
FILE_GENERIC_READ = 0x00120089  # READ_CONTROL|FILE_READ_DATA|FILE_READ_ATTRIBUTES|FILE_READ_EA|SYNCHRONIZE
FILE_GENERIC_WRITE = 0x00120116  # READ_CONTROL|WRITE_DATA|APPEND_DATA|WRITE_ATTRIBUTES|WRITE_EA|SYNCHRONIZE
FILE_GENERIC_EXECUTE = 0x001200A0  # READ_CONTROL|FILE_READ_ATTRIBUTES|FILE_EXECUTE|SYNCHRONIZE
FILE_ALL_ACCESS = _STANDARD_RIGHTS_REQUIRED | 0x00100000 | 0x1FF  # 0x001F01FF
GENERIC_MASK = 0xF0000000


def map_generic(mask: int, is_directory: bool = False) -> int:
    """Map GENERIC_* bits to file-specific rights (the NTFS/IoFileObjectType generic mapping).

    Windows uses one mapping for files and directories, so ``is_directory`` does not change the
    result; it is kept so callers state what they map. MAXIMUM_ALLOWED and ACCESS_SYSTEM_SECURITY
    pass through unchanged; the GENERIC_* bits are cleared.
    """
    del is_directory
    mask = int(mask)
    out = mask & ~GENERIC_MASK & 0xFFFFFFFF
    if not mask & GENERIC_MASK:
        return out
    # plain ints: ``int & IntFlag`` goes through IntFlag.__rand__ and builds enum members (slow)
    if mask & 0x80000000:  # GENERIC_READ
        out |= FILE_GENERIC_READ
    if mask & 0x40000000:  # GENERIC_WRITE
        out |= FILE_GENERIC_WRITE
    if mask & 0x20000000:  # GENERIC_EXECUTE
        out |= FILE_GENERIC_EXECUTE
    if mask & 0x10000000:  # GENERIC_ALL
        out |= FILE_ALL_ACCESS
    return out


class ShareAccess(IntFlag):
    """[MS-SMB2] 2.2.13 ShareAccess."""

    NONE = 0
    READ = 0x1
    WRITE = 0x2
    DELETE = 0x4


class CreateDisposition(IntEnum):
    """[MS-SMB2] 2.2.13 CreateDisposition."""

    SUPERSEDE = 0
    OPEN = 1
    CREATE = 2
    OPEN_IF = 3
    OVERWRITE = 4
    OVERWRITE_IF = 5


class CreateOptions(IntFlag):
    """[MS-SMB2] 2.2.13 CreateOptions."""

    DIRECTORY_FILE = 0x00000001
    WRITE_THROUGH = 0x00000002
    SEQUENTIAL_ONLY = 0x00000004
    NO_INTERMEDIATE_BUFFERING = 0x00000008
    SYNCHRONOUS_IO_ALERT = 0x00000010
    SYNCHRONOUS_IO_NONALERT = 0x00000020
    NON_DIRECTORY_FILE = 0x00000040
    COMPLETE_IF_OPLOCKED = 0x00000100
    NO_EA_KNOWLEDGE = 0x00000200
    OPEN_REMOTE_INSTANCE = 0x00000400
    RANDOM_ACCESS = 0x00000800
    DELETE_ON_CLOSE = 0x00001000
    OPEN_BY_FILE_ID = 0x00002000
    OPEN_FOR_BACKUP_INTENT = 0x00004000
    NO_COMPRESSION = 0x00008000
    OPEN_REQUIRING_OPLOCK = 0x00010000
    DISALLOW_EXCLUSIVE = 0x00020000
    RESERVE_OPFILTER = 0x00100000
    OPEN_REPARSE_POINT = 0x00200000
    OPEN_NO_RECALL = 0x00400000
    OPEN_FOR_FREE_SPACE_QUERY = 0x00800000


class CreateAction(IntEnum):
    """[MS-SMB2] 2.2.14 CreateAction."""

    SUPERSEDED = 0
    OPENED = 1
    CREATED = 2
    OVERWRITTEN = 3


class ImpersonationLevel(IntEnum):
    """[MS-SMB2] 2.2.13 ImpersonationLevel."""

    ANONYMOUS = 0
    IDENTIFICATION = 1
    IMPERSONATION = 2
    DELEGATE = 3


class SecurityInformation(IntFlag):
    """[MS-DTYP] 2.4.7 SECURITY_INFORMATION (AdditionalInformation of QUERY/SET_INFO SECURITY)."""

    OWNER = 0x00000001
    GROUP = 0x00000002
    DACL = 0x00000004
    SACL = 0x00000008
    LABEL = 0x00000010
    ATTRIBUTE = 0x00000020
    SCOPE = 0x00000040
    PROCESS_TRUST_LABEL = 0x00000080
    ACCESS_FILTER = 0x00000100
    BACKUP = 0x00010000
    UNPROTECTED_SACL = 0x10000000
    UNPROTECTED_DACL = 0x20000000
    PROTECTED_SACL = 0x40000000
    PROTECTED_DACL = 0x80000000


class ReparseTag(IntEnum):
    """[MS-FSCC] 2.1.2.1 well-known reparse tags (the wire field is a plain uint32)."""

    NONE = 0
    MOUNT_POINT = 0xA0000003
    HSM = 0xC0000004
    HSM2 = 0x80000006
    SIS = 0x80000007
    WIM = 0x80000008
    CSV = 0x80000009
    DFS = 0x8000000A
    SYMLINK = 0xA000000C
    DFSR = 0x80000012
    DEDUP = 0x80000013
    NFS = 0x80000014
    FILE_PLACEHOLDER = 0x80000015
    WOF = 0x80000017
    WCI = 0x80000018
    GLOBAL_REPARSE = 0xA0000019
    CLOUD = 0x9000001A
    APPEXECLINK = 0x8000001B
    PROJFS = 0x9000001C
    LX_SYMLINK = 0xA000001D
    STORAGE_SYNC = 0x8000001E
    WCI_TOMBSTONE = 0xA000001F
    UNHANDLED = 0x80000020
    ONEDRIVE = 0x80000021
    PROJFS_TOMBSTONE = 0xA0000022
    AF_UNIX = 0x80000023
    LX_FIFO = 0x80000024
    LX_CHR = 0x80000025
    LX_BLK = 0x80000026


class FileSystemAttributes(IntFlag):
    """[MS-FSCC] 2.5.1 FileSystemAttributes of FileFsAttributeInformation."""

    CASE_SENSITIVE_SEARCH = 0x00000001
    CASE_PRESERVED_NAMES = 0x00000002
    UNICODE_ON_DISK = 0x00000004
    PERSISTENT_ACLS = 0x00000008
    FILE_COMPRESSION = 0x00000010
    VOLUME_QUOTAS = 0x00000020
    SUPPORTS_SPARSE_FILES = 0x00000040
    SUPPORTS_REPARSE_POINTS = 0x00000080
    SUPPORTS_REMOTE_STORAGE = 0x00000100
    RETURNS_CLEANUP_RESULT_INFO = 0x00000200
    SUPPORTS_POSIX_UNLINK_RENAME = 0x00000400
    VOLUME_IS_COMPRESSED = 0x00008000
    SUPPORTS_OBJECT_IDS = 0x00010000
    SUPPORTS_ENCRYPTION = 0x00020000
    NAMED_STREAMS = 0x00040000
    READ_ONLY_VOLUME = 0x00080000
    SEQUENTIAL_WRITE_ONCE = 0x00100000
    SUPPORTS_TRANSACTIONS = 0x00200000
    SUPPORTS_HARD_LINKS = 0x00400000
    SUPPORTS_EXTENDED_ATTRIBUTES = 0x00800000
    SUPPORTS_OPEN_BY_FILE_ID = 0x01000000
    SUPPORTS_USN_JOURNAL = 0x02000000
    SUPPORTS_INTEGRITY_STREAMS = 0x04000000
    SUPPORTS_BLOCK_REFCOUNTING = 0x08000000
    SUPPORTS_SPARSE_VDL = 0x10000000
    DAX_VOLUME = 0x20000000
    SUPPORTS_GHOSTING = 0x40000000


class DeviceType(IntEnum):
    """[MS-FSCC] 2.5.10 DeviceType of FileFsDeviceInformation (the values a file server reports)."""

    CD_ROM = 0x00000002
    DISK = 0x00000007
    NAMED_PIPE = 0x00000011
    NETWORK_FILE_SYSTEM = 0x00000014
    VIRTUAL_DISK = 0x00000024


class DeviceCharacteristics(IntFlag):
    """[MS-FSCC] 2.5.10 Characteristics of FileFsDeviceInformation."""

    REMOVABLE_MEDIA = 0x00000001
    READ_ONLY_DEVICE = 0x00000002
    FLOPPY_DISKETTE = 0x00000004
    WRITE_ONCE_MEDIA = 0x00000008
    REMOTE_DEVICE = 0x00000010
    DEVICE_IS_MOUNTED = 0x00000020
    VIRTUAL_VOLUME = 0x00000040
    DEVICE_SECURE_OPEN = 0x00000100
    CHARACTERISTIC_TS_DEVICE = 0x00001000
    CHARACTERISTIC_WEBDAV_DEVICE = 0x00002000
    DEVICE_ALLOW_APPCONTAINER_TRAVERSAL = 0x00020000
    PORTABLE_DEVICE = 0x00040000


class DispositionExFlags(IntFlag):
    """[MS-FSCC] 2.4.12 FileDispositionInformationEx Flags."""

    DO_NOT_DELETE = 0x00000000
    DELETE = 0x00000001
    POSIX_SEMANTICS = 0x00000002
    FORCE_IMAGE_SECTION_CHECK = 0x00000004
    ON_CLOSE = 0x00000008
    IGNORE_READONLY_ATTRIBUTE = 0x00000010


class RenameExFlags(IntFlag):
    """[MS-FSCC] 2.4.38 FileRenameInformationEx Flags."""

    REPLACE_IF_EXISTS = 0x00000001
    POSIX_SEMANTICS = 0x00000002
    SUPPRESS_PIN_STATE_INHERITANCE = 0x00000004
    SUPPRESS_STORAGE_RESERVE_INHERITANCE = 0x00000008
    NO_INCREASE_AVAILABLE_SPACE = 0x00000010
    NO_DECREASE_AVAILABLE_SPACE = 0x00000020
    IGNORE_READONLY_ATTRIBUTE = 0x00000040
    FORCE_RESIZE_TARGET_SR = 0x00000080
    FORCE_RESIZE_SOURCE_SR = 0x00000100


class FileModeFlags(IntFlag):
    """[MS-FSCC] 2.4.26 FileModeInformation Mode."""

    WRITE_THROUGH = 0x00000002
    SEQUENTIAL_ONLY = 0x00000004
    NO_INTERMEDIATE_BUFFERING = 0x00000008
    SYNCHRONOUS_IO_ALERT = 0x00000010
    SYNCHRONOUS_IO_NONALERT = 0x00000020
    DELETE_ON_CLOSE = 0x00001000


class EaFlags(IntFlag):
    """[MS-FSCC] 2.4.15 FILE_FULL_EA_INFORMATION Flags."""

    NONE = 0
    NEED_EA = 0x80


# FILETIME: 100-ns intervals since 1601-01-01 UTC ([MS-DTYP] 2.3.3).
FILETIME_UNIX_EPOCH = 116444736000000000
# SET_INFO FileBasicInformation sentinels ([MS-FSCC] 2.4.7): 0 = leave unchanged, -1 = stop automatic
# updates for this handle, -2 = resume automatic updates.
FILETIME_NO_CHANGE = 0
FILETIME_STOP_UPDATES = -1
FILETIME_RESUME_UPDATES = -2


def unix_ns_to_filetime(ns: int) -> int:
    """Unix time in nanoseconds (``os.stat().st_mtime_ns``) to a FILETIME (floor to 100 ns)."""
    return ns // 100 + FILETIME_UNIX_EPOCH


def filetime_to_unix_ns(ft: int) -> int:
    """FILETIME to Unix time in nanoseconds."""
    return (ft - FILETIME_UNIX_EPOCH) * 100
