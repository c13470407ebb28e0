"""Security descriptors of files: the stored one, or the default Windows gives a new file.

[MS-DTYP] 2.4.6. Files without a stored descriptor (created outside sofs, or before a SecD/SET_INFO)
report a default: owner = the opening user (or BUILTIN\\Administrators when unknown), group =
the user's primary group, DACL granting full control to the owner, SYSTEM and Administrators and
read/execute to Everyone... except that sofs grants Everyone full control by default so that the
share-level permissions stay the only restriction until per-file ACLs are enforced (issue 3).
SET_INFO merges the selected parts into the stored descriptor ([MS-SMB2] 3.3.5.21.3).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from sofs.handlers.base import Ctx, SmbError
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Open
from sofs.wire.dtyp import (
    SID_BUILTIN_ADMINISTRATORS,
    SID_EVERYONE,
    SID_SYSTEM,
    Ace,
    AceType,
    Acl,
    SdControl,
    SecurityDescriptor,
    Sid,
)
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, map_generic
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.status import NtStatus

_INHERIT = 0x03  # OBJECT_INHERIT | CONTAINER_INHERIT


def _user_sids(ctx: Ctx) -> tuple[Sid, Sid]:
    user = ctx.session.user if ctx.session is not None else None
    try:
        owner = Sid.parse(user.sid) if user is not None else SID_BUILTIN_ADMINISTRATORS
        group = Sid.parse(user.group_sids[0]) if user is not None and user.group_sids else owner
    except (AttributeError, ValueError, WireError):
        owner = group = SID_BUILTIN_ADMINISTRATORS
    return owner, group


def default_sd(ctx: Ctx, is_directory: bool) -> SecurityDescriptor:
    owner, group = _user_sids(ctx)
    flags = _INHERIT if is_directory else 0
    aces = tuple(Ace(AceType.ACCESS_ALLOWED, flags, FILE_ALL_ACCESS, sid)
                 for sid in (owner, SID_SYSTEM, SID_BUILTIN_ADMINISTRATORS, SID_EVERYONE))
    return SecurityDescriptor.build(owner, group, Acl(aces), control=SdControl.DACL_AUTO_INHERITED)


async def effective_sd(ctx: Ctx, op: Open) -> SecurityDescriptor:
    raw = await run_fs(op.share.vfs.get_security_descriptor, op.handle)
    if raw:
        try:
            return SecurityDescriptor.decode(raw)
        except WireError:
            pass  # a corrupt stored descriptor reads as the default
    return default_sd(ctx, op.is_directory)


_AUTO_BOTH = SdControl.DACL_AUTO_INHERITED | SdControl.DACL_AUTO_INHERIT_REQ


def merge_sd(current: SecurityDescriptor, new: SecurityDescriptor, info: int) -> SecurityDescriptor:
    """The stored descriptor after SET_INFO(SECURITY) with AdditionalInformation ``info``."""
    sd = current
    control = sd.control
    if info & SI.OWNER:
        if new.owner is None:
            raise SmbError(NtStatus.INVALID_OWNER)
        sd = replace(sd, owner=new.owner)
    if info & SI.GROUP:
        sd = replace(sd, group=new.group)
    if info & SI.DACL:
        # a descriptor without DACL_PRESENT sets a NULL DACL (everyone), reported as present
        control = (control & ~(SdControl.DACL_PROTECTED | SdControl.DACL_AUTO_INHERITED)) \
            | (new.control & SdControl.DACL_PROTECTED) | SdControl.DACL_PRESENT
        if new.control & _AUTO_BOTH == _AUTO_BOTH:
            # AUTO_INHERITED sticks only with AUTO_INHERIT_REQ (SetSecurityInfo; smb2.acls.INHERITFLAGS)
            control |= SdControl.DACL_AUTO_INHERITED
        sd = replace(sd, dacl=map_acl_generic(new.dacl) if new.control & SdControl.DACL_PRESENT else None)
    if info & SI.SACL:
        control = (control & ~(SdControl.SACL_PRESENT | SdControl.SACL_PROTECTED)) \
            | (new.control & (SdControl.SACL_PRESENT | SdControl.SACL_PROTECTED))
        sd = replace(sd, sacl=new.sacl)
    return replace(sd, control=control | SdControl.SELF_RELATIVE)


def decode_sd(buf: Any) -> SecurityDescriptor:
    try:
        return SecurityDescriptor.decode(buf)
    except WireError as e:
        raise SmbError(e.status, str(e)) from None


def sd_for_new_file(ctx: Ctx, is_directory: bool, given: SecurityDescriptor) -> SecurityDescriptor:
    """The descriptor a CREATE with a SecD context stores ([MS-SMB2] 3.3.5.9.3): the parts the client
    gave (a present-but-NULL DACL stays a NULL DACL), the defaults for the rest."""
    base = default_sd(ctx, is_directory)
    control = SdControl.SELF_RELATIVE | (given.control & (SdControl.DACL_PROTECTED | SdControl.SACL_PROTECTED))
    if given.control & _AUTO_BOTH == _AUTO_BOTH:
        control |= SdControl.DACL_AUTO_INHERITED
    if given.control & SdControl.DACL_PRESENT:
        dacl = map_acl_generic(given.dacl)
    else:
        dacl = base.dacl
        control |= base.control & SdControl.DACL_AUTO_INHERITED
    control |= SdControl.DACL_PRESENT
    sacl = given.sacl if given.control & SdControl.SACL_PRESENT else None
    if sacl is not None or given.control & SdControl.SACL_PRESENT:
        control |= SdControl.SACL_PRESENT
    return SecurityDescriptor(given.owner or base.owner, given.group or base.group, dacl, sacl, control)


_ACE_ALLOWED = 0x00
_ACE_DENIED = 0x01
_INHERIT_ONLY = 0x08
_OWNER_IMPLICIT = 0x00020000 | 0x00040000  # READ_CONTROL | WRITE_DAC
_OWNER_RIGHTS = "S-1-3-4"


def token_sids(ctx: Ctx) -> frozenset[str]:
    """The SIDs (string form, upper-case) the session's user acts with ([MS-DTYP] 2.5.2 Token)."""
    user = ctx.session.user if ctx.session is not None else None
    if user is None:
        return frozenset({"S-1-1-0", "S-1-5-7"})
    try:
        return frozenset(s.upper() for s in user.token_sids())
    except AttributeError:
        return frozenset({str(user.sid).upper(), "S-1-1-0", "S-1-5-11"})


def dacl_access(sd: SecurityDescriptor, token: frozenset[str]) -> int:
    """Maximal access the DACL grants ``token`` ([MS-DTYP] 2.5.3.2 AccessCheck, MAXIMUM_ALLOWED).

    No DACL_PRESENT or a NULL DACL grants everything; an empty DACL grants nothing but the owner's
    implicit READ_CONTROL | WRITE_DAC. Generic bits in ACE masks are mapped.
    """
    if not sd.control & SdControl.DACL_PRESENT or sd.dacl is None:
        return FILE_ALL_ACCESS
    allowed = denied = 0
    is_owner = sd.owner is not None and str(sd.owner).upper() in token
    owner_rights = False
    for ace in sd.dacl.aces:
        if ace.flags & _INHERIT_ONLY or ace.sid is None:
            continue
        sid = str(ace.sid).upper()
        if sid == _OWNER_RIGHTS:
            owner_rights = True  # replaces the owner's implicit rights ([MS-DTYP] 2.5.3.2)
            if not is_owner:
                continue
        elif sid not in token:
            continue
        mask = map_generic(ace.mask)
        if ace.ace_type == _ACE_ALLOWED:
            allowed |= mask & ~denied
        elif ace.ace_type == _ACE_DENIED:
            denied |= mask & ~allowed
    if is_owner and not owner_rights:
        allowed |= _OWNER_IMPLICIT & ~denied
    return allowed & FILE_ALL_ACCESS


_OI, _CI, _NP, _IO, _INHERITED = 0x01, 0x02, 0x04, 0x08, 0x10
_CREATOR_OWNER = "S-1-3-0"
_CREATOR_GROUP = "S-1-3-1"


def creator_sids(ctx: Ctx) -> tuple[Sid, Sid]:
    """(owner, group) a new object gets: the creating user and its primary group."""
    return _user_sids(ctx)


def _effective(ace: Ace, owner: Sid, group: Sid, inherited: int) -> Ace:
    """An inherited ACE that applies to the new object itself: creator SIDs and generic bits resolved."""
    sid = ace.sid
    if sid is not None and str(sid) == _CREATOR_OWNER:
        sid = owner
    elif sid is not None and str(sid) == _CREATOR_GROUP:
        sid = group
    return replace(ace, flags=inherited, sid=sid, mask=map_generic(ace.mask))


def map_acl_generic(acl: Acl | None) -> Acl | None:
    """Generic bits of effective ACEs are stored mapped; inherit-only ACEs keep them (as Windows)."""
    if acl is None:
        return None
    return replace(acl, aces=tuple(a if a.flags & _INHERIT_ONLY else replace(a, mask=map_generic(a.mask))
                                   for a in acl.aces))


def inherit_sd(parent: SecurityDescriptor, owner: Sid, group: Sid, is_directory: bool) -> SecurityDescriptor | None:
    """The descriptor a new child gets from its parent's inheritable ACEs ([MS-DTYP] 2.5.3.4
    ComputeACL, simplified: CREATOR OWNER/GROUP become the creator's SIDs in effective ACEs).
    None when the parent has no DACL or nothing inheritable (the default descriptor applies)."""
    if not parent.control & SdControl.DACL_PRESENT or parent.dacl is None:
        return None
    # INHERITED_ACE / DACL_AUTO_INHERITED only when the parent is auto-inherited (NtCreateFile's
    # SEF_DACL_AUTO_INHERIT; smbtorture smb2.acls.INHERITFLAGS)
    auto = bool(parent.control & SdControl.DACL_AUTO_INHERITED)
    inh = _INHERITED if auto else 0
    aces: list[Ace] = []
    for ace in parent.dacl.aces:
        f = ace.flags
        if is_directory:
            if f & _CI:
                creator = ace.sid is not None and str(ace.sid) in (_CREATOR_OWNER, _CREATOR_GROUP)
                generic = bool(ace.mask & 0xF0000000)
                if f & _NP or creator or generic:
                    aces.append(_effective(ace, owner, group, inh))
                    if not f & _NP:  # the original keeps propagating, inherit-only here
                        aces.append(replace(ace, flags=(f & (_OI | _CI)) | _IO | inh))
                else:
                    aces.append(replace(ace, flags=(f & (_OI | _CI)) | inh))
            elif f & _OI and not f & _NP:
                aces.append(replace(ace, flags=_OI | _IO | inh))  # passed on to files only
        elif f & _OI:
            aces.append(_effective(ace, owner, group, inh))
    if not aces:
        return None
    return SecurityDescriptor.build(owner, group, Acl(tuple(aces)),
                                    control=SdControl.DACL_AUTO_INHERITED if auto else 0)
