"""Tables for the pure open-state decisions ([MS-FSA] 2.1.5.1.2.2 sharing and delete rules)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sofs.handlestate.rules import (
    can_delete_directory,
    check_base_delete_vs_streams,
    check_delete_on_close_option,
    check_existing_file_access,
    check_open_delete_pending,
    check_rename,
    check_set_disposition,
    check_share_access,
)
from sofs.wire.fscc_constants import AccessMask as AM
from sofs.wire.fscc_constants import CreateOptions as CO
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.status import NtStatus as S

R, W, D = 1, 2, 4  # FILE_SHARE_READ / WRITE / DELETE
RD = int(AM.FILE_READ_DATA)
WR = int(AM.FILE_WRITE_DATA)
AP = int(AM.FILE_APPEND_DATA)
EX = int(AM.FILE_EXECUTE)
DEL = int(AM.DELETE)
RA = int(AM.FILE_READ_ATTRIBUTES)
WA = int(AM.FILE_WRITE_ATTRIBUTES)
RC = int(AM.READ_CONTROL)
OK, SV = S.SUCCESS, S.SHARING_VIOLATION


@dataclass(frozen=True)
class Ex:
    granted_access: int
    share_access: int


# (existing (access, share) list, new access, new share, expected)
SHARE_TABLE = [
    ([], RD | WR | DEL, 0, OK),
    ([(RD, R)], RD, R, OK),
    ([(RD, R)], RD, R | W, OK),
    ([(RD, R)], WR, R | W, SV),  # existing does not share write
    ([(RD, R | W)], WR, R | W, OK),
    ([(RD, R | W)], WR, W, SV),  # new does not share read with an existing reader
    ([(WR, R | W)], RD, R, SV),  # new must share write with an existing writer
    ([(AP, R | W | D)], RD, R, SV),  # APPEND counts as write
    ([(EX, W | D)], RD, R | W | D, SV),  # EXECUTE counts as read
    ([(EX, R)], EX, R, OK),
    ([(RD, R | W)], DEL, R | W | D, SV),  # DELETE needs FILE_SHARE_DELETE from the existing open
    ([(RD, R | W | D)], DEL, R | W | D, OK),
    ([(DEL, R | W | D)], RD, R | W, SV),  # and the new open must share delete with it
    ([(DEL, R | W | D)], RD, R | W | D, OK),
    # attribute-only access neither checks nor blocks
    ([(RD | WR | DEL, 0)], RA | WA | RC, 0, OK),
    ([(RA | WA, 0)], RD | WR | DEL, 0, OK),
    ([(RA, 0), (RD, R)], RD, R, OK),
    ([(RA, 0), (RD, R)], WR, R | W, SV),
    # several existing opens: any conflict wins
    ([(RD, R | W | D), (WR, R | W | D)], RD | WR, R | W | D, OK),
    ([(RD, R | W | D), (RD, R)], WR, R | W | D, SV),
    # no share at all
    ([(RD, 0)], RD, R | W | D, SV),
    ([(RD, R | W | D)], RD, 0, SV),
]


@pytest.mark.parametrize("existing,access,share,expected", SHARE_TABLE)
def test_check_share_access(existing: list[tuple[int, int]], access: int, share: int, expected: S) -> None:
    assert check_share_access([Ex(a, s) for a, s in existing], access, share) == expected


@pytest.mark.parametrize("existing,access,share,expected", SHARE_TABLE)
def test_share_check_is_symmetric_for_pairs(existing: list[tuple[int, int]], access: int, share: int,
                                            expected: S) -> None:
    if len(existing) != 1:
        return
    (a, s), = existing
    assert check_share_access([Ex(access, share)], a, s) == expected


@pytest.mark.parametrize("streams,access,expected", [
    ([], DEL, OK),
    ([(RD, R)], DEL, SV),
    ([(RD, R | D)], DEL, OK),
    ([(RA, 0)], DEL, OK),
    ([(RD, R)], RD | WR, OK),
])
def test_base_delete_vs_open_streams(streams: list[tuple[int, int]], access: int, expected: S) -> None:
    assert check_base_delete_vs_streams([Ex(a, s) for a, s in streams], access) == expected


@pytest.mark.parametrize("attrs,is_dir,access,options,expected", [
    (0, False, WR, 0, OK),
    (FA.READONLY, False, WR, 0, S.ACCESS_DENIED),
    (FA.READONLY, False, AP, 0, S.ACCESS_DENIED),
    (FA.READONLY, False, RD | DEL, 0, OK),
    (FA.READONLY, True, WR, 0, OK),  # FILE_ADD_FILE on a read-only directory is fine
    (FA.READONLY, False, DEL, CO.DELETE_ON_CLOSE, S.CANNOT_DELETE),
    (FA.READONLY, True, DEL, CO.DELETE_ON_CLOSE, S.CANNOT_DELETE),
])
def test_existing_file_access(attrs: int, is_dir: bool, access: int, options: int, expected: S) -> None:
    assert check_existing_file_access(attrs, is_dir, access, options) == expected


def test_delete_on_close_option_needs_delete() -> None:
    assert check_delete_on_close_option(CO.DELETE_ON_CLOSE, RD) == S.INVALID_PARAMETER
    assert check_delete_on_close_option(CO.DELETE_ON_CLOSE, DEL) == OK
    assert check_delete_on_close_option(0, RD) == OK


@pytest.mark.parametrize("delete,granted,attrs,is_dir,empty,expected", [
    (False, 0, FA.READONLY, True, False, OK),  # clearing is always allowed
    (True, DEL, 0, False, True, OK),
    (True, RD, 0, False, True, S.ACCESS_DENIED),
    (True, DEL, FA.READONLY, False, True, S.CANNOT_DELETE),
    (True, DEL, 0, True, False, S.DIRECTORY_NOT_EMPTY),
    (True, DEL, 0, True, True, OK),
])
def test_set_disposition(delete: bool, granted: int, attrs: int, is_dir: bool, empty: bool,
                         expected: S) -> None:
    assert check_set_disposition(delete, granted, attrs, is_dir, empty) == expected


def test_directory_and_pending_rules() -> None:
    assert can_delete_directory(True) == OK
    assert can_delete_directory(False) == S.DIRECTORY_NOT_EMPTY
    assert can_delete_directory(True, delete_pending_children=True) == S.DIRECTORY_NOT_EMPTY
    assert check_open_delete_pending(True) == S.DELETE_PENDING
    assert check_open_delete_pending(False) == OK


@pytest.mark.parametrize("granted,is_dir,below,exists,replace,target_opens,target_dir,expected", [
    (DEL, False, 0, False, False, 0, False, OK),
    (RD, False, 0, False, False, 0, False, S.ACCESS_DENIED),
    (DEL, True, 1, False, False, 0, False, S.ACCESS_DENIED),  # open children
    (DEL, True, 0, False, False, 0, False, OK),
    (DEL, False, 0, True, False, 0, False, S.OBJECT_NAME_COLLISION),
    (DEL, False, 0, True, True, 0, False, OK),
    (DEL, False, 0, True, True, 1, False, S.ACCESS_DENIED),  # target open
    (DEL, False, 0, True, True, 0, True, S.ACCESS_DENIED),  # target is a directory
])
def test_check_rename(granted: int, is_dir: bool, below: int, exists: bool, replace: bool,
                      target_opens: int, target_dir: bool, expected: S) -> None:
    assert check_rename(granted, is_dir, below, exists, replace, target_opens, target_dir) == expected
