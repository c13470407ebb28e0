"""SET_INFO FileRenameInformation(Ex) and FileLinkInformation ([MS-FSA] 2.1.5.14.11 / 2.1.5.14.6).

Rules enforced here (the VFS does the atomic namespace change):

- the open needs DELETE access (rename) — ACCESS_DENIED otherwise;
- RootDirectory must be 0 over SMB2 (INVALID_PARAMETER);
- a leading backslash in the target is tolerated (some clients send one);
- a target that exists and is open by anyone cannot be replaced (ACCESS_DENIED, as Windows);
- a directory with open files below it cannot be renamed (ACCESS_DENIED, as Windows);
- after success every open of the file (and of files below a renamed directory) sees the new path.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sofs.handlers.base import Ctx, SmbError
from sofs.handlers.fsio import run_fs
from sofs.handlers.open_logic import check_share_access
from sofs.handlers.opens import Open, notify, registry, run_hooks
from sofs.vfs.base import VfsError
from sofs.vfs.names import fold_name
from sofs.wire.constants import NotifyAction
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import RenameExFlags as RX
from sofs.wire.fscc_constants import ShareAccess as S
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


async def _check_target(ctx: Ctx, op: Open, target: str, replace: bool) -> None:
    info = await run_fs(_stat_target, op.share.vfs, target)
    if info is None:
        return
    node = op.node
    if node is not None and node.key[1] == info.file_id:
        return  # renaming onto itself (case change) or its own hard link
    if not replace:
        raise SmbError(NtStatus.OBJECT_NAME_COLLISION, target)
    if info.is_directory:
        raise SmbError(NtStatus.ACCESS_DENIED, "cannot replace a directory")
    reg = registry(ctx.server)
    nodes = [n for n in reg.nodes_of_file(op.share.name, info.file_id) if n.opens]
    if nodes and ctx.server.extensions.get("before_delete"):
        # holders of handle leases on the target are asked to close it first (issue 4 breaks)
        for n in nodes:
            await run_hooks(ctx, "before_delete", SimpleNamespace(node=n, ext={}))  # type: ignore[arg-type]
        nodes = [n for n in reg.nodes_of_file(op.share.name, info.file_id) if n.opens]
    if nodes:
        raise SmbError(NtStatus.ACCESS_DENIED, "target is open")


def _check_parent_share_mode(ctx: Ctx, op: Open, target: str) -> None:
    """A rename changes the destination directory: an open of it that holds DELETE access or
    does not share write (and is not attribute-only) conflicts: SHARING_VIOLATION ([MS-FSA]
    2.1.5.14.10; Samba's rename_dst_parent_check; smbtorture smb2.rename.*delete_access, msword)."""
    parent = fold_name(target.rsplit("\\", 1)[0]) if "\\" in target else ""
    share = op.share
    others = [o for o in registry(ctx.server).by_id.values()
              if o is not op and not o.closed and o.share is share and o.is_directory and not o.stream
              and fold_name(o.path) == parent]
    # modelled as an implicit open of the directory for FILE_ADD_FILE sharing read and write
    check_share_access(others, int(A.FILE_ADD_FILE), int(S.READ | S.WRITE))


def _open_children(ctx: Ctx, op: Open) -> bool:
    prefix = fold_name(op.path) + "\\"
    share = op.share
    return any(o.share is share and not o.closed and fold_name(o.path).startswith(prefix)
               for o in registry(ctx.server).by_id.values())


def _update_paths(ctx: Ctx, op: Open, old: str, new: str) -> None:
    old_fold = fold_name(old)
    prefix = old_fold + "\\"
    for o in registry(ctx.server).by_id.values():
        if o.share is not op.share or o.closed:
            continue
        f = fold_name(o.path)
        if f == old_fold:
            o.path = new
            if o.handle is not None and o.handle is not op.handle:
                o.handle.path = new
        elif f.startswith(prefix):
            o.path = new + o.path[len(old):]
            if o.handle is not None:
                o.handle.path = o.path
    if op.node is not None:
        op.node.path = new


async def set_rename(ctx: Ctx, op: Open, info: Any) -> None:
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
    if target.startswith(":"):
        await run_hooks(ctx, "before_rename", op)
        old_stream = op.stream
        await run_fs(vfs.rename, op.handle, target, replace)
        op.stream = op.handle.stream
        if op.node is not None and old_stream != op.stream:
            reg = registry(ctx.server)
            reg.nodes.pop(op.node.key, None)
            op.node.key = (op.node.key[0], op.node.key[1], (op.stream or "").upper())
            reg.nodes[op.node.key] = op.node
        return
    if op.stream is not None:
        raise SmbError(NtStatus.INVALID_PARAMETER, "a stream can only be renamed to a stream")
    if op.is_directory:
        # the caching hook breaks handle caching of the opens below first (smb2.lease.rename_dir_openfile)
        await run_hooks(ctx, "before_rename", op)
        if _open_children(ctx, op):
            raise SmbError(NtStatus.ACCESS_DENIED, "directory has open files below it")
    await _check_target(ctx, op, target, replace)
    _check_parent_share_mode(ctx, op, target)
    if not op.is_directory:
        await run_hooks(ctx, "before_rename", op)
    old = op.path
    new = await run_fs(vfs.rename, op.handle, target, replace)
    notify(ctx.server, op, NotifyAction.RENAMED_OLD_NAME, path=old)
    _update_paths(ctx, op, old, new)
    op.path = new
    notify(ctx.server, op, NotifyAction.RENAMED_NEW_NAME)


async def set_link(ctx: Ctx, op: Open, info: Any) -> None:
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
    await _check_target(ctx, op, target, bool(info.replace_if_exists))
    new = await run_fs(op.share.vfs.link, op.handle, target, bool(info.replace_if_exists))
    notify(ctx.server, op, NotifyAction.ADDED, path=new if isinstance(new, str) else target)
