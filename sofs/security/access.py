"""The access check of [MS-DTYP] 2.5.3.2 (AccessCheck), for file objects.

``check_access(sd, token, desired)`` answers the granted mask or raises :class:`AccessDenied`
(ACCESS_DENIED, or PRIVILEGE_NOT_HELD for ACCESS_SYSTEM_SECURITY without SeSecurityPrivilege).
``maximal_access(sd, token)`` is what MAXIMUM_ALLOWED would grant (the MxAc create context).

The rules, in the spec's order:

1. GENERIC_* bits of the request (and of every ACE) are mapped with the file generic mapping.
2. ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege; WRITE_OWNER is granted by
   SeTakeOwnershipPrivilege; with backup intent SeBackup/SeRestore grant read/write rights.
3. No DACL (DACL_PRESENT clear) or a NULL DACL grants everything.
4. The owner gets READ_CONTROL | WRITE_DAC implicitly, unless the DACL has an OWNER RIGHTS
   (S-1-3-4) ACE, which then speaks for the owner instead.
5. ACEs are walked in order; INHERIT_ONLY ACEs are skipped; the first ACE (allow or deny) that
   mentions a bit decides it. A requested bit that no ACE allows is denied.

Object ACEs are ignored (they carry no meaning for files); callback ACEs are treated as their
plain allow/deny types (conditions are not evaluated: Windows file servers evaluate them only with
claims, which sofs tokens do not have).
"""
from __future__ import annotations

from functools import lru_cache

from sofs.security.token import SE_BACKUP, SE_RESTORE, SE_SECURITY, SE_TAKE_OWNERSHIP, Token
from sofs.wire.dtyp import SID_OWNER_RIGHTS, AceFlags, AceType, SdControl, SecurityDescriptor
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, FILE_GENERIC_READ, FILE_GENERIC_WRITE, map_generic
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.status import NtStatus

_ALLOW_TYPES = frozenset({int(AceType.ACCESS_ALLOWED), int(AceType.ACCESS_ALLOWED_CALLBACK)})
_DENY_TYPES = frozenset({int(AceType.ACCESS_DENIED), int(AceType.ACCESS_DENIED_CALLBACK)})
OWNER_IMPLICIT = int(A.READ_CONTROL | A.WRITE_DAC)
ALL_RIGHTS = FILE_ALL_ACCESS | int(A.ACCESS_SYSTEM_SECURITY)
# SeBackupPrivilege / SeRestorePrivilege with FILE_OPEN_FOR_BACKUP_INTENT ([MS-FSA] 2.1.5.1.2.1).
BACKUP_RIGHTS = FILE_GENERIC_READ | int(A.FILE_TRAVERSE) | int(A.ACCESS_SYSTEM_SECURITY)
RESTORE_RIGHTS = (FILE_GENERIC_WRITE | int(A.WRITE_DAC | A.WRITE_OWNER | A.DELETE | A.FILE_ADD_FILE
                  | A.FILE_ADD_SUBDIRECTORY | A.FILE_DELETE_CHILD | A.ACCESS_SYSTEM_SECURITY))


class AccessDenied(Exception):
    """The access check failed; ``status`` is the NTSTATUS to answer (ACCESS_DENIED usually)."""

    def __init__(self, status: int = NtStatus.ACCESS_DENIED, missing: int = 0) -> None:
        super().__init__(f"{NtStatus(status).name}: missing {missing:#x}")
        self.status = int(status)
        self.missing = missing


def dacl_decisions(sd: SecurityDescriptor, token: Token) -> tuple[int, int]:
    """(allowed, denied) bits after walking the DACL ([MS-DTYP] 2.5.3.2 steps 4-5).

    Bits decided by neither stay unset in both; a NULL/absent DACL allows everything.
    """
    if not sd.control & SdControl.DACL_PRESENT or sd.dacl is None:
        return ALL_RIGHTS & ~int(A.ACCESS_SYSTEM_SECURITY), 0
    allowed = denied = 0
    aces = sd.dacl.aces
    owner_rights_ace = any(a.sid == SID_OWNER_RIGHTS and not a.flags & AceFlags.INHERIT_ONLY for a in aces)
    is_owner = token.has(sd.owner)
    if is_owner and not owner_rights_ace:
        allowed = OWNER_IMPLICIT
    for ace in aces:
        if ace.flags & AceFlags.INHERIT_ONLY or ace.sid is None:
            continue
        t = ace.ace_type
        if t not in _ALLOW_TYPES and t not in _DENY_TYPES:
            continue
        if not (token.has(ace.sid) or (ace.sid == SID_OWNER_RIGHTS and is_owner)):
            continue
        mask = map_generic(ace.mask) & ~int(A.MAXIMUM_ALLOWED)
        if t in _ALLOW_TYPES:
            allowed |= mask & ~denied
        else:
            denied |= mask & ~allowed
    return allowed, denied


def _privilege_rights(token: Token, backup_intent: bool) -> int:
    rights = 0
    if token.has_privilege(SE_SECURITY):
        rights |= int(A.ACCESS_SYSTEM_SECURITY)
    if token.has_privilege(SE_TAKE_OWNERSHIP):
        rights |= int(A.WRITE_OWNER)
    if backup_intent:
        if token.has_privilege(SE_BACKUP):
            rights |= BACKUP_RIGHTS
        if token.has_privilege(SE_RESTORE):
            rights |= RESTORE_RIGHTS
    return rights


def maximal_access(sd: SecurityDescriptor, token: Token, backup_intent: bool = False) -> int:
    """What MAXIMUM_ALLOWED grants: DACL allowances plus privilege rights, never
    ACCESS_SYSTEM_SECURITY (it must be asked for explicitly and needs SeSecurityPrivilege)."""
    allowed, _ = dacl_decisions(sd, token)
    return (allowed | _privilege_rights(token, backup_intent)) & ~int(A.ACCESS_SYSTEM_SECURITY) & 0xFFFFFFFF


def check_access(sd: SecurityDescriptor, token: Token, desired: int, backup_intent: bool = False) -> int:
    """The granted access for ``desired`` (GENERIC/MAXIMUM_ALLOWED bits allowed) or AccessDenied."""
    want = map_generic(desired)
    explicit = want & ~int(A.MAXIMUM_ALLOWED) & 0xFFFFFFFF
    granted_max = maximal_access(sd, token, backup_intent)
    if explicit & A.ACCESS_SYSTEM_SECURITY:
        if not _privilege_rights(token, backup_intent) & A.ACCESS_SYSTEM_SECURITY:
            raise AccessDenied(NtStatus.PRIVILEGE_NOT_HELD, int(A.ACCESS_SYSTEM_SECURITY))
        granted_max |= int(A.ACCESS_SYSTEM_SECURITY)
    missing = explicit & ~granted_max
    if missing:
        raise AccessDenied(NtStatus.ACCESS_DENIED, missing)
    if want & A.MAXIMUM_ALLOWED:
        return (granted_max | explicit) & 0xFFFFFFFF
    return explicit


@lru_cache(maxsize=4096)
def decode_cached(raw: bytes) -> SecurityDescriptor | None:
    """Stored descriptor bytes → descriptor (None if corrupt); cached: files share few distinct SDs."""
    try:
        return SecurityDescriptor.decode(raw)
    except WireError:
        return None


@lru_cache(maxsize=8192)
def maximal_access_cached(sd: SecurityDescriptor, token: Token, backup_intent: bool = False) -> int:
    """:func:`maximal_access` memoised on (descriptor, token): a CREATE costs one dict lookup."""
    return maximal_access(sd, token, backup_intent)
