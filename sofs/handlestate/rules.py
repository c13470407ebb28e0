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


def share_masks(access: int, share: int) -> tuple[int, int]:
    """``share_conflict`` turned around for one new open: (the sharing every existing open must
    grant, the data accesses no existing open may hold). An existing open with data access
    ``a`` and sharing ``s`` conflicts when ``need & ~s or a & denied`` ([MS-FSA] 2.1.5.1.2.2)."""
    need = ((SHARE_READ if access & READ_ACCESS else 0) | (SHARE_WRITE if access & WRITE_ACCESS else 0)
            | (SHARE_DELETE if access & DELETE_ACCESS else 0))
    denied = ((0 if share & SHARE_READ else READ_ACCESS) | (0 if share & SHARE_WRITE else WRITE_ACCESS)
              | (0 if share & SHARE_DELETE else DELETE_ACCESS))
    return need, denied


def _mask_key(access: int, share: int) -> int:
    return (access & DATA_ACCESS) | (share & 7) << 17  # DATA_ACCESS tops at DELETE (bit 16)


# every (data access, sharing) pair, precomputed: this runs for every open of a file already open
_DATA_BITS = [1 << i for i in range(DATA_ACCESS.bit_length()) if DATA_ACCESS >> i & 1]
_MASKS = {_mask_key(a, s): share_masks(a, s)
          for a in (sum(b for j, b in enumerate(_DATA_BITS) if n >> j & 1) for n in range(1 << len(_DATA_BITS)))
          for s in range(8)}


def check_share_access(existing_opens: Iterable[HasShareMode], desired_access: int,
                       share_access: int, stream_key: str | None = None) -> NtStatus:
    """SHARING_VIOLATION if a new open (granted ``desired_access``, sharing ``share_access``)
    conflicts with any existing open of the **same stream** (those whose ``stream_key`` is
    ``stream_key``, when given); SUCCESS otherwise."""
    if not desired_access & DATA_ACCESS:
        return _SUCCESS
    need, denied = _MASKS[(desired_access & DATA_ACCESS) | (share_access & 7) << 17]
    for ex in existing_opens:
        a = ex.granted_access
        if (a & DATA_ACCESS and (need & ~ex.share_access or a & denied)
                and (stream_key is None or ex.stream_key == stream_key)):  # type: ignore[attr-defined]
            return _VIOLATION
    return _SUCCESS


_SUCCESS, _VIOLATION = NtStatus.SUCCESS, NtStatus.SHARING_VIOLATION
