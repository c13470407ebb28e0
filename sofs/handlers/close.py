"""SMB2 CLOSE ([MS-SMB2] 3.3.5.10) and the one function every teardown path uses to close an open.

Delete semantics ([MS-FSA] 2.1.5.4 Cleanup): an open created with FILE_DELETE_ON_CLOSE marks its file
delete-pending when it closes; the object is removed when the last open of it closes while
delete-pending. A directory that is not empty by then simply stays (as on Windows).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sofs.handlers import writetime
from sofs.handlers.base import Ctx, Reply, reply
from sofs.handlers.fsio import inline_metadata, run_fs, run_inline, run_pool
from sofs.handlers.opens import Handle, get_open
from sofs.handlestate.api import Change
from sofs.vfs.base import FileInfo
from sofs.wire.constants import CloseFlags, NotifyAction
from sofs.wire.fscc_constants import unix_ns_to_filetime
from sofs.wire.messages.close import CloseRequest, CloseResponse

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.close")
_EMPTY_CLOSE = CloseResponse().encode()
_POSTQUERY = int(CloseFlags.POSTQUERY_ATTRIB)  # int: ``int & IntFlag`` builds an enum member
_CLOSE_RSP = CloseResponse.LAYOUT.struct  # [MS-SMB2] 2.2.16, packed without a CloseResponse object
_CLOSE_RSP_SIZE = CloseResponse.LAYOUT.structure_size
_FILE_NAME, _DIR_NAME = 0x001, 0x002  # CompletionFilter of a removed file / directory


async def handle_close(ctx: Ctx, req: CloseRequest) -> Reply:
    """[MS-SMB2] 3.3.5.10 Receiving an SMB2 CLOSE Request."""
    op = get_open(ctx, req.file_id)
    want_attrs = bool(req.flags & _POSTQUERY) and op.pipe is None
    info = await close_open(ctx.server, op, query=want_attrs)
    if info is None:
        return reply(_EMPTY_CLOSE)
    wt = info.last_write_time  # ChangeTime is reported as LastWriteTime (opens.change_time)
    return reply(_CLOSE_RSP.pack(_CLOSE_RSP_SIZE, _POSTQUERY, 0, info.creation_time, info.last_access_time,
                                 wt, wt, info.allocation_size, info.end_of_file, info.attributes))


async def close_open(server: ServerState, op: Handle, query: bool = False) -> FileInfo | None:
    """Close ``op`` (idempotent): the coordinator lets the open go (and says whether its object is
    to be deleted now: delete-on-close, [MS-FSA] 2.1.5.4), then the VFS handle is released.

    Returns the post-close attributes when ``query`` and the object still exists.
    """
    if op.closed:
        return None
    op.closed = True
    server.handles.remove(op)
    if op.tree.open_count:
        op.tree.open_count -= 1
    if op.pipe is not None:
        closer = getattr(op.pipe, "close", None)
        if closer is not None:
            try:
                closer()
            except Exception:
                log.exception("closing pipe %s failed", op.path)
        return None
    vol = op.share.volume
    local = vol.local
    try:
        # the in-process coordinator of a standalone server answers the usual close at once (no
        # coroutine); a cluster node's calls go through its Router, which holds them while this
        # process's opens are reclaimed at a new coordinator (one closed before would come back)
        res = local.close_now(op.pid, op.written) if local is not None and vol.svc is local else None
        if res is None:
            res = await vol.svc.close(op.pid, op.written)
    except Exception:
        log.exception("close of %s at the coordinator failed", op.path)
        res = None
    if op.handle is None:
        return None
    delete = res is not None and res.delete and res.delete_path is None
    touch = op.writetime is not None and writetime.on_close(op)
    vfs = op.share.vfs
    info, deleted = (run_inline(_finish, vfs, op.handle, op.frozen_times, delete, query, touch)
                     if inline_metadata(vfs) else
                     await run_pool(_finish, vfs, op.handle, op.frozen_times, delete, query, touch))
    if res is not None and res.delete:
        change = None
        if res.delete_path is not None:
            base = vol.to_share(op.share, res.delete_path)
            if base is not None:
                await run_fs(_delete_path, op.share.vfs, base)
                change = _removed(op, base)
        elif deleted:
            change = _removed(op, op.path + (":" + op.stream if op.stream else ""))
        await vol.svc.deleted(op.vfile_id, None if res.delete_path is not None else res.stream, change)
    return info


def _removed(op: Handle, path: str) -> Change | None:
    """The REMOVED change a delete-on-close makes (reported only while someone watches)."""
    vol = op.share.volume
    if not vol.watching and vol.local is not None:
        return None
    return Change(vol.to_volume(op.share, path), NotifyAction.REMOVED,
                  _DIR_NAME if op.is_directory and not op.stream else _FILE_NAME, op.pid)


def _delete_path(vfs: Any, path: str) -> None:
    """Remove ``path`` (a file whose delete was pending on its streams' opens)."""
    from sofs.wire.fscc_constants import CreateDisposition

    try:
        h, _ = vfs.open(path, CreateDisposition.OPEN, 0, 0)
    except Exception as e:  # noqa: BLE001 - already gone: nothing to do
        log.debug("pending delete of %s: %s", path, e)
        return
    try:
        vfs.delete(h)
    except Exception as e:  # noqa: BLE001 - e.g. a directory that is not empty
        log.debug("pending delete of %s failed: %s", path, e)
    finally:
        vfs.close(h)


def _finish(vfs: Any, h: Any, frozen: dict[str, int] | None, delete: bool,
            query: bool, touch: bool = False) -> tuple[FileInfo | None, bool]:
    info: FileInfo | None = None
    try:
        if touch and not delete and not (frozen and frozen.get("last_write_time")):
            # the delayed write-time update of this open's writes happens at close at the latest
            vfs.set_basic_info(h, last_write_time=unix_ns_to_filetime(time.time_ns()))
        if frozen:
            # sticky times set through SET_INFO survive the writes made through this handle
            vfs.set_basic_info(h, last_write_time=frozen.get("last_write_time", 0),
                               last_access_time=frozen.get("last_access_time", 0))
        if delete:
            try:
                vfs.delete(h)
            except Exception as e:  # noqa: BLE001 - e.g. DIRECTORY_NOT_EMPTY: the object stays
                log.debug("delete-on-close of %s failed: %s", h.path, e)
                delete = False
        if query and not delete:
            info = vfs.stat(h)
    finally:
        vfs.close(h)
    return info, delete
