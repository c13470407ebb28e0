"""Pure decision functions for opens: share access, delete-on-close / delete pending, rename.

Each takes plain values (or objects with ``granted_access`` / ``share_access``) and returns an
``NtStatus`` (SUCCESS when allowed). No state, no I/O: tested by tables.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sofs.wire.fscc_constants import AccessMask as AM
from sofs.wire.fscc_constants import CreateOptions, FileAttributes, ShareAccess
from sofs.wire.status import NtStatus

READ_ACCESS = int(AM.FILE_READ_DATA | AM.FILE_EXECUTE)
WRITE_ACCESS = int(AM.FILE_WRITE_DATA | AM.FILE_APPEND_DATA)
DELETE_ACCESS = int(AM.DELETE)
# Accesses that take part in sharing; an open with none of them (attributes/EA/security only)
# neither is checked nor blocks anyone ([MS-FSA] 2.1.5.1.2.2).
DATA_ACCESS = READ_ACCESS | WRITE_ACCESS | DELETE_ACCESS


class HasShareMode(Protocol):
    @property
    def granted_access(self) -> int: ...
    @property
    def share_access(self) -> int: ...


def share_conflict(existing_access: int, existing_share: int, access: int, share: int) -> bool:
    """True when two opens of the same stream cannot coexist ([MS-FSA] 2.1.5.1.2.2)."""
    if not (access & DATA_ACCESS) or not (existing_access & DATA_ACCESS):
        return False
    return bool(
        (not existing_share & ShareAccess.READ and access & READ_ACCESS)
        or (not existing_share & ShareAccess.WRITE and access & WRITE_ACCESS)
        or (not existing_share & ShareAccess.DELETE and access & DELETE_ACCESS)
        or (not share & ShareAccess.READ and existing_access & READ_ACCESS)
        or (not share & ShareAccess.WRITE and existing_access & WRITE_ACCESS)
        or (not share & ShareAccess.DELETE and existing_access & DELETE_ACCESS)
    )


def check_share_access(existing_opens: Iterable[HasShareMode], desired_access: int,
                       share_access: int) -> NtStatus:
    """SHARING_VIOLATION if a new open (granted ``desired_access``, sharing ``share_access``)
    conflicts with any existing open of the **same stream**; SUCCESS otherwise."""
    if not desired_access & DATA_ACCESS:
        return NtStatus.SUCCESS
    for ex in existing_opens:
        if share_conflict(ex.granted_access, ex.share_access, desired_access, share_access):
            return NtStatus.SHARING_VIOLATION
    return NtStatus.SUCCESS


def check_base_delete_vs_streams(other_stream_opens: Iterable[HasShareMode],
                                 desired_access: int) -> NtStatus:
    """Opening the file itself for DELETE while a named stream of it is open without
    FILE_SHARE_DELETE is a sharing violation (NTFS: deleting the file deletes its streams)."""
    if not desired_access & DELETE_ACCESS:
        return NtStatus.SUCCESS
    for ex in other_stream_opens:
        if ex.granted_access & DATA_ACCESS and not ex.share_access & ShareAccess.DELETE:
            return NtStatus.SHARING_VIOLATION
    return NtStatus.SUCCESS


def check_existing_file_access(attributes: int, is_directory: bool, desired_access: int,
                               create_options: int) -> NtStatus:
    """The READONLY-attribute part of [MS-FSA] 2.1.5.1.2.1 (the DACL part is the security code's)."""
    readonly = bool(attributes & FileAttributes.READONLY)
    if readonly and not is_directory and desired_access & WRITE_ACCESS:
        return NtStatus.ACCESS_DENIED
    if readonly and create_options & CreateOptions.DELETE_ON_CLOSE:
        return NtStatus.CANNOT_DELETE
    return NtStatus.SUCCESS


def check_delete_on_close_option(create_options: int, desired_access: int) -> NtStatus:
    """[MS-FSA] 2.1.5.1: FILE_DELETE_ON_CLOSE without DELETE in DesiredAccess is INVALID_PARAMETER."""
    if create_options & CreateOptions.DELETE_ON_CLOSE and not desired_access & DELETE_ACCESS:
        return NtStatus.INVALID_PARAMETER
    return NtStatus.SUCCESS


def check_set_disposition(delete: bool, granted_access: int, attributes: int, is_directory: bool,
                          directory_empty: bool) -> NtStatus:
    """FileDispositionInformation(Ex) ([MS-FSA] 2.1.5.14.3): may this open mark the file deleted?"""
    if not delete:
        return NtStatus.SUCCESS
    if not granted_access & DELETE_ACCESS:
        return NtStatus.ACCESS_DENIED
    if attributes & FileAttributes.READONLY:
        return NtStatus.CANNOT_DELETE
    if is_directory and not directory_empty:
        return NtStatus.DIRECTORY_NOT_EMPTY
    return NtStatus.SUCCESS


def can_delete_directory(directory_empty: bool, delete_pending_children: bool = False) -> NtStatus:
    """A directory may be deleted only when empty (children that are merely delete-pending still
    count until their last handle closes, as on Windows)."""
    if not directory_empty or delete_pending_children:
        return NtStatus.DIRECTORY_NOT_EMPTY
    return NtStatus.SUCCESS


def check_open_delete_pending(delete_pending: bool) -> NtStatus:
    """[MS-FSA] 2.1.5.1.2: opening a file whose deletion is pending fails."""
    return NtStatus.DELETE_PENDING if delete_pending else NtStatus.SUCCESS


def check_rename(source_granted: int, source_is_directory: bool, opens_below_source: int,
                 target_exists: bool, replace_if_exists: bool, target_open_count: int,
                 target_is_directory: bool) -> NtStatus:
    """FileRenameInformation preconditions that depend on open state ([MS-FSA] 2.1.5.14.11):
    DELETE access on the source; a directory with open children cannot move; an existing target
    is replaced only when asked, when it is not a directory and when nobody has it open."""
    if not source_granted & DELETE_ACCESS:
        return NtStatus.ACCESS_DENIED
    if source_is_directory and opens_below_source:
        return NtStatus.ACCESS_DENIED
    if target_exists:
        if not replace_if_exists:
            return NtStatus.OBJECT_NAME_COLLISION
        if target_is_directory or target_open_count:
            return NtStatus.ACCESS_DENIED
    return NtStatus.SUCCESS
