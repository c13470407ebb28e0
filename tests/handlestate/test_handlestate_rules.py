"""Tables for the share-access check ([MS-FSA] 2.1.5.1.2.2)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sofs.handlestate.rules import check_share_access
from sofs.wire.fscc_constants import AccessMask as AM
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


def test_the_precomputed_masks_decide_as_share_conflict() -> None:
    """check_share_access's table gives share_conflict's answer for every access, sharing and
    existing open (all data-access bits, a non-data bit, all sharings)."""
    from types import SimpleNamespace

    from sofs.handlestate.rules import DATA_ACCESS, share_conflict

    bits = [1 << i for i in range(17) if DATA_ACCESS >> i & 1] + [0x80]  # + FILE_READ_ATTRIBUTES
    accesses = [sum(b for j, b in enumerate(bits) if n >> j & 1) for n in range(1 << len(bits))]
    for a in accesses:
        for s in range(8):
            for ea in accesses:
                for es in range(8):
                    want = S.SHARING_VIOLATION if share_conflict(ea, es, a, s) else S.SUCCESS
                    got = check_share_access([SimpleNamespace(granted_access=ea, share_access=es)], a, s)
                    assert got == want, (hex(a), s, hex(ea), es)
