"""Server-side copy: FSCTL_SRV_REQUEST_RESUME_KEY and FSCTL_SRV_COPYCHUNK(_WRITE) ([MS-SMB2] 3.3.5.15.6,
3.3.5.15.7).

The resume key is 24 random bytes per open (Windows: opaque, 24 bytes), kept on the ``Handle`` and in a
per-server weak map key → Handle, so a closed open's key stops resolving by itself. The copy runs in the
file-system thread pool with ``os.copy_file_range`` (the kernel copies, or reflinks on XFS/btrfs;
no byte travels over the SMB connection), falling back to pread/pwrite through one chunk-sized buffer
when the kernel refuses (cross-device, overlapping ranges of one file, old kernels). Overlapping ranges
of one file are copied through a buffer holding the whole chunk, as Windows 2012+ does (a chunk is at
most 1 MiB).

Windows limits ([MS-SMB2] 3.3.3.1 ServerSideCopyMaxNumberofChunks / MaxChunkSize / MaxDataSize):
256 chunks, 1 MiB per chunk, 16 MiB per request. A request over them (or with a zero-length chunk)
answers STATUS_INVALID_PARAMETER with the limits in the SRV_COPYCHUNK_RESPONSE.

Errors: unknown key → OBJECT_NAME_NOT_FOUND; source without READ_DATA/EXECUTE, target without
WRITE_DATA (COPYCHUNK also needs READ_DATA on the target) → ACCESS_DENIED; a chunk reading past the
source's end → INVALID_VIEW_SIZE with the chunks done so far; a byte-range lock conflict → FILE_LOCK_CONFLICT with the chunks done so far (Windows 2012+ copies with ReadFile/WriteFile, which honour locks).
"""
from __future__ import annotations

import errno
import os
import weakref
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.handlers.fsio import run_fs, run_pool
from sofs.handlers.ioctl import ioctl_reply, register_fsctl
from sofs.handlers.opens import Handle, get_open
from sofs.wire.constants import CtlCode
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fsctl import SrvCopychunk, SrvCopychunkCopy, SrvCopychunkResponse, SrvRequestResumeKeyResponse
from sofs.wire.messages.ioctl import IoctlRequest
from sofs.wire.status import NtStatus

MAX_CHUNKS = 256
MAX_CHUNK_SIZE = 1024 * 1024
MAX_TOTAL = 16 * 1024 * 1024
_RESPONSE_SIZE = SrvCopychunkResponse.ST.size
_FALLBACK_ERRNOS = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF})


def _key_map(ctx: Ctx) -> weakref.WeakValueDictionary[bytes, Handle]:
    return ctx.server.handles.resume_keys


def resume_key(ctx: Ctx, op: Handle, rand: Any = os.urandom) -> bytes:
    """The open's resume key (created on first request; the same key on later requests)."""
    key = op.resume_key
    if key is None:
        key = op.resume_key = rand(24)
        _key_map(ctx)[key] = op
    return key


def open_by_key(ctx: Ctx, key: bytes) -> Handle | None:
    """The open a resume key names, if still open and usable by this session's user."""
    op = _key_map(ctx).get(bytes(key))
    if op is None or op.closed or op.handle is None:
        return None
    mine = ctx.session
    if op.session is not mine:
        u1, u2 = getattr(op.session, "user", None), getattr(mine, "user", None)
        if u1 is None or u2 is None or getattr(u1, "sid", None) != getattr(u2, "sid", None):
            return None
    return op


@register_fsctl(CtlCode.SRV_REQUEST_RESUME_KEY)
async def fsctl_request_resume_key(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-SMB2] 3.3.5.15.7: a 24-byte key for this open."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe or op.handle is None:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "resume key of a pipe")
    if req.max_output_response < SrvRequestResumeKeyResponse.ST.size:
        raise SmbError(NtStatus.INVALID_PARAMETER, "MaxOutputResponse below SRV_REQUEST_RESUME_KEY size")
    # ContextLength 0 followed by 4 zero bytes: the 32-byte layout Windows and Samba send
    return SrvRequestResumeKeyResponse(resume_key(ctx, op)).encode() + bytes(4)


def _limits_reply(req: IoctlRequest, file_id: bytes) -> Reply:
    out = SrvCopychunkResponse(MAX_CHUNKS, MAX_CHUNK_SIZE, MAX_TOTAL).encode()
    return ioctl_reply(req, out, NtStatus.INVALID_PARAMETER, file_id)


def lock_conflict(ctx: Ctx, op: Handle, offset: int, length: int, write: bool) -> bool:
    """Whether a byte-range lock of another open covers the range ([MS-SMB2] 3.3.5.12/13 rules)."""
    return bool(op.pid) and op.share.volume.io_conflict(op, offset, length, write)


def check_limits(chunks: tuple[SrvCopychunk, ...]) -> bool:
    """Whether a chunk list is within the Windows limits (zero-length chunks are refused too)."""
    if len(chunks) > MAX_CHUNKS:
        return False
    total = 0
    for c in chunks:
        if c.length == 0 or c.length > MAX_CHUNK_SIZE:
            return False
        total += c.length
    return total <= MAX_TOTAL


async def _copychunk(ctx: Ctx, req: IoctlRequest) -> Reply:
    """[MS-SMB2] 3.3.5.15.6 Handling a Server-Side Data Copy Request."""
    write_only = req.ctl_code == CtlCode.SRV_COPYCHUNK_WRITE
    dst = get_open(ctx, req.file_id)
    fid = dst.file_id
    if dst.is_pipe or dst.handle is None:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "copychunk to a pipe")
    if req.max_output_response < _RESPONSE_SIZE:
        raise SmbError(NtStatus.INVALID_PARAMETER, "MaxOutputResponse below SRV_COPYCHUNK_RESPONSE size")
    try:
        copy = SrvCopychunkCopy.decode(req.input)
    except WireError:
        raise SmbError(NtStatus.INVALID_PARAMETER, "malformed SRV_COPYCHUNK_COPY") from None
    if not check_limits(copy.chunks):
        return _limits_reply(req, fid)
    if not dst.granted_access & A.FILE_WRITE_DATA:
        raise SmbError(NtStatus.ACCESS_DENIED, "copychunk target without FILE_WRITE_DATA")
    if not write_only and not dst.granted_access & A.FILE_READ_DATA:
        raise SmbError(NtStatus.ACCESS_DENIED, "FSCTL_SRV_COPYCHUNK target without FILE_READ_DATA")
    if dst.is_directory:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "copychunk to a directory")
    src = open_by_key(ctx, copy.source_key)
    if src is None:
        raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "unknown copychunk resume key")
    if not src.granted_access & (A.FILE_READ_DATA | A.FILE_EXECUTE):
        raise SmbError(NtStatus.ACCESS_DENIED, "copychunk source without FILE_READ_DATA")
    if src.is_directory:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "copychunk from a directory")
    src_fd, dst_fd = src.handle.fd, dst.handle.fd
    if src_fd >= 0 and dst_fd >= 0:
        src_size = (await run_fs(os.fstat, src_fd)).st_size
    else:  # a handle without an OS descriptor (CephVfs): sizes and data through the VFS, in the pool
        src_size = (await run_pool(src.vfs.stat, src.handle)).end_of_file
    done = total = 0
    status: int = NtStatus.SUCCESS
    for chunk in copy.chunks:
        if chunk.source_offset + chunk.length > src_size:
            status = NtStatus.INVALID_VIEW_SIZE
            break
        if (lock_conflict(ctx, src, chunk.source_offset, chunk.length, False)
                or lock_conflict(ctx, dst, chunk.target_offset, chunk.length, True)):
            status = int(NtStatus.FILE_LOCK_CONFLICT)
            break
        if src_fd >= 0 and dst_fd >= 0:
            await run_fs(copy_range, src_fd, dst_fd, chunk.source_offset, chunk.target_offset, chunk.length)
        else:
            data = await run_pool(src.vfs.read, src.handle, chunk.source_offset, chunk.length)
            await run_pool(dst.vfs.write, dst.handle, chunk.target_offset, data)
        done += 1
        total += chunk.length
        if src.handle is dst.handle:
            src_size = max(src_size, chunk.target_offset + chunk.length)
    if total:
        dst.written = True
    out = SrvCopychunkResponse(done, 0, total).encode()
    return ioctl_reply(req, out, status, fid)


register_fsctl(CtlCode.SRV_COPYCHUNK)(_copychunk)
register_fsctl(CtlCode.SRV_COPYCHUNK_WRITE)(_copychunk)


def copy_range(src_fd: int, dst_fd: int, src_off: int, dst_off: int, length: int) -> int:
    """Copy ``length`` bytes in the kernel (copy_file_range), else through a buffer; returns bytes."""
    same = os.path.samestat(os.fstat(src_fd), os.fstat(dst_fd))
    overlap = same and src_off < dst_off + length and dst_off < src_off + length
    if not overlap:
        done = 0
        try:
            while done < length:
                n = os.copy_file_range(src_fd, dst_fd, length - done, src_off + done, dst_off + done)
                if n == 0:
                    break  # source shorter than announced: the caller checked the size first
                done += n
            return done
        except OSError as e:
            if e.errno not in _FALLBACK_ERRNOS:
                raise
            src_off, dst_off, length = src_off + done, dst_off + done, length - done
            return done + _copy_buffered(src_fd, dst_fd, src_off, dst_off, length)
    return _copy_buffered(src_fd, dst_fd, src_off, dst_off, length)


def _copy_buffered(src_fd: int, dst_fd: int, src_off: int, dst_off: int, length: int) -> int:
    """Read the whole range, then write it (overlap-safe; ranges are at most one 1 MiB chunk)."""
    buf = bytearray(length)
    mv = memoryview(buf)
    got = 0
    while got < length:
        n = os.preadv(src_fd, [mv[got:]], src_off + got)
        if n == 0:
            break
        got += n
    put = 0
    while put < got:
        put += os.pwritev(dst_fd, [mv[put:got]], dst_off + put)
    return put
