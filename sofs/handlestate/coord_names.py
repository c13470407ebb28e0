"""Rename, hard link and delete dispositions at the coordinator ([MS-FSA] 2.1.5.14.3, .10, .11).

The serving process does the namespace change on the volume; before it, the coordinator breaks the
handle caching that would keep the old name alive (waiting for the acknowledgments) and refuses what
other opens forbid: open files below a renamed directory, an open target, the destination
directory's share mode. After it, ``renamed`` moves every open of the volume to the new path and
tells the serving processes holding them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sofs.handlestate import coord_caching as caching
from sofs.handlestate.api import AsyncHook, HandleStateError, RenameCheck
from sofs.handlestate.apply import moved_path
from sofs.handlestate.coord_notify import parent_key_of
from sofs.handlestate.model import Open, path_key, stream_key
from sofs.handlestate.notify import fold
from sofs.handlestate.oplocks import Caching
from sofs.handlestate.rules import check_share_access
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import ShareAccess as S
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.handlestate.coordinator import VolumeCoordinator

_ADD_FILE = int(A.FILE_ADD_FILE)
_SHARE_RW = int(S.READ | S.WRITE)


async def set_delete_on_close(c: VolumeCoordinator, pid: int, value: bool, hook: AsyncHook | None) -> None:
    """FileDispositionInformationEx ON_CLOSE: the flag of this open ([MS-FSCC] 2.4.12)."""
    c.check_fence()
    o = c.get(pid)
    if value:
        await caching.break_handle_caching(c, o, hook)
    c.table.set_delete_on_close(pid, value)
    if o.persistent:
        await c.commit()


async def set_delete_pending(c: VolumeCoordinator, pid: int, value: bool, hook: AsyncHook | None) -> None:
    """FileDispositionInformation: the file (or stream) is deleted when its last open closes."""
    c.check_fence()
    o = c.get(pid)
    if value:
        await caching.break_handle_caching(c, o, hook)
        c.delete_tokens[(o.file_id, o.stream_key)] = parent_key_of(o)  # the last setter's, as Samba
    else:
        c.delete_tokens.pop((o.file_id, o.stream_key), None)
    c.table.set_delete_pending(o.file_id, o.stream, value)
    if o.persistent:
        await c.commit()
    from sofs.handlestate.coord_locks import sync_facts

    await sync_facts(c, (o.file_id, o.stream_key))


async def check_rename(c: VolumeCoordinator, req: RenameCheck, hook: AsyncHook | None) -> None:
    c.check_fence()
    o = c.get(req.persistent_id)
    if req.link:
        await _check_target(c, req, hook)
        return
    if req.target.startswith(":"):
        await caching.break_for_rename(c, o, hook)
        return
    if o.is_directory:
        # handle caching of the opens below goes first (smb2.lease.rename_dir_openfile)
        await caching.break_for_rename(c, o, hook)
        if c.table.opens_below(o.path):
            raise HandleStateError(NtStatus.ACCESS_DENIED, "directory has open files below it")
    await _check_target(c, req, hook)
    await _check_parent_share_mode(c, req.persistent_id, req.target, hook)
    if not o.is_directory:
        await caching.break_for_rename(c, o, hook)


async def _check_target(c: VolumeCoordinator, req: RenameCheck, hook: AsyncHook | None) -> None:
    """A target that exists and is open cannot be replaced (ACCESS_DENIED, as Windows); holders of
    handle leases on it are asked to close it first."""
    tid = req.target_file_id
    o = c.get(req.persistent_id)
    if tid is None or tid == o.file_id:
        return
    f = c.table.files.get(tid)
    if f is None or not f.opens:
        return
    for skey in sorted({x.stream_key for x in f.opens.values()}):
        await caching.break_key_handle_caching(c, (tid, skey), None, 0, hook)
    f = c.table.files.get(tid)
    if f is not None and f.opens:
        raise HandleStateError(NtStatus.ACCESS_DENIED, "target is open")


async def _check_parent_share_mode(c: VolumeCoordinator, pid: int, target: str, hook: AsyncHook | None) -> None:
    """A rename changes the destination directory: an open of it that holds DELETE access or does
    not share write (and is not attribute-only) conflicts: SHARING_VIOLATION ([MS-FSA] 2.1.5.14.10;
    Samba's rename_dst_parent_check; smbtorture smb2.rename.*delete_access, msword). Modelled as an
    implicit open of the directory for FILE_ADD_FILE sharing read and write. The directory leases
    of conflicting opens lose H first and the rename waits for the acknowledgments: a client that
    closes its cached handle lets the rename through (Samba ``delay_for_handle_lease_break_send``;
    smb2.dirlease.rename_dst_parent)."""
    parent = path_key(target.rsplit("\\", 1)[0]) if "\\" in target else ""
    own = c.get(pid).lease

    def dir_opens() -> list[Open]:
        return [x for x in c.table.opens_by_persistent.values()
                if x.persistent_id != pid and x.is_directory and not x.stream and path_key(x.path) == parent]

    for _round in range(caching.MAX_BREAK_ROUNDS):
        leases = {id(x.lease): x.lease for x in dir_opens() if x.lease is not None and x.lease is not own
                  and check_share_access([x], _ADD_FILE, _SHARE_RW) != NtStatus.SUCCESS}
        futs = []
        for lease in leases.values():
            cur = lease.required if lease.breaking else lease.state
            if cur & Caching.H:
                f = caching.break_holder(c, lease, cur & ~Caching.H, True)
            elif lease.breaking and lease.state & Caching.H:
                f = caching.break_holder(c, lease, cur, True)  # already losing H: wait for it
            else:
                continue
            if f is not None:
                futs.append(f)
        if not futs:
            break
        await caching.wait_breaks(hook, futs)
    status = check_share_access(dir_opens(), _ADD_FILE, _SHARE_RW)
    if status != NtStatus.SUCCESS:
        raise HandleStateError(status, "destination directory open without sharing")


async def renamed(c: VolumeCoordinator, pid: int, old: str, new: str, new_stream: str | None) -> None:
    """The serving process renamed the object of ``pid``: every open follows (and every process
    holding one is told), leases and watches move with their directories."""
    c.check_fence()
    o = c.get(pid)
    if new_stream is not None or (o.stream is not None and new == old):
        _restream(c, o.file_id, o.stream, new_stream)
        await c.commit()
        return
    is_dir = o.is_directory
    endpoints = {x.endpoint for x in c.table.opens_by_persistent.values()
                 if x.disconnected_at is None and moved_path(x.path, old, new, is_dir) is not None}
    c.table.move_path(o.file_id, old, new, is_dir)
    for k in list(c.dir_leases):
        moved = moved_path(k, fold(old), fold(new), True)
        if moved is not None:
            c.dir_leases[fold(moved)] = c.dir_leases.pop(k)
    for w in c.notify.watches.values():
        owner = c.table.opens_by_persistent.get(w.owner)  # type: ignore[call-overload]
        if owner is not None:
            w.dir_key = fold(owner.path)
    waits = [c.sinks[ep].moved(old, new, is_dir) for ep in endpoints if ep in c.sinks]
    for w8 in waits:
        await w8
    if o.persistent or any(x.persistent for x in c.table.opens_by_persistent.values()):
        await c.commit()


def _restream(c: VolumeCoordinator, file_id: int, old_stream: str | None, new_stream: str | None) -> None:
    """A stream renamed in place: its opens, locks, leases and oplocks move to the new stream key."""
    old_key, new_key = (file_id, stream_key(old_stream)), (file_id, stream_key(new_stream))
    f = c.table.files.get(file_id)
    if f is None or old_key == new_key:
        return
    for x in f.opens.values():
        if x.stream_key == old_key[1]:
            x.stream, x.stream_key = new_stream, new_key[1]
    locks = c.table.locks.files.pop(old_key, None)
    if locks:
        c.table.locks.files[new_key] = locks
    c.table.leases.rebind(old_key, new_key)
    ops = c.oplock_opens.pop(old_key, None)
    if ops:
        c.oplock_opens[new_key] = ops
