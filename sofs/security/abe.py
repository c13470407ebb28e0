"""Access-based enumeration (FolderEnumerationMode AccessBased, [MS-SMB2] 2.2.10
SHI1005_FLAGS_ACCESS_BASED_DIRECTORY_ENUM): a directory listing shows an entry only if the entry's
own DACL grants the caller's token all of FILE_READ_DATA (FILE_LIST_DIRECTORY), FILE_READ_EA,
FILE_READ_ATTRIBUTES and READ_CONTROL: Samba's ``hide unreadable`` rule (``user_can_read_fsp``),
which smbtorture smb2.acls.ACCESSBASED checks bit by bit. Rights a parent would add on open
(READ_ATTRIBUTES from LIST_DIRECTORY) do not count. ``.`` and ``..`` are always listed; entries
without a stored descriptor have the default one (everyone) and are listed.

QUERY_DIRECTORY calls :func:`abe_filter` on shares with ABE.

The descriptors are read by name relative to the open directory's descriptor (``/proc/self/fd/N/name``
with ``follow_symlinks=False``: the directory is already confined, the final name is not followed),
one getxattr per entry; other VFS backends are asked through ``vfs.open`` per entry.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import Any

from sofs.security.access import decode_cached, maximal_access_cached
from sofs.security.token import Token, token_of_session
from sofs.vfs.base import VfsError
from sofs.vfs.meta import XATTR_SD
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import CreateDisposition

READ_RIGHTS = int(A.FILE_READ_DATA | A.FILE_READ_EA | A.FILE_READ_ATTRIBUTES | A.READ_CONTROL)


def visible(raw_sd: bytes | None, token: Token) -> bool:
    """Whether an entry with this stored descriptor is listed for ``token``."""
    if not raw_sd:
        return True
    sd = decode_cached(bytes(raw_sd))
    if sd is None:
        return True
    return maximal_access_cached(sd, token) & READ_RIGHTS == READ_RIGHTS


def _raw_sd_by_name(vfs: Any, dir_handle: Any, name: str) -> bytes | None:
    fd = getattr(dir_handle, "fd", None)
    if fd is not None and hasattr(vfs, "root_fd"):
        try:
            return os.getxattr(f"/proc/self/fd/{fd}/{name}", XATTR_SD, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.EOPNOTSUPP, errno.ENOENT):
                return None
            raise
    path = f"{dir_handle.path}\\{name}" if dir_handle.path else name
    try:
        h, _ = vfs.open(path, CreateDisposition.OPEN)
    except VfsError:
        return None
    try:
        raw = vfs.get_security_descriptor(h)
        return bytes(raw) if raw else None
    finally:
        vfs.close(h)


def filter_entries(vfs: Any, dir_handle: Any, entries: Iterable[Any], token: Token) -> list[Any]:
    """The entries ``token`` may see (entries have a ``name``)."""
    out = []
    for e in entries:
        if e.name in (".", "..") or visible(_raw_sd_by_name(vfs, dir_handle, e.name), token):
            out.append(e)
    return out


def abe_filter(ctx: Any, op: Any, entries: Iterable[Any]) -> list[Any]:
    """The QUERY_DIRECTORY hook (``server.extensions["abe_filter"]``)."""
    return filter_entries(op.share.vfs, op.handle, entries, token_of_session(ctx.session))
