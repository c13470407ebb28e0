"""``CephVfs``: the :class:`sofs.vfs.base.Vfs` interface on CephFS through libcephfs (no kernel mount, no FUSE).

- One :class:`~sofs.vfs.cephlib.CephMount` per share root (a directory of the file system, e.g. the
  volume's ``/volumes/Volume1/Shares/VMS``). Paths are built from validated components below that
  root (``names.parse_smb_path`` refuses ``..``, separators and NUL; ``.sofs`` at the root is
  reserved as on POSIX). Symbolic links are never followed (``O_NOFOLLOW``; ELOOP → ACCESS_DENIED)
  and never listed: the strict mode of the POSIX backend's fallback.
- File ids are CephFS inode numbers (unique in the file system, stable across clients, restarts and
  nodes: every node serving the volume reports the same FileId).
- DOS attributes + creation time, security descriptors and EAs live in the same ``user.sofs.*``
  xattrs as on POSIX (``meta``); named streams are files under ``<root>/.sofs/streams/<key>/`` named
  as in :mod:`sofs.vfs.streams` (``ceph_ns``).
- Handles have no OS descriptor (``fd == -1``): handlers do data I/O through :meth:`readinto`,
  :meth:`write`, :meth:`flush` and the time calls, in the thread pool (``fsio`` treats a VFS without
  a local ``root`` as remote), so a stalled OSD never stalls the event loop.
- Client settings: ``objecter_timeout`` / ``objecter_tick_interval`` make a read or write caught by
  a killed OSD resume in ~3.5 s instead of ~15 s (MEASURED.md, Ceph); ``client_quota_df`` makes the
  volume's quota the size SMB clients see.
- No Ceph locks (flock / ``ceph_ll_setlk``) are taken: share modes, leases and byte-range locks are
  decided by sofs's open table (the volume coordinator's, issue 13), which is the one authority
  across nodes; a second lock manager below it could only disagree with it (e.g. a lock the
  coordinator already handed to a reconnected persistent handle, still held in Ceph by the dead
  node's session until its MDS session times out).
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Iterable
from dataclasses import dataclass

from sofs.vfs import ceph_names, ceph_ns
from sofs.vfs.base import DirEntry, FileInfo, FsStats, NewSd, StreamInfo, VfsError, file_info
from sofs.vfs.ceph_names import DirNameCache
from sofs.vfs.cephlib import CephMount, Stat
from sofs.vfs.confine import status_from_errno
from sofs.vfs.meta import (
    STORABLE_ATTRIBUTES,
    XATTR_ALLOCATION,
    XATTR_DOSATTRIB,
    XATTR_EA,
    XATTR_SD,
    decode_dosattrib,
    encode_dosattrib,
)
from sofs.vfs.names import SmbPath
from sofs.vfs.posix import _parse_path
from sofs.vfs.xattrmeta import XattrMetadata
from sofs.wire.fscc_constants import FILETIME_UNIX_EPOCH, CreateAction, CreateDisposition, CreateOptions
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.status import NtStatus

D = CreateDisposition
_TRUNCATING = frozenset({int(D.SUPERSEDE), int(D.OVERWRITE), int(D.OVERWRITE_IF)})
_MASK64 = 0xFFFFFFFFFFFFFFFF
_NO_SET = frozenset({0, -1, -2, _MASK64, _MASK64 - 1})
# CephFS's st_blocks is just size/512 (objects are allocated as written): AllocationSize is reported as
# the size rounded up to a 4 KiB cluster, as NTFS and Samba's vfs_ceph on a 4 KiB-block file system do
ALLOCATION_UNIT = 4096
CLIENT_OPTIONS = {
    "objecter_timeout": "2",
    "objecter_tick_interval": "1",
    "client_quota_df": "true",
    "client_dirsize_rbytes": "false",  # a directory's size is its number of entries (ceph_names' cache)
    "client_mount_timeout": "15",  # a share on an unreachable Ceph fails to load in 15 s, not 300
}


@dataclass(slots=True, eq=False)
class CephHandle:
    """An open object: ``cfd`` the libcephfs descriptor of the data (the stream's file for a stream),
    ``base_cfd`` the file or directory itself. ``fd`` is -1: there is no OS descriptor."""

    cfd: int
    base_cfd: int
    path: str
    stream: str | None
    is_directory: bool
    file_id: int
    closed: bool = False
    fd: int = -1


def err(e: OSError, message: str = "") -> VfsError:
    return VfsError(status_from_errno(e.errno), message or str(e))


def file_id(ino: int) -> int:
    return ino if 0 < ino < _MASK64 else (1 if ino == 0 else 0x7FFFFFFFFFFFFFFE)


def build_info(st: Stat, blob: bytes | None, stream_st: Stat | None = None, reserved: bytes | None = None) -> FileInfo:
    """:class:`FileInfo` from a statx and the DOSATTRIB xattr (as ``posix_info.build_info``);
    ``reserved`` is the ALLOCATION xattr (an AllocationSize set beyond the data)."""
    dir_mode = stat_mod.S_ISDIR(st.mode)
    is_dir = dir_mode and stream_st is None
    dec = decode_dosattrib(blob)
    stored, btime = dec if dec is not None else ((0 if dir_mode else int(FA.ARCHIVE)), 0)
    if not btime:
        btime = (st.btime_ns or min(st.ctime_ns, st.mtime_ns)) // 100 + FILETIME_UNIX_EPOCH
    attrs = stored & STORABLE_ATTRIBUTES
    if dir_mode:
        attrs |= int(FA.DIRECTORY)
    elif not attrs:
        attrs = int(FA.NORMAL)
    if is_dir:
        alloc = eof = 0
        nlink = 1
    else:
        sizes = stream_st if stream_st is not None else st
        eof = sizes.size
        alloc = (eof + ALLOCATION_UNIT - 1) // ALLOCATION_UNIT * ALLOCATION_UNIT
        if reserved is not None and stream_st is None and len(reserved) == 8:
            alloc = max(alloc, int.from_bytes(reserved, "little"))
        nlink = st.nlink
    return file_info(btime, st.atime_ns // 100 + FILETIME_UNIX_EPOCH, st.mtime_ns // 100 + FILETIME_UNIX_EPOCH,
                     st.ctime_ns // 100 + FILETIME_UNIX_EPOCH, alloc, eof, attrs, file_id(st.ino), nlink, is_dir)


class CephVfs(XattrMetadata):
    """A :class:`~sofs.vfs.base.Vfs` over the CephFS directory ``root`` reached through ``mount``."""

    root = None  # no local directory: fsio runs every call in the pool (see module docstring)

    def __init__(self, mount: CephMount, root: str, *, case_sensitive: bool = False, owns_mount: bool = False,
                 write_through: bool = False) -> None:
        self.mount = mount
        self.ceph_root = "/" + root.strip("/")  # relative to the mount's root
        self.prefix = self.ceph_root.rstrip("/")  # "" for the mount's root itself
        self.case_sensitive = case_sensitive
        self._owns_mount = owns_mount
        self.names = DirNameCache()
        self.write_through = write_through  # each write on the OSDs before it returns (see vfs.mounts)
        try:
            mount.mkdirs(self.ceph_root.encode(), 0o755)
        except FileExistsError:
            pass
        self.root_ino = mount.lstat(self.ceph_root.encode()).ino
        ceph_ns.ensure_meta_dirs(self)

    def shutdown(self) -> None:
        if self._owns_mount:
            self.mount.shutdown()

    # --- names ----------------------------------------------------------------------------
    def abs(self, comps: Iterable[str]) -> bytes:
        rel = "/".join(comps)
        return os.fsencode(f"{self.prefix}/{rel}" if rel else self.ceph_root)

    def lookup(self, comps: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """Case-correct ``comps``; (actual components, whether the last one exists)."""
        return ceph_names.lookup(self, comps)

    # --- open / create --------------------------------------------------------------------
    def open(self, path: str, disposition: CreateDisposition, options: int = 0,
             attributes: int = 0, *, truncate: bool = True,
             new_sd: NewSd | None = None) -> tuple[CephHandle, CreateAction]:
        p: SmbPath = _parse_path(path)
        if p.stream is not None:
            return ceph_ns.open_stream(self, p, disposition, attributes, truncate)
        want_dir = bool(options & CreateOptions.DIRECTORY_FILE)
        want_file = bool(options & CreateOptions.NON_DIRECTORY_FILE)
        if want_dir and want_file:
            raise VfsError(NtStatus.INVALID_PARAMETER, "DIRECTORY_FILE and NON_DIRECTORY_FILE")
        for _ in range(3):
            actual, exists = self.lookup(p.components)
            if exists:
                if disposition == D.CREATE:
                    raise VfsError(NtStatus.OBJECT_NAME_COLLISION, path)
                h = self._open_existing(actual, disposition, want_dir, want_file)
                if disposition not in _TRUNCATING or h.is_directory:
                    return h, CreateAction.OPENED
                if truncate:
                    self.overwrite(h, attributes)
                return h, CreateAction.SUPERSEDED if disposition == D.SUPERSEDE else CreateAction.OVERWRITTEN
            if disposition in (D.OPEN, D.OVERWRITE):
                raise VfsError(NtStatus.OBJECT_NAME_NOT_FOUND, path)
            created = self._create(actual, want_dir, attributes, new_sd)
            if created is not None:
                return created
        raise VfsError(NtStatus.OBJECT_NAME_COLLISION, path)

    def open_stat(self, path: str, disposition: int, options: int = 0, attributes: int = 0,
                  new_sd: NewSd | None = None) -> tuple[CephHandle, CreateAction, FileInfo, bytes | None]:
        """As :meth:`sofs.vfs.base.Vfs.open_stat`. libcephfs has no RENAME_NOREPLACE, so a new
        object's descriptor is stored right after the create, before this call returns (not before the
        name is visible to another client of the file system, as on POSIX)."""
        h, action = self.open(path, CreateDisposition(disposition), options, attributes, truncate=False,
                              new_sd=new_sd)
        try:
            info = self.stat(h)
            sd = self.get_security_descriptor(h) if action != CreateAction.CREATED else None
        except VfsError:
            self.close(h)
            raise
        return h, action, info, sd

    def open_path(self, comps: tuple[str, ...]) -> tuple[int, Stat]:
        """Open an existing file read-write (read-only if refused) or a directory; refuses links and
        special files."""
        path = self.abs(comps)
        m = self.mount
        try:
            try:
                fd = m.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except IsADirectoryError:
                fd = m.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except PermissionError:
                fd = m.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise VfsError(NtStatus.ACCESS_DENIED, f"{path!r}: symbolic link") from None
            raise err(e) from None
        st = m.fstat(fd)
        if not (stat_mod.S_ISREG(st.mode) or stat_mod.S_ISDIR(st.mode)):
            m.close(fd)
            raise VfsError(NtStatus.ACCESS_DENIED, f"{path!r}: not a regular file or directory")
        return fd, st

    def _open_existing(self, actual: tuple[str, ...], disposition: int, want_dir: bool,
                       want_file: bool) -> CephHandle:
        fd, st = self.open_path(actual)
        path = "\\".join(actual)
        is_dir = stat_mod.S_ISDIR(st.mode)
        problem = None
        if is_dir and (want_file or disposition in _TRUNCATING):
            problem = VfsError(NtStatus.FILE_IS_A_DIRECTORY, path)
        elif not is_dir and want_dir:
            problem = VfsError(NtStatus.NOT_A_DIRECTORY, path)
        if problem is not None:
            self.mount.close(fd)
            raise problem
        return CephHandle(fd, fd, path, None, is_dir, file_id(st.ino))

    def _create(self, actual: tuple[str, ...], want_dir: bool, attributes: int,
                new_sd: NewSd | None = None) -> tuple[CephHandle, CreateAction] | None:
        if not actual:
            raise VfsError(NtStatus.OBJECT_NAME_COLLISION, "share root")
        sd = new_sd("\\".join(actual), want_dir) if new_sd is not None else None
        path = self.abs(actual)
        m = self.mount
        try:
            if want_dir:
                m.mkdir(path, 0o777)
                fd = m.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                stored = attributes & ~FA.ARCHIVE & ~FA.NORMAL
            else:
                fd = m.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
                stored = attributes | FA.ARCHIVE
        except FileExistsError:
            return None  # raced with another create: retry as an open
        except FileNotFoundError:
            raise VfsError(NtStatus.OBJECT_PATH_NOT_FOUND, "\\".join(actual)) from None
        except OSError as e:
            raise err(e) from None
        self.names.created(self, self.abs(actual[:-1]), actual[-1])
        st = m.fstat(fd)
        m.fsetxattr(fd, XATTR_DOSATTRIB, encode_dosattrib(int(stored), st.btime_ns // 100 + FILETIME_UNIX_EPOCH))
        if sd is not None:
            m.fsetxattr(fd, XATTR_SD, sd)
        return CephHandle(fd, fd, "\\".join(actual), None, want_dir, file_id(st.ino)), CreateAction.CREATED

    def overwrite(self, h: CephHandle, attributes: int = 0) -> None:
        """The destructive half of SUPERSEDE/OVERWRITE ([MS-FSA] 2.1.5.1.2), as on POSIX."""
        try:
            self.mount.ftruncate(h.cfd, 0)
            self._drop_reservation(h, 0)
            if h.stream is None:
                blob = self._xattr(h.base_cfd, XATTR_DOSATTRIB)
                btime = self._btime(self.mount.fstat(h.base_cfd), blob)
                self.mount.fsetxattr(h.base_cfd, XATTR_DOSATTRIB, encode_dosattrib(attributes | FA.ARCHIVE, btime))
                self._remove_xattr_fd(h.base_cfd, XATTR_EA)
        except OSError as e:
            raise err(e) from None

    def close(self, h: CephHandle) -> None:
        if h.closed:
            return
        h.closed = True
        self.mount.close(h.cfd)
        if h.base_cfd != h.cfd:
            self.mount.close(h.base_cfd)

    # --- info -----------------------------------------------------------------------------
    def _xattr(self, cfd: int, name: str) -> bytes | None:
        try:
            return self.mount.fgetxattr(cfd, name)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
                return None
            raise

    def _remove_xattr(self, h: CephHandle, name: str) -> None:
        self._remove_xattr_fd(h.base_cfd, name)

    def _remove_xattr_fd(self, cfd: int, name: str) -> None:
        try:
            self.mount.fremovexattr(cfd, name)
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
                raise

    @staticmethod
    def _btime(st: Stat, blob: bytes | None) -> int:
        dec = decode_dosattrib(blob)
        if dec is not None and dec[1]:
            return dec[1]
        return (st.btime_ns or min(st.mtime_ns, st.ctime_ns)) // 100 + FILETIME_UNIX_EPOCH

    def stat(self, h: CephHandle) -> FileInfo:
        try:
            st = self.mount.fstat(h.base_cfd)
            blob = self._xattr(h.base_cfd, XATTR_DOSATTRIB)
            sst = self.mount.fstat(h.cfd) if h.stream is not None else None
            reserved = None if h.is_directory or sst is not None else self._xattr(h.cfd, XATTR_ALLOCATION)
        except OSError as e:
            raise err(e) from None
        return build_info(st, blob, sst, reserved)

    def stat_path(self, path: str) -> FileInfo:
        h, _ = self.open(path, D.OPEN)
        try:
            return self.stat(h)
        finally:
            self.close(h)

    def list_directory(self, h: CephHandle, pattern: str = "*") -> list[DirEntry]:
        return ceph_ns.list_dir(self, h, pattern)

    def is_directory_empty(self, h: CephHandle) -> bool:
        return ceph_ns.is_empty(self, h)

    def child_exists(self, h: CephHandle, name: str) -> bool:
        """Whether the directory ``h`` still has an entry ``name`` (as listed)."""
        try:
            self.mount.lstat(self.abs((*h.path.split("\\"), name) if h.path else (name,)))
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def list_streams(self, h: CephHandle) -> list[StreamInfo]:
        return ceph_ns.list_streams(self, h)

    def fs_stats(self) -> FsStats:
        """Sizes from ``statfs`` of the root (the volume's quota with ``client_quota_df``)."""
        try:
            sv = self.mount.statfs(os.fsencode(self.ceph_root))
            st = self.mount.lstat(os.fsencode(self.ceph_root))
        except OSError as e:
            raise err(e) from None
        unit = sv.f_frsize or sv.f_bsize
        return FsStats(total_units=sv.f_blocks, caller_available_units=sv.f_bavail,
                       actual_available_units=sv.f_bfree, sectors_per_unit=max(1, unit // 512),
                       bytes_per_sector=512, volume_serial=self.root_ino & 0xFFFFFFFF,
                       volume_creation_time=self._btime(st, None), max_name_length=min(255, sv.f_namemax))

    # --- data -----------------------------------------------------------------------------
    def read(self, h: CephHandle, offset: int, length: int) -> bytes:
        buf = bytearray(length)
        n = self.readinto(h, offset, buf)
        return bytes(buf[:n])

    def readinto(self, h: CephHandle, offset: int, buf: memoryview | bytearray) -> int:
        try:
            return self.mount.preadinto(h.cfd, memoryview(buf).cast("B"), offset)
        except OSError as e:
            raise err(e) from None

    def write(self, h: CephHandle, offset: int, data: bytes | bytearray | memoryview) -> int:
        try:
            n = self.mount.pwrite(h.cfd, data, offset)
            if self.write_through:
                self.mount.fsync(h.cfd, dataonly=True)
            return n
        except OSError as e:
            raise err(e) from None

    def flush(self, h: CephHandle) -> None:
        try:
            self.mount.fsync(h.cfd)
        except OSError as e:
            raise err(e) from None

    def size(self, h: CephHandle) -> int:
        try:
            return self.mount.fstat(h.cfd).size
        except OSError as e:
            raise err(e) from None

    def set_end_of_file(self, h: CephHandle, size: int) -> None:
        if h.is_directory:
            raise VfsError(NtStatus.INVALID_PARAMETER, "directory")
        try:
            self.mount.ftruncate(h.cfd, size)
            self._drop_reservation(h, size)
        except OSError as e:
            raise err(e) from None

    def _drop_reservation(self, h: CephHandle, size: int) -> None:
        """A truncation to ``size`` frees what was reserved beyond it (as ftruncate does blocks)."""
        if h.stream is None:
            reserved = self._xattr(h.cfd, XATTR_ALLOCATION)
            if reserved is not None and int.from_bytes(reserved, "little") > size:
                self._remove_xattr_fd(h.cfd, XATTR_ALLOCATION)

    def set_allocation_size(self, h: CephHandle, size: int) -> None:
        """FileAllocationInformation: below EOF truncates; above, the size is remembered (CephFS reserves
        no blocks: objects are allocated on write) and reported as AllocationSize."""
        if h.is_directory:
            raise VfsError(NtStatus.INVALID_PARAMETER, "directory")
        try:
            st = self.mount.fstat(h.cfd)
            if size < st.size:
                self.mount.ftruncate(h.cfd, size)
                self._drop_reservation(h, size)
            elif size > st.size and h.stream is None:
                self.mount.fsetxattr(h.cfd, XATTR_ALLOCATION, size.to_bytes(8, "little"))
        except OSError as e:
            raise err(e) from None

    def get_times_ns(self, h: CephHandle) -> tuple[int, int]:
        """(atime, mtime) of the data object in ns (the delayed write-time logic uses them)."""
        try:
            st = self.mount.fstat(h.cfd)
        except OSError as e:
            raise err(e) from None
        return st.atime_ns, st.mtime_ns

    def set_times_ns(self, h: CephHandle, atime_ns: int, mtime_ns: int) -> None:
        try:
            self.mount.set_times(h.cfd, atime_ns, mtime_ns)
        except OSError as e:
            raise err(e) from None

    # --- metadata -------------------------------------------------------------------------
    def set_basic_info(self, h: CephHandle, creation_time: int = 0, last_access_time: int = 0,
                       last_write_time: int = 0, change_time: int = 0, attributes: int = 0) -> None:
        """FileBasicInformation ([MS-FSCC] 2.4.7); ChangeTime cannot be set: ignored."""
        del change_time
        set_c = creation_time not in _NO_SET and creation_time > 0
        set_a = last_access_time not in _NO_SET and last_access_time > 0
        set_m = last_write_time not in _NO_SET and last_write_time > 0
        m, fd = self.mount, h.base_cfd
        try:
            if attributes or set_c:
                blob = self._xattr(fd, XATTR_DOSATTRIB)
                dec = decode_dosattrib(blob)
                stored = dec[0] if dec is not None else (0 if h.is_directory else int(FA.ARCHIVE))
                if attributes:
                    stored = attributes & ~int(FA.NORMAL) & ~int(FA.DIRECTORY)
                btime = creation_time if set_c else self._btime(m.fstat(fd), blob)
                m.fsetxattr(fd, XATTR_DOSATTRIB, encode_dosattrib(stored, btime))
            if set_a or set_m:
                m.set_times(fd, (last_access_time - FILETIME_UNIX_EPOCH) * 100 if set_a else None,
                            (last_write_time - FILETIME_UNIX_EPOCH) * 100 if set_m else None)
        except OSError as e:
            raise err(e) from None

    def _get_xattr(self, h: CephHandle, name: str) -> bytes | None:
        return self._xattr(h.base_cfd, name)

    def _set_xattr(self, h: CephHandle, name: str, value: bytes) -> None:
        self.mount.fsetxattr(h.base_cfd, name, value)

    # --- namespace ------------------------------------------------------------------------
    def delete(self, h: CephHandle) -> None:
        ceph_ns.delete(self, h)

    def rename(self, h: CephHandle, new_path: str, replace_if_exists: bool) -> str:
        return ceph_ns.rename(self, h, new_path, replace_if_exists)

    def link(self, h: CephHandle, new_path: str, replace_if_exists: bool) -> None:
        ceph_ns.link(self, h, new_path, replace_if_exists)
