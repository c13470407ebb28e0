"""File-level FSCTLs for sparse files (VHDX), zeroing, reparse points, object ids, compression and
block cloning ([MS-FSCC] 2.3; reparse points: ``reparse``, [MS-FSA] 2.1.5.10).

| FSCTL                         | behaviour                                                          |
|-------------------------------|--------------------------------------------------------------------|
| SET_SPARSE                    | sets/clears FILE_ATTRIBUTE_SPARSE_FILE (stored); directory →       |
|                               | INVALID_PARAMETER; needs WRITE_DATA, APPEND_DATA or WRITE_ATTRIBUTES|
| QUERY_ALLOCATED_RANGES        | non-sparse file: the requested range clipped to EOF; sparse file:  |
|                               | SEEK_DATA/SEEK_HOLE; needs READ_DATA; more ranges than fit →       |
|                               | those that fit + BUFFER_OVERFLOW                                   |
| SET_ZERO_DATA                 | sparse: fallocate(PUNCH_HOLE|KEEP_SIZE); else ZERO_RANGE (blocks   |
|                               | stay allocated) with a punch+allocate fallback; needs WRITE_DATA   |
| CREATE_OR_GET_OBJECT_ID,      | a stable id derived from the 64-bit file id and volume serial       |
| GET_OBJECT_ID                 | ([MS-FSCC] 2.1.3 FILE_OBJECTID_BUFFER)                             |
| GET_COMPRESSION               | COMPRESSION_FORMAT_NONE (as ReFS / Samba on file systems without)  |
| SET_COMPRESSION               | FORMAT_NONE → OK, anything else NOT_SUPPORTED; needs WRITE_DATA    |
| DUPLICATE_EXTENTS_TO_FILE     | FICLONERANGE where the file system reflinks (XFS, btrfs), else     |
|                               | NOT_SUPPORTED (Windows without ReFS)                               |
| SRV_ENUMERATE_SNAPSHOTS       | no previous versions: an empty SRV_SNAPSHOT_ARRAY (as Windows on a |
|                               | volume without shadow copies); MaxOutputResponse < 16 →            |
|                               | INVALID_PARAMETER                                                  |

Handlers take the open from the IOCTL's FileId (:func:`~sofs.handlers.opens.get_open`) and run
their I/O in the file-system pool.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import struct
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.handlers.copychunk import lock_conflict
from sofs.handlers.fsio import run_fs
from sofs.handlers.ioctl import ioctl_reply, register_fsctl
from sofs.handlers.opens import Handle, get_open
from sofs.wire.constants import CtlCode
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.fsctl import (
    DuplicateExtentsData,
    FileAllocatedRangeBuffer,
    FileZeroDataInformation,
    SrvSnapshotArray,
    decode_set_sparse,
    encode_allocated_ranges,
)
from sofs.wire.messages.ioctl import IoctlRequest
from sofs.wire.status import NtStatus

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
FICLONERANGE = 0x4020940D  # _IOW(0x94, 13, struct file_clone_range)
COMPRESSION_FORMAT_NONE = 0
_RANGE = FileAllocatedRangeBuffer.ST.size

_libc = ctypes.CDLL(None, use_errno=True)
_fallocate = getattr(_libc, "fallocate64", None) or getattr(_libc, "fallocate", None)
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _fallocate.restype = ctypes.c_int


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with ``mode`` flags; OSError on failure (EOPNOTSUPP where unsupported)."""
    if _fallocate is None:
        raise OSError(errno.ENOSYS, "fallocate unavailable")
    if _fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _need_any(op: Handle, mask: int, what: str) -> None:
    if not op.granted_access & mask:
        raise SmbError(NtStatus.ACCESS_DENIED, f"{what}: access {mask:#x} not granted")


def _file_open(ctx: Ctx, req: IoctlRequest) -> Handle:
    op = get_open(ctx, req.file_id)
    if op.is_pipe or op.handle is None:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "file FSCTL on a pipe")
    return op


def _os_error(e: OSError) -> SmbError:
    if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.ENOTTY):
        return SmbError(NtStatus.NOT_SUPPORTED, str(e))
    if e.errno == errno.ENOSPC:
        return SmbError(NtStatus.DISK_FULL, str(e))
    if e.errno == errno.EXDEV:
        return SmbError(NtStatus.NOT_SAME_DEVICE, str(e))
    return SmbError(NtStatus.INVALID_PARAMETER if e.errno == errno.EINVAL else NtStatus.UNSUCCESSFUL, str(e))


# --- sparse ------------------------------------------------------------------------------------

def is_sparse(vfs: Any, h: Any) -> bool:
    return bool(vfs.stat(h).attributes & FA.SPARSE_FILE)


def set_sparse_attribute(vfs: Any, h: Any, sparse: bool) -> None:
    """Set/clear SPARSE_FILE in the stored attributes (NORMAL stands for 'none left')."""
    attrs = vfs.stat(h).attributes & ~int(FA.DIRECTORY) & ~int(FA.NORMAL)
    new = (attrs | int(FA.SPARSE_FILE)) if sparse else (attrs & ~int(FA.SPARSE_FILE))
    if new != attrs:
        vfs.set_basic_info(h, attributes=new or int(FA.NORMAL))


@register_fsctl(CtlCode.SET_SPARSE)
async def fsctl_set_sparse(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-FSA] 2.1.5.10.32 FSCTL_SET_SPARSE (an empty buffer means SetSparse = TRUE)."""
    op = _file_open(ctx, req)
    if op.is_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "FSCTL_SET_SPARSE on a directory")
    _need_any(op, A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_ATTRIBUTES, "FSCTL_SET_SPARSE")
    if op.share.config.read_only:
        raise SmbError(NtStatus.MEDIA_WRITE_PROTECTED, "read-only share")
    await run_fs(set_sparse_attribute, op.vfs, op.handle, decode_set_sparse(bytes(req.input)))
    return b""


def allocated_ranges(fd: int, offset: int, length: int, sparse: bool) -> list[FileAllocatedRangeBuffer]:
    """[MS-FSA] 2.1.5.10.22 allocated ranges within [offset, offset+length) clipped to EOF."""
    size = os.fstat(fd).st_size
    if length == 0 or size == 0 or offset >= size:
        return []
    end = min(size, offset + length)
    if not sparse:
        return [FileAllocatedRangeBuffer(offset, end - offset)]
    out = []
    cur = offset
    while cur < end:
        try:
            data = os.lseek(fd, cur, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        if data >= end:
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        out.append(FileAllocatedRangeBuffer(data, min(hole, end) - data))
        cur = hole
    return out


@register_fsctl(CtlCode.QUERY_ALLOCATED_RANGES)
async def fsctl_query_allocated_ranges(ctx: Ctx, req: IoctlRequest) -> bytes | Reply:
    op = _file_open(ctx, req)
    _need_any(op, A.FILE_READ_DATA, "FSCTL_QUERY_ALLOCATED_RANGES")
    try:
        q = FileAllocatedRangeBuffer.decode(req.input)
    except WireError:
        raise SmbError(NtStatus.INVALID_PARAMETER, "FILE_ALLOCATED_RANGE_BUFFER too short") from None
    if q.file_offset < 0 or q.length < 0:
        raise SmbError(NtStatus.INVALID_PARAMETER, "negative range")
    if q.length and q.file_offset + q.length > 0x7FFFFFFFFFFFFFFF:
        raise SmbError(NtStatus.INVALID_PARAMETER, "range overflows")
    if op.is_directory:
        return b""
    ranges = await run_fs(_query_ranges, op, q.file_offset, q.length)
    fit = req.max_output_response // _RANGE
    if ranges and fit == 0:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL, "MaxOutputResponse below one range")
    if len(ranges) > fit:  # as many as fit, STATUS_BUFFER_OVERFLOW ([MS-FSA] 2.1.5.10.22)
        out = encode_allocated_ranges(ranges[:fit])
        return ioctl_reply(req, out, NtStatus.BUFFER_OVERFLOW, op.file_id)
    return encode_allocated_ranges(ranges)


def _query_ranges(op: Handle, offset: int, length: int) -> list[FileAllocatedRangeBuffer]:
    if op.handle.fd < 0:  # no OS descriptor (CephVfs): no hole map, the whole range counts as allocated
        size = op.vfs.stat(op.handle).end_of_file
        end = min(size, offset + length)
        return [FileAllocatedRangeBuffer(offset, end - offset)] if length and end > offset else []
    return allocated_ranges(op.handle.fd, offset, length, is_sparse(op.vfs, op.handle))


def zero_data(fd: int, offset: int, end: int, sparse: bool) -> None:
    """Zero [offset, end) without changing the size: deallocate when sparse, else keep blocks."""
    size = os.fstat(fd).st_size
    end = min(end, size)
    if end <= offset:
        return
    length = end - offset
    if sparse:
        try:
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
            return
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS):
                raise
    else:
        try:
            fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length)
            return
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
        try:  # tmpfs: no ZERO_RANGE, but punch + allocate gives the same result
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
            fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)
            return
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS):
                raise
    zeros = bytes(min(length, 1 << 20))
    pos = offset
    while pos < end:
        pos += os.pwrite(fd, zeros[: min(len(zeros), end - pos)], pos)


@register_fsctl(CtlCode.SET_ZERO_DATA)
async def fsctl_set_zero_data(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-FSA] 2.1.5.10.33 FSCTL_SET_ZERO_DATA."""
    op = _file_open(ctx, req)
    _need_any(op, A.FILE_WRITE_DATA, "FSCTL_SET_ZERO_DATA")
    try:
        z = FileZeroDataInformation.decode(req.input)
    except WireError:
        raise SmbError(NtStatus.INVALID_PARAMETER, "FILE_ZERO_DATA_INFORMATION too short") from None
    if z.file_offset > 0x7FFFFFFFFFFFFFFF or z.beyond_final_zero > 0x7FFFFFFFFFFFFFFF:
        raise SmbError(NtStatus.INVALID_PARAMETER, "negative offset")
    if z.beyond_final_zero < z.file_offset:
        raise SmbError(NtStatus.INVALID_PARAMETER, "BeyondFinalZero before FileOffset")
    if op.is_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "FSCTL_SET_ZERO_DATA on a directory")
    if z.beyond_final_zero == z.file_offset:
        return b""
    if lock_conflict(ctx, op, z.file_offset, z.beyond_final_zero - z.file_offset, True):
        raise SmbError(NtStatus.FILE_LOCK_CONFLICT, "FSCTL_SET_ZERO_DATA over a locked range")
    try:
        await run_fs(_zero, op, z.file_offset, z.beyond_final_zero)
    except OSError as e:
        raise _os_error(e) from None
    op.written = True
    return b""


def _zero(op: Handle, offset: int, end: int) -> None:
    if op.handle.fd < 0:  # no OS descriptor (CephVfs): zeros written through the VFS, size unchanged
        end = min(end, op.vfs.stat(op.handle).end_of_file)
        pos = offset
        while pos < end:
            pos += op.vfs.write(op.handle, pos, bytes(min(end - pos, 1 << 20)))
        return
    zero_data(op.handle.fd, offset, end, is_sparse(op.vfs, op.handle))


# --- object ids, compression ---------------------------------------------------

def object_id(file_id: int, volume_serial: int) -> bytes:
    """[MS-FSCC] 2.1.3.1 FILE_OBJECTID_BUFFER (type 1): ObjectId from the file id (stable across
    restarts), BirthVolumeId from the volume serial, BirthObjectId = ObjectId, DomainId zero."""
    oid = struct.pack("<Q", file_id) + hashlib.sha256(struct.pack("<QI", file_id, volume_serial)).digest()[:8]
    vol = hashlib.sha256(struct.pack("<I", volume_serial)).digest()[:16]
    return oid + vol + oid + bytes(16)


async def _object_id(ctx: Ctx, req: IoctlRequest) -> bytes:
    op = _file_open(ctx, req)
    if req.max_output_response < 64:
        raise SmbError(NtStatus.BUFFER_TOO_SMALL, "FILE_OBJECTID_BUFFER needs 64 bytes")
    info = await run_fs(op.vfs.stat, op.handle)
    serial = (await run_fs(op.vfs.fs_stats)).volume_serial
    return object_id(info.file_id, serial)


register_fsctl(CtlCode.CREATE_OR_GET_OBJECT_ID)(_object_id)
register_fsctl(CtlCode.GET_OBJECT_ID)(_object_id)


@register_fsctl(CtlCode.GET_COMPRESSION)
async def fsctl_get_compression(ctx: Ctx, req: IoctlRequest) -> bytes:
    _file_open(ctx, req)
    if req.max_output_response < 2:
        raise SmbError(NtStatus.INVALID_USER_BUFFER, "compression state needs 2 bytes")
    return struct.pack("<H", COMPRESSION_FORMAT_NONE)


@register_fsctl(CtlCode.SET_COMPRESSION)
async def fsctl_set_compression(ctx: Ctx, req: IoctlRequest) -> bytes:
    op = _file_open(ctx, req)
    _need_any(op, A.FILE_WRITE_DATA, "FSCTL_SET_COMPRESSION")
    if len(req.input) < 2:
        raise SmbError(NtStatus.INVALID_PARAMETER, "compression state too short")
    (fmt,) = struct.unpack_from("<H", req.input)
    if fmt != COMPRESSION_FORMAT_NONE:
        raise SmbError(NtStatus.NOT_SUPPORTED, "no compression on this file system")
    return b""


# --- block cloning -----------------------------------------------------------------------------

def clone_range(src_fd: int, dst_fd: int, src_off: int, dst_off: int, length: int) -> None:
    """FICLONERANGE (struct file_clone_range: s64 src_fd, u64 src_offset, src_length, dest_offset)."""
    arg = struct.pack("<qQQQ", src_fd, src_off, length, dst_off)
    fcntl.ioctl(dst_fd, FICLONERANGE, arg)


@register_fsctl(CtlCode.DUPLICATE_EXTENTS_TO_FILE)
async def fsctl_duplicate_extents(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-FSA] 2.1.5.10.4: both handles on this session; source READ_DATA, target WRITE_DATA."""
    dst = _file_open(ctx, req)
    try:
        d = DuplicateExtentsData.decode(req.input)
    except WireError:
        raise SmbError(NtStatus.INVALID_PARAMETER, "DUPLICATE_EXTENTS_DATA too short") from None
    src = ctx.server.handles.by_id.get(bytes(d.file_id))
    if src is None or src.closed or src.session is not ctx.session or src.handle is None:
        raise SmbError(NtStatus.INVALID_HANDLE, "unknown source handle")
    _need_any(src, A.FILE_READ_DATA, "duplicate extents source")
    _need_any(dst, A.FILE_WRITE_DATA, "duplicate extents target")
    if d.byte_count == 0:
        return b""
    if src.handle.fd < 0 or dst.handle.fd < 0:
        raise SmbError(NtStatus.NOT_SUPPORTED, "block cloning is not supported on this volume")
    try:
        await run_fs(clone_range, src.handle.fd, dst.handle.fd, d.source_offset, d.target_offset, d.byte_count)
    except OSError as e:
        raise _os_error(e) from None
    dst.written = True
    return b""


# --- previous versions -------------------------------------------------------------------------

# [MS-SMB2] 2.2.32.2 with no snapshots: counts 0, SnapShotArraySize 2 (the empty MULTI_SZ's final
# null), as Samba's vfs_default answers; Windows clients then show no previous versions.
EMPTY_SNAPSHOT_ARRAY = SrvSnapshotArray.ST.pack(0, 0, 2) + b"\0\0"


@register_fsctl(CtlCode.SRV_ENUMERATE_SNAPSHOTS)
async def fsctl_enumerate_snapshots(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-SMB2] 3.3.5.15.1: sofs keeps no snapshots, so every file has no previous versions."""
    _file_open(ctx, req)
    if req.max_output_response < 16:
        raise SmbError(NtStatus.INVALID_PARAMETER, "SRV_SNAPSHOT_ARRAY needs 16 bytes")
    return EMPTY_SNAPSHOT_ARRAY
