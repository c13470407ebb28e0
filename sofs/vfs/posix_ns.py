"""Namespace operations of ``PosixVfs``: delete, rename (files, directories, streams), hard link.

All take the handle's current path (kept up to date by ``rename``; other handles' paths are the
open table's business) and verify that the name still refers to the handle's inode before acting.
"""
from __future__ import annotations

import os
import stat as stat_mod
from typing import TYPE_CHECKING

from sofs.vfs.base import VfsError
from sofs.vfs.confine import status_from_errno
from sofs.vfs.names import NameError_, fold_name, parse_stream_suffix
from sofs.vfs.sysio import rename_noreplace
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.vfs.posix import PosixHandle, PosixVfs


def _err(e: OSError) -> VfsError:
    return VfsError(status_from_errno(e.errno), str(e))


def _comps(path: str) -> tuple[str, ...]:
    return tuple(path.split("\\")) if path else ()


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def delete(vfs: PosixVfs, h: PosixHandle) -> None:
    try:
        if h.stream is not None:
            vfs.streams.unlink(h.base_fd, h.stream)
            return
        comps = _comps(h.path)
        if not comps:
            raise VfsError(NtStatus.ACCESS_DENIED, "share root")
        parent = vfs._parent_fd(comps)
        try:
            mine = os.fstat(h.base_fd)
            there = os.stat(comps[-1], dir_fd=parent, follow_symlinks=False)
            if not _same_inode(mine, there):
                raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, f"{h.path} was replaced")
            if h.is_link:
                os.unlink(comps[-1], dir_fd=parent)  # a link has no streams
            elif h.is_directory:
                os.rmdir(comps[-1], dir_fd=parent)
                vfs.streams.remove_all(h.base_fd)
            else:
                os.unlink(comps[-1], dir_fd=parent)
                if mine.st_nlink <= 1:
                    vfs.streams.remove_all(h.base_fd)
        finally:
            os.close(parent)
    except FileNotFoundError:
        raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, h.path) from None
    except OSError as e:
        raise _err(e) from None


def _rename_stream(vfs: PosixVfs, h: PosixHandle, new_path: str, replace: bool) -> str:
    try:
        new = parse_stream_suffix(new_path[1:])
    except NameError_ as e:
        raise VfsError(e.status, str(e)) from None
    if h.stream is None or new is None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "default data stream rename")
    try:
        vfs.streams.rename(h.base_fd, h.stream, new, replace or fold_name(new) == fold_name(h.stream))
    except FileExistsError:
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new) from None
    except OSError as e:
        raise _err(e) from None
    h.stream = new
    return f"{h.path}:{new}"


def _target(vfs: PosixVfs, h: PosixHandle, new_path: str, replace: bool,
            allow_self: bool) -> tuple[int, tuple[str, ...], str, str | None]:
    """Resolve a rename/link target: (parent dir fd, parent components, name to create, existing
    on-disk name to replace or None). Raises COLLISION / ACCESS_DENIED per [MS-FSA] 2.1.5.14.11."""
    p = vfs._parse(new_path)
    if p.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "stream in rename target")
    if p.is_root:
        raise VfsError(NtStatus.ACCESS_DENIED, "rename to the share root")
    actual, exists = vfs._lookup(p.components)
    parent = vfs._parent_fd(actual)
    if not exists:
        return parent, actual[:-1], p.components[-1], None
    try:
        there = os.stat(actual[-1], dir_fd=parent, follow_symlinks=False)
        mine = os.fstat(h.base_fd)
    except OSError as e:
        os.close(parent)
        raise _err(e) from None
    if allow_self and _same_inode(there, mine):
        return parent, actual[:-1], p.components[-1], None  # case-only rename, or onto its own hard link
    if not replace:
        os.close(parent)
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path)
    if stat_mod.S_ISDIR(there.st_mode):
        os.close(parent)
        raise VfsError(NtStatus.ACCESS_DENIED, "cannot replace a directory")
    return parent, actual[:-1], p.components[-1], actual[-1]


def _drop_replaced_streams(vfs: PosixVfs, parent: int, name: str) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError:
        return
    try:
        if os.fstat(fd).st_nlink <= 1:
            vfs.streams.remove_all(fd)
    finally:
        os.close(fd)


def rename(vfs: PosixVfs, h: PosixHandle, new_path: str, replace: bool) -> str:
    """FileRenameInformation ([MS-FSCC] 2.4.42) within the share; updates ``h``; returns new path."""
    if new_path.startswith(":"):
        return _rename_stream(vfs, h, new_path, replace)
    if h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "stream renamed to a file name")
    old = _comps(h.path)
    if not old:
        raise VfsError(NtStatus.ACCESS_DENIED, "share root")
    dst_parent, dst_dir, dst_name, replaced = _target(vfs, h, new_path, replace, allow_self=True)
    try:
        src_parent = vfs._parent_fd(old)
        try:
            there = os.stat(old[-1], dir_fd=src_parent, follow_symlinks=False)
            if not _same_inode(there, os.fstat(h.base_fd)):
                raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, f"{h.path} was replaced")
            if replaced is not None:
                _drop_replaced_streams(vfs, dst_parent, replaced)
                os.rename(old[-1], replaced, src_dir_fd=src_parent, dst_dir_fd=dst_parent)
                if replaced != dst_name:
                    os.rename(replaced, dst_name, src_dir_fd=dst_parent, dst_dir_fd=dst_parent)
            elif old[-1] != dst_name or not os.path.samestat(os.fstat(src_parent), os.fstat(dst_parent)):
                rename_noreplace(src_parent, old[-1], dst_parent, dst_name)
        finally:
            os.close(src_parent)
    except FileExistsError:
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path) from None
    except OSError as e:
        raise _err(e) from None
    finally:
        os.close(dst_parent)
    h.path = "\\".join((*dst_dir, dst_name))
    return h.path


def link(vfs: PosixVfs, h: PosixHandle, new_path: str, replace: bool) -> None:
    """FileLinkInformation ([MS-FSCC] 2.4.27.1): a hard link to ``h``'s file."""
    if h.is_directory:
        raise VfsError(NtStatus.FILE_IS_A_DIRECTORY, h.path)
    if h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "hard link to a stream")
    dst_parent, _dir, dst_name, replaced = _target(vfs, h, new_path, replace, allow_self=False)
    try:
        if replaced is not None:
            _drop_replaced_streams(vfs, dst_parent, replaced)
            os.unlink(replaced, dir_fd=dst_parent)
        os.link(f"/proc/self/fd/{h.base_fd}", dst_name, dst_dir_fd=dst_parent, follow_symlinks=True)
    except FileExistsError:
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path) from None
    except OSError as e:
        raise _err(e) from None
    finally:
        os.close(dst_parent)
