"""Opening paths confined to a share root, and errno → NTSTATUS mapping.

Choice: ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` (Linux ≥ 5.6, called through
ctypes) relative to a directory fd of the share root. The kernel then refuses, atomically and without
races, every resolution that leaves the root (``..`` above it) and **follows no symlink at all**
(magic links included): a symlink on the path gives ELOOP. Symbolic links are reparse points that the
*client* resolves, as on Windows (:mod:`sofs.vfs.links` turns ELOOP into STATUS_STOPPED_ON_SYMLINK,
or opens the link itself with ``O_PATH | O_NOFOLLOW`` for FILE_OPEN_REPARSE_POINT).

Fallback (no openat2: old kernel, seccomp): walk the components with ``openat(O_NOFOLLOW)`` from the
root fd, so no symlink is followed either (ELOOP). Race-free too.
The path syntax itself (``..``, absolute, NUL, drive letters) is refused earlier by ``names``.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat
from typing import Any

from sofs.wire.status import NtStatus

_SYS_OPENAT2 = 437  # same number on x86_64 and the generic (aarch64) syscall table
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc: ctypes.CDLL | None
try:
    _lib = ctypes.CDLL(None, use_errno=True)
    _syscall = _lib.syscall
    _syscall.restype = ctypes.c_long
    _libc = _lib
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _libc = None


_NR_OPENAT2 = ctypes.c_long(_SYS_OPENAT2)
_HOW_SIZE = ctypes.c_size_t(ctypes.sizeof(_OpenHow))


def _probe_openat2() -> bool:
    if _libc is None:
        return False
    how = _OpenHow(os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, RESOLVE_BENEATH)
    fd = _syscall(_SYS_OPENAT2, ctypes.c_int(-100), b".", ctypes.byref(how), ctypes.c_size_t(24))
    if fd < 0:
        return False
    os.close(fd)
    return True


HAVE_OPENAT2 = _probe_openat2()


@functools.lru_cache(maxsize=64)
def _how(flags: int, mode: int) -> tuple[_OpenHow, Any]:
    """Cached open_how structs (read-only for the kernel, so shared across threads)."""
    creating = bool(flags & os.O_CREAT) or (flags & os.O_TMPFILE) == os.O_TMPFILE
    how = _OpenHow(flags | os.O_CLOEXEC, mode if creating else 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
    return how, ctypes.byref(how)


def openat2_beneath(dir_fd: int, rel: str, flags: int, mode: int = 0o666) -> int:
    """openat2(dir_fd, rel, flags, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS); raises OSError."""
    ref = _how(flags, mode)[1]
    fd = _syscall(_NR_OPENAT2, ctypes.c_long(dir_fd), os.fsencode(rel), ref, _HOW_SIZE)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return int(fd)


def _open_nofollow(name: str, flags: int, mode: int, dir_fd: int) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=dir_fd)
    except NotADirectoryError:  # O_DIRECTORY|O_NOFOLLOW on a symlink: report it as one
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "symlink not followed", name) from None
        raise


def walk_nofollow(dir_fd: int, rel: str, flags: int, mode: int = 0o666) -> int:
    """Component walk with O_NOFOLLOW everywhere (the fallback); raises OSError."""
    parts = [p for p in rel.split("/") if p] or ["."]
    cur = dir_fd
    try:
        for comp in parts[:-1]:
            nxt = _open_nofollow(comp, os.O_PATH | os.O_DIRECTORY, 0, cur)
            if cur != dir_fd:
                os.close(cur)
            cur = nxt
        return _open_nofollow(parts[-1], flags, mode, cur)
    finally:
        if cur != dir_fd:
            os.close(cur)


class Confined:
    """Opens paths beneath ``root_fd``. ``use_openat2=None`` picks openat2 when the kernel has it."""

    __slots__ = ("root_fd", "use_openat2")

    def __init__(self, root_fd: int, use_openat2: bool | None = None) -> None:
        self.root_fd = root_fd
        self.use_openat2 = HAVE_OPENAT2 if use_openat2 is None else use_openat2

    def open(self, rel: str, flags: int, mode: int = 0o666) -> int:
        """Open ``rel`` (POSIX form, '' = root) beneath the root. Raises OSError.

        One component (the common CREATE of a name in the share root, and the root itself) is first
        tried with a plain ``openat(O_NOFOLLOW)``: it cannot leave the root, and costs ~2 µs less
        than openat2 through ctypes. A symlink there (ELOOP, or ENOTDIR with O_DIRECTORY) takes the
        openat2 resolution, which reports it as ELOOP. O_PATH without O_DIRECTORY is left to openat2
        (with O_NOFOLLOW it opens a final link itself).
        """
        if self.use_openat2:
            if "/" not in rel and rel != ".." and (not flags & os.O_PATH or flags & os.O_DIRECTORY):
                try:
                    return os.open(rel or ".", flags | os.O_NOFOLLOW, mode, dir_fd=self.root_fd)
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
            return openat2_beneath(self.root_fd, rel or ".", flags, mode)
        return walk_nofollow(self.root_fd, rel or ".", flags, mode)


_ERRNO_STATUS: dict[int, NtStatus] = {
    errno.ENOENT: NtStatus.OBJECT_NAME_NOT_FOUND,
    errno.EEXIST: NtStatus.OBJECT_NAME_COLLISION,
    errno.EACCES: NtStatus.ACCESS_DENIED,
    errno.EPERM: NtStatus.ACCESS_DENIED,
    errno.EBADF: NtStatus.ACCESS_DENIED,  # e.g. writing through a descriptor opened read-only
    errno.EXDEV: NtStatus.ACCESS_DENIED,  # openat2 RESOLVE_BENEATH escape
    errno.ELOOP: NtStatus.ACCESS_DENIED,  # a symlink on the path (see sofs.vfs.links)
    errno.ENOTDIR: NtStatus.OBJECT_PATH_NOT_FOUND,
    errno.EISDIR: NtStatus.FILE_IS_A_DIRECTORY,
    errno.ENOTEMPTY: NtStatus.DIRECTORY_NOT_EMPTY,
    errno.ENOSPC: NtStatus.DISK_FULL,
    errno.EDQUOT: NtStatus.DISK_QUOTA_EXCEEDED,
    errno.EFBIG: NtStatus.DISK_FULL,
    errno.ENAMETOOLONG: NtStatus.OBJECT_NAME_INVALID,
    errno.EROFS: NtStatus.MEDIA_WRITE_PROTECTED,
    errno.EINVAL: NtStatus.INVALID_PARAMETER,
    errno.EOPNOTSUPP: NtStatus.NOT_SUPPORTED,
    errno.EMFILE: NtStatus.TOO_MANY_OPENED_FILES,
    errno.ENFILE: NtStatus.TOO_MANY_OPENED_FILES,
    errno.ENOMEM: NtStatus.NO_MEMORY,
    errno.EBUSY: NtStatus.SHARING_VIOLATION,
    errno.ETXTBSY: NtStatus.SHARING_VIOLATION,
    errno.EMLINK: NtStatus.INSUFFICIENT_RESOURCES,
    errno.E2BIG: NtStatus.EA_TOO_LARGE,
    errno.ERANGE: NtStatus.EA_TOO_LARGE,
}


def status_from_errno(err: int | None) -> NtStatus:
    """The NTSTATUS for an errno (UNEXPECTED_IO_ERROR for anything unmapped, e.g. EIO)."""
    if err is None:
        return NtStatus.UNEXPECTED_IO_ERROR
    return _ERRNO_STATUS.get(err, NtStatus.UNEXPECTED_IO_ERROR)
