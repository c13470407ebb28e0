"""SET_INFO FileRenameInformation(Ex) and FileLinkInformation ([MS-FSA] 2.1.5.14.11 / 2.1.5.14.6).

Rules enforced here (the VFS does the atomic namespace change):

- the open needs DELETE access (rename) — ACCESS_DENIED otherwise;
- RootDirectory must be 0 over SMB2 (INVALID_PARAMETER);
- a leading backslash in the target is tolerated (some clients send one);
- a target that exists and is open by anyone cannot be replaced (ACCESS_DENIED, as Windows);
- a directory with open files below it cannot be renamed (ACCESS_DENIED, as Windows);
- after success every open of the file (and of files below a renamed directory) sees the new path,
  on whichever node its client is (the coordinator moves them and tells their serving processes).

The checks that depend on other opens (handle-caching breaks, open children, an open target, the
destination directory's share mode) are the coordinator's (:mod:`sofs.handlestate.coord_names`).
"""
from __future__ import annotations

from typing import Any

from sofs.handlers.base import Ctx, SmbError
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Handle, notify
from sofs.handlestate.api import HandleStateError, RenameCheck
from sofs.vfs.base import VfsError
from sofs.wire.constants import NotifyAction
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import RenameExFlags as RX
from sofs.wire.status import NtStatus


def _target_name(raw: str) -> str:
    name = raw.replace("/", "\\")
    while name.startswith("\\"):
        name = name[1:]
    return name


def _stat_target(vfs: Any, path: str) -> Any:
    try:
        return vfs.stat_path(path)
    except VfsError as e:
        if e.status in (NtStatus.OBJECT_NAME_NOT_FOUND, NtStatus.OBJECT_PATH_NOT_FOUND):
            return None
        raise


async def _check_target(ctx: Ctx, op: Handle, target: str, replace: bool, link: bool = False) -> int | None:
    """The object now at ``target``: OBJECT_NAME_COLLISION unless ``replace``, ACCESS_DENIED for a
    directory; its file id (None: nothing there, or the file itself under another name)."""
    info = await run_fs(_stat_target, op.share.vfs, target)
    if info is None or info.file_id == op.vfile_id:
        return None  # renaming onto itself (case change) or its own hard link
    if not replace:
        raise SmbError(NtStatus.OBJECT_NAME_COLLISION, target)
    if info.is_directory:
        raise SmbError(NtStatus.ACCESS_DENIED, "cannot replace a directory")
    return int(info.file_id)


async def _coordinator_check(ctx: Ctx, op: Handle, target: str, target_file_id: int | None, replace: bool,
                             link: bool = False) -> None:
    vol = op.share.volume
    try:
        await vol.svc.check_rename(RenameCheck(op.pid, target if target.startswith(":") else
                                               vol.to_volume(op.share, target), target_file_id, replace, link), ctx)
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None


async def set_rename(ctx: Ctx, op: Handle, info: Any) -> None:
    """FileRenameInformation / FileRenameInformationEx."""
    replace = bool(getattr(info, "replace_if_exists", False)) or bool(
        getattr(info, "flags", 0) & RX.REPLACE_IF_EXISTS)
    if info.root_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "RootDirectory must be 0")
    if not op.granted_access & A.DELETE:
        raise SmbError(NtStatus.ACCESS_DENIED, "rename needs DELETE")
    if op.share.config.read_only:
        raise SmbError(NtStatus.ACCESS_DENIED, "read-only share")
    target = _target_name(info.file_name)
    if not target:
        raise SmbError(NtStatus.INVALID_PARAMETER, "empty target")
    vfs = op.share.vfs
    vol = op.share.volume
    if target.startswith(":"):
        await _coordinator_check(ctx, op, target, None, replace)
        old_stream = op.stream
        await run_fs(vfs.rename, op.handle, target, replace)
        if old_stream != op.handle.stream:
            ctx.server.handles.restream(op, op.handle.stream)
            await vol.svc.renamed(op.pid, op.path, op.path, op.stream)
        return
    if op.stream is not None:
        raise SmbError(NtStatus.INVALID_PARAMETER, "a stream can only be renamed to a stream")
    if op.is_directory:
        # the coordinator breaks handle caching of the opens below first, then refuses open children
        await _coordinator_check(ctx, op, target, None, replace)
    target_id = await _check_target(ctx, op, target, replace)
    await _coordinator_check(ctx, op, target, target_id, replace)
    old = op.path
    new = await run_fs(vfs.rename, op.handle, target, replace)
    notify(ctx.server, op, NotifyAction.RENAMED_OLD_NAME, path=old)
    await vol.svc.renamed(op.pid, vol.to_volume(op.share, old), vol.to_volume(op.share, new), None)
    op.path = new
    op.handle.path = new
    notify(ctx.server, op, NotifyAction.RENAMED_NEW_NAME)


async def set_link(ctx: Ctx, op: Handle, info: Any) -> None:
    """FileLinkInformation: a new hard link to the open file."""
    if info.root_directory:
        raise SmbError(NtStatus.INVALID_PARAMETER, "RootDirectory must be 0")
    if op.share.config.read_only:
        raise SmbError(NtStatus.ACCESS_DENIED, "read-only share")
    target = _target_name(info.file_name)
    if not target or target.startswith(":"):
        raise SmbError(NtStatus.INVALID_PARAMETER, "bad link target")
    if op.is_directory:
        raise SmbError(NtStatus.FILE_IS_A_DIRECTORY, "hard link to a directory")
    target_id = await _check_target(ctx, op, target, bool(info.replace_if_exists), link=True)
    if target_id is not None:
        await _coordinator_check(ctx, op, target, target_id, True, link=True)
    new = await run_fs(op.share.vfs.link, op.handle, target, bool(info.replace_if_exists))
    notify(ctx.server, op, NotifyAction.ADDED, path=new if isinstance(new, str) else target)
