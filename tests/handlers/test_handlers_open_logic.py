"""Pure CREATE decisions: validation order, granted access, share modes, DACL access, buffers."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sofs.handlers import open_logic as logic
from sofs.handlers.base import SmbError
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, FILE_GENERIC_READ
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.status import NtStatus

MAX = int(A.MAXIMUM_ALLOWED)


def _status(fn, *args) -> int:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except SmbError as e:
        return e.status
    return 0


@pytest.mark.parametrize(("access", "attrs", "share", "disp", "opts", "imp", "status"), [
    (MAX, 0x80, 7, 5, 0, 2, 0),
    (MAX, 0x80, 7, 5, 0xF0000000, 2, NtStatus.INVALID_PARAMETER),
    (MAX, 0x80, 7, 5, 0x00002000, 2, NtStatus.NOT_SUPPORTED),  # OPEN_BY_FILE_ID
    (MAX, 0x80, 7, 5, 0x00100000, 2, NtStatus.NOT_SUPPORTED),  # RESERVE_OPFILTER
    (MAX, 0x40, 7, 5, 0, 2, NtStatus.INVALID_PARAMETER),  # FILE_ATTRIBUTE_DEVICE
    (0x08000000, 0x08, 7, 2, 0, 2, NtStatus.ACCESS_DENIED),  # access checked before attributes
    (0x01000000, 0, 7, 3, 0, 2, NtStatus.PRIVILEGE_NOT_HELD),
    (0, 0, 0, 3, 0, 2, NtStatus.ACCESS_DENIED),
    (MAX, 0, 7, 6, 0, 2, NtStatus.INVALID_PARAMETER),
    (MAX, 0, 7, 3, 0, 4, NtStatus.BAD_IMPERSONATION_LEVEL),
    (MAX, 0, 8, 3, 0, 2, NtStatus.INVALID_PARAMETER),
    (MAX, 0, 7, 5, 0x1, 2, NtStatus.INVALID_PARAMETER),  # directory + overwrite_if
    (MAX, 0, 7, 3, 0x41, 2, NtStatus.INVALID_PARAMETER),  # DIRECTORY_FILE + NON_DIRECTORY_FILE
    (int(A.FILE_READ_DATA), 0, 7, 3, 0x1000, 2, NtStatus.INVALID_PARAMETER),  # DOC without DELETE
    (int(A.SYNCHRONIZE), 0, 7, 1, 0, 2, 0),
])
def test_validate_request(access: int, attrs: int, share: int, disp: int, opts: int, imp: int,
                          status: int) -> None:
    assert _status(logic.validate_request, access, attrs, share, disp, opts, imp) == status
    # cached (lru_cache): a refusal is not, and raises again; an accepted request stays accepted
    assert _status(logic.validate_request, access, attrs, share, disp, opts, imp) == status


@pytest.mark.parametrize("tree_max", [0, FILE_ALL_ACCESS, FILE_GENERIC_READ])
@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("desired", [MAX, int(A.GENERIC_READ), int(A.FILE_WRITE_DATA), 0x00100080, 0x0012019F])
def test_share_grant_is_maximal_then_granted(tree_max: int, read_only: bool, desired: int) -> None:
    m = logic.maximal_access(tree_max, read_only)
    want = _status(logic.granted_access, desired, m)
    for _ in range(2):  # the second answer comes from the cache (or raises again)
        if want:
            assert _status(logic.share_grant, tree_max, read_only, desired) == want
        else:
            assert logic.share_grant(tree_max, read_only, desired) == (m, logic.granted_access(desired, m))


def test_granted_access_maximum_allowed_and_generic() -> None:
    assert logic.granted_access(MAX, FILE_ALL_ACCESS) == FILE_ALL_ACCESS
    assert logic.granted_access(int(A.GENERIC_READ), FILE_ALL_ACCESS) == FILE_GENERIC_READ
    ro = logic.maximal_access(FILE_ALL_ACCESS, read_only_share=True)
    assert logic.granted_access(MAX, ro) == ro
    assert not ro & A.FILE_WRITE_DATA
    assert _status(logic.granted_access, int(A.FILE_WRITE_DATA), ro) == NtStatus.ACCESS_DENIED
    # a READONLY file refuses data writes but keeps attribute writes
    rof = logic.maximal_access(FILE_ALL_ACCESS, False, readonly_file=True)
    assert not rof & A.FILE_WRITE_DATA and rof & A.FILE_WRITE_ATTRIBUTES
    assert logic.maximal_access(FILE_ALL_ACCESS, False, readonly_file=True, is_directory=True) == FILE_ALL_ACCESS


@dataclass
class _Op:
    granted_access: int
    share_access: int


def test_stored_create_attributes() -> None:
    assert logic.stored_create_attributes(0x80, False) == 0x20  # NORMAL -> ARCHIVE
    assert logic.stored_create_attributes(0x07, False) == 0x27
    assert logic.stored_create_attributes(0x10 | 0x02, True) == 0x02  # DIRECTORY not stored


