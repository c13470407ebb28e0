"""Change notify and directory-lease breaks at the coordinator ([MS-SMB2] 3.3.5.19, 3.3.4.7).

A CHANGE_NOTIFY on a directory open registers its watch (the first request fixes the filter and
WATCH_TREE, as Windows does) and waits (going async) until a change matches; changes arrive from
every serving process through ``report`` (volume-relative paths), whichever node made them, so a
watch on one node sees a file created through another.

A change inside a leased directory breaks the directory's leases to none ([MS-SMB2] 3.3.4.7, Samba
``contend_dirleases``), except the lease whose key the changing open named as its parent lease key
(the key alone, whichever client holds it: smbtorture smb2.dirlease.set*). The breaks go out after
the request that caused them is answered (Samba sends them through its messaging, so the client
sees the SET_INFO/CLOSE response first; smb2.dirlease.rename acknowledges only after it). A file
written through an open breaks its directory's leases when that open closes (``modified_closed``); a
delete spares the lease of the closing open's parent key only when the open that set the delete
named the same one (``removal_exemption``, Samba's delete token).

Serving processes report changes only while ``watching`` is on (some watch or directory lease
exists on the volume): the coordinator tells them through their sink.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sofs.handlestate import coord_caching as caching
from sofs.handlestate.api import AsyncHook, Change, HandleStateError, WatchRequest, WatchResult
from sofs.handlestate.leases import LeaseRecord
from sofs.handlestate.model import Open
from sofs.handlestate.notify import Watch, fold, split_parent
from sofs.handlestate.oplocks import Caching
from sofs.wire.constants import CompletionFilter, NotifyAction
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.coordinator import VolumeCoordinator

_RH = Caching.R | Caching.H
_CLEANUP = -1
_DELETE_PENDING = -2
_NAMESPACE_ACTIONS = frozenset({NotifyAction.ADDED, NotifyAction.REMOVED, NotifyAction.RENAMED_OLD_NAME,
                                NotifyAction.RENAMED_NEW_NAME, NotifyAction.MODIFIED})


def register_watch(c: VolumeCoordinator, o: Open, completion_filter: int, watch_tree: bool) -> Watch:
    w = c.notify.watch(o.persistent_id, o.path, completion_filter, watch_tree)
    c.set_watching()
    return w


async def watch(c: VolumeCoordinator, req: WatchRequest, hook: AsyncHook | None) -> WatchResult:
    o = c.get(req.persistent_id)
    w = register_watch(c, o, req.completion_filter, req.watch_tree)
    pid = o.persistent_id
    if w.has_news and not c.notify_waiters.get(pid):
        return _answer(*w.take(req.output_length))
    if hook is not None:
        await hook.going_async()
    fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
    entry = (fut, req.output_length)
    c.notify_waiters.setdefault(pid, []).append(entry)
    try:
        status, data = await fut
    finally:
        lst = c.notify_waiters.get(pid)
        if lst is not None:
            try:
                lst.remove(entry)
            except ValueError:
                pass
            if not lst:
                c.notify_waiters.pop(pid, None)
    if status == _CLEANUP:
        return WatchResult(int(NtStatus.NOTIFY_CLEANUP))
    if status == _DELETE_PENDING:
        raise HandleStateError(NtStatus.DELETE_PENDING)
    return _answer(bool(status), data)


def _answer(enum_dir: bool, data: bytes) -> WatchResult:
    if enum_dir:
        return WatchResult(int(NtStatus.NOTIFY_ENUM_DIR))
    return WatchResult(0, data)


def _deliver(c: VolumeCoordinator, w: Watch) -> None:
    waiters = c.notify_waiters.get(w.owner)  # type: ignore[call-overload]
    while waiters and w.has_news:
        fut, out_len = waiters[0]
        if fut.done():
            waiters.pop(0)
            continue
        enum_dir, data = w.take(out_len)
        fut.set_result((int(enum_dir), data))
        waiters.pop(0)


def report(c: VolumeCoordinator, changes: tuple[Change, ...]) -> None:
    for ch in changes:
        origin = c.table.opens_by_persistent.get(ch.origin) if ch.origin else None
        _change(c, ch.path, ch.action, ch.completion_filter, ch.origin, parent_key_of(origin))


def report_removal(c: VolumeCoordinator, change: Change, exempt: bytes | None) -> None:
    """The REMOVED change of a delete on close (its open is gone): ``exempt`` as
    :func:`removal_exemption` decided when the last open closed."""
    _change(c, change.path, change.action, change.completion_filter, change.origin, exempt)


def modified_closed(c: VolumeCoordinator, o: Open) -> None:
    """``o`` wrote to its file and closes: the directory's leases break (Samba ``close_normal_file``
    with ``fsp->fsp_flags.modified``; smb2.dirlease.v2_request). No change-notify event."""
    if c.dir_leases:
        _break_parent_leases(c, o.path, parent_key_of(o))


def parent_key_of(o: Open | None) -> bytes | None:
    """The parent lease key ``o``'s lease names (v2 leases only), whose directory lease its changes
    spare."""
    lease = o.lease if o is not None else None
    return lease.parent_key if lease is not None else None


def removal_exemption(closing_parent_key: bytes | None, setter_parent_key: bytes | None) -> bytes | None:
    """Which directory lease the removal of a file by its last close spares: the closing open's
    parent lease key, when the open that set the delete (disposition, or delete-on-close at its own
    close) named the same key; else none, and every lease of the directory breaks (Samba
    ``close_remove_share_mode``; smb2.dirlease.unlink_*)."""
    if closing_parent_key is not None and closing_parent_key == setter_parent_key:
        return closing_parent_key
    return None


def _change(c: VolumeCoordinator, path: str, action: int, completion_filter: int, origin: int,
            exempt: bytes | None) -> None:
    """Report a change of ``path`` to the watches and directory leases ([MS-FSCC] 2.7.1 NotifyAction,
    CompletionFilter bits the change matches, ``origin``: the open that made it, 0 = none;
    ``exempt``: the lease key whose directory lease the change spares)."""
    if action == NotifyAction.RENAMED_OLD_NAME:
        # held back until the new name arrives: a move to another directory is reported as
        # REMOVED + ADDED, a rename in place as RENAMED_OLD_NAME + RENAMED_NEW_NAME (Windows)
        c.pending_renames[origin] = (path, completion_filter)
        return
    if action == NotifyAction.RENAMED_NEW_NAME:
        # the events of one rename reach a pending CHANGE_NOTIFY together (smb2.notify.mask)
        hit: dict[int, Watch] = {}
        old = c.pending_renames.pop(origin, None)
        if old is not None:
            old_path, old_filter = old
            if fold(split_parent(old_path)[0]) == fold(split_parent(path)[0]):
                old_action = NotifyAction.RENAMED_OLD_NAME
            else:
                old_action, action = NotifyAction.REMOVED, NotifyAction.ADDED
            hit.update((id(w), w) for w in _report(c, old_path, old_action, old_filter, exempt, deliver=False))
        hit.update((id(w), w) for w in _report(c, path, action, completion_filter, exempt, deliver=False))
        if not completion_filter & CompletionFilter.DIR_NAME and c.notify.watches:
            # a renamed file also reports an attribute/creation change under its new name (Samba
            # notify_rename), to watches that do not follow file names
            hit.update((id(w), w) for w in c.notify.report(
                path, NotifyAction.MODIFIED, CompletionFilter.ATTRIBUTES | CompletionFilter.CREATION,
                unless_filter=CompletionFilter.FILE_NAME))
        for w in hit.values():
            _deliver(c, w)
        return
    _report(c, path, action, completion_filter, exempt)


def _report(c: VolumeCoordinator, path: str, action: int, completion_filter: int, exempt: bytes | None,
            deliver: bool = True) -> list[Watch]:
    hit: list[Watch] = []
    if c.notify.watches:
        hit = c.notify.report(path, action, completion_filter)
        if deliver:
            for w in hit:
                _deliver(c, w)
    if c.dir_leases and action in _NAMESPACE_ACTIONS:
        _break_parent_leases(c, path, exempt)
    return hit


def _break_parent_leases(c: VolumeCoordinator, path: str, exempt: bytes | None) -> None:
    parent, _name = split_parent(path)
    key = c.dir_leases.get(fold(parent))
    if key is None:
        return
    doomed = [lease for lease in c.table.leases.of_file(key) if lease.key != exempt and lease.state & _RH]
    if doomed:
        asyncio.get_running_loop().call_soon(_break_dir_leases, c, key, tuple(doomed))


def _break_dir_leases(c: VolumeCoordinator, key: tuple[int, str], doomed: tuple[LeaseRecord, ...]) -> None:
    """After the current request's answer: break ``doomed`` (still leases of directory ``key``)."""
    current = c.table.leases.of_file(key)
    for lease in doomed:
        if lease in current and lease.state & _RH:
            caching.break_holder(c, lease, Caching.NONE, False)


def forget_open(c: VolumeCoordinator, o: Open) -> None:
    """The open closes (or loses its connection): its pending CHANGE_NOTIFYs end with NOTIFY_CLEANUP
    (N3); a directory closing with delete pending ends the other opens' pending ones with
    DELETE_PENDING (smb2.notify.rmdir1-4)."""
    pid = o.persistent_id
    c.pending_renames.pop(pid, None)
    if o.is_directory and not o.stream:
        f = c.table.files.get(o.file_id)
        if f is not None and (o.delete_on_close or f.delete_pending):
            for other in f.opens.values():
                for fut, _len in c.notify_waiters.pop(other.persistent_id, ()):
                    if not fut.done():
                        fut.set_result((_DELETE_PENDING, b""))
    if pid not in c.notify.watches:
        return
    c.notify.remove(pid)
    for fut, _len in c.notify_waiters.pop(pid, ()):
        if not fut.done():
            fut.set_result((_CLEANUP, b""))
    c.set_watching()
