"""Security-descriptor logic of the handlers: inheritance, merging on SET_INFO, defaults, fs policy."""
from __future__ import annotations

from sofs.handlers.fsio import fs_type
from sofs.handlers.security import dacl_access, inherit_sd, merge_sd, sd_for_new_file
from sofs.wire.dtyp import SID_EVERYONE, Ace, Acl, SdControl, SecurityDescriptor, Sid
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, FILE_GENERIC_READ

OWNER = Sid.parse("S-1-5-21-1-2-3-1000")
GROUP = Sid.parse("S-1-5-21-1-2-3-513")
CREATOR_OWNER = Sid.parse("S-1-3-0")
OI, CI, NP, IO, INH = 0x1, 0x2, 0x4, 0x8, 0x10
GENERIC_READ = 0x80000000


def _parent(*aces: Ace, auto: bool = True) -> SecurityDescriptor:
    return SecurityDescriptor.build(OWNER, GROUP, Acl(aces),
                                    control=SdControl.DACL_AUTO_INHERITED if auto else 0)


def test_file_inherits_object_inherit_aces_only() -> None:
    p = _parent(Ace(0, OI, FILE_ALL_ACCESS, SID_EVERYONE), Ace(0, CI, 0x1, OWNER), Ace(0, 0, 0x2, OWNER))
    child = inherit_sd(p, OWNER, GROUP, is_directory=False)
    assert child is not None and child.dacl is not None
    assert [(a.flags, a.mask, a.sid) for a in child.dacl.aces] == [(INH, FILE_ALL_ACCESS, SID_EVERYONE)]
    assert child.control & SdControl.DACL_AUTO_INHERITED


def test_directory_inheritance_creator_owner_and_generic() -> None:
    p = _parent(Ace(0, OI | CI, GENERIC_READ, CREATOR_OWNER), Ace(0, OI, 0x1, SID_EVERYONE),
                Ace(0, CI | NP, 0x20, SID_EVERYONE))
    child = inherit_sd(p, OWNER, GROUP, is_directory=True)
    assert child is not None and child.dacl is not None
    got = [(a.flags, a.mask, str(a.sid)) for a in child.dacl.aces]
    assert got == [
        (INH, FILE_GENERIC_READ, str(OWNER)),  # effective: creator resolved, generic mapped
        (OI | CI | IO | INH, GENERIC_READ, "S-1-3-0"),  # the original keeps propagating
        (OI | IO | INH, 0x1, "S-1-1-0"),  # files-only ACE: inherit-only on the directory
        (INH, 0x20, "S-1-1-0"),  # no-propagate: effective here only
    ]


def test_no_inherited_flag_without_auto_inherit() -> None:
    child = inherit_sd(_parent(Ace(0, OI, 0x1, SID_EVERYONE), auto=False), OWNER, GROUP, False)
    assert child is not None and child.dacl is not None
    assert child.dacl.aces[0].flags == 0 and not child.control & SdControl.DACL_AUTO_INHERITED


def test_nothing_inheritable_gives_none() -> None:
    assert inherit_sd(_parent(Ace(0, 0, 0x1, SID_EVERYONE)), OWNER, GROUP, False) is None
    null_dacl = SecurityDescriptor(OWNER, GROUP, None, None, SdControl.DACL_PRESENT | SdControl.SELF_RELATIVE)
    assert inherit_sd(null_dacl, OWNER, GROUP, False) is None


def test_merge_sd_dacl_rules() -> None:
    cur = _parent(Ace(0, 0, FILE_ALL_ACCESS, SID_EVERYONE))
    # a descriptor without DACL_PRESENT sets a NULL DACL
    merged = merge_sd(cur, SecurityDescriptor(), 0x4)
    assert merged.dacl is None and merged.control & SdControl.DACL_PRESENT
    token = frozenset({str(OWNER), "S-1-1-0"})
    assert dacl_access(merged, token) == FILE_ALL_ACCESS
    # generic bits are mapped; AUTO_INHERITED sticks only together with AUTO_INHERIT_REQ
    new = SecurityDescriptor.build(None, None, Acl((Ace(0, 0, GENERIC_READ, SID_EVERYONE),)),
                                   control=SdControl.DACL_AUTO_INHERITED)
    merged = merge_sd(cur, new, 0x4)
    assert merged.dacl is not None and merged.dacl.aces[0].mask == FILE_GENERIC_READ
    assert not merged.control & SdControl.DACL_AUTO_INHERITED
    both = SecurityDescriptor.build(None, None, Acl(()), control=SdControl.DACL_AUTO_INHERITED
                                    | SdControl.DACL_AUTO_INHERIT_REQ)
    assert merge_sd(cur, both, 0x4).control & SdControl.DACL_AUTO_INHERITED
    assert merge_sd(cur, both, 0x4).owner == OWNER  # owner untouched when not selected


class _Ctx:
    class session:
        class user:
            sid = str(OWNER)
            group_sids = (str(GROUP),)


def test_sd_for_new_file_fills_defaults() -> None:
    given = SecurityDescriptor.build(None, None, None)
    sd = sd_for_new_file(_Ctx(), False, given)  # type: ignore[arg-type]
    assert sd.owner == OWNER and sd.group == GROUP
    assert sd.control & SdControl.DACL_PRESENT and sd.dacl is not None and sd.dacl.aces


def test_fs_type_from_mountinfo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mi = tmp_path / "mountinfo"
    mi.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                  "30 22 0:5 / /dev/shm rw - tmpfs tmpfs rw\n"
                  "40 22 0:50 / /mnt/ceph rw - ceph 10.0.0.1:/ rw\n")
    assert fs_type("/dev/shm/x", str(mi)) == "tmpfs"
    assert fs_type("/mnt/ceph/vol", str(mi)) == "ceph"
    assert fs_type("/home/u", str(mi)) == "ext4"
