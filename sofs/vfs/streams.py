"""Alternate data streams ([MS-FSCC] 2.1.5.3 ``file:stream:$DATA``) on a POSIX file system.

Storage: each file or directory that has named streams carries ``user.sofs.streamkey`` (16 random
bytes) and its streams live as plain files in ``<root>/.sofs/streams/<key hex>/``. Each stream file is
named by the first 40 hex digits of SHA-256 of the upper-cased stream name (so lookup is one open,
case-insensitive, whatever the name's length or characters) and carries the name as given in
``user.sofs.streamname``.

Why this shape:
- survives restarts and renames/hard links of the base file (the key lives in the inode's xattrs);
- never collides with real names: ``.sofs`` is reserved at the share root (hidden from listings and
  refused in lookups by ``PosixVfs``);
- inode reuse cannot inherit stale streams (a new inode has no key), unlike ``<inode>``-named dirs;
- stream data are real files: pread/pwrite/truncate/fallocate/sendfile work unchanged, no size cap.
Known limits: a local ``cp -a`` copying xattrs makes two files share one stream directory; streams of
files deleted by local processes (not through sofs) leak until ``gc_orphans`` runs.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil

from sofs.vfs.base import StreamInfo
from sofs.vfs.confine import Confined
from sofs.vfs.meta import XATTR_STREAMKEY, XATTR_STREAMNAME
from sofs.vfs.names import fold_name

META_DIR = ".sofs"
STREAMS_REL = META_DIR + "/streams"


def stream_file_name(name: str) -> str:
    return hashlib.sha256(fold_name(name).encode("utf-8", "surrogatepass")).hexdigest()[:40]


def get_key(base_fd: int) -> bytes | None:
    try:
        key = os.getxattr(base_fd, XATTR_STREAMKEY)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise
    return key if len(key) == 16 else None


def ensure_key(base_fd: int) -> bytes:
    key = get_key(base_fd)
    if key is not None:
        return key
    key = os.urandom(16)
    try:
        os.setxattr(base_fd, XATTR_STREAMKEY, key, os.XATTR_CREATE)
    except FileExistsError:  # another thread won the race
        existing = get_key(base_fd)
        if existing is None:
            raise
        return existing
    return key


class StreamStore:
    """Opens, lists and removes the named streams of files below one share root."""

    __slots__ = ("confined",)

    def __init__(self, confined: Confined) -> None:
        self.confined = confined
        self._mkdirs()

    def _mkdirs(self) -> None:
        for rel in (META_DIR, STREAMS_REL):
            try:
                os.mkdir(rel, 0o700, dir_fd=self.confined.root_fd)
            except FileExistsError:
                pass
            except OSError:
                return  # read-only share: no streams; creating one fails later with a status

    @staticmethod
    def dir_rel(key: bytes) -> str:
        return f"{STREAMS_REL}/{key.hex()}"

    def open(self, base_fd: int, name: str, flags: int, create: bool) -> tuple[int, bool]:
        """Open the stream data file; returns (fd, created). Raises FileNotFoundError if absent and
        not ``create``; FileExistsError if ``flags`` has O_EXCL and it exists."""
        key = ensure_key(base_fd) if create else get_key(base_fd)
        if key is None:
            raise FileNotFoundError(errno.ENOENT, "no streams", name)
        drel = self.dir_rel(key)
        rel = f"{drel}/{stream_file_name(name)}"
        if not create:
            return self.confined.open(rel, flags & ~(os.O_CREAT | os.O_EXCL)), False
        try:
            os.mkdir(drel, 0o700, dir_fd=self.confined.root_fd)
        except FileExistsError:
            pass
        try:
            fd = self.confined.open(rel, flags & ~os.O_CREAT & ~os.O_EXCL)
            if flags & os.O_EXCL:
                os.close(fd)
                raise FileExistsError(errno.EEXIST, "stream exists", name)
            return fd, False
        except FileNotFoundError:
            pass
        fd = self.confined.open(rel, flags | os.O_CREAT | os.O_EXCL, 0o600)
        os.setxattr(fd, XATTR_STREAMNAME, name.encode("utf-8", "surrogatepass"))
        return fd, True

    def list(self, base_fd: int) -> list[StreamInfo]:
        """Named streams of the file (without ``::$DATA``), as ``:name:$DATA``."""
        key = get_key(base_fd)
        if key is None:
            return []
        out: list[StreamInfo] = []
        try:
            dfd = self.confined.open(self.dir_rel(key), os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return []
        try:
            for ent in os.scandir(dfd):
                try:
                    fd = os.open(ent.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
                except OSError:
                    continue
                try:
                    name = os.getxattr(fd, XATTR_STREAMNAME).decode("utf-8", "surrogatepass")
                    st = os.fstat(fd)
                except OSError:
                    continue
                finally:
                    os.close(fd)
                out.append(StreamInfo(f":{name}:$DATA", st.st_size, st.st_blocks * 512))
        finally:
            os.close(dfd)
        out.sort(key=lambda s: fold_name(s.name))
        return out

    def unlink(self, base_fd: int, name: str) -> None:
        key = get_key(base_fd)
        if key is None:
            raise FileNotFoundError(errno.ENOENT, "no streams", name)
        os.unlink(f"{self.dir_rel(key)}/{stream_file_name(name)}", dir_fd=self.confined.root_fd)

    def rename(self, base_fd: int, old: str, new: str, replace: bool) -> None:
        key = get_key(base_fd)
        if key is None:
            raise FileNotFoundError(errno.ENOENT, "no streams", old)
        drel = self.dir_rel(key)
        src = f"{drel}/{stream_file_name(old)}"
        dst = f"{drel}/{stream_file_name(new)}"
        root = self.confined.root_fd
        if src != dst:
            if replace:
                os.rename(src, dst, src_dir_fd=root, dst_dir_fd=root)
            else:
                os.link(src, dst, src_dir_fd=root, dst_dir_fd=root, follow_symlinks=False)
                os.unlink(src, dir_fd=root)
        fd = self.confined.open(dst, os.O_RDONLY)
        try:
            os.setxattr(fd, XATTR_STREAMNAME, new.encode("utf-8", "surrogatepass"))
        finally:
            os.close(fd)

    def remove_all(self, base_fd: int) -> None:
        """Drop every stream of a file whose last link is going away."""
        key = get_key(base_fd)
        if key is None:
            return
        shutil.rmtree(self.dir_rel(key), ignore_errors=True, dir_fd=self.confined.root_fd)
