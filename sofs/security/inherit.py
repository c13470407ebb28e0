"""The security descriptor a new file or directory gets ([MS-DTYP] 2.5.3.4 CreateSecurityDescriptor).

NTFS calls it with SEF_DACL_AUTO_INHERIT | SEF_SACL_AUTO_INHERIT, so a new object's DACL is the
creator's explicit ACEs (a SecD create context) followed by the ACEs inherited from the parent
directory (unless the creator's DACL is PROTECTED). Inheritance ([MS-DTYP] 2.5.3.4.2), as Samba's
``calculate_inherited_from_parent`` and Windows do it:

- a file inherits the parent's OBJECT_INHERIT ACEs; a directory its CONTAINER_INHERIT ACEs, and keeps
  OBJECT_INHERIT-only ACEs as INHERIT_ONLY so they reach the files below;
- NO_PROPAGATE_INHERIT: the child gets the effective ACE only, with no inheritance flags;
- an ACE naming CREATOR OWNER / CREATOR GROUP or carrying GENERIC_* bits is expanded: the child
  gets an effective copy (the creator's SID, file-specific rights, no inheritance flags) and, for a
  directory, the original as INHERIT_ONLY to pass on further;
- inherited ACEs carry INHERITED_ACE, and the child's DACL is AUTO_INHERITED, when the parent's DACL
  is AUTO_INHERITED (a parent set without it passes plain ACEs on).

If neither the creator nor the parent supplies a DACL ACE, the token's default DACL applies:
full control to the creator and SYSTEM (what a Windows network logon token carries).
"""
from __future__ import annotations

from dataclasses import replace

from sofs.security.token import Token
from sofs.wire.dtyp import (
    SID_CREATOR_GROUP,
    SID_CREATOR_OWNER,
    SID_SYSTEM,
    Ace,
    AceFlags,
    AceType,
    Acl,
    SdControl,
    SecurityDescriptor,
    Sid,
)
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, GENERIC_MASK, map_generic

OI = int(AceFlags.OBJECT_INHERIT)
CI = int(AceFlags.CONTAINER_INHERIT)
NP = int(AceFlags.NO_PROPAGATE_INHERIT)
IO = int(AceFlags.INHERIT_ONLY)
ID = INHERITED = int(AceFlags.INHERITED)
_INHERIT_FLAGS = OI | CI | NP | IO


def _needs_expansion(ace: Ace) -> bool:
    return bool(ace.mask & GENERIC_MASK) or ace.sid in (SID_CREATOR_OWNER, SID_CREATOR_GROUP)


def _expand(ace: Ace, owner: Sid, group: Sid) -> Ace:
    """The effective copy of an inheritable ACE: creator SIDs substituted, generic rights mapped."""
    sid = ace.sid
    if sid == SID_CREATOR_OWNER:
        sid = owner
    elif sid == SID_CREATOR_GROUP:
        sid = group
    return replace(ace, sid=sid, mask=map_generic(ace.mask), flags=ace.flags & ~_INHERIT_FLAGS & ~ID)


def inherited_aces(parent: Acl | None, is_directory: bool, owner: Sid, group: Sid,
                   mark: bool = True) -> list[Ace]:
    """The ACEs a child inherits from its parent's ACL ([MS-DTYP] 2.5.3.4.2).

    ``mark``: flag them INHERITED_ACE (done when the parent's DACL is AUTO_INHERITED, as Windows and
    smbtorture's smb2.acls.INHERITFLAGS expect).
    """
    out: list[Ace] = []
    if parent is None:
        return out
    mk = INHERITED if mark else 0
    for ace in parent.aces:
        if ace.sid is None:
            continue  # object ACEs: no meaning on files
        f = ace.flags
        applies = bool(f & CI) if is_directory else bool(f & OI)
        if not applies and not (is_directory and f & OI):
            continue
        if f & NP:
            if applies:
                out.append(replace(_expand(ace, owner, group), flags=mk))
            continue
        if not applies:  # OI-only ACE on a directory: kept for the files below
            out.append(replace(ace, flags=(f & (OI | CI)) | IO | mk))
            continue
        if not is_directory:
            out.append(replace(_expand(ace, owner, group), flags=mk))
            continue
        if _needs_expansion(ace):
            out.append(replace(_expand(ace, owner, group), flags=mk))
            out.append(replace(ace, flags=(f & (OI | CI)) | IO | mk))
        else:
            out.append(replace(ace, flags=(f & (OI | CI)) | mk))
    return out


def creator_aces(acl: Acl, is_directory: bool, owner: Sid, group: Sid, protected: bool) -> list[Ace]:
    """Explicit ACEs of the creator's descriptor (Samba ``process_user_acl``): inherited ACEs are
    dropped (or made explicit with ``protected``: a protected DACL, or no parent to inherit from), useless INHERIT_ONLY ACEs dropped, and
    creator/generic ACEs expanded like inheritance does."""
    out: list[Ace] = []
    for ace in acl.aces:
        f = ace.flags
        if f & ID:
            if not protected:
                continue
            ace = replace(ace, flags=f & ~ID)
            f = ace.flags
        if f & IO and not f & (OI | CI):
            continue
        if f & IO or ace.sid is None or not _needs_expansion(ace):
            out.append(ace)
            continue
        if is_directory and f & (OI | CI):
            out.append(replace(ace, flags=f | IO))
            out.append(_expand(ace, owner, group))
        else:
            out.append(_expand(ace, owner, group))
    return out


def default_dacl(token: Token) -> Acl:
    """The token default DACL: full control to the creator and SYSTEM."""
    return Acl((Ace(AceType.ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, token.user),
                Ace(AceType.ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, SID_SYSTEM)))


def create_security_descriptor(parent: SecurityDescriptor | None, creator: SecurityDescriptor | None,
                               token: Token, is_directory: bool) -> SecurityDescriptor:
    """[MS-DTYP] 2.5.3.4.1 CreateSecurityDescriptor with DACL/SACL auto-inherit (NTFS)."""
    owner = creator.owner if creator is not None and creator.owner is not None else token.user
    group = creator.group if creator is not None and creator.group is not None else token.primary_group
    control = int(SdControl.SELF_RELATIVE)
    cc = creator.control if creator is not None else 0

    # DACL
    dacl: Acl | None
    creator_has_dacl = creator is not None and bool(cc & SdControl.DACL_PRESENT)
    if creator_has_dacl and creator is not None and creator.dacl is None:
        dacl = None  # NULL DACL asked for explicitly
        control |= SdControl.DACL_PRESENT
    else:
        # without a parent there is nothing to re-inherit: the creator's inherited ACEs stay (explicit)
        keep = bool(cc & SdControl.DACL_PROTECTED) or parent is None
        explicit = (creator_aces(creator.dacl, is_directory, owner, group, keep)
                    if creator_has_dacl and creator is not None and creator.dacl is not None else [])
        inherited: list[Ace] = []
        auto = parent is not None and bool(parent.control & SdControl.DACL_AUTO_INHERITED)
        if parent is not None and not cc & SdControl.DACL_PROTECTED:
            inherited = inherited_aces(parent.dacl, is_directory, owner, group, auto)
        if auto:
            control |= SdControl.DACL_AUTO_INHERITED
        if cc & SdControl.DACL_PROTECTED:
            control |= SdControl.DACL_PROTECTED
        if explicit or inherited or creator_has_dacl:
            dacl = Acl(tuple(explicit + inherited),
                       creator.dacl.revision if creator is not None and creator.dacl is not None
                       else (parent.dacl.revision if parent is not None and parent.dacl is not None else 2))
        else:
            dacl = default_dacl(token)
        control |= SdControl.DACL_PRESENT

    # SACL (only inherited SACLs and the creator's; auditing itself is not done)
    sacl: Acl | None = None
    s_keep = bool(cc & SdControl.SACL_PROTECTED) or parent is None
    s_explicit = (creator_aces(creator.sacl, is_directory, owner, group, s_keep)
                  if creator is not None and creator.sacl is not None and cc & SdControl.SACL_PRESENT else [])
    s_inherited: list[Ace] = []
    if parent is not None and parent.sacl is not None and not cc & SdControl.SACL_PROTECTED:
        s_inherited = inherited_aces(parent.sacl, is_directory, owner, group,
                                     bool(parent.control & SdControl.SACL_AUTO_INHERITED))
    if s_explicit or s_inherited:
        sacl = Acl(tuple(s_explicit + s_inherited))
        control |= SdControl.SACL_PRESENT
        if s_inherited and parent is not None and parent.control & SdControl.SACL_AUTO_INHERITED:
            control |= SdControl.SACL_AUTO_INHERITED
    if cc & SdControl.SACL_PROTECTED:
        control |= SdControl.SACL_PROTECTED
    return SecurityDescriptor(owner, group, dacl, sacl, control)
