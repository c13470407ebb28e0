"""Namespace operations, listings and named streams of ``CephVfs`` (the CephFS twins of ``posix_ns``,
``posix_info.list_dir`` and ``streams``: same rules, same on-disk layout, paths instead of dir fds).

Renames that must not replace use check-then-rename (libcephfs has no RENAME_NOREPLACE): racy only
against a concurrent create of the target name by another client, as the POSIX fallback.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
from typing import TYPE_CHECKING

from sofs.vfs.base import DirEntry, StreamInfo, VfsError
from sofs.vfs.meta import XATTR_ALLOCATION, XATTR_DOSATTRIB, XATTR_STREAMKEY, XATTR_STREAMNAME
from sofs.vfs.names import NameError_, SmbPath, fold_name, make_matcher, parse_stream_suffix
from sofs.vfs.posix_info import _listable
from sofs.vfs.streams import META_DIR, stream_file_name
from sofs.wire.fscc_constants import CreateAction, CreateDisposition
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.vfs.ceph import CephHandle, CephVfs

D = CreateDisposition
_META_FOLD = fold_name(META_DIR)
_TRUNCATING = frozenset({int(D.SUPERSEDE), int(D.OVERWRITE), int(D.OVERWRITE_IF)})


def _comps(path: str) -> tuple[str, ...]:
    return tuple(path.split("\\")) if path else ()


def _streams_dir(vfs: CephVfs, key: bytes | None = None) -> bytes:
    base = f"{vfs.prefix}/{META_DIR}/streams"
    return os.fsencode(f"{base}/{key.hex()}" if key else base)


def ensure_meta_dirs(vfs: CephVfs) -> None:
    try:
        vfs.mount.mkdirs(_streams_dir(vfs), 0o700)
    except FileExistsError:
        pass


# --- streams ---------------------------------------------------------------------------------------

def _get_key(vfs: CephVfs, cfd: int) -> bytes | None:
    key = vfs._xattr(cfd, XATTR_STREAMKEY)
    return key if key is not None and len(key) == 16 else None


def _ensure_key(vfs: CephVfs, cfd: int) -> bytes:
    key = _get_key(vfs, cfd)
    if key is not None:
        return key
    key = os.urandom(16)
    try:
        vfs.mount.fsetxattr(cfd, XATTR_STREAMKEY, key, os.XATTR_CREATE)
    except FileExistsError:
        existing = _get_key(vfs, cfd)
        if existing is None:
            raise
        return existing
    return key


def _stream_path(vfs: CephVfs, key: bytes, name: str) -> bytes:
    return _streams_dir(vfs, key) + b"/" + stream_file_name(name).encode()


def open_stream(vfs: CephVfs, p: SmbPath, disposition: D, attributes: int,
                truncate: bool) -> tuple[CephHandle, CreateAction]:
    from sofs.vfs.ceph import CephHandle

    assert p.stream is not None
    base_disp = D.OPEN if disposition in (D.OPEN, D.OVERWRITE) else D.OPEN_IF
    base, _ = vfs.open(p.smb, base_disp, 0, attributes)
    m = vfs.mount
    name = f"{p.smb}:{p.stream}"
    try:
        create = disposition not in (D.OPEN, D.OVERWRITE)
        key = _ensure_key(vfs, base.base_cfd) if create else _get_key(vfs, base.base_cfd)
        if key is None:
            raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, name)
        spath = _stream_path(vfs, key, p.stream)
        created = False
        if create:
            try:
                m.mkdir(_streams_dir(vfs, key), 0o700)
            except FileExistsError:
                pass
            try:
                sfd = m.open(spath, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                m.fsetxattr(sfd, XATTR_STREAMNAME, p.stream.encode("utf-8", "surrogatepass"))
                created = True
            except FileExistsError:
                if disposition == D.CREATE:
                    raise VfsError(NtStatus.OBJECT_NAME_COLLISION, name) from None
                sfd = m.open(spath, os.O_RDWR)
        else:
            sfd = m.open(spath, os.O_RDWR)
    except FileNotFoundError:
        vfs.close(base)
        raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, name) from None
    except VfsError:
        vfs.close(base)
        raise
    except OSError as e:
        vfs.close(base)
        raise VfsError(_status(e), str(e)) from None
    h = CephHandle(sfd, base.base_cfd, base.path, p.stream, False, base.file_id)
    if created:
        return h, CreateAction.CREATED
    if disposition in _TRUNCATING:
        if truncate:
            vfs.overwrite(h)
        return h, CreateAction.SUPERSEDED if disposition == D.SUPERSEDE else CreateAction.OVERWRITTEN
    return h, CreateAction.OPENED


def list_streams(vfs: CephVfs, h: CephHandle) -> list[StreamInfo]:
    m = vfs.mount
    try:
        out = []
        if not h.is_directory:
            st = m.fstat(h.base_cfd)
            out.append(StreamInfo("::$DATA", st.size, _alloc(st.size)))
        key = _get_key(vfs, h.base_cfd)
        if key is None:
            return out
        sdir = _streams_dir(vfs, key)
        named = []
        try:
            entries = list(m.scandir(sdir))
        except FileNotFoundError:
            return out
        for fname, st in entries:
            try:
                sname = m.lgetxattr(sdir + b"/" + os.fsencode(fname), XATTR_STREAMNAME)
            except OSError:
                continue
            named.append(StreamInfo(f":{sname.decode('utf-8', 'surrogatepass')}:$DATA", st.size, _alloc(st.size)))
        named.sort(key=lambda s: fold_name(s.name))
        return out + named
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None


def _alloc(size: int) -> int:
    from sofs.vfs.ceph import ALLOCATION_UNIT

    return (size + ALLOCATION_UNIT - 1) // ALLOCATION_UNIT * ALLOCATION_UNIT


def _remove_streams(vfs: CephVfs, cfd: int) -> None:
    key = _get_key(vfs, cfd)
    if key is None:
        return
    sdir = _streams_dir(vfs, key)
    try:
        for fname in vfs.mount.listdir(sdir):
            vfs.mount.unlink(sdir + b"/" + os.fsencode(fname))
        vfs.mount.rmdir(sdir)
    except OSError:
        pass


# --- listings --------------------------------------------------------------------------------------

def list_dir(vfs: CephVfs, h: CephHandle, pattern: str) -> list[DirEntry]:
    """Entries matching ``pattern`` ([MS-FSA] 2.1.4.4), ``.`` and ``..`` first; links and special
    files are not listed; ``.sofs`` at the root is hidden."""
    from sofs.vfs.ceph import build_info

    if not h.is_directory or h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "not a directory handle")
    match = make_matcher(pattern)
    comps = _comps(h.path)
    m = vfs.mount
    out: list[DirEntry] = []
    try:
        if match("."):
            out.append(DirEntry(".", vfs.stat(h)))
        if match(".."):
            if comps:
                parent = vfs.abs(comps[:-1])
                out.append(DirEntry("..", build_info(m.lstat(parent), _lxattr(vfs, parent))))
            else:
                out.append(DirEntry("..", vfs.stat(h)))
        dpath = vfs.abs(comps)
        for name, st in m.scandir(dpath):
            if not comps and fold_name(name) == _META_FOLD:
                continue
            if not (stat_mod.S_ISREG(st.mode) or stat_mod.S_ISDIR(st.mode)):
                continue
            if not match(name) or not _listable(name):
                continue
            path = dpath + b"/" + os.fsencode(name)
            reserved = None if stat_mod.S_ISDIR(st.mode) else _lxattr(vfs, path, XATTR_ALLOCATION)
            out.append(DirEntry(name, build_info(st, _lxattr(vfs, path), None, reserved)))
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None
    return out


def _lxattr(vfs: CephVfs, path: bytes, name: str = XATTR_DOSATTRIB) -> bytes | None:
    try:
        return vfs.mount.lgetxattr(path, name)
    except OSError:
        return None


def is_empty(vfs: CephVfs, h: CephHandle) -> bool:
    comps = _comps(h.path)
    for name, _ in vfs.mount.scandir(vfs.abs(comps)):
        if comps or fold_name(name) != _META_FOLD:
            return False
    return True


# --- delete / rename / link ------------------------------------------------------------------------

def _status(e: OSError) -> NtStatus:
    from sofs.vfs.confine import status_from_errno

    return status_from_errno(e.errno)


def delete(vfs: CephVfs, h: CephHandle) -> None:
    m = vfs.mount
    try:
        if h.stream is not None:
            key = _get_key(vfs, h.base_cfd)
            if key is None:
                raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, h.stream)
            m.unlink(_stream_path(vfs, key, h.stream))
            return
        comps = _comps(h.path)
        if not comps:
            raise VfsError(NtStatus.ACCESS_DENIED, "share root")
        path = vfs.abs(comps)
        mine = m.fstat(h.base_cfd)
        if m.lstat(path).ino != mine.ino:
            raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, f"{h.path} was replaced")
        vfs.names.forget(vfs.abs(comps[:-1]))
        if h.is_directory:
            m.rmdir(path)
            _remove_streams(vfs, h.base_cfd)
        else:
            m.unlink(path)
            if mine.nlink <= 1:
                _remove_streams(vfs, h.base_cfd)
    except FileNotFoundError:
        raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, h.path) from None
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None


def _rename_stream(vfs: CephVfs, h: CephHandle, new_path: str, replace: bool) -> str:
    try:
        new = parse_stream_suffix(new_path[1:])
    except NameError_ as e:
        raise VfsError(e.status, str(e)) from None
    if h.stream is None or new is None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "default data stream rename")
    key = _get_key(vfs, h.base_cfd)
    if key is None:
        raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, h.stream)
    m = vfs.mount
    src, dst = _stream_path(vfs, key, h.stream), _stream_path(vfs, key, new)
    try:
        if src != dst:
            if not (replace or fold_name(new) == fold_name(h.stream)):
                try:
                    m.lstat(dst)
                    raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new)
                except FileNotFoundError:
                    pass
            m.rename(src, dst)
        fd = m.open(dst, os.O_RDONLY)
        try:
            m.fsetxattr(fd, XATTR_STREAMNAME, new.encode("utf-8", "surrogatepass"))
        finally:
            m.close(fd)
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None
    h.stream = new
    return f"{h.path}:{new}"


def _target(vfs: CephVfs, h: CephHandle, new_path: str, replace: bool,
            allow_self: bool) -> tuple[tuple[str, ...], bytes | None]:
    """(target components as created, path of an existing object to replace or None); COLLISION /
    ACCESS_DENIED per [MS-FSA] 2.1.5.14.11."""
    p = vfs_parse(new_path)
    if p.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "stream in rename target")
    if p.is_root:
        raise VfsError(NtStatus.ACCESS_DENIED, "rename to the share root")
    actual, exists = vfs.lookup(p.components)
    target = (*actual[:-1], p.components[-1])
    if not exists:
        return target, None
    m = vfs.mount
    try:
        there = m.lstat(vfs.abs(actual))
        mine = m.fstat(h.base_cfd)
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None
    if allow_self and there.ino == mine.ino:
        return target, None  # case-only rename, or onto its own hard link
    if not replace:
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path)
    if stat_mod.S_ISDIR(there.mode):
        raise VfsError(NtStatus.ACCESS_DENIED, "cannot replace a directory")
    return target, vfs.abs(actual)


def vfs_parse(path: str) -> SmbPath:
    from sofs.vfs.posix import _parse_path

    return _parse_path(path)


def _drop_replaced(vfs: CephVfs, path: bytes) -> None:
    try:
        fd = vfs.mount.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        if vfs.mount.fstat(fd).nlink <= 1:
            _remove_streams(vfs, fd)
    finally:
        vfs.mount.close(fd)


def rename(vfs: CephVfs, h: CephHandle, new_path: str, replace: bool) -> str:
    """FileRenameInformation ([MS-FSCC] 2.4.42) within the share; updates ``h``; returns new path."""
    if new_path.startswith(":"):
        return _rename_stream(vfs, h, new_path, replace)
    if h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "stream renamed to a file name")
    old = _comps(h.path)
    if not old:
        raise VfsError(NtStatus.ACCESS_DENIED, "share root")
    target, replaced = _target(vfs, h, new_path, replace, allow_self=True)
    m = vfs.mount
    src, dst = vfs.abs(old), vfs.abs(target)
    vfs.names.forget(vfs.abs(old[:-1]), vfs.abs(target[:-1]))
    try:
        if m.lstat(src).ino != m.fstat(h.base_cfd).ino:
            raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, f"{h.path} was replaced")
        if replaced is not None:
            _drop_replaced(vfs, replaced)
            if replaced != dst:
                m.unlink(replaced)
            m.rename(src, dst)
        elif src != dst:
            try:
                there = m.lstat(dst)
                if there.ino != m.fstat(h.base_cfd).ino:
                    raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path)
            except FileNotFoundError:
                pass
            m.rename(src, dst)
    except OSError as e:
        if e.errno == errno.EEXIST:
            raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path) from None
        raise VfsError(_status(e), str(e)) from None
    h.path = "\\".join(target)
    return h.path


def link(vfs: CephVfs, h: CephHandle, new_path: str, replace: bool) -> None:
    """FileLinkInformation ([MS-FSCC] 2.4.27.1): a hard link to ``h``'s file."""
    if h.is_directory:
        raise VfsError(NtStatus.FILE_IS_A_DIRECTORY, h.path)
    if h.stream is not None:
        raise VfsError(NtStatus.INVALID_PARAMETER, "hard link to a stream")
    target, replaced = _target(vfs, h, new_path, replace, allow_self=False)
    m = vfs.mount
    vfs.names.forget(vfs.abs(target[:-1]))
    try:
        if replaced is not None:
            _drop_replaced(vfs, replaced)
            m.unlink(replaced)
        m.link(vfs.abs(_comps(h.path)), vfs.abs(target))
    except FileExistsError:
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, new_path) from None
    except OSError as e:
        raise VfsError(_status(e), str(e)) from None
