"""SMB2 CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19) and the namespace-change reporting every handler calls.

- :func:`handle_change_notify`: validates (directory open, FILE_LIST_DIRECTORY, output buffer at most
  MaxTransactSize), answers at once with buffered changes, else goes async and waits; CANCEL gives
  STATUS_CANCELLED (the dispatcher), closing the directory STATUS_NOTIFY_CLEANUP, too many changes
  or a too small buffer STATUS_NOTIFY_ENUM_DIR.
- :func:`notify_change` (``server.extensions["notify_change"]``): call it after every change of the
  namespace or of a file's metadata made through sofs (create, delete, rename, set-info, write). It
  feeds the watches and breaks the directory leases of the parent ([MS-SMB2] 3.3.4.7: a change inside
  a directory breaks its read caching), except the lease whose key the changing open named as its
  parent lease key (v2).

Local changes made by other processes on the share directory (inotify) are not watched: the cheap
form (one inotify watch per watched directory, tree watches needing one per subdirectory) is left
for later; only changes made through sofs are reported.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.breaks import CachingManager, manager
from sofs.handlers.opens import Open, get_open
from sofs.handlestate.notify import Watch, fold, split_parent
from sofs.handlestate.oplocks import Caching
from sofs.wire.constants import ChangeNotifyFlags, CompletionFilter, NotifyAction
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.messages.notify import ChangeNotifyRequest, ChangeNotifyResponse
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

_CLEANUP = -1
_DELETE_PENDING = -2


async def handle_change_notify(ctx: Ctx, req: ChangeNotifyRequest) -> Reply:
    """[MS-SMB2] 3.3.5.19 Receiving an SMB2 CHANGE_NOTIFY Request."""
    op = get_open(ctx, req.file_id)
    if op.is_pipe or not op.is_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "CHANGE_NOTIFY on a non-directory")
    if not op.granted_access & A.FILE_LIST_DIRECTORY:
        raise SmbError(NtStatus.ACCESS_DENIED, "CHANGE_NOTIFY without FILE_LIST_DIRECTORY")
    if req.output_buffer_length > ctx.conn.max_transact_size:
        raise SmbError(NtStatus.INVALID_PARAMETER, "OutputBufferLength above MaxTransactSize")
    mgr = manager(ctx.server)
    w = mgr.notify.watch(op, op.path, req.completion_filter,
                         bool(req.flags & ChangeNotifyFlags.WATCH_TREE), op.share.name.lower())
    if w.has_news and not mgr.notify_waiters.get(op):
        return _answer(*w.take(req.output_buffer_length))
    await ctx.go_async()
    fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
    entry = (fut, req.output_buffer_length)
    mgr.notify_waiters.setdefault(op, []).append(entry)
    try:
        status, data = await fut
    finally:
        lst = mgr.notify_waiters.get(op)
        if lst is not None:
            try:
                lst.remove(entry)
            except ValueError:
                pass
            if not lst:
                mgr.notify_waiters.pop(op, None)
    if status == _CLEANUP:
        raise SmbError(NtStatus.NOTIFY_CLEANUP)
    if status == _DELETE_PENDING:
        raise SmbError(NtStatus.DELETE_PENDING)
    return _answer(bool(status), data)


def _answer(enum_dir: bool, data: bytes) -> Reply:
    if enum_dir:
        raise SmbError(NtStatus.NOTIFY_ENUM_DIR)
    return reply(ChangeNotifyResponse(data).encode())


def _deliver(mgr: CachingManager, w: Watch) -> None:
    waiters = mgr.notify_waiters.get(w.owner)  # type: ignore[call-overload]
    while waiters and w.has_news:
        fut, out_len = waiters[0]
        if fut.done():
            waiters.pop(0)
            continue
        enum_dir, data = w.take(out_len)
        fut.set_result((int(enum_dir), data))
        waiters.pop(0)


def notify_change(server: ServerState, share: Any, path: str, action: int, completion_filter: int,
                  origin: Open | None = None) -> None:
    """Report a change of ``path`` (share-relative) to the watches and directory leases.

    ``action``: [MS-FSCC] 2.7.1 NotifyAction; ``completion_filter``: the CompletionFilter bits the
    change matches (e.g. FILE_NAME for a file added/removed/renamed, DIR_NAME for a directory,
    ATTRIBUTES / SIZE / LAST_WRITE / SECURITY for metadata); ``origin``: the open that made it."""
    mgr: CachingManager | None = server.extensions.get("sofs.caching")
    if mgr is None:
        return
    share_name = (share if isinstance(share, str) else share.name).lower()
    if origin is not None and action == NotifyAction.MODIFIED and completion_filter & CompletionFilter.SIZE:
        mgr.contend_write(origin)  # SET_INFO end-of-file/allocation breaks read caching ([MS-FSA] 2.1.4.12)
    if action == NotifyAction.RENAMED_OLD_NAME:
        # held back until the new name arrives: a move to another directory is reported as
        # REMOVED + ADDED, a rename in place as RENAMED_OLD_NAME + RENAMED_NEW_NAME (Windows)
        mgr.pending_renames[id(origin)] = (path, completion_filter)
        return
    if action == NotifyAction.RENAMED_NEW_NAME:
        # the events of one rename reach a pending CHANGE_NOTIFY together (old + new name:
        # smb2.notify.mask expects both in one response)
        hit: dict[int, Watch] = {}
        old = mgr.pending_renames.pop(id(origin), None)
        if old is not None:
            old_path, old_filter = old
            if fold(split_parent(old_path)[0]) == fold(split_parent(path)[0]):
                old_action = NotifyAction.RENAMED_OLD_NAME
            else:
                old_action, action = NotifyAction.REMOVED, NotifyAction.ADDED
            hit.update((id(w), w) for w in _report(mgr, share_name, old_path, old_action, old_filter,
                                                    origin, deliver=False))
        hit.update((id(w), w) for w in _report(mgr, share_name, path, action, completion_filter, origin,
                                                deliver=False))
        if not completion_filter & CompletionFilter.DIR_NAME and mgr.notify.watches:
            # a renamed file also reports an attribute/creation change under its new name (Samba
            # notify_rename), to watches that do not follow file names (Windows: mask-change sees
            # it with an ATTRIBUTES filter, rec does not with NAME|ATTRIBUTES|CREATION)
            hit.update((id(w), w) for w in mgr.notify.report(
                path, NotifyAction.MODIFIED, CompletionFilter.ATTRIBUTES | CompletionFilter.CREATION,
                share_name, unless_filter=CompletionFilter.FILE_NAME))
        for w in hit.values():
            _deliver(mgr, w)
        return
    _report(mgr, share_name, path, action, completion_filter, origin)


def _report(mgr: CachingManager, share_name: str, path: str, action: int, completion_filter: int,
            origin: Open | None, deliver: bool = True) -> list[Watch]:
    hit: list[Watch] = []
    if mgr.notify.watches:
        hit = mgr.notify.report(path, action, completion_filter, share_name)
        if deliver:
            for w in hit:
                _deliver(mgr, w)
    if mgr.dir_leases and action in _NAMESPACE_ACTIONS:
        parent, _name = split_parent(path)
        key = mgr.dir_leases.get((share_name, fold(parent)))
        if key is not None:
            _break_dir_leases(mgr, key, origin)
    return hit


_NAMESPACE_ACTIONS = frozenset({NotifyAction.ADDED, NotifyAction.REMOVED, NotifyAction.RENAMED_OLD_NAME,
                                NotifyAction.RENAMED_NEW_NAME, NotifyAction.MODIFIED})


def _break_dir_leases(mgr: CachingManager, key: Any, origin: Open | None) -> None:
    skip = None
    if origin is not None:
        own = origin.ext.get("lease")
        if own is not None and own.parent_key is not None:
            skip = (own.client_guid, own.parent_key)
    for lease in list(mgr.leases.of_file(key)):
        if skip is not None and (lease.client_guid, lease.key) == skip:
            continue
        if lease.state & Caching.R:
            mgr.break_holder(lease, Caching.NONE, False)


def delete_pending_watches(mgr: CachingManager, closing: Open) -> None:
    """A directory became delete-pending: CHANGE_NOTIFYs pending on its other opens end with
    STATUS_DELETE_PENDING (smb2.notify.rmdir1-4)."""
    node = closing.node
    if node is None or not closing.is_directory or not (closing.delete_on_close or node.delete_pending):
        return
    for other in node.opens:
        for fut, _len in mgr.notify_waiters.pop(other, ()):
            if not fut.done():
                fut.set_result((_DELETE_PENDING, b""))


def cleanup_watch(mgr: CachingManager, op: Open) -> None:
    """The directory open closes: pending CHANGE_NOTIFY requests end with NOTIFY_CLEANUP (N3)."""
    if op not in mgr.notify.watches:
        return
    mgr.notify.remove(op)
    for fut, _len in mgr.notify_waiters.pop(op, ()):
        if not fut.done():
            fut.set_result((_CLEANUP, b""))


def report_open_created(server: ServerState, op: Open) -> None:
    notify_change(server, op.share, op.path, NotifyAction.ADDED,
                  CompletionFilter.DIR_NAME if op.is_directory else CompletionFilter.FILE_NAME, op)


def report_open_deleted(server: ServerState, op: Open) -> None:
    notify_change(server, op.share, op.path, NotifyAction.REMOVED,
                  CompletionFilter.DIR_NAME if op.is_directory else CompletionFilter.FILE_NAME, op)
