"""CREATE decisions that need no I/O: request validation, granted access, share modes.

[MS-SMB2] 3.3.5.9 and [MS-FSA] 2.1.5.1 (open), 2.1.5.1.2.1 (share access). The masks are the
values Windows returns in smbtorture's smb2.create.gentest: create options 0xFF000000 →
INVALID_PARAMETER, 0x00102080 → NOT_SUPPORTED; access bits 0x0CE0FE00 → ACCESS_DENIED,
ACCESS_SYSTEM_SECURITY → PRIVILEGE_NOT_HELD; file attributes 0xFFFF8048 → INVALID_PARAMETER.
Every function is pure: inputs in, a value or an :class:`SmbError` out.
"""
from __future__ import annotations

from functools import lru_cache

from sofs.handlers.base import SmbError
from sofs.handlers.flags import FA, A, D, O
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, map_generic
from sofs.wire.status import NtStatus

OPTIONS_INVALID = 0xFF000000
OPTIONS_NOT_SUPPORTED = 0x00102080  # CREATE_TREE_CONNECTION, OPEN_BY_FILE_ID, RESERVE_OPFILTER
ACCESS_INVALID = 0x0CE0FE00
ATTRIBUTES_INVALID = 0xFFFF8048
ATTRIBUTES_ON_CREATE = 0x00007127 | int(FA.NOT_CONTENT_INDEXED)  # what a create stores
"""READONLY HIDDEN SYSTEM ARCHIVE TEMPORARY OFFLINE NOT_CONTENT_INDEXED ENCRYPTED (+SPARSE kept off)."""

# Rights that modify the object; none of them is granted on a read-only share.
WRITE_RIGHTS = int(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_EA | A.FILE_WRITE_ATTRIBUTES
                   | A.FILE_DELETE_CHILD | A.DELETE | A.WRITE_DAC | A.WRITE_OWNER)
READ_ONLY_MAX = FILE_GENERIC_READ | FILE_GENERIC_EXECUTE
# Rights a READONLY file attribute refuses ([MS-FSA] 2.1.5.1.2.1).
READONLY_FILE_DENIED = int(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_ADD_SUBDIRECTORY
                           | A.FILE_DELETE_CHILD)
_DATA_READ = int(A.FILE_READ_DATA | A.FILE_EXECUTE)
_DATA_WRITE = int(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)
SHARE_MODE_RIGHTS = _DATA_READ | _DATA_WRITE | int(A.DELETE)


@lru_cache(maxsize=1024)  # pure; a client sends few distinct combinations (refusals raise: not cached)
def validate_request(desired_access: int, file_attributes: int, share_access: int,
                     disposition: int, options: int, impersonation_level: int) -> None:
    """Parameter checks of [MS-SMB2] 3.3.5.9 in Windows' order; raises SmbError."""
    if impersonation_level > 3:
        raise SmbError(NtStatus.BAD_IMPERSONATION_LEVEL)
    if options & OPTIONS_INVALID:
        raise SmbError(NtStatus.INVALID_PARAMETER, "reserved create options")
    if options & OPTIONS_NOT_SUPPORTED:
        raise SmbError(NtStatus.NOT_SUPPORTED, f"create options {options & OPTIONS_NOT_SUPPORTED:#x}")
    if share_access & ~0x7:
        raise SmbError(NtStatus.INVALID_PARAMETER, "share access")
    if disposition > D.OVERWRITE_IF:
        raise SmbError(NtStatus.INVALID_PARAMETER, "create disposition")
    if options & O.DIRECTORY_FILE and options & O.NON_DIRECTORY_FILE:
        raise SmbError(NtStatus.INVALID_PARAMETER, "DIRECTORY_FILE with NON_DIRECTORY_FILE")
    if options & O.DIRECTORY_FILE and disposition not in (D.CREATE, D.OPEN, D.OPEN_IF):
        raise SmbError(NtStatus.INVALID_PARAMETER, "directory with overwrite/supersede")
    if desired_access & ACCESS_INVALID:
        raise SmbError(NtStatus.ACCESS_DENIED, "reserved access bits")
    if desired_access & A.ACCESS_SYSTEM_SECURITY:
        raise SmbError(NtStatus.PRIVILEGE_NOT_HELD, "ACCESS_SYSTEM_SECURITY")
    if desired_access == 0:
        raise SmbError(NtStatus.ACCESS_DENIED, "no access requested")
    if file_attributes & ATTRIBUTES_INVALID:
        raise SmbError(NtStatus.INVALID_PARAMETER, "file attributes")
    if options & O.DELETE_ON_CLOSE and not desired_access & (A.DELETE | A.GENERIC_ALL | A.MAXIMUM_ALLOWED):
        raise SmbError(NtStatus.INVALID_PARAMETER, "DELETE_ON_CLOSE without DELETE access")


def maximal_access(tree_max: int, read_only_share: bool, readonly_file: bool = False,
                   is_directory: bool = False) -> int:
    """What this user may get on this object: the share cap, minus writes on read-only shares and
    data writes on a READONLY file (directories ignore READONLY)."""
    m = tree_max & FILE_ALL_ACCESS if tree_max else FILE_ALL_ACCESS
    if read_only_share:
        m &= READ_ONLY_MAX
    if readonly_file and not is_directory:
        m &= ~READONLY_FILE_DENIED
    return m


def granted_access(desired: int, maximal: int, is_directory: bool = False) -> int:
    """Granted access ([MS-FSA] 2.1.5.1): generic bits mapped, MAXIMUM_ALLOWED expanded to
    ``maximal``; ACCESS_DENIED when an explicitly requested right is outside ``maximal``."""
    want = map_generic(desired, is_directory)
    explicit = want & ~A.MAXIMUM_ALLOWED & 0xFFFFFFFF
    if explicit & ~maximal & ~A.SYNCHRONIZE:
        raise SmbError(NtStatus.ACCESS_DENIED, f"access {explicit & ~maximal:#x} not allowed")
    if want & A.MAXIMUM_ALLOWED:
        return int((maximal | explicit) & 0xFFFFFFFF)
    return int(explicit)


def creating_needs_write(disposition: int, exists: bool) -> bool:
    """Whether this CREATE modifies the namespace or data (refused on read-only shares)."""
    if disposition in (D.SUPERSEDE, D.OVERWRITE, D.OVERWRITE_IF):
        return True
    if disposition == D.CREATE:
        return True
    return disposition == D.OPEN_IF and not exists


@lru_cache(maxsize=256)  # pure; asked on every CREATE with the few values clients send
def stored_create_attributes(file_attributes: int, is_directory: bool) -> int:
    """Attributes a new file/directory keeps from the request (ARCHIVE added for files)."""
    attrs = file_attributes & ATTRIBUTES_ON_CREATE
    if not is_directory:
        attrs |= FA.ARCHIVE
    else:
        attrs &= ~FA.ARCHIVE
    return int(attrs)


@lru_cache(maxsize=1024)
def share_grant(tree_max: int, read_only_share: bool, desired: int) -> tuple[int, int]:
    """(maximal, granted) of the share alone: :func:`maximal_access` and :func:`granted_access`
    before the object is known (cached: pure, and the same few values come on every CREATE)."""
    m = maximal_access(tree_max, read_only_share)
    return m, granted_access(desired, m)
