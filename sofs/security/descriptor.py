"""Security descriptors of files: the default for files without one, and SET_INFO(SECURITY) rules.

Default ([MS-DTYP] 2.4.6 as sofs applies it): a file or directory with no stored descriptor (created
outside sofs, or inheriting only the default) reports owner = BUILTIN\\Administrators unless an owner
is given, group = the owner's primary group, DACL_AUTO_INHERITED, and a DACL granting full control to
the owner, SYSTEM, Administrators and Everyone (inheritable OI|CI on directories). Everyone full
control keeps the share permissions the only restriction on files nobody secured, as on a fresh
Windows share whose folder ACL grants Everyone full control.

SET_INFO ([MS-SMB2] 3.3.5.21.3, [MS-FSA] 2.1.5.16) merges the selected parts into the stored
descriptor:

- OWNER must be a SID of the caller's token (or any SID with SeRestorePrivilege); else INVALID_OWNER.
- DACL: DACL_AUTO_INHERIT_REQ is never stored; DACL_AUTO_INHERITED is stored only when the request
  has both AUTO_INHERITED and AUTO_INHERIT_REQ (Windows; smbtorture smb2.acls.INHERITFLAGS);
  DACL_PROTECTED follows the request (or PROTECTED_DACL / UNPROTECTED_DACL in AdditionalInformation).
  GENERIC_* bits of effective ACEs are stored mapped to file rights, inherit-only ACEs keep them
  (Windows; smbtorture smb2.acls.CREATOR / GENERIC read back the mapped masks).
- SACL likewise with the SACL bits.
"""
from __future__ import annotations

from dataclasses import replace

from sofs.security.access import AccessDenied
from sofs.security.token import SE_RESTORE, Token
from sofs.wire.dtyp import (
    SID_BUILTIN_ADMINISTRATORS,
    SID_EVERYONE,
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
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.status import NtStatus

_INHERIT = int(AceFlags.OBJECT_INHERIT | AceFlags.CONTAINER_INHERIT)
_DACL_BITS = int(SdControl.DACL_PRESENT | SdControl.DACL_PROTECTED | SdControl.DACL_AUTO_INHERITED
                 | SdControl.DACL_AUTO_INHERIT_REQ | SdControl.DACL_DEFAULTED)
_SACL_BITS = int(SdControl.SACL_PRESENT | SdControl.SACL_PROTECTED | SdControl.SACL_AUTO_INHERITED
                 | SdControl.SACL_AUTO_INHERIT_REQ | SdControl.SACL_DEFAULTED)


def default_sd(owner: Sid | None, group: Sid | None, is_directory: bool) -> SecurityDescriptor:
    """The descriptor of a file without a stored one (see module doc)."""
    own = owner or SID_BUILTIN_ADMINISTRATORS
    grp = group or own
    flags = _INHERIT if is_directory else 0
    aces = tuple(Ace(AceType.ACCESS_ALLOWED, flags, FILE_ALL_ACCESS, sid)
                 for sid in (own, SID_SYSTEM, SID_BUILTIN_ADMINISTRATORS, SID_EVERYONE))
    return SecurityDescriptor.build(own, grp, Acl(aces), control=SdControl.DACL_AUTO_INHERITED)


def map_acl_generic(acl: Acl | None) -> Acl | None:
    """``acl`` with the GENERIC_* bits of its effective ACEs mapped; inherit-only ACEs keep them."""
    if acl is None or not any(a.mask & GENERIC_MASK and not a.flags & AceFlags.INHERIT_ONLY for a in acl.aces):
        return acl
    return replace(acl, aces=tuple(a if a.flags & AceFlags.INHERIT_ONLY else replace(a, mask=map_generic(a.mask))
                                   for a in acl.aces))


def _canonical_auto_inherit(control: int, inherited: int, req: int) -> int:
    both = control & (inherited | req) == (inherited | req)
    control &= ~(inherited | req)
    return control | inherited if both else control


def merge_security(current: SecurityDescriptor, new: SecurityDescriptor, info: int,
                   token: Token | None = None) -> SecurityDescriptor:
    """The stored descriptor after SET_INFO(SECURITY) with AdditionalInformation ``info``.

    Raises :class:`AccessDenied` with INVALID_OWNER for an owner the caller may not assign.
    """
    sd = current
    control = int(current.control) | SdControl.SELF_RELATIVE
    if info & SI.OWNER:
        if new.owner is None:
            raise AccessDenied(NtStatus.INVALID_OWNER)
        if token is not None and not token.has(new.owner) and not token.has_privilege(SE_RESTORE):
            raise AccessDenied(NtStatus.INVALID_OWNER)
        sd = replace(sd, owner=new.owner)
    if info & SI.GROUP:
        if new.group is None:
            raise AccessDenied(NtStatus.INVALID_PRIMARY_GROUP)
        sd = replace(sd, group=new.group)
    if info & SI.DACL:
        nc = _canonical_auto_inherit(int(new.control), int(SdControl.DACL_AUTO_INHERITED),
                                     int(SdControl.DACL_AUTO_INHERIT_REQ))
        if info & SI.PROTECTED_DACL:
            nc |= SdControl.DACL_PROTECTED
        elif info & SI.UNPROTECTED_DACL:
            nc &= ~SdControl.DACL_PROTECTED
        control = (control & ~_DACL_BITS) | (nc & _DACL_BITS & ~SdControl.DACL_AUTO_INHERIT_REQ)
        if not new.control & SdControl.DACL_PRESENT:
            control |= SdControl.DACL_PRESENT  # "no DACL" set means a NULL DACL (everyone)
            sd = replace(sd, dacl=None)
        else:
            sd = replace(sd, dacl=map_acl_generic(new.dacl))
    if info & SI.SACL:
        nc = _canonical_auto_inherit(int(new.control), int(SdControl.SACL_AUTO_INHERITED),
                                     int(SdControl.SACL_AUTO_INHERIT_REQ))
        if info & SI.PROTECTED_SACL:
            nc |= SdControl.SACL_PROTECTED
        elif info & SI.UNPROTECTED_SACL:
            nc &= ~SdControl.SACL_PROTECTED
        control = (control & ~_SACL_BITS) | (nc & _SACL_BITS & ~SdControl.SACL_AUTO_INHERIT_REQ)
        sd = replace(sd, sacl=new.sacl if new.control & SdControl.SACL_PRESENT else None)
        if sd.sacl is None:
            control &= ~SdControl.SACL_PRESENT
    return replace(sd, control=control)


def required_access(info: int, setting: bool) -> int:
    """Access an open needs to query/set the parts ``info`` selects ([MS-SMB2] 3.3.5.20.3/3.3.5.21.3)."""
    from sofs.wire.fscc_constants import AccessMask as A

    need = 0
    if setting:
        if info & (SI.OWNER | SI.GROUP | SI.LABEL):
            need |= A.WRITE_OWNER
        if info & SI.DACL:
            need |= A.WRITE_DAC
        if info & SI.SACL:
            need |= A.ACCESS_SYSTEM_SECURITY
    else:
        if info & (SI.OWNER | SI.GROUP | SI.DACL | SI.LABEL | SI.ATTRIBUTE | SI.SCOPE):
            need |= A.READ_CONTROL
        if info & SI.SACL:
            need |= A.ACCESS_SYSTEM_SECURITY
    return int(need)
