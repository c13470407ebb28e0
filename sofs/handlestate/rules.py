"""Share access ([MS-FSA] 2.1.5.1.2.2): the one share-mode check of sofs.

Pure: plain values (or objects with ``granted_access`` / ``share_access``) in, an ``NtStatus`` out
(SUCCESS when allowed). The volume coordinator's admission, rename and purge use it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sofs.wire.fscc_constants import AccessMask as AM
from sofs.wire.fscc_constants import ShareAccess
from sofs.wire.status import NtStatus

READ_ACCESS = int(AM.FILE_READ_DATA | AM.FILE_EXECUTE)
WRITE_ACCESS = int(AM.FILE_WRITE_DATA | AM.FILE_APPEND_DATA)
DELETE_ACCESS = int(AM.DELETE)
# Accesses that take part in sharing; an open with none of them (attributes/EA/security only)
# neither is checked nor blocks anyone ([MS-FSA] 2.1.5.1.2.2).
DATA_ACCESS = READ_ACCESS | WRITE_ACCESS | DELETE_ACCESS
# plain ints: ``int & IntFlag`` goes through the enum machinery (~1 µs); this runs for every open
SHARE_READ, SHARE_WRITE, SHARE_DELETE = int(ShareAccess.READ), int(ShareAccess.WRITE), int(ShareAccess.DELETE)


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
        (not existing_share & SHARE_READ and access & READ_ACCESS)
        or (not existing_share & SHARE_WRITE and access & WRITE_ACCESS)
        or (not existing_share & SHARE_DELETE and access & DELETE_ACCESS)
        or (not share & SHARE_READ and existing_access & READ_ACCESS)
        or (not share & SHARE_WRITE and existing_access & WRITE_ACCESS)
        or (not share & SHARE_DELETE and existing_access & DELETE_ACCESS)
    )


def check_share_access(existing_opens: Iterable[HasShareMode], desired_access: int,
                       share_access: int) -> NtStatus:
    """SHARING_VIOLATION if a new open (granted ``desired_access``, sharing ``share_access``)
    conflicts with any existing open of the **same stream**; SUCCESS otherwise."""
    if not desired_access & DATA_ACCESS:
        return _SUCCESS
    for ex in existing_opens:
        if share_conflict(ex.granted_access, ex.share_access, desired_access, share_access):
            return _VIOLATION
    return _SUCCESS


_SUCCESS, _VIOLATION = NtStatus.SUCCESS, NtStatus.SHARING_VIOLATION
