"""A small ctypes binding of libcephfs (``libcephfs.so.2``, Ceph 16.2 ABI): one mounted client.

Why ctypes and not Debian's ``python3-cephfs``: that binding is built for Debian's /usr/bin/python3
only, returns timestamps truncated to whole seconds (``fstat``/``statx`` give ``datetime`` of
``tv_sec``; SMB needs 100 ns), reads into fresh ``bytes`` only (no ``preadv`` into our pooled
buffers) and lacks byte-range locks. ``libcephfs.so.2`` is the library Samba's ``vfs_ceph`` and
NFS-Ganesha link; ctypes reaches it from any CPython build and releases the GIL around each call,
so I/O in pool threads runs in parallel. Every call raises :class:`OSError` with the errno libcephfs
returns (negative return values).

Structures follow ``cephfs/ceph_statx.h`` and ``<dirent.h>``/``<sys/statvfs.h>`` of x86_64/aarch64
glibc (the ABI Debian's packages are built for).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

STATX_MODE, STATX_NLINK, STATX_ATIME, STATX_MTIME, STATX_CTIME = 0x1, 0x2, 0x20, 0x40, 0x80
STATX_INO, STATX_SIZE, STATX_BLOCKS, STATX_BASIC, STATX_BTIME = 0x100, 0x200, 0x400, 0x7FF, 0x800
SETATTR_MTIME, SETATTR_ATIME, SETATTR_BTIME = 0x8, 0x10, 0x200
AT_SYMLINK_NOFOLLOW = 0x100
WANT = STATX_BASIC | STATX_BTIME

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class CephStatx(ctypes.Structure):
    """``struct ceph_statx``."""

    _fields_ = [("mask", ctypes.c_uint32), ("blksize", ctypes.c_uint32), ("nlink", ctypes.c_uint32),
                ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32), ("mode", ctypes.c_uint16),
                ("ino", _u64), ("size", _u64), ("blocks", _u64), ("dev", _u64), ("rdev", _u64),
                ("atime", _Timespec), ("ctime", _Timespec), ("mtime", _Timespec), ("btime", _Timespec),
                ("version", _u64)]


class _Dirent(ctypes.Structure):
    _fields_ = [("d_ino", _u64), ("d_off", _i64), ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


class _Statvfs(ctypes.Structure):
    _fields_ = [("f_bsize", ctypes.c_ulong), ("f_frsize", ctypes.c_ulong), ("f_blocks", _u64),
                ("f_bfree", _u64), ("f_bavail", _u64), ("f_files", _u64), ("f_ffree", _u64),
                ("f_favail", _u64), ("f_fsid", ctypes.c_ulong), ("f_flag", ctypes.c_ulong),
                ("f_namemax", ctypes.c_ulong), ("_spare", ctypes.c_int * 6)]


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", _vp), ("iov_len", ctypes.c_size_t)]


@dataclass(frozen=True, slots=True)
class Stat:
    """What sofs needs of a ``ceph_statx`` (times in ns since the Unix epoch)."""

    ino: int
    mode: int
    nlink: int
    size: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    btime_ns: int


def _ns(ts: _Timespec) -> int:
    return int(ts.tv_sec) * 1_000_000_000 + int(ts.tv_nsec)


def _stat(stx: CephStatx) -> Stat:
    return Stat(int(stx.ino), int(stx.mode), int(stx.nlink), int(stx.size), int(stx.blocks),
                _ns(stx.atime), _ns(stx.mtime), _ns(stx.ctime), _ns(stx.btime))


_SIGS: dict[str, tuple[list[object], object]] = {
    "ceph_create": ([ctypes.POINTER(_vp), _cp], ctypes.c_int),
    "ceph_conf_read_file": ([_vp, _cp], ctypes.c_int),
    "ceph_conf_set": ([_vp, _cp, _cp], ctypes.c_int),
    "ceph_select_filesystem": ([_vp, _cp], ctypes.c_int),
    "ceph_mount": ([_vp, _cp], ctypes.c_int),
    "ceph_unmount": ([_vp], ctypes.c_int),
    "ceph_release": ([_vp], ctypes.c_int),
    "ceph_shutdown": ([_vp], None),
    "ceph_init": ([_vp], ctypes.c_int),
    "ceph_start_reclaim": ([_vp, _cp, ctypes.c_uint], ctypes.c_int),
    "ceph_set_uuid": ([_vp, _cp], None),
    "ceph_getaddrs": ([_vp, ctypes.POINTER(ctypes.c_char_p)], ctypes.c_int),
    "ceph_open": ([_vp, _cp, ctypes.c_int, ctypes.c_uint], ctypes.c_int),
    "ceph_close": ([_vp, ctypes.c_int], ctypes.c_int),
    "ceph_fstatx": ([_vp, ctypes.c_int, ctypes.POINTER(CephStatx), ctypes.c_uint, ctypes.c_uint], ctypes.c_int),
    "ceph_statx": ([_vp, _cp, ctypes.POINTER(CephStatx), ctypes.c_uint, ctypes.c_uint], ctypes.c_int),
    "ceph_fsetattrx": ([_vp, ctypes.c_int, ctypes.POINTER(CephStatx), ctypes.c_int], ctypes.c_int),
    "ceph_preadv": ([_vp, ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_int, _i64], ctypes.c_int),
    "ceph_pwritev": ([_vp, ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_int, _i64], ctypes.c_int),
    "ceph_fsync": ([_vp, ctypes.c_int, ctypes.c_int], ctypes.c_int),
    "ceph_ftruncate": ([_vp, ctypes.c_int, _i64], ctypes.c_int),
    "ceph_fallocate": ([_vp, ctypes.c_int, ctypes.c_int, _i64, _i64], ctypes.c_int),
    "ceph_fgetxattr": ([_vp, ctypes.c_int, _cp, _vp, ctypes.c_size_t], ctypes.c_int),
    "ceph_fsetxattr": ([_vp, ctypes.c_int, _cp, _vp, ctypes.c_size_t, ctypes.c_int], ctypes.c_int),
    "ceph_fremovexattr": ([_vp, ctypes.c_int, _cp], ctypes.c_int),
    "ceph_flistxattr": ([_vp, ctypes.c_int, _vp, ctypes.c_size_t], ctypes.c_int),
    "ceph_lgetxattr": ([_vp, _cp, _cp, _vp, ctypes.c_size_t], ctypes.c_int),
    "ceph_mkdir": ([_vp, _cp, ctypes.c_uint], ctypes.c_int),
    "ceph_mkdirs": ([_vp, _cp, ctypes.c_uint], ctypes.c_int),
    "ceph_rmdir": ([_vp, _cp], ctypes.c_int),
    "ceph_unlink": ([_vp, _cp], ctypes.c_int),
    "ceph_rename": ([_vp, _cp, _cp], ctypes.c_int),
    "ceph_link": ([_vp, _cp, _cp], ctypes.c_int),
    "ceph_opendir": ([_vp, _cp, ctypes.POINTER(_vp)], ctypes.c_int),
    "ceph_closedir": ([_vp, _vp], ctypes.c_int),
    "ceph_getdnames": ([_vp, _vp, _vp, ctypes.c_int], ctypes.c_int),
    "ceph_readdirplus_r": ([_vp, _vp, ctypes.POINTER(_Dirent), ctypes.POINTER(CephStatx), ctypes.c_uint,
                            ctypes.c_uint, _vp], ctypes.c_int),
    "ceph_statfs": ([_vp, _cp, ctypes.POINTER(_Statvfs)], ctypes.c_int),
    "ceph_flock": ([_vp, ctypes.c_int, ctypes.c_int, _u64], ctypes.c_int),
}

_lib: ctypes.CDLL | None = None


def load(name: str, soname: str, sigs: dict[str, tuple[list[object], object]]) -> ctypes.CDLL:
    """Shared library ``name`` (``soname`` if not found by name) with the prototypes ``sigs``."""
    lib = ctypes.CDLL(ctypes.util.find_library(name) or soname)
    for fname, (args, res) in sigs.items():
        fn = getattr(lib, fname)
        fn.argtypes, fn.restype = args, res
    return lib


def library() -> ctypes.CDLL:
    """``libcephfs.so.2`` with the prototypes above; OSError when it is not installed."""
    global _lib
    if _lib is None:
        _lib = load("cephfs", "libcephfs.so.2", _SIGS)
    return _lib


def available() -> bool:
    try:
        library()
    except OSError:
        return False
    return True


def _check(rc: int, what: str, path: bytes | str = "") -> int:
    if rc < 0:
        p = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}", p)
    return rc


def _buf_ptr(buf: memoryview) -> int:
    """Address of a writable buffer (bytearray, mmap, memoryview of one)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


CEPH_RECLAIM_RESET = 1


def _client(conf_file: str, client_id: str, fs_name: str, options: dict[str, str] | None) -> _vp:
    """A created, configured, initialised (not mounted) ``ceph_mount_info``."""
    lib = library()
    cm = _vp()
    _check(lib.ceph_create(ctypes.byref(cm), client_id.encode()), "ceph_create")
    try:
        _check(lib.ceph_conf_read_file(cm, conf_file.encode()), "ceph_conf_read_file", conf_file)
        for k, v in (options or {}).items():
            _check(lib.ceph_conf_set(cm, k.encode(), str(v).encode()), f"ceph_conf_set {k}")
        _check(lib.ceph_select_filesystem(cm, fs_name.encode()), "ceph_select_filesystem", fs_name)
        _check(lib.ceph_init(cm), "ceph_init")
    except OSError:
        lib.ceph_release(cm)
        raise
    return cm


def _reset(lib: ctypes.CDLL, cm: _vp, uuid: str) -> bool:
    rc = lib.ceph_start_reclaim(cm, uuid.encode(), CEPH_RECLAIM_RESET)
    if rc == -errno.ENOENT:
        return False
    _check(rc, "ceph_start_reclaim", uuid)
    return True


def reset_session(conf_file: str, client_id: str, fs_name: str, uuid: str,
                  options: dict[str, str] | None = None) -> bool:
    """Evict the client session tagged ``uuid`` (``ceph_set_uuid``) from every MDS, with its caps, and
    blocklist it (the "CephFS reclaim interface", CEPH_RECLAIM_RESET, as NFS-Ganesha uses it): what
    that client cached or held is released at once instead of after the MDS session timeout (60 s), and
    should it still be alive it can no longer write. True if such a session existed, False if not. The
    evicting client must have the same Ceph identity (``client_id``) as the evicted one."""
    lib = library()
    cm = _client(conf_file, client_id, fs_name, options)
    try:
        return _reset(lib, cm, uuid)
    finally:
        lib.ceph_shutdown(cm)


class CephMount:
    """One libcephfs client, mounted at ``root`` of the file system (paths are then relative to it, and
    ``statfs`` reports the quota of ``root`` when it has one). Thread-safe (libcephfs is).

    ``uuid`` tags the client's MDS session (:func:`reset_session` evicts it by that tag); a session
    left with the same tag by an earlier incarnation (a process killed) is evicted before mounting."""

    def __init__(self, conf_file: str, client_id: str, fs_name: str,
                 options: dict[str, str] | None = None, root: str = "/", uuid: str | None = None) -> None:
        self.lib = library()
        self._args = (conf_file, client_id, fs_name, options, root, uuid)
        self.cm = self._connect()

    def _connect(self) -> _vp:
        conf_file, client_id, fs_name, options, root, uuid = self._args
        cm = _client(conf_file, client_id, fs_name, options)
        try:
            if uuid:
                _reset(self.lib, cm, uuid)
                self.lib.ceph_set_uuid(cm, uuid.encode())
            _check(self.lib.ceph_mount(cm, root.encode()), "ceph_mount", root)
        except OSError:
            self.lib.ceph_shutdown(cm)
            raise
        return cm

    def addrs(self) -> str:
        """This client's messenger addresses, as Ceph prints them (``[v2:127.0.0.1:0/3839261203]``)."""
        out = ctypes.c_char_p()
        _check(self.lib.ceph_getaddrs(self.cm, ctypes.byref(out)), "ceph_getaddrs")
        return (out.value or b"").decode()

    def evicted(self) -> bool:
        """Was this client's session evicted (blocklisted)? Its calls then fail with ESHUTDOWN."""
        try:
            self.lstat(b"/")
        except OSError as e:
            return e.errno == errno.ESHUTDOWN
        return False

    def remount(self) -> None:
        """Replace the client by a new one (same options and uuid); descriptors of the old one are gone."""
        old, self.cm = self.cm, self._connect()
        self.lib.ceph_shutdown(old)

    def shutdown(self) -> None:
        if self.cm:
            self.lib.ceph_shutdown(self.cm)
            self.cm = _vp()

    # --- files ---------------------------------------------------------------------------------
    def open(self, path: bytes, flags: int, mode: int = 0o666) -> int:
        return _check(self.lib.ceph_open(self.cm, path, flags, mode), "ceph_open", path)

    def close(self, fd: int) -> None:
        self.lib.ceph_close(self.cm, fd)

    def fstat(self, fd: int) -> Stat:
        stx = CephStatx()
        _check(self.lib.ceph_fstatx(self.cm, fd, ctypes.byref(stx), WANT, 0), "ceph_fstatx")
        return _stat(stx)

    def lstat(self, path: bytes) -> Stat:
        stx = CephStatx()
        _check(self.lib.ceph_statx(self.cm, path, ctypes.byref(stx), WANT, AT_SYMLINK_NOFOLLOW),
               "ceph_statx", path)
        return _stat(stx)

    def set_times(self, fd: int, atime_ns: int | None, mtime_ns: int | None, btime_ns: int | None = None) -> None:
        stx = CephStatx()
        mask = 0
        for field, value, bit in (("atime", atime_ns, SETATTR_ATIME), ("mtime", mtime_ns, SETATTR_MTIME),
                                  ("btime", btime_ns, SETATTR_BTIME)):
            if value is not None:
                ts = getattr(stx, field)
                ts.tv_sec, ts.tv_nsec = divmod(value, 1_000_000_000)
                mask |= bit
        if mask:
            _check(self.lib.ceph_fsetattrx(self.cm, fd, ctypes.byref(stx), mask), "ceph_fsetattrx")

    def preadinto(self, fd: int, buf: memoryview, offset: int) -> int:
        """Read into ``buf`` at ``offset`` until it is full or EOF; bytes read."""
        total, size = 0, len(buf)
        while total < size:
            iov = _Iovec(_buf_ptr(buf[total:]), size - total)
            n = _check(self.lib.ceph_preadv(self.cm, fd, ctypes.byref(iov), 1, offset + total), "ceph_preadv")
            if n == 0:
                break
            total += n
        return total

    def pwrite(self, fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
        mv = memoryview(data).cast("B")
        if mv.readonly:  # ctypes needs a writable buffer for the address; copy read-only input once
            mv = memoryview(bytearray(mv))
        total = 0
        while total < len(mv):
            iov = _Iovec(_buf_ptr(mv[total:]), len(mv) - total)
            total += _check(self.lib.ceph_pwritev(self.cm, fd, ctypes.byref(iov), 1, offset + total), "ceph_pwritev")
        return total

    def fsync(self, fd: int, dataonly: bool = False) -> None:
        _check(self.lib.ceph_fsync(self.cm, fd, int(dataonly)), "ceph_fsync")

    def ftruncate(self, fd: int, size: int) -> None:
        _check(self.lib.ceph_ftruncate(self.cm, fd, size), "ceph_ftruncate")

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> None:
        _check(self.lib.ceph_fallocate(self.cm, fd, mode, offset, length), "ceph_fallocate")

    def flock(self, fd: int, operation: int, owner: int) -> None:
        _check(self.lib.ceph_flock(self.cm, fd, operation, owner), "ceph_flock")

    # --- xattrs --------------------------------------------------------------------------------
    def fgetxattr(self, fd: int, name: str) -> bytes:
        key = name.encode()
        size = _check(self.lib.ceph_fgetxattr(self.cm, fd, key, None, 0), "ceph_fgetxattr", name)
        buf = ctypes.create_string_buffer(max(size, 1))
        n = _check(self.lib.ceph_fgetxattr(self.cm, fd, key, buf, size), "ceph_fgetxattr", name)
        return buf.raw[:n]

    def lgetxattr(self, path: bytes, name: str) -> bytes:
        key = name.encode()
        size = _check(self.lib.ceph_lgetxattr(self.cm, path, key, None, 0), "ceph_lgetxattr", path)
        buf = ctypes.create_string_buffer(max(size, 1))
        n = _check(self.lib.ceph_lgetxattr(self.cm, path, key, buf, size), "ceph_lgetxattr", path)
        return buf.raw[:n]

    def fsetxattr(self, fd: int, name: str, value: bytes, flags: int = 0) -> None:
        _check(self.lib.ceph_fsetxattr(self.cm, fd, name.encode(), value, len(value), flags), "ceph_fsetxattr", name)

    def fremovexattr(self, fd: int, name: str) -> None:
        _check(self.lib.ceph_fremovexattr(self.cm, fd, name.encode()), "ceph_fremovexattr", name)

    def flistxattr(self, fd: int) -> list[str]:
        size = _check(self.lib.ceph_flistxattr(self.cm, fd, None, 0), "ceph_flistxattr")
        if size == 0:
            return []
        buf = ctypes.create_string_buffer(size)
        n = _check(self.lib.ceph_flistxattr(self.cm, fd, buf, size), "ceph_flistxattr")
        return [x.decode() for x in buf.raw[:n].split(b"\0") if x]

    # --- namespace -----------------------------------------------------------------------------
    def mkdir(self, path: bytes, mode: int = 0o777) -> None:
        _check(self.lib.ceph_mkdir(self.cm, path, mode), "ceph_mkdir", path)

    def mkdirs(self, path: bytes, mode: int = 0o777) -> None:
        _check(self.lib.ceph_mkdirs(self.cm, path, mode), "ceph_mkdirs", path)

    def rmdir(self, path: bytes) -> None:
        _check(self.lib.ceph_rmdir(self.cm, path), "ceph_rmdir", path)

    def unlink(self, path: bytes) -> None:
        _check(self.lib.ceph_unlink(self.cm, path), "ceph_unlink", path)

    def rename(self, src: bytes, dst: bytes) -> None:
        _check(self.lib.ceph_rename(self.cm, src, dst), "ceph_rename", src)

    def link(self, existing: bytes, new: bytes) -> None:
        _check(self.lib.ceph_link(self.cm, existing, new), "ceph_link", new)

    def scandir(self, path: bytes) -> Iterator[tuple[str, Stat]]:
        """(name, stat) of every entry but ``.`` and ``..`` (names as stored, surrogate-escaped)."""
        dirp = _vp()
        _check(self.lib.ceph_opendir(self.cm, path, ctypes.byref(dirp)), "ceph_opendir", path)
        try:
            de, stx = _Dirent(), CephStatx()
            while _check(self.lib.ceph_readdirplus_r(self.cm, dirp, ctypes.byref(de), ctypes.byref(stx), WANT,
                                                     AT_SYMLINK_NOFOLLOW, None), "ceph_readdirplus_r", path) == 1:
                name = de.d_name
                if name in (b".", b".."):
                    continue
                yield os.fsdecode(name), _stat(stx)
        finally:
            self.lib.ceph_closedir(self.cm, dirp)

    def listdir(self, path: bytes) -> list[str]:
        """Names only, many per call (``ceph_getdnames``: NUL-separated names, no inode attributes)."""
        dirp = _vp()
        _check(self.lib.ceph_opendir(self.cm, path, ctypes.byref(dirp)), "ceph_opendir", path)
        out: list[str] = []
        try:
            buf = ctypes.create_string_buffer(1 << 16)
            while (n := _check(self.lib.ceph_getdnames(self.cm, dirp, buf, len(buf)), "ceph_getdnames", path)) > 0:
                out += [os.fsdecode(x) for x in buf.raw[:n].split(b"\0") if x and x not in (b".", b"..")]
        finally:
            self.lib.ceph_closedir(self.cm, dirp)
        return out

    def statfs(self, path: bytes = b"/") -> os.statvfs_result:
        sv = _Statvfs()
        _check(self.lib.ceph_statfs(self.cm, path, ctypes.byref(sv)), "ceph_statfs", path)
        return os.statvfs_result((sv.f_bsize, sv.f_frsize, sv.f_blocks, sv.f_bfree, sv.f_bavail, sv.f_files,
                                  sv.f_ffree, sv.f_favail, sv.f_flag, sv.f_namemax))
