"""sofs.security.files / abe / descriptor: the rules the CREATE, QUERY/SET_INFO and QUERY_DIRECTORY
paths rely on (merged from the handlers' former ``sofs.handlers.security``), on an in-memory VFS."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sofs.security.abe import visible
from sofs.security.access import AccessDenied, maximal_access
from sofs.security.descriptor import map_acl_generic, merge_security
from sofs.security.files import new_object_sd, open_maximal_access, query_security, set_security
from sofs.security.token import make_token
from sofs.vfs.base import VfsError
from sofs.wire.dtyp import SID_EVERYONE, Ace, Acl, SdControl, SecurityDescriptor, Sid
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, FILE_GENERIC_READ
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.status import NtStatus

DOM = "S-1-5-21-1-2-3"
ALICE, BOB, DU = f"{DOM}-1000", f"{DOM}-1001", f"{DOM}-513"
alice = make_token(ALICE, [DU], ["S-1-1-0"])
bob = make_token(BOB, [DU], ["S-1-1-0"])
GENERIC_READ = 0x80000000
RA, LIST, DEL, DC = int(A.FILE_READ_ATTRIBUTES), int(A.FILE_LIST_DIRECTORY), int(A.DELETE), int(A.FILE_DELETE_CHILD)


def sd(text: str) -> SecurityDescriptor:
    return SecurityDescriptor.from_sddl(text)


@dataclass
class H:
    path: str
    stream: str | None = None


class MemVfs:
    """Paths → stored descriptor bytes (None: no descriptor); only what security.files calls."""

    def __init__(self, sds: dict[str, SecurityDescriptor | None]) -> None:
        self.sds: dict[str, bytes | None] = {p: (s.encode() if s else None) for p, s in sds.items()}
        self.deleted: list[str] = []

    def open(self, path: str, disposition: Any, options: int = 0, attrs: int = 0) -> tuple[H, int]:
        if path not in self.sds:
            raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND)
        return H(path), 1

    def close(self, h: H) -> None:
        pass

    def get_security_descriptor(self, h: H) -> bytes | None:
        return self.sds.get(h.path)

    def set_security_descriptor(self, h: H, raw: bytes) -> None:
        self.sds[h.path] = bytes(raw)


# --- opening: DACL cap, plus DELETE / READ_ATTRIBUTES from the parent -------------------------

OPEN = [
    # (parent SDDL or None, file SDDL, token, bits expected in, bits expected out)
    (None, f"O:{ALICE}D:(A;;FR;;;{BOB})", bob, FILE_GENERIC_READ | DEL, int(A.FILE_WRITE_DATA)),
    # nothing on the file, parent lets list and delete children: READ_ATTRIBUTES and DELETE only
    (f"O:{ALICE}D:(A;;{LIST | DC:#x};;;{BOB})", f"O:{ALICE}D:", bob, RA | DEL, int(A.FILE_READ_DATA)),
    # parent grants neither: nothing at all
    (f"O:{ALICE}D:(A;;FR;;;{ALICE})", f"O:{ALICE}D:", bob, 0, RA | DEL),
    # owner of an empty DACL: READ_CONTROL | WRITE_DAC (+ the parent's bits)
    (None, f"O:{ALICE}D:", alice, int(A.READ_CONTROL | A.WRITE_DAC) | RA | DEL, int(A.FILE_READ_DATA)),
]


@pytest.mark.parametrize(("parent", "child", "token", "has", "lacks"), OPEN)
def test_open_maximal_access(parent, child, token, has, lacks):
    vfs = MemVfs({"d": sd(parent) if parent else None, "d\\f": sd(child)})
    got = open_maximal_access(vfs, H("d\\f"), vfs.sds["d\\f"], token)
    assert got is not None and got & has == has and not got & lacks


def test_open_without_stored_descriptor_is_unrestricted():
    vfs = MemVfs({"d": None, "d\\f": None})
    assert open_maximal_access(vfs, H("d\\f"), None, bob) is None
    assert open_maximal_access(vfs, H("d\\f"), b"\x01garbage", bob) is None  # corrupt = default


# --- creating: parent ADD_FILE check, inheritance, SecD ----------------------------------------

def test_create_needs_add_file_on_a_secured_parent():
    vfs = MemVfs({"d": sd(f"O:{ALICE}D:(A;OICI;FR;;;WD)")})
    with pytest.raises(AccessDenied) as e:
        new_object_sd(vfs, "d\\f", bob, False, None, created=True)
    assert e.value.status == NtStatus.ACCESS_DENIED
    # overwriting with a SecD does not need ADD_FILE
    new_object_sd(vfs, "d\\f", bob, False, sd(f"D:(A;;FA;;;{BOB})"), created=False)


def test_create_inherits_from_a_stored_parent_only():
    vfs = MemVfs({"": None, "d": sd(f"O:{ALICE}D:AI(A;OICI;FA;;;WD)(A;OICIIO;GR;;;CO)")})
    assert new_object_sd(vfs, "f", bob, False, None, created=True) is None  # root default applies
    child = new_object_sd(vfs, "d\\f", bob, False, None, created=True)
    assert child is not None and child.owner == Sid.parse(BOB)
    assert child.to_sddl().endswith(f"D:AI(A;ID;FA;;;WD)(A;ID;FR;;;{BOB})")


def test_secd_without_stored_parent_is_stored_as_given():
    """smb2.create.aclfile: the DACL given in SecD reads back unchanged (no default parent ACEs);
    generic bits are mapped; the default fills the owner."""
    vfs = MemVfs({"": None})
    given = sd(f"G:BUD:(A;;FA;;;{ALICE})(A;;GR;;;AU)")
    got = new_object_sd(vfs, "f", alice, False, given, created=True)
    assert got is not None and got.owner == Sid.parse(ALICE)
    assert got.to_sddl().split("D:", 1)[1] == f"(A;;FA;;;{ALICE})(A;;FR;;;AU)"
    # no DACL_PRESENT in the SecD: a DACL is still created (smb2.create.nulldacl)
    got = new_object_sd(vfs, "f", alice, False, SecurityDescriptor(), created=True)
    assert got is not None and got.control & SdControl.DACL_PRESENT and got.dacl is not None


def test_secd_owner_must_be_in_the_token():
    vfs = MemVfs({"": None})
    with pytest.raises(AccessDenied) as e:
        new_object_sd(vfs, "f", alice, False, sd(f"O:{BOB}D:(A;;FA;;;WD)"), created=True)
    assert e.value.status == NtStatus.INVALID_OWNER
    assert new_object_sd(vfs, "f", alice, False, sd("O:WDD:(A;;FA;;;WD)"), created=True) is not None


# --- SET_INFO / QUERY_INFO ----------------------------------------------------------------------

def test_set_security_maps_generic_bits_and_reads_back():
    """smb2.acls.CREATOR / GENERIC: GENERIC_READ set on the file reads back as FILE_GENERIC_READ."""
    vfs = MemVfs({"f": None})
    new = sd(f"D:(A;;GR;;;{ALICE})(A;OICIIO;GR;;;CO)")
    stored = set_security(vfs, H("f"), alice, False, int(SI.DACL), new.encode())
    assert stored.dacl is not None
    assert [a.mask for a in stored.dacl.aces] == [FILE_GENERIC_READ, GENERIC_READ]  # IO keeps generic
    back = SecurityDescriptor.decode(query_security(vfs, H("f"), alice, False, int(SI.DACL | SI.OWNER)))
    assert back.owner == Sid.parse(ALICE) and back.dacl == stored.dacl


def test_map_acl_generic_keeps_unchanged_acl_identity():
    acl = Acl((Ace(0, 0, FILE_ALL_ACCESS, SID_EVERYONE),))
    assert map_acl_generic(acl) is acl and map_acl_generic(None) is None


def test_merge_dacl_rules():
    cur = sd(f"O:{ALICE}G:{DU}D:AI(A;;FA;;;WD)")
    # a descriptor without DACL_PRESENT sets a NULL DACL (everyone)
    merged = merge_security(cur, SecurityDescriptor(), int(SI.DACL))
    assert merged.dacl is None and merged.control & SdControl.DACL_PRESENT
    assert maximal_access(merged, bob) == FILE_ALL_ACCESS
    # AUTO_INHERITED sticks only together with AUTO_INHERIT_REQ (smb2.acls.INHERITFLAGS)
    new = SecurityDescriptor.build(None, None, Acl(()), control=SdControl.DACL_AUTO_INHERITED)
    assert not merge_security(cur, new, int(SI.DACL)).control & SdControl.DACL_AUTO_INHERITED
    both = SecurityDescriptor.build(None, None, Acl(()), control=SdControl.DACL_AUTO_INHERITED
                                    | SdControl.DACL_AUTO_INHERIT_REQ)
    merged = merge_security(cur, both, int(SI.DACL))
    assert merged.control & SdControl.DACL_AUTO_INHERITED and not merged.control & SdControl.DACL_AUTO_INHERIT_REQ
    assert merged.owner == Sid.parse(ALICE)  # owner untouched when not selected


# --- ABE: Samba's readable rule -----------------------------------------------------------------

@pytest.mark.parametrize(("mask", "seen"), [
    (0x00020089, True),  # READ_CONTROL | READ_DATA | READ_ATTRIBUTES | READ_EA
    (0x00020081, False),  # no READ_EA
    (0x00020009, False),  # no READ_ATTRIBUTES
    (0x00020088, False),  # no READ_DATA
])
def test_abe_visible_needs_all_read_rights(mask, seen):
    """smb2.acls.ACCESSBASED: the owner (implicit READ_CONTROL) sees the file only with all four."""
    raw = sd(f"O:{ALICE}D:(A;;{mask | 0x100000:#x};;;{ALICE})").encode()
    assert visible(raw, alice) is seen
    assert visible(None, bob)  # no stored descriptor: the default (everyone) applies
