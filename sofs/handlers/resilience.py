"""FSCTL_LMR_REQUEST_RESILIENCY ([MS-SMB2] 3.3.5.15.9): make an open resilient.

A resilient open survives a network failure like a durable one (kept disconnected for the requested
timeout, reclaimed with DHnC), and its LOCK requests use lock sequence replay on SMB 2.1. As on
Windows: not on SMB 2.0.2 (INVALID_DEVICE_REQUEST), input shorter than NETWORK_RESILIENCY_REQUEST
is INVALID_PARAMETER, a timeout above the 5-minute maximum is INVALID_PARAMETER, 0 means the
default (2 minutes); the response carries no output. Resilient opens are never persistent: they do
not survive a server restart.
"""
from __future__ import annotations

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.handlers.durable_state import mark, pid_of, volume
from sofs.handlers.ioctl import ioctl_reply, register_fsctl
from sofs.handlers.opens import get_open
from sofs.handlestate.model import Open as HOpen
from sofs.wire.constants import CtlCode
from sofs.wire.errors import WireError
from sofs.wire.fsctl import NetworkResiliencyRequest
from sofs.wire.messages.ioctl import IoctlRequest
from sofs.wire.status import NtStatus

MAX_RESILIENCY_TIMEOUT_MS = 300_000
DEFAULT_RESILIENCY_TIMEOUT_MS = 120_000


@register_fsctl(CtlCode.LMR_REQUEST_RESILIENCY)
async def fsctl_request_resiliency(ctx: Ctx, req: IoctlRequest) -> Reply:
    if ctx.dialect < 0x0210:
        raise SmbError(NtStatus.INVALID_DEVICE_REQUEST, "resiliency needs SMB 2.1")
    op = get_open(ctx, req.file_id)
    if op.is_pipe or op.node is None:
        raise SmbError(NtStatus.INVALID_PARAMETER, "resiliency on a pipe")
    try:
        rq = NetworkResiliencyRequest.decode(bytes(req.input))
    except WireError as e:
        raise SmbError(NtStatus.INVALID_PARAMETER, str(e)) from None
    if rq.timeout > MAX_RESILIENCY_TIMEOUT_MS:
        raise SmbError(NtStatus.INVALID_PARAMETER, "resiliency timeout above the maximum")
    timeout = rq.timeout or DEFAULT_RESILIENCY_TIMEOUT_MS
    v = volume(ctx.server, op.share)
    hop: HOpen | None = op.ext.get("durable")
    if hop is None:
        assert ctx.session is not None and ctx.tree is not None
        user = ctx.session.user
        hop = v.table.add_open(HOpen(
            persistent_id=pid_of(op.file_id), volatile_id=int.from_bytes(op.file_id[8:], "little"),
            file_id=op.node.key[1], path=op.path, stream=op.stream, is_directory=op.is_directory,
            granted_access=op.granted_access, share_access=op.share_access, create_options=op.create_options,
            session_id=ctx.session.session_id, tree_id=ctx.tree.tree_id, client_guid=ctx.conn.client_guid,
            owner_sid=str(getattr(user, "sid", "") or getattr(user, "name", "")), durable=False,
            persistent=False, durable_timeout_ms=timeout, oplock_level=op.oplock_level), check=False)
        mark(op, hop)
        v.live[hop.persistent_id] = op
    elif not hop.persistent:
        hop.durable_timeout_ms = timeout
    hop.resilient = True  # runtime only: a persistent open already outlives a restart
    op.ext["resilient"] = True
    return ioctl_reply(req, b"", file_id=op.file_id)
