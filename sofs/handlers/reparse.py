"""Symbolic-link reparse points over SMB ([MS-FSCC] 2.1.2.4, [MS-FSA] 2.1.5.10.17 / 2.1.5.10.37,
[MS-SMB2] 2.2.2.2.1, 3.3.5.9).

| FSCTL                  | behaviour                                                                  |
|------------------------|----------------------------------------------------------------------------|
| SET_REPARSE_POINT      | IO_REPARSE_TAG_SYMLINK: the empty file / empty directory (or link) opened   |
|                        | becomes a symbolic link (:func:`sofs.vfs.links.make_link`); needs          |
|                        | FILE_WRITE_DATA or FILE_WRITE_ATTRIBUTES; a relative target leaving the     |
|                        | share → ACCESS_DENIED; other tags → IO_REPARSE_TAG_NOT_HANDLED (sofs keeps   |
|                        | no other kind of reparse point); a malformed buffer → IO_REPARSE_DATA_INVALID|
| GET_REPARSE_POINT      | a link opened with FILE_OPEN_REPARSE_POINT → its REPARSE_DATA_BUFFER;      |
|                        | anything else → NOT_A_REPARSE_POINT; a short output → BUFFER_TOO_SMALL      |
| DELETE_REPARSE_POINT   | NOT_SUPPORTED (a link is removed by deleting it)                           |

A CREATE that meets a link answers STATUS_STOPPED_ON_SYMLINK with the Symbolic Link Error Response
(:func:`stopped_on_symlink`), wrapped in an SMB2 ERROR Context on 3.1.1.
"""
from __future__ import annotations

from sofs.handlers.base import Ctx, SmbError
from sofs.handlers.fsio import run_fs
from sofs.handlers.ioctl import register_fsctl
from sofs.handlers.opens import Handle, get_open
from sofs.vfs.links import StoppedOnSymlink, make_link, read_link
from sofs.wire.constants import CtlCode
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.messages.ioctl import IoctlRequest
from sofs.wire.messages.misc import ErrorResponse
from sofs.wire.reparse import (
    decode_symlink_reparse,
    encode_symlink_reparse,
    symlink_error_data,
)
from sofs.wire.status import NtStatus


def stopped_on_symlink(e: StoppedOnSymlink, dialect: int) -> SmbError:
    """[MS-SMB2] 3.3.5.9: STATUS_STOPPED_ON_SYMLINK with the Symbolic Link Error Response."""
    count, data = symlink_error_data(e.target, e.unparsed_length, dialect)
    return SmbError(NtStatus.STOPPED_ON_SYMLINK, str(e), body=ErrorResponse(count, data).encode())


def _file_open(ctx: Ctx, req: IoctlRequest) -> Handle:
    op = get_open(ctx, req.file_id)
    if op.is_pipe or op.handle is None:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "reparse FSCTL on a pipe")
    return op


@register_fsctl(CtlCode.GET_REPARSE_POINT)
async def fsctl_get_reparse_point(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-FSA] 2.1.5.10.17 FSCTL_GET_REPARSE_POINT."""
    op = _file_open(ctx, req)
    if not getattr(op.handle, "is_link", False):
        raise SmbError(NtStatus.NOT_A_REPARSE_POINT)
    link = await run_fs(read_link, op.vfs, op.handle)
    out = encode_symlink_reparse(link.target)
    if req.max_output_response < len(out):
        raise SmbError(NtStatus.BUFFER_TOO_SMALL, f"reparse buffer needs {len(out)} bytes")
    return out


@register_fsctl(CtlCode.SET_REPARSE_POINT)
async def fsctl_set_reparse_point(ctx: Ctx, req: IoctlRequest) -> bytes:
    """[MS-FSA] 2.1.5.10.37 FSCTL_SET_REPARSE_POINT (symbolic links only)."""
    op = _file_open(ctx, req)
    data = bytes(req.input)
    if not op.granted_access & (A.FILE_WRITE_DATA | A.FILE_WRITE_ATTRIBUTES):
        raise SmbError(NtStatus.ACCESS_DENIED, "FSCTL_SET_REPARSE_POINT needs write access")
    if op.share.config.read_only:
        raise SmbError(NtStatus.MEDIA_WRITE_PROTECTED, "read-only share")
    try:
        target = decode_symlink_reparse(data)  # symlinks only: another tag is IO_REPARSE_TAG_NOT_HANDLED
    except WireError as e:
        raise SmbError(e.status, str(e)) from None
    await run_fs(make_link, op.vfs, op.handle, target)
    return b""


@register_fsctl(CtlCode.DELETE_REPARSE_POINT)
async def fsctl_delete_reparse_point(ctx: Ctx, req: IoctlRequest) -> bytes:
    _file_open(ctx, req)
    raise SmbError(NtStatus.NOT_SUPPORTED, "FSCTL_DELETE_REPARSE_POINT: delete the link instead")
