"""SMB2 SET_INFO ([MS-SMB2] 3.3.5.21): file classes, security; file-system classes and quotas are
refused as Windows does on a share (ACCESS_DENIED / NOT_SUPPORTED).

Per class, [MS-FSA] 2.1.5.14: the access the open needs, the buffer size it must have
(INFO_LENGTH_MISMATCH below it), then the change through the VFS in the thread pool.
Timestamps: 0 = no change; -1 = stop updating this time automatically for this handle (the value
is re-applied at close); -2 = resume ([MS-FSCC] 2.4.7). Rename is in :mod:`sofs.handlers.rename`.
"""
from __future__ import annotations

from typing import Any

from sofs.handlers import writetime
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Handle, get_open, notify
from sofs.handlestate.api import HandleStateError
from sofs.security.access import AccessDenied
from sofs.security.files import set_security
from sofs.security.token import token_of_session
from sofs.vfs.base import EaEntry as VfsEa
from sofs.wire import fscc
from sofs.wire.constants import InfoType, NotifyAction
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import DispositionExFlags as DX
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.fscc_constants import FileInfoClass as FIC
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.messages.query import SetInfoRequest, SetInfoResponse
from sofs.wire.status import NtStatus

_BODY = SetInfoResponse().encode()
_MIN_SIZE: dict[int, int] = {
    FIC.FileBasicInformation: 36, FIC.FileDispositionInformation: 1,
    FIC.FileDispositionInformationEx: 4, FIC.FileRenameInformation: 20,
    FIC.FileRenameInformationEx: 20, FIC.FileLinkInformation: 20, FIC.FileEndOfFileInformation: 8,
    FIC.FileAllocationInformation: 8, FIC.FilePositionInformation: 8, FIC.FileModeInformation: 4,
    FIC.FileFullEaInformation: 9, FIC.FileValidDataLengthInformation: 8,
}
_MASK64 = 0xFFFFFFFFFFFFFFFF
# CompletionFilter bits a change of each class matches ([MS-FSCC] 2.7.1 via [MS-SMB2] 2.2.35)
_CHANGE_FILTER: dict[int, int] = {
    FIC.FileBasicInformation: 0x004 | 0x010 | 0x020 | 0x040,  # ATTRIBUTES LAST_WRITE LAST_ACCESS CREATION
    FIC.FileEndOfFileInformation: 0x008, FIC.FileAllocationInformation: 0x008,  # SIZE
    FIC.FileFullEaInformation: 0x080,  # EA
}
_VALID_MODE = 0x103E
_ATTR_SETTABLE = int(FA.READONLY | FA.HIDDEN | FA.SYSTEM | FA.DIRECTORY | FA.ARCHIVE | FA.NORMAL
                     | FA.TEMPORARY | FA.OFFLINE | FA.NOT_CONTENT_INDEXED | FA.SPARSE_FILE
                     | FA.ENCRYPTED | FA.COMPRESSED | FA.REPARSE_POINT | FA.INTEGRITY_STREAM
                     | FA.NO_SCRUB_DATA)


def _need(op: Handle, mask: int) -> None:
    if not op.granted_access & mask:
        raise SmbError(NtStatus.ACCESS_DENIED, f"needs access {mask:#x}")


async def handle_set_info(ctx: Ctx, req: SetInfoRequest) -> Reply:
    """[MS-SMB2] 3.3.5.21 Receiving an SMB2 SET_INFO Request."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe:
        raise SmbError(NtStatus.NOT_SUPPORTED, "SET_INFO on a pipe")
    it = req.info_type
    if it == InfoType.FILE:
        await _set_file(ctx, op, req.file_info_class, req.buffer)
        return reply(_BODY)
    if it == InfoType.SECURITY:
        await _set_security(ctx, op, req.additional_information, req.buffer)
        return reply(_BODY)
    if it == InfoType.FILESYSTEM:
        if op.share.config.read_only:
            raise SmbError(NtStatus.ACCESS_DENIED)
        raise SmbError(NtStatus.NOT_SUPPORTED, "setting file-system information")
    if it == InfoType.QUOTA:
        raise SmbError(NtStatus.NOT_SUPPORTED, "quotas")
    raise SmbError(NtStatus.INVALID_PARAMETER, f"InfoType {it}")


async def _set_file(ctx: Ctx, op: Handle, cls: int, buf: Any) -> None:
    minimum = _MIN_SIZE.get(cls)
    if minimum is None:
        raise SmbError(NtStatus.INVALID_INFO_CLASS, f"file class {cls} cannot be set")
    if len(buf) < minimum:
        raise SmbError(NtStatus.INFO_LENGTH_MISMATCH)
    codec: Any = fscc.FILE_INFO_TYPES[cls]
    try:
        info = codec.decode(buf)
    except WireError as e:
        raise SmbError(e.status, str(e)) from None
    if cls in (FIC.FileRenameInformation, FIC.FileRenameInformationEx, FIC.FileLinkInformation):
        from sofs.handlers.rename import set_link, set_rename

        if cls == FIC.FileLinkInformation:
            await set_link(ctx, op, info)
        else:
            await set_rename(ctx, op, info)
        return
    if cls == FIC.FilePositionInformation:
        op.position = info.current_byte_offset
        return
    if cls == FIC.FileModeInformation:
        if info.mode & ~_VALID_MODE or (info.mode & 0x30) == 0x30:
            raise SmbError(NtStatus.INVALID_PARAMETER, "mode")
        op.mode = (op.mode & 0x1000) | (info.mode & ~0x1000)
        return
    if op.share.config.read_only:
        raise SmbError(NtStatus.ACCESS_DENIED, "read-only share")
    vfs = op.share.vfs
    await _apply(ctx, op, cls, info, vfs)
    change = _CHANGE_FILTER.get(cls)
    if change:
        notify(ctx.server, op, NotifyAction.MODIFIED, change)


async def _apply(ctx: Ctx, op: Handle, cls: int, info: Any, vfs: Any) -> None:
    if cls == FIC.FileBasicInformation:
        await _set_basic(op, info)
    elif cls == FIC.FileDispositionInformation:
        await set_delete_pending(op, info.delete_pending, False, ctx)
    elif cls == FIC.FileDispositionInformationEx:
        await _set_disposition_ex(op, info.flags, ctx)
    elif cls == FIC.FileEndOfFileInformation:
        _need(op, A.FILE_WRITE_DATA)
        if op.is_directory:
            raise SmbError(NtStatus.INVALID_PARAMETER, "directory")
        if info.end_of_file < 0:
            raise SmbError(NtStatus.INVALID_PARAMETER, "negative size")
        await run_fs(vfs.set_end_of_file, op.handle, info.end_of_file)
        writetime.repin(op.siblings)
        op.share.volume.contend_write(op)
    elif cls == FIC.FileAllocationInformation:
        _need(op, A.FILE_WRITE_DATA)
        if op.is_directory:
            raise SmbError(NtStatus.INVALID_PARAMETER, "directory")
        if info.allocation_size < 0:
            raise SmbError(NtStatus.INVALID_PARAMETER, "negative size")
        await run_fs(vfs.set_allocation_size, op.handle, info.allocation_size)
        op.share.volume.contend_write(op)  # a size change breaks read caching ([MS-FSA] 2.1.4.12)
    elif cls == FIC.FileFullEaInformation:
        _need(op, A.FILE_WRITE_EA)
        eas = [VfsEa(e.name.encode("latin-1"), bytes(e.value), e.flags) for e in info.eas]
        await run_fs(vfs.set_eas, op.handle, eas)
    elif cls == FIC.FileValidDataLengthInformation:
        _need(op, A.FILE_WRITE_DATA)
        raise SmbError(NtStatus.PRIVILEGE_NOT_HELD, "SeManageVolumePrivilege")


async def _set_basic(op: Handle, info: Any) -> None:
    """FileBasicInformation ([MS-FSA] 2.1.5.14.2)."""
    _need(op, A.FILE_WRITE_ATTRIBUTES)
    attrs = info.file_attributes
    if attrs:
        if attrs & ~_ATTR_SETTABLE:
            raise SmbError(NtStatus.INVALID_PARAMETER, "attributes")
        if attrs & FA.DIRECTORY and not op.is_directory:
            raise SmbError(NtStatus.INVALID_PARAMETER, "DIRECTORY on a file")
        if attrs & FA.TEMPORARY and op.is_directory:
            raise SmbError(NtStatus.INVALID_PARAMETER, "TEMPORARY on a directory")
        attrs &= ~int(FA.DIRECTORY | FA.SPARSE_FILE | FA.COMPRESSED | FA.REPARSE_POINT
                      | FA.ENCRYPTED | FA.INTEGRITY_STREAM | FA.NO_SCRUB_DATA)
        attrs = attrs or int(FA.NORMAL)
    times = {"creation_time": info.creation_time, "last_access_time": info.last_access_time,
             "last_write_time": info.last_write_time, "change_time": info.change_time}
    apply: dict[str, int] = {}
    freeze: list[str] = []
    frozen = op.frozen_times
    if frozen is None:
        frozen = op.frozen_times = {}
    for key, value in times.items():
        v = value & _MASK64
        if v == _MASK64:
            freeze.append(key)
        elif v == _MASK64 - 1:
            frozen.pop(key, None)
        elif value < 0:
            raise SmbError(NtStatus.INVALID_PARAMETER, "negative time")
        elif v:
            # [MS-FSA] 2.1.5.14.2: a time set explicitly is the user's (Open.UserSet*Time): later writes
            # through this handle do not move it (a copy's SET_INFO before its last WRITE, issue 18)
            apply[key] = v
            frozen[key] = v
    vfs = op.share.vfs
    writetime.flush(op.siblings)
    if "last_write_time" in apply or "last_write_time" in freeze:
        writetime.cancel_all(op.siblings)
    if freeze:
        current = await run_fs(vfs.stat, op.handle)
        for key in freeze:
            frozen[key] = apply.get(key, getattr(current, key))
    await run_fs(_basic, vfs, op.handle, apply, attrs)


def _basic(vfs: Any, h: Any, times: dict[str, int], attrs: int) -> None:
    vfs.set_basic_info(h, creation_time=times.get("creation_time", 0),
                       last_access_time=times.get("last_access_time", 0),
                       last_write_time=times.get("last_write_time", 0),
                       change_time=times.get("change_time", 0), attributes=attrs)


async def set_delete_pending(op: Handle, pending: bool, ignore_readonly: bool, ctx: Ctx | None = None) -> None:
    """FileDispositionInformation ([MS-FSA] 2.1.5.14.3)."""
    _need(op, A.DELETE)
    if not op.pid:
        raise SmbError(NtStatus.INVALID_PARAMETER)
    if pending:
        vfs = op.share.vfs
        info = await run_fs(vfs.stat, op.handle)
        if info.attributes & FA.READONLY and not ignore_readonly:
            raise SmbError(NtStatus.CANNOT_DELETE, "read-only")
        if op.is_directory and not op.stream and not await run_fs(vfs.is_directory_empty, op.handle):
            raise SmbError(NtStatus.DIRECTORY_NOT_EMPTY)
    try:
        await op.share.volume.svc.set_delete_pending(op.pid, pending, ctx)
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None


async def _set_disposition_ex(op: Handle, flags: int, ctx: Ctx) -> None:
    """FileDispositionInformationEx ([MS-FSCC] 2.4.12): ON_CLOSE sets the per-open flag;
    POSIX_SEMANTICS is treated as plain delete-pending (the name goes with the last close)."""
    if flags & DX.ON_CLOSE:
        _need(op, A.DELETE)
        value = bool(flags & DX.DELETE)
        try:
            await op.share.volume.svc.set_delete_on_close(op.pid, value, ctx)
        except HandleStateError as e:
            raise SmbError(e.status, e.message) from None
        op.delete_on_close = value
        return
    await set_delete_pending(op, bool(flags & DX.DELETE), bool(flags & DX.IGNORE_READONLY_ATTRIBUTE), ctx)


async def _set_security(ctx: Ctx, op: Handle, info: int, buf: Any) -> None:
    """[MS-SMB2] 3.3.5.21.3: merge the selected parts of the new descriptor into the stored one."""
    if info & (SI.OWNER | SI.GROUP | SI.LABEL):
        _need(op, A.WRITE_OWNER)
    if info & SI.DACL:
        _need(op, A.WRITE_DAC)
    if info & SI.SACL:
        _need(op, A.ACCESS_SYSTEM_SECURITY)
    if op.share.config.read_only:
        raise SmbError(NtStatus.ACCESS_DENIED, "read-only share")
    try:
        await run_fs(set_security, op.share.vfs, op.handle, token_of_session(ctx.session), op.is_directory,
                     info, bytes(buf))
    except AccessDenied as e:
        raise SmbError(e.status, str(e)) from None
    notify(ctx.server, op, NotifyAction.MODIFIED, 0x100)  # SECURITY
