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
from sofs.handlers.ioctl import ioctl_reply, register_fsctl
from sofs.handlers.opens import get_open
from sofs.handlestate.api import HandleStateError
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
    if op.is_pipe or not op.pid:
        raise SmbError(NtStatus.INVALID_PARAMETER, "resiliency on a pipe")
    try:
        rq = NetworkResiliencyRequest.decode(bytes(req.input))
    except WireError as e:
        raise SmbError(NtStatus.INVALID_PARAMETER, str(e)) from None
    if rq.timeout > MAX_RESILIENCY_TIMEOUT_MS:
        raise SmbError(NtStatus.INVALID_PARAMETER, "resiliency timeout above the maximum")
    timeout = rq.timeout or DEFAULT_RESILIENCY_TIMEOUT_MS
    try:
        await op.share.volume.svc.set_resilient(op.pid, timeout)
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None
    op.resilient = True
    return ioctl_reply(req, b"", file_id=op.file_id)
