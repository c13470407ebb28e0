"""FileInfo building, FileBasicInformation updates and directory listings for ``PosixVfs``."""
from __future__ import annotations

import errno
import os
import stat as stat_mod
from typing import TYPE_CHECKING

from sofs.vfs import links
from sofs.vfs.base import DirEntry, FileInfo, file_info
from sofs.vfs.meta import (
    STORABLE_ATTRIBUTES,
    XATTR_DOSATTRIB,
    decode_dosattrib,
    encode_dosattrib,
    file_id_from_stat,
)
from sofs.vfs.names import NameError_, fold_name, make_matcher, validate_component
from sofs.vfs.streams import META_DIR
from sofs.wire.fscc_constants import FILETIME_UNIX_EPOCH, filetime_to_unix_ns, unix_ns_to_filetime
from sofs.wire.fscc_constants import FileAttributes as FA

if TYPE_CHECKING:
    from sofs.vfs.posix import PosixHandle, PosixVfs

_META_FOLD = fold_name(META_DIR)
_META_LEN = len(META_DIR)
_MASK64 = 0xFFFFFFFFFFFFFFFF
# FileBasicInformation time values that do not set anything now ([MS-FSCC] 2.4.7).
_NO_SET = frozenset({0, -1, -2, _MASK64, _MASK64 - 1})
_S_ISDIR = stat_mod.S_ISDIR
_ARCHIVE = int(FA.ARCHIVE)
_DIRECTORY = int(FA.DIRECTORY)
_NORMAL = int(FA.NORMAL)
_EPOCH = FILETIME_UNIX_EPOCH


def read_xattr(target: int | str, name: str) -> bytes | None:
    """getxattr, None when absent or unsupported by the file system."""
    try:
        return os.getxattr(target, name, follow_symlinks=False) if isinstance(target, str) \
            else os.getxattr(target, name)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise


def remove_xattr(fd: int, name: str) -> None:
    try:
        os.removexattr(fd, name)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise


def creation_time(st: os.stat_result, blob: bytes | None) -> int:
    """Stored creation FILETIME, else min(mtime, ctime) (Linux has no portable settable btime)."""
    dec = decode_dosattrib(blob)
    if dec is not None and dec[1]:
        return dec[1]
    return unix_ns_to_filetime(min(st.st_mtime_ns, st.st_ctime_ns))


def file_id(st: os.stat_result, root_dev: int) -> int:
    return file_id_from_stat(st.st_dev, st.st_ino, root_dev)


def build_info(st: os.stat_result, blob: bytes | None, root_dev: int,
               stream_st: os.stat_result | None = None) -> FileInfo:
    """The :class:`FileInfo` of an object from its ``fstat`` and DOSATTRIB xattr (``blob``); with
    ``stream_st`` the sizes are the named stream's. On every CREATE: the helpers
    (:func:`creation_time`, ``report_attributes``, ``unix_ns_to_filetime``, :func:`file_id`) are
    inlined here with the same results."""
    dir_mode = _S_ISDIR(st.st_mode)
    is_dir = dir_mode and stream_st is None
    dec = decode_dosattrib(blob) if blob is not None else None
    if dec is not None:
        stored, btime = dec
    else:
        stored, btime = (0 if dir_mode else _ARCHIVE), 0
    mtime = st.st_mtime_ns
    ctime = st.st_ctime_ns
    if not btime:
        btime = (ctime if ctime < mtime else mtime) // 100 + _EPOCH  # noqa: FURB136 - min() without its call
    attrs = stored & STORABLE_ATTRIBUTES
    if dir_mode:
        attrs |= _DIRECTORY
    elif not attrs:
        attrs = _NORMAL
    if is_dir:
        alloc = eof = 0
        nlink = 1
    else:
        sizes = stream_st if stream_st is not None else st
        eof = sizes.st_size
        alloc = sizes.st_blocks * 512
        nlink = st.st_nlink
    ino = st.st_ino
    fid = ino if st.st_dev == root_dev and 0 < ino < _MASK64 else file_id_from_stat(st.st_dev, ino, root_dev)
    return file_info(btime, st.st_atime_ns // 100 + _EPOCH, mtime // 100 + _EPOCH, ctime // 100 + _EPOCH,
                     alloc, eof, attrs, fid, nlink, is_dir)


def set_basic(fd: int, is_dir: bool, ctime: int, atime: int, mtime: int, attributes: int) -> None:
    """Apply FileBasicInformation to ``fd``; times in ``_NO_SET`` and attributes 0 change nothing."""
    set_c = ctime not in _NO_SET and ctime > 0
    set_a = atime not in _NO_SET and atime > 0
    set_m = mtime not in _NO_SET and mtime > 0
    if attributes or set_c:
        st = os.fstat(fd)
        blob = read_xattr(fd, XATTR_DOSATTRIB)
        dec = decode_dosattrib(blob)
        stored = dec[0] if dec is not None else (0 if is_dir else int(FA.ARCHIVE))
        if attributes:
            stored = attributes & ~int(FA.NORMAL) & ~int(FA.DIRECTORY)
        btime = ctime if set_c else creation_time(st, blob)
        os.setxattr(fd, XATTR_DOSATTRIB, encode_dosattrib(stored, btime))
    if set_a or set_m:
        st = os.fstat(fd)
        os.utime(fd, ns=(filetime_to_unix_ns(atime) if set_a else st.st_atime_ns,
                         filetime_to_unix_ns(mtime) if set_m else st.st_mtime_ns))


def _listable(name: str) -> bool:
    """Names a Windows client can address: valid components, decodable (no surrogate escapes)."""
    try:
        validate_component(name)
        name.encode("utf-8")
    except (NameError_, UnicodeEncodeError):
        return False
    return True


def _entry_info(vfs: PosixVfs, dfd: int, dir_rel: str, ent: os.DirEntry[str]) -> FileInfo | None:
    try:
        st = ent.stat(follow_symlinks=False)
        if stat_mod.S_ISLNK(st.st_mode):
            # a reparse point ([MS-FSCC] 2.1.2.4), never followed; foreign links are not listed
            link = links.describe(vfs, os.readlink(ent.name, dir_fd=dfd),
                                  tuple(dir_rel.split("/")) if dir_rel else ())
            return None if link is None else links.link_info(st, link.directory, vfs.root_dev)
        if not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISDIR(st.st_mode)):
            return None
        blob = read_xattr(f"/proc/self/fd/{dfd}/{ent.name}", XATTR_DOSATTRIB)
    except OSError:
        return None  # vanished meanwhile: not listed
    return build_info(st, blob, vfs.root_dev)


def list_dir(vfs: PosixVfs, h: PosixHandle, pattern: str, parent_fd: int | None) -> list[DirEntry]:
    match = make_matcher(pattern)
    out: list[DirEntry] = []
    if match("."):
        out.append(DirEntry(".", vfs.stat(h)))
    if match(".."):
        if parent_fd is None:
            out.append(DirEntry("..", vfs.stat(h)))
        else:
            out.append(DirEntry("..", build_info(os.fstat(parent_fd),
                                                 read_xattr(parent_fd, XATTR_DOSATTRIB), vfs.root_dev)))
    at_root = not h.path
    dir_rel = "/".join(h.path.split("\\")) if h.path else ""
    with os.scandir(h.fd) as it:
        for ent in it:
            name = ent.name
            if at_root and len(name) == _META_LEN and fold_name(name) == _META_FOLD:
                continue
            if not match(name) or not _listable(name):
                continue
            info = _entry_info(vfs, h.fd, dir_rel, ent)
            if info is not None:
                out.append(DirEntry(name, info))
    return out
