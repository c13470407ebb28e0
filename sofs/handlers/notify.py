"""SMB2 CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19): validated here, answered by the volume's coordinator.

The coordinator keeps the watch (the first request fixes the filter and WATCH_TREE), buffers changes
reported by every serving process of the volume, and answers at once with buffered changes or when
one arrives (going async meanwhile); closing the directory ends a pending request with
STATUS_NOTIFY_CLEANUP, too many changes or a too small buffer with STATUS_NOTIFY_ENUM_DIR, a
directory becoming delete-pending with STATUS_DELETE_PENDING. CANCEL gives STATUS_CANCELLED (the
dispatcher). Changes are reported by the handlers through :func:`sofs.handlers.opens.notify`.

Local changes made by other processes on the share directory (inotify) are not watched: only changes
made through sofs are reported.
"""
from __future__ import annotations

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.opens import get_open
from sofs.handlestate.api import HandleStateError, WatchRequest
from sofs.wire.constants import ChangeNotifyFlags
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.messages.notify import ChangeNotifyRequest, ChangeNotifyResponse
from sofs.wire.status import NtStatus


async def handle_change_notify(ctx: Ctx, req: ChangeNotifyRequest) -> Reply:
    """[MS-SMB2] 3.3.5.19 Receiving an SMB2 CHANGE_NOTIFY Request."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe or not op.is_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "CHANGE_NOTIFY on a non-directory")
    if not op.granted_access & A.FILE_LIST_DIRECTORY:
        raise SmbError(NtStatus.ACCESS_DENIED, "CHANGE_NOTIFY without FILE_LIST_DIRECTORY")
    if req.output_buffer_length > ctx.conn.max_transact_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, "OutputBufferLength above MaxTransactSize")
    tree = bool(req.flags & ChangeNotifyFlags.WATCH_TREE)
    if op.watch is None:
        op.watch = (req.completion_filter, tree)
    try:
        res = await op.share.volume.svc.watch(
            WatchRequest(op.pid, req.completion_filter, tree, req.output_buffer_length), ctx)
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None
    if res.status:
        raise SmbError(res.status)
    return reply(ChangeNotifyResponse(res.data).encode())
