"""Named pipes on IPC$ ([MS-SMB2] 3.3.5.9 for pipe opens, 3.3.5.12/13 READ/WRITE on pipes,
[MS-FSCC] 2.3.49 FSCTL_PIPE_TRANSCEIVE): the SMB side of :mod:`sofs.rpc.pipe`.

Public: ``await pipe_transceive(ctx, file_id, data, max_out) -> (status, bytes)`` for the lead's
IOCTL handler. The share list srvsvc reports comes from ``server.shares`` (+ IPC$), with the
SHI1005 flags of each share's configuration.
"""
from __future__ import annotations

from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.opens import Handle, get_open
from sofs.handlers.scaleout import share_type
from sofs.wire.codec import Buffer
from sofs.wire.fscc_constants import FILE_GENERIC_READ, FILE_GENERIC_WRITE, map_generic
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.io import ReadResponse, WriteResponse
from sofs.wire.status import NtStatus

_STYPE_IPC_SPECIAL = 0x80000003
_SHI1005_ABE = 0x00000800
_SHI1005_CA = 0x00004000
_SHI1005_ENCRYPT = 0x00008000


def share_infos(server: Any) -> list[tuple[str, int, str, int]]:
    """(name, type, comment, SHI1005 flags) of every share, for NetShareEnum."""
    out: list[tuple[str, int, str, int]] = []
    clustered = bool(server.node_name)
    for share in server.shares.values():
        cfg = share.config
        flags = 0
        if cfg.access_based_enumeration:
            flags |= _SHI1005_ABE
        if cfg.continuously_available:
            flags |= _SHI1005_CA
        if cfg.encrypt_data:
            flags |= _SHI1005_ENCRYPT
        out.append((cfg.name, share_type(cfg, clustered), cfg.comment, flags))
    out.append(("IPC$", _STYPE_IPC_SPECIAL, "IPC Service", 0))
    return out


def _new_pipe(ctx: Ctx, name: str) -> Any:
    from sofs.auth.ntlm import NtlmAcceptor
    from sofs.rpc.pipe import open_pipe

    cfg = ctx.server.config
    users = getattr(ctx.server.acceptor, "userdb", None)
    return open_pipe(name, shares=lambda: share_infos(ctx.server), server_name=cfg.server_name,
                     domain_name=cfg.domain, acceptor=NtlmAcceptor(users) if users is not None else None)


async def create_pipe(ctx: Ctx, req: CreateRequest) -> Reply:
    """CREATE on IPC$: open an RPC pipe endpoint (OBJECT_NAME_NOT_FOUND for unknown pipes)."""
    tree, session = ctx.tree, ctx.session
    assert tree is not None and session is not None
    pipe = _new_pipe(ctx, req.name)
    if pipe is None:
        raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, f"no pipe {req.name!r}")
    handles = ctx.server.handles
    granted = map_generic(req.desired_access) & 0x001F01FF or (FILE_GENERIC_READ | FILE_GENERIC_WRITE)
    op = Handle(file_id=handles.new_file_id(handles.new_pipe_id()), pid=0, session=session, tree=tree,
              share=tree.share,
              path=req.name, pipe=pipe, granted_access=granted, share_access=req.share_access,
              create_options=req.create_options, create_disposition=req.create_disposition)
    handles.add(op)
    tree.open_count += 1
    ctx.set_file_id(op.file_id)
    rsp = CreateResponse(create_action=1, file_attributes=int(FA.NORMAL),
                         file_id=op.file_id, allocation_size=4096)
    return reply(rsp.encode())


async def pipe_read(ctx: Ctx, op: Handle, length: int) -> Reply:
    """READ on a pipe: the next (part of a) message; PIPE_EMPTY → nothing queued."""
    data, status = op.pipe.read(length)
    if status not in (NtStatus.SUCCESS, NtStatus.BUFFER_OVERFLOW):
        raise SmbError(status)
    return Reply((ReadResponse.encode_fixed(len(data)), data), status)


async def pipe_write(ctx: Ctx, op: Handle, data: Buffer) -> Reply:
    """WRITE on a pipe: feed the RPC server (which answers synchronously)."""
    n = op.pipe.write(data)
    return reply(WriteResponse(count=n).encode())


async def pipe_transceive(ctx: Ctx, file_id: bytes | tuple[int, int], data: Buffer,
                          max_out: int) -> tuple[int, bytes]:
    """FSCTL_PIPE_TRANSCEIVE for the IOCTL handler: (NTSTATUS, output bytes).

    FILE_CLOSED for an unknown FileId; INVALID_DEVICE_REQUEST when the open is not a pipe.
    """
    op = get_open(ctx, file_id)
    if not op.is_pipe:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "not a pipe")
    out, status = op.pipe.transceive(data, max_out)
    return int(status), bytes(out)


def _register_fsctls() -> None:
    from sofs.handlers.ioctl import ioctl_reply, register_fsctl
    from sofs.wire.constants import CtlCode
    from sofs.wire.messages.ioctl import IoctlRequest

    @register_fsctl(CtlCode.PIPE_TRANSCEIVE)
    async def _transceive(ctx: Ctx, req: IoctlRequest) -> Reply:
        status, out = await pipe_transceive(ctx, req.file_id, req.input, req.max_output_response)
        return ioctl_reply(req, out, status, file_id=ctx.file_id(bytes(req.file_id)))


_register_fsctls()
