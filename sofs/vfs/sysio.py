"""Small Linux syscalls Python's ``os`` lacks, through ctypes: renameat2(RENAME_NOREPLACE) and
fallocate(FALLOC_FL_KEEP_SIZE). ctypes releases the GIL around the call."""
from __future__ import annotations

import ctypes
import errno
import os

RENAME_NOREPLACE = 1
FALLOC_FL_KEEP_SIZE = 1

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    _renameat2.restype = ctypes.c_int
_fallocate = getattr(_libc, "fallocate64", None) or getattr(_libc, "fallocate", None)
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _fallocate.restype = ctypes.c_int


def rename_noreplace(src_dir_fd: int, src: str, dst_dir_fd: int, dst: str) -> None:
    """renameat2(..., RENAME_NOREPLACE): atomic, fails with FileExistsError if ``dst`` exists.

    File systems without the flag (EINVAL, e.g. some network file systems) fall back to a
    check-then-rename, which is racy only against a concurrent create of ``dst``.
    """
    if _renameat2 is not None:
        rc = _renameat2(src_dir_fd, os.fsencode(src), dst_dir_fd, os.fsencode(dst), RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), dst)
    try:
        os.stat(dst, dir_fd=dst_dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        return
    raise FileExistsError(errno.EEXIST, "target exists", dst)


def fallocate_keep_size(fd: int, length: int) -> bool:
    """Reserve blocks up to ``length`` without changing the size. False when unsupported."""
    if _fallocate is None or length <= 0:
        return False
    rc = _fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, length)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EOPNOTSUPP, errno.ENOSYS):
        return False
    raise OSError(err, os.strerror(err))
