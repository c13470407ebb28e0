"""What the CREATE / QUERY_INFO(SECURITY) / SET_INFO(SECURITY) paths call: per-file access checks
and descriptor storage on a VFS handle.

All functions are synchronous (they read or write one xattr through the VFS); call them from the
file-system thread pool (``run_fs``) or inline where the caller already is in a thread. Errors are
:class:`~sofs.security.access.AccessDenied` carrying the NTSTATUS (ACCESS_DENIED, INVALID_OWNER,
INVALID_SECURITY_DESCR...); the handlers turn them into ``SmbError(e.status)``.

Rules ([MS-FSA] 2.1.5.1.2.1 / 2.1.5.1.2, Windows behaviour checked by smbtorture smb2.acls):

- opening an existing object: the granted access is capped by the object's DACL
  (:func:`object_maximal_access`); DELETE is also granted when the parent directory grants
  FILE_DELETE_CHILD;
- creating an object: the parent must grant FILE_ADD_FILE (FILE_ADD_SUBDIRECTORY for a directory);
  the creator then gets the access it asked for, and the new object's descriptor is computed from
  the parent's and the SecD create context (:func:`on_new_object`). When the parent has no stored
  descriptor and no SecD was given, nothing is stored: the default descriptor applies, which is what
  inheritance from the default would produce.
"""
from __future__ import annotations

from typing import Any

from sofs.security.access import AccessDenied, decode_cached, maximal_access_cached
from sofs.security.descriptor import default_sd, merge_security
from sofs.security.inherit import create_security_descriptor
from sofs.security.token import Token
from sofs.wire.dtyp import SecurityDescriptor, security_info_subset
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import FILE_ALL_ACCESS, CreateDisposition, CreateOptions
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.status import NtStatus

SecurityError = AccessDenied


def parent_path(path: str) -> str | None:
    """The share-relative path of the parent directory; None for the share root."""
    if not path:
        return None
    return path.rsplit("\\", 1)[0] if "\\" in path else ""


def stored_sd(vfs: Any, h: Any) -> SecurityDescriptor | None:
    """The descriptor stored on the object (None when absent or unreadable)."""
    raw = vfs.get_security_descriptor(h)
    return decode_cached(bytes(raw)) if raw else None


def effective_sd(vfs: Any, h: Any, token: Token | None, is_directory: bool) -> SecurityDescriptor:
    """Stored descriptor, else the default (owner = the caller, as sofs reports unowned files)."""
    sd = stored_sd(vfs, h)
    if sd is not None:
        return sd
    return default_sd(token.user if token else None, token.primary_group if token else None, is_directory)


def _path_sd(vfs: Any, path: str | None, token: Token | None) -> SecurityDescriptor:
    """The effective descriptor of the directory at ``path`` ('' = root)."""
    if path is None:
        return default_sd(token.user if token else None, token.primary_group if token else None, True)
    h, _ = vfs.open(path, CreateDisposition.OPEN, int(CreateOptions.DIRECTORY_FILE))
    try:
        return effective_sd(vfs, h, token, True)
    finally:
        vfs.close(h)


def _parent_stored_sd(vfs: Any, path: str | None) -> SecurityDescriptor | None:
    if path is None:
        return None
    h, _ = vfs.open(path, CreateDisposition.OPEN, int(CreateOptions.DIRECTORY_FILE))
    try:
        return stored_sd(vfs, h)
    finally:
        vfs.close(h)


def object_maximal_access(vfs: Any, h: Any, token: Token, is_directory: bool, *,
                          want_delete: bool = False, backup_intent: bool = False) -> int:
    """What the object's DACL grants ``token`` (MAXIMUM_ALLOWED semantics; FILE_ALL_ACCESS for files
    without a stored descriptor). With ``want_delete``, DELETE is added when the parent grants
    FILE_DELETE_CHILD ([MS-FSA] 2.1.5.1.2.1)."""
    raw = vfs.get_security_descriptor(h)
    if not raw:
        return FILE_ALL_ACCESS
    sd = decode_cached(bytes(raw))
    if sd is None:
        return FILE_ALL_ACCESS  # corrupt descriptor reads as the default
    granted = maximal_access_cached(sd, token, backup_intent)
    if want_delete and not granted & A.DELETE and getattr(h, "stream", None) is None:
        parent = _path_sd(vfs, parent_path(h.path), token)
        if maximal_access_cached(parent, token, backup_intent) & A.FILE_DELETE_CHILD:
            granted |= int(A.DELETE)
    return granted


def check_create_in_parent(vfs: Any, path: str, token: Token, is_directory: bool) -> SecurityDescriptor | None:
    """AccessDenied unless the parent grants FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY; returns the
    parent's stored descriptor (None when it has none) for :func:`new_object_sd`."""
    ppath = parent_path(path)
    parent = _parent_stored_sd(vfs, ppath)
    if parent is None:
        return None  # default descriptor: everyone may create
    need = A.FILE_ADD_SUBDIRECTORY if is_directory else A.FILE_ADD_FILE
    if not maximal_access_cached(parent, token) & need:
        raise AccessDenied(NtStatus.ACCESS_DENIED, int(need))
    return parent


def new_object_sd(parent: SecurityDescriptor | None, creator: SecurityDescriptor | None, token: Token,
                  is_directory: bool) -> SecurityDescriptor | None:
    """The descriptor to store on a new object; None when the default applies (no parent descriptor,
    no SecD)."""
    if parent is None and creator is None:
        return None
    if parent is None:
        parent = default_sd(token.user, token.primary_group, True)
    return create_security_descriptor(parent, creator, token, is_directory)


def on_new_object(vfs: Any, h: Any, token: Token, is_directory: bool,
                  creator: SecurityDescriptor | None = None) -> SecurityDescriptor | None:
    """After a CREATE made ``h``: check the parent allows it (AccessDenied → the caller deletes the
    new object), then store the inherited descriptor. Streams inherit nothing (their file's SD rules)."""
    if getattr(h, "stream", None) is not None:
        return None
    if creator is not None and creator.owner is not None and not token.has(creator.owner):
        from sofs.security.token import SE_RESTORE

        if not token.has_privilege(SE_RESTORE):
            raise AccessDenied(NtStatus.INVALID_OWNER)
    parent = check_create_in_parent(vfs, h.path, token, is_directory)
    sd = new_object_sd(parent, creator, token, is_directory)
    if sd is not None:
        vfs.set_security_descriptor(h, sd.encode())
    return sd


def query_security(vfs: Any, h: Any, token: Token | None, is_directory: bool, info: int) -> bytes:
    """QUERY_INFO(SECURITY): the parts ``info`` selects, self-relative ([MS-SMB2] 3.3.5.20.3)."""
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
