"""[MS-DTYP] 2.5.3.2 access check: tables of (SDDL, token, desired) → granted / denied."""
from __future__ import annotations

import pytest

from sofs.security.access import AccessDenied, check_access, maximal_access
from sofs.security.token import ADMIN_PRIVILEGES, make_token
from sofs.wire.dtyp import SecurityDescriptor
from sofs.wire.status import NtStatus

DOM = "S-1-5-21-1-2-3"
ALICE, BOB, HV = f"{DOM}-1000", f"{DOM}-1001", f"{DOM}-1002"
DU = f"{DOM}-513"
alice = make_token(ALICE, [DU, HV], ["S-1-1-0", "S-1-5-11"])
bob = make_token(BOB, [DU], ["S-1-1-0", "S-1-5-11"])
admin = make_token(BOB, [DU], ["S-1-1-0", "S-1-5-32-544"], ADMIN_PRIVILEGES)

FA, FR, RC, WD, DEL = 0x1F01FF, 0x120089, 0x20000, 0x40000, 0x10000
MAX = 0x02000000


def sd(text: str) -> SecurityDescriptor:
    return SecurityDescriptor.from_sddl(text)


MAXIMAL = [
    # (descriptor, token, expected maximal access)
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;WD)", bob, FA),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, FR),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", alice, FR | RC | WD),  # owner: READ_CONTROL | WRITE_DAC
    (f"O:{ALICE}G:{DU}D:", bob, 0),  # empty DACL: nothing
    (f"O:{ALICE}G:{DU}D:", alice, RC | WD),
    (f"O:{ALICE}G:{DU}", bob, FA),  # no DACL: everything
    (f"O:{ALICE}G:{DU}D:(D;;0x2;;;{BOB})(A;;FA;;;WD)", bob, FA & ~0x2),  # deny first wins
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;WD)(D;;0x2;;;{BOB})", bob, FA),  # allow first wins
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;{HV})", alice, FA),  # group membership
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;{HV})", bob, 0),
    (f"O:{ALICE}G:{DU}D:(A;IO;FA;;;WD)", bob, 0),  # inherit-only ACEs do not apply
    (f"O:{ALICE}G:{DU}D:(A;;GR;;;WD)", bob, FR),  # generic rights in ACEs are mapped
    # OWNER RIGHTS replaces the implicit owner rights (smb2.acls.OWNER-RIGHTS)
    (f"O:{ALICE}G:{DU}D:(A;;0x3;;;OW)", alice, 0x3),
    (f"O:{ALICE}G:{DU}D:(A;;0x3;;;OW)(A;;FR;;;{ALICE})", alice, 0x3 | FR),
    (f"O:{ALICE}G:{DU}D:(D;;0x2;;;OW)(A;;FA;;;{ALICE})", alice, FA & ~0x2),
    (f"O:{ALICE}G:{DU}D:(A;;0x3;;;OW)", bob, 0),
    # privileges: WRITE_OWNER via SeTakeOwnership
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", admin, FR | 0x80000),
]


@pytest.mark.parametrize(("sddl", "token", "expected"), MAXIMAL)
def test_maximal_access(sddl, token, expected):
    assert maximal_access(sd(sddl), token) == expected


CHECKS = [
    # (descriptor, token, desired, granted or NTSTATUS)
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, 0x1, 0x1),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, 0x2, NtStatus.ACCESS_DENIED),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, MAX, FR),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, MAX | 0x2, NtStatus.ACCESS_DENIED),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, 0x80000000, FR),  # GENERIC_READ mapped
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", bob, 0x10000000, NtStatus.ACCESS_DENIED),
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;WD)", bob, 0x01000000, NtStatus.PRIVILEGE_NOT_HELD),
    (f"O:{ALICE}G:{DU}D:(A;;FA;;;WD)", admin, 0x01000000, 0x01000000),
    (f"O:{ALICE}G:{DU}D:(A;;FR;;;WD)", alice, WD, WD),
    (f"O:{ALICE}G:{DU}D:(D;;FA;;;WD)", alice, RC | WD, RC | WD),  # owner rights survive a deny
]


@pytest.mark.parametrize(("sddl", "token", "desired", "expected"), CHECKS)
def test_check_access(sddl, token, desired, expected):
    if isinstance(expected, NtStatus):
        with pytest.raises(AccessDenied) as exc:
            check_access(sd(sddl), token, desired)
        assert exc.value.status == expected
    else:
        assert check_access(sd(sddl), token, desired) == expected


def test_null_dacl_grants_everything():
    s = SecurityDescriptor(None, None, None, None, 0x8004)  # DACL_PRESENT, NULL DACL
    assert check_access(s, bob, MAX) == FA
