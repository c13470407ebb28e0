"""[MS-DTYP] 2.5.3.4 CreateSecurityDescriptor tables and SET_INFO merge rules."""
from __future__ import annotations

import pytest

from sofs.security.access import AccessDenied
from sofs.security.descriptor import default_sd, merge_security, required_access
from sofs.security.inherit import create_security_descriptor
from sofs.security.token import make_token
from sofs.wire.dtyp import SdControl, SecurityDescriptor, Sid
from sofs.wire.status import NtStatus

DOM = "S-1-5-21-1-2-3"
ALICE, BOB, DU = f"{DOM}-1000", f"{DOM}-1001", f"{DOM}-513"
alice = make_token(ALICE, [DU], ["S-1-1-0"])


def sd(text: str) -> SecurityDescriptor:
    return SecurityDescriptor.from_sddl(text)


def dacl_sddl(s: SecurityDescriptor) -> str:
    text = s.to_sddl()
    return text[text.index("D:"):] if "D:" in text else ""


INHERIT = [
    # (parent SDDL, is_directory, expected child DACL SDDL)
    (f"O:{BOB}G:{DU}D:AI(A;OICI;FA;;;WD)", False, "D:AI(A;ID;FA;;;WD)"),
    (f"O:{BOB}G:{DU}D:AI(A;OICI;FA;;;WD)", True, "D:AI(A;OICIID;FA;;;WD)"),
    # a parent without AUTO_INHERITED passes plain ACEs on (smb2.acls.INHERITFLAGS)
    (f"O:{BOB}G:{DU}D:(A;OICI;0x40002;;;{ALICE})(A;;FA;;;WD)", False, f"D:(A;;0x40002;;;{ALICE})"),
    # OI-only ACE on a directory: kept inherit-only for files below
    (f"O:{BOB}G:{DU}D:AI(A;OI;FR;;;WD)", True, "D:AI(A;OIIOID;FR;;;WD)"),
    # CI-only ACE does not reach files
    (f"O:{BOB}G:{DU}D:AI(A;CI;FR;;;WD)(A;OI;FA;;;SY)", False, "D:AI(A;ID;FA;;;SY)"),
    # NO_PROPAGATE: effective ACE only
    (f"O:{BOB}G:{DU}D:AI(A;OICINP;FR;;;WD)", True, "D:AI(A;ID;FR;;;WD)"),
    # CREATOR OWNER: file gets the creator's SID; directory gets effective + inherit-only copy
    (f"O:{BOB}G:{DU}D:AI(A;OICIIO;FA;;;CO)", False, f"D:AI(A;ID;FA;;;{ALICE})"),
    (f"O:{BOB}G:{DU}D:AI(A;OICIIO;FA;;;CO)", True, f"D:AI(A;ID;FA;;;{ALICE})(A;OICIIOID;FA;;;CO)"),
    # generic rights are mapped on the effective copy
    (f"O:{BOB}G:{DU}D:AI(A;OICI;GR;;;WD)", False, "D:AI(A;ID;FR;;;WD)"),
    # directory: creator/generic ACE → effective + inherit-only copy; OI-only kept inherit-only;
    # CI|NP → effective only (in one parent, order kept)
    (f"O:{BOB}G:{DU}D:AI(A;OICI;GR;;;CO)(A;OI;0x1;;;WD)(A;CINP;0x20;;;WD)", True,
     f"D:AI(A;ID;FR;;;{ALICE})(A;OICIIOID;GR;;;CO)(A;OIIOID;0x1;;;WD)(A;ID;0x20;;;WD)"),
    # nothing inheritable: the token default DACL
    (f"O:{BOB}G:{DU}D:(A;;FA;;;WD)", False, f"D:(A;;FA;;;{ALICE})(A;;FA;;;SY)"),
]


@pytest.mark.parametrize(("parent", "is_dir", "expected"), INHERIT)
def test_inheritance(parent, is_dir, expected):
    child = create_security_descriptor(sd(parent), None, alice, is_dir)
    assert child.owner == Sid.parse(ALICE)
    assert child.group == Sid.parse(DU)
    assert dacl_sddl(child) == expected


def test_creator_dacl_comes_first_and_protected_blocks_inheritance():
    parent = sd(f"O:{BOB}G:{DU}D:AI(A;OICI;FA;;;WD)")
    creator = sd(f"O:{ALICE}D:(A;;FR;;;{BOB})")
    child = create_security_descriptor(parent, creator, alice, False)
    assert dacl_sddl(child) == f"D:AI(A;;FR;;;{BOB})(A;ID;FA;;;WD)"
    prot = sd(f"O:{ALICE}D:P(A;;FR;;;{BOB})")
    child = create_security_descriptor(parent, prot, alice, False)
    assert dacl_sddl(child) == f"D:PAI(A;;FR;;;{BOB})"  # Windows shows PAI too


MERGE = [
    # (requested control bits, info extra bits, stored DACL control bits)
    (SdControl.DACL_AUTO_INHERITED, 0, 0),
    (SdControl.DACL_AUTO_INHERIT_REQ, 0, 0),
    (SdControl.DACL_AUTO_INHERITED | SdControl.DACL_AUTO_INHERIT_REQ, 0, SdControl.DACL_AUTO_INHERITED),
    (SdControl.DACL_PROTECTED, 0, SdControl.DACL_PROTECTED),
    (0, 0x80000000, SdControl.DACL_PROTECTED),  # PROTECTED_DACL_SECURITY_INFORMATION
    (SdControl.DACL_PROTECTED, 0x20000000, 0),  # UNPROTECTED_DACL_SECURITY_INFORMATION
]


@pytest.mark.parametrize(("control", "extra", "stored"), MERGE)
def test_merge_dacl_flags(control, extra, stored):
    cur = default_sd(Sid.parse(ALICE), Sid.parse(DU), False)
    new = SecurityDescriptor.build(None, None, sd("D:(A;;FA;;;WD)").dacl, control=control)
    out = merge_security(cur, new, 0x4 | extra, alice)
    bits = SdControl.DACL_AUTO_INHERITED | SdControl.DACL_AUTO_INHERIT_REQ | SdControl.DACL_PROTECTED
    assert out.control & bits == stored
    assert out.owner == Sid.parse(ALICE)


def test_merge_owner_must_be_in_token():
    cur = default_sd(Sid.parse(ALICE), Sid.parse(DU), False)
    assert merge_security(cur, sd(f"O:{DU}"), 0x1, alice).owner == Sid.parse(DU)
    with pytest.raises(AccessDenied) as exc:
        merge_security(cur, sd(f"O:{BOB}"), 0x1, alice)
    assert exc.value.status == NtStatus.INVALID_OWNER


def test_required_access():
    assert required_access(0x1, True) == 0x80000  # owner → WRITE_OWNER
    assert required_access(0x4, True) == 0x40000  # DACL → WRITE_DAC
    assert required_access(0x8, False) == 0x01000000
    assert required_access(0x7, False) == 0x20000
