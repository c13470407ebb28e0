"""SMB2 READ, WRITE and FLUSH ([MS-SMB2] 3.3.5.12, 3.3.5.13, 3.3.5.11).

Zero-copy paths:

- READ: the data is ``preadv``'d into a page-aligned pooled buffer (:mod:`sofs.wire.bufpool`) and the reply is
  ``Reply((fixed_part, memoryview))``: the transport (or the signer/encryptor) reads the file data
  straight from that buffer. Reads of at most ``fsio.INLINE_IO_MAX`` bytes run inline with
  ``os.pread`` (cheaper than a thread hop); bigger ones run in the shared pool.
- WRITE: the request's data is a memoryview slice of the received frame; ``os.pwritev`` writes it
  from there (inline when small, in the pool when large).

Position: like Samba, a READ/WRITE leaves FilePositionInformation at offset + bytes transferred.
"""
from __future__ import annotations

import os
import struct
from typing import Any

from sofs.handlers import writetime
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.flags import A
from sofs.handlers.fsio import INLINE_IO_MAX, run_file_write, run_fs, run_pool
from sofs.handlers.opens import Handle, get_open
from sofs.vfs.confine import status_from_errno
from sofs.wire.bufpool import POOL
from sofs.wire.constants import ChannelType, WriteFlags
from sofs.wire.messages.close import FlushRequest, FlushResponse
from sofs.wire.messages.io import (
    READ_DATA_OFFSET,
    READ_FIXED,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from sofs.wire.status import NtStatus

_MAX_OFFSET = 0x7FFFFFFFFFFFFFFF
_MAX_FILE_SIZE = 0xFFFFFFF0000  # NTFS's largest file size: writes may not end beyond it
_FLUSH_BODY = FlushResponse().encode()
_WRITE_THROUGH = int(WriteFlags.WRITE_THROUGH)  # ints: ``int & IntFlag`` builds an enum member per request
_WRITE_ACCESS = int(A.FILE_WRITE_DATA | A.FILE_APPEND_DATA)
_FILE_WRITE_THROUGH = 0x2  # [MS-SMB2] 2.2.13 CreateOptions FILE_WRITE_THROUGH (kept in Handle.mode)
_WRITE_RSP = struct.Struct(WriteResponse.LAYOUT.struct.format + "x")
"""[MS-SMB2] 2.2.22 with its one byte of Buffer, packed without a WriteResponse object."""
_READ_ACCESS = int(A.FILE_READ_DATA | A.FILE_EXECUTE)
_NO_CHANNEL = int(ChannelType.NONE)


def _os_error(e: OSError) -> SmbError:
    return SmbError(status_from_errno(e.errno), str(e))


def _no_channel() -> None:
    raise SmbError(NtStatus.INVALID_PARAMETER, "RDMA channels are not supported")


# --- READ ---------------------------------------------------------------------------------------

def _pread_into(fd: int, buf: Any, length: int, offset: int) -> int:
    mv = memoryview(buf)[:length]
    total = 0
    try:
        while total < length:
            n = os.preadv(fd, [mv[total:]], offset + total)
            if n == 0:
                break
            total += n
    finally:
        mv.release()
    return total


async def handle_read(ctx: Ctx, req: ReadRequest) -> Reply:
    """[MS-SMB2] 3.3.5.12 Receiving an SMB2 READ Request."""
    op = get_open(ctx, req.file_id)
    if op.pipe is not None:  # Handle.is_pipe without the property's call
        from sofs.handlers.pipes import pipe_read

        return await pipe_read(ctx, op, req.length)
    if req.channel != _NO_CHANNEL:
        _no_channel()
    if req.length > ctx.conn.max_read_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, f"read of {req.length} > MaxReadSize")
    if op.is_directory:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "read on a directory")
    if not op.granted_access & _READ_ACCESS:
        raise SmbError(NtStatus.ACCESS_DENIED, "no read access")
    if req.offset > _MAX_OFFSET or req.offset + req.length > _MAX_OFFSET:
        raise SmbError(NtStatus.INVALID_PARAMETER, "offset out of range")
    length, offset = req.length, req.offset
    fd = op.handle.fd
    if op.share.volume.io_conflict(op, offset, length, False):
        raise SmbError(NtStatus.FILE_LOCK_CONFLICT)  # a byte-range lock ([MS-SMB2] 3.3.5.12)
    if length == 0:
        if req.minimum_count:
            raise SmbError(NtStatus.END_OF_FILE)
        op.position = offset
        return reply(ReadResponse.encode_fixed(0))
    data: Any
    try:
        if fd < 0:  # no OS descriptor (CephVfs): the VFS reads, always in the pool
            buf = POOL.get(length)
            n = await run_pool(op.share.vfs.readinto, op.handle, offset, memoryview(buf)[:length])
            data = memoryview(buf)[:n]
        elif length <= INLINE_IO_MAX:
            data = os.pread(fd, length, offset)
            n = len(data)
        else:
            buf = POOL.get(length)
            n = await run_pool(_pread_into, fd, buf, length, offset)
            data = memoryview(buf)[:n]
    except OSError as e:
        raise _os_error(e) from None
    if n == 0 or n < req.minimum_count:
        raise SmbError(NtStatus.END_OF_FILE)
    op.position = offset + n
    ctx.server.stats.bytes_read += n
    return Reply((READ_FIXED.pack(17, READ_DATA_OFFSET, n, 0, 0), data))  # ReadResponse.encode_fixed(n)


# --- WRITE --------------------------------------------------------------------------------------

def _pwrite_all(fd: int, data: Any, offset: int, sync: bool) -> int:
    mv = memoryview(data).cast("B")
    total = 0
    while total < len(mv):
        total += os.pwritev(fd, [mv[total:]], offset + total)
    if sync:
        os.fdatasync(fd)
    return total


def _pwrite_restore(fd: int, data: Any, offset: int, sync: bool,
                    wt: writetime.WriteTime | None) -> tuple[int, int | None]:
    """A pool job: the write, then the pinned write time put back (see :func:`writetime.restore`)."""
    n = _pwrite_all(fd, data, offset, sync)
    return n, (writetime.restore(fd, wt) if n else None)


def _vfs_write_restore(vfs: Any, h: Any, data: Any, offset: int, sync: bool,
                       wt: writetime.WriteTime | None) -> tuple[int, int | None]:
    """:func:`_pwrite_restore` for a handle without an OS descriptor (CephVfs): through the VFS."""
    n = vfs.write(h, offset, data)
    if sync:
        vfs.flush(h)
    return n, (writetime.restore_vfs(vfs, h, wt) if n else None)


async def handle_write(ctx: Ctx, req: WriteRequest) -> Reply:
    """[MS-SMB2] 3.3.5.13 Receiving an SMB2 WRITE Request."""
    op = get_open(ctx, req.file_id)
    if op.pipe is not None:
        from sofs.handlers.pipes import pipe_write

        return await pipe_write(ctx, op, req.data)
    if req.channel != _NO_CHANNEL:
        _no_channel()
    length = len(req.data)
    if length > ctx.conn.max_write_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, f"write of {length} > MaxWriteSize")
    if op.is_directory:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "write on a directory")
    offset = req.offset
    access = op.granted_access
    if not access & _WRITE_ACCESS:
        raise SmbError(NtStatus.ACCESS_DENIED, "no write access")
    if op.share.config.read_only:
        raise SmbError(NtStatus.ACCESS_DENIED, "read-only share")
    # SMB2 has no "write at end of file" offset and APPEND_DATA-only handles write where asked
    # (smbtorture smb2.rw.append / smb2.rw.invalid, as Windows and Samba)
    if offset > _MAX_OFFSET or (length and offset >= _MAX_FILE_SIZE):
        raise SmbError(NtStatus.INVALID_PARAMETER, "offset out of range")
    if length and offset + length >= _MAX_FILE_SIZE:
        # a write that would reach the largest file size: Windows answers DISK_FULL (Samba writes)
        raise SmbError(NtStatus.DISK_FULL, "write beyond the maximum file size")
    vol = op.share.volume
    if vol.io_conflict(op, offset, length, True):
        raise SmbError(NtStatus.FILE_LOCK_CONFLICT)  # a byte-range lock ([MS-SMB2] 3.3.5.13)
    sync = bool(req.flags & _WRITE_THROUGH or op.mode & _FILE_WRITE_THROUGH)
    fd = op.handle.fd
    wt = op.writetime
    if wt is None and length:  # the open's first write (or its write time is not pinned)
        wt = writetime.before_write(op)
    restored = None
    try:
        if fd < 0:  # no OS descriptor (CephVfs): the VFS writes, always in the pool
            n, restored = await run_pool(_vfs_write_restore, op.share.vfs, op.handle, req.data, offset, sync, wt)
        elif length <= INLINE_IO_MAX and not sync:
            n = os.pwrite(fd, req.data, offset)
            if n < length:  # a short write (rare): the rest
                n += _pwrite_all(fd, req.data[n:], offset + n, False)
        else:
            n, restored = await run_file_write(op.local, op.share.vfs, _pwrite_restore, fd, req.data,
                                               offset, sync, wt)
    except OSError as e:
        raise _os_error(e) from None
    op.position = offset + n
    op.written = True
    ctx.server.stats.bytes_written += n
    if n:
        writetime.after_write(op, restored)
    frozen = op.frozen_times.get("last_write_time") if op.frozen_times else None
    if frozen:  # a write time made sticky with SET_INFO -1 survives this write ([MS-FSA] 2.1.4.17)
        await run_fs(op.share.vfs.set_basic_info, op.handle, 0, 0, frozen)
    vol.contend_write(op)  # other opens' read caching breaks to none ([MS-FSA] 2.1.4.12)
    return Reply((_WRITE_RSP.pack(17, 0, n, 0, 0, 0),))


# --- FLUSH --------------------------------------------------------------------------------------

async def handle_flush(ctx: Ctx, req: FlushRequest) -> Reply:
    """[MS-SMB2] 3.3.5.11 Receiving an SMB2 FLUSH Request: fsync in the pool."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe:
        return reply(_FLUSH_BODY)
    if not op.granted_access & (A.FILE_WRITE_DATA | A.FILE_APPEND_DATA):
        # Windows answers ACCESS_DENIED to FLUSH on a handle without write access
        raise SmbError(NtStatus.ACCESS_DENIED, "flush without write access")
    if op.is_directory:
        return reply(_FLUSH_BODY)
    writetime.flush(op.siblings)
    try:
        await run_pool(op.share.vfs.flush, op.handle)
    except OSError as e:
        raise _os_error(e) from None
    return reply(_FLUSH_BODY)


def current_position(op: Handle) -> int:
    return op.position
