"""What the CREATE / QUERY_INFO(SECURITY) / SET_INFO(SECURITY) paths call: per-file access checks
and descriptor storage on a VFS handle.

All functions are synchronous (they read or write xattrs through the VFS); call them from the
file-system thread pool (``run_fs``). Errors are :class:`~sofs.security.access.AccessDenied`
carrying the NTSTATUS (ACCESS_DENIED, INVALID_OWNER, INVALID_SECURITY_DESCR...); the handlers turn
them into ``SmbError(e.status)``.

Rules ([MS-FSA] 2.1.5.1.2.1 / 2.1.5.1.2, Windows behaviour checked by smbtorture smb2.acls):

- opening an existing object (:func:`open_maximal_access`): the granted access is capped by the
  object's DACL; DELETE is also granted when the parent directory grants FILE_DELETE_CHILD, and
  FILE_READ_ATTRIBUTES when it grants FILE_LIST_DIRECTORY (NTFS; smb2.acls.GENERIC / OWNER expect
  both in MAXIMUM_ALLOWED). An object without a stored descriptor is not restricted (None);
- creating an object (:func:`new_object_sd`): the parent must grant FILE_ADD_FILE
  (FILE_ADD_SUBDIRECTORY for a directory); the new object's descriptor is computed from the
  parent's stored one and the SecD create context. A parent without a stored descriptor passes
  nothing on: with no SecD nothing is stored (the default descriptor applies), with a SecD its
  parts are stored as given (the default fills owner/group; smb2.create.aclfile reads the DACL back
  unchanged). Named streams have no descriptor of their own.
"""
from __future__ import annotations

from typing import Any

from sofs.security.access import AccessDenied, decode_cached, maximal_access_cached
from sofs.security.descriptor import default_sd, merge_security
from sofs.security.inherit import create_security_descriptor
from sofs.security.token import SE_RESTORE, Token
from sofs.vfs.base import VfsError
from sofs.wire.dtyp import SecurityDescriptor, security_info_subset
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, CreateDisposition, CreateOptions
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.status import NtStatus

SecurityError = AccessDenied
_FROM_PARENT = int(A.DELETE | A.FILE_READ_ATTRIBUTES)


def parent_path(path: str) -> str | None:
    """The share-relative path of the parent directory; None for the share root."""
    if not path:
        return None
    return path.rsplit("\\", 1)[0] if "\\" in path else ""


def stored_sd(vfs: Any, h: Any) -> SecurityDescriptor | None:
    """The descriptor stored on the object (None when absent or corrupt: the default applies)."""
    raw = vfs.get_security_descriptor(h)
    return decode_cached(bytes(raw)) if raw else None


def parent_sd(vfs: Any, path: str) -> SecurityDescriptor | None:
    """The stored descriptor of the directory holding ``path`` (None: none stored, or the root)."""
    ppath = parent_path(path)
    if ppath is None:
        return None
    try:
        h, _ = vfs.open(ppath, CreateDisposition.OPEN, int(CreateOptions.DIRECTORY_FILE), 0)
    except VfsError:
        return None
    try:
        return stored_sd(vfs, h)
    finally:
        vfs.close(h)


def effective_sd(vfs: Any, h: Any, token: Token | None, is_directory: bool) -> SecurityDescriptor:
    """Stored descriptor, else the default (owner = the caller, as sofs reports unowned files)."""
    sd = stored_sd(vfs, h)
    if sd is not None:
        return sd
    return default_sd(token.user if token else None, token.primary_group if token else None, is_directory)


def stored_maximal_access(raw: bytes | None, token: Token, backup_intent: bool = False) -> int | None:
    """What a stored descriptor (``raw``, read with the open) grants ``token``; None when there is
    none (or it is corrupt): the object is not restricted. Pure and cached: no I/O."""
    sd = decode_cached(bytes(raw)) if raw else None
    return None if sd is None else maximal_access_cached(sd, token, backup_intent)


def needs_parent(granted: int) -> bool:
    """Whether :func:`add_parent_rights` could add anything to ``granted``."""
    return granted & _FROM_PARENT != _FROM_PARENT


def add_parent_rights(vfs: Any, path: str, token: Token, granted: int, backup_intent: bool = False) -> int:
    """``granted`` plus DELETE when the parent grants FILE_DELETE_CHILD and FILE_READ_ATTRIBUTES when
    it grants FILE_LIST_DIRECTORY (a parent without a stored descriptor grants both)."""
    parent = parent_sd(vfs, path)
    pgrant = FILE_ALL_ACCESS if parent is None else maximal_access_cached(parent, token, backup_intent)
    if pgrant & A.FILE_DELETE_CHILD:
        granted |= int(A.DELETE)
    if pgrant & A.FILE_LIST_DIRECTORY:
        granted |= int(A.FILE_READ_ATTRIBUTES)
    return granted


def open_maximal_access(vfs: Any, h: Any, raw: bytes | None, token: Token,
                        backup_intent: bool = False) -> int | None:
    """What the object's stored DACL grants ``token`` on open, with the parent's rights
    (:func:`add_parent_rights`); None when the object has no (readable) stored descriptor."""
    granted = stored_maximal_access(raw, token, backup_intent)
    if granted is not None and needs_parent(granted):
        granted = add_parent_rights(vfs, h.path, token, granted, backup_intent)
    return granted


def new_object_sd(vfs: Any, path: str, token: Token, is_directory: bool,
                  creator: SecurityDescriptor | None, created: bool) -> SecurityDescriptor | None:
    """The descriptor to store on an object CREATE just made (``created``) or overwrote with a SecD
    context (``creator``); None when the default applies. AccessDenied (the caller removes a new
    object again) when the parent does not grant FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY, or
    INVALID_OWNER when the SecD names an owner outside the caller's token (without SeRestore)."""
    if creator is not None and creator.owner is not None and not token.has(creator.owner) \
            and not token.has_privilege(SE_RESTORE):
        raise AccessDenied(NtStatus.INVALID_OWNER)
    parent = parent_sd(vfs, path)
    if created and parent is not None:
        need = A.FILE_ADD_SUBDIRECTORY if is_directory else A.FILE_ADD_FILE
        if not maximal_access_cached(parent, token) & need:
            raise AccessDenied(NtStatus.ACCESS_DENIED, int(need))
    if parent is None and creator is None:
        return None
    return create_security_descriptor(parent, creator, token, is_directory)


def query_security(vfs: Any, h: Any, token: Token | None, is_directory: bool, info: int) -> bytes:
    """QUERY_INFO(SECURITY): the parts ``info`` selects, self-relative ([MS-SMB2] 3.3.5.20.3).
    The caller checked the open's READ_CONTROL / ACCESS_SYSTEM_SECURITY."""
    return security_info_subset(effective_sd(vfs, h, token, is_directory), info).encode()


def decode_request_sd(raw: bytes) -> SecurityDescriptor:
    try:
        return SecurityDescriptor.decode(raw)
    except WireError as e:
        raise AccessDenied(e.status) from None


def set_security(vfs: Any, h: Any, token: Token | None, is_directory: bool, info: int,
                 raw: bytes) -> SecurityDescriptor:
    """SET_INFO(SECURITY): merge and store ([MS-SMB2] 3.3.5.21.3); returns the stored descriptor.
    The caller checked the open's WRITE_OWNER / WRITE_DAC / ACCESS_SYSTEM_SECURITY."""
    new = decode_request_sd(bytes(raw))
    current = effective_sd(vfs, h, token, is_directory)
    merged = merge_security(current, new, info, token)
    vfs.set_security_descriptor(h, merged.encode())
    return merged
