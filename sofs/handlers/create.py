"""SMB2 CREATE ([MS-SMB2] 3.3.5.9): parse and validate, open through the VFS, answer.

The three parts, as in Samba's ``smb2_create.c``:

1. validate (:mod:`open_logic`) and parse the contexts (:mod:`create_contexts`);
2. open: non-destructive dispositions (OPEN, OPEN_IF, CREATE) are one VFS call in the thread pool;
   OVERWRITE / OVERWRITE_IF / SUPERSEDE first open the existing file without touching it, check
   access and share modes, and only then truncate (so a SHARING_VIOLATION never loses data);
3. record the :class:`~sofs.handlers.opens.Open`, set the compound FileId, build the response with
   the MxAc / QFid answers.

IPC$ opens go to :mod:`sofs.handlers.pipes`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from sofs.handlers import open_logic as logic
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.create_contexts import (
    CreateContexts,
    maximal_access_response,
    on_disk_id_response,
    parse_contexts,
)
from sofs.handlers.flags import FA, A, D, O
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Open, notify, registry, run_hooks
from sofs.handlers.reparse import stopped_on_symlink
from sofs.handlers.scaleout import downgrade_create
from sofs.security.access import AccessDenied
from sofs.security.files import add_parent_rights, needs_parent, new_object_sd, stored_maximal_access
from sofs.security.token import Token, token_of_session
from sofs.vfs.base import EaEntry as VfsEa
from sofs.vfs.base import FileInfo, VfsError
from sofs.vfs.links import StoppedOnSymlink
from sofs.wire.constants import NotifyAction
from sofs.wire.fscc_constants import CreateAction
from sofs.wire.messages.create import CreateRequest, encode_create_response
from sofs.wire.messages.create_contexts import CreateContext
from sofs.wire.status import NtStatus

_TRUNCATING = (D.SUPERSEDE, D.OVERWRITE, D.OVERWRITE_IF)
_OPENED = CreateAction.OPENED
_DIRECTORY_FILE = O.DIRECTORY_FILE
_BACKUP_INTENT = O.OPEN_FOR_BACKUP_INTENT
_DELETE_ON_CLOSE = O.DELETE_ON_CLOSE
_FA_READONLY = FA.READONLY
_FA_HIDDEN_SYSTEM = FA.HIDDEN | FA.SYSTEM
_WRITE_DATA = A.FILE_WRITE_DATA
_DELETE = A.DELETE


async def handle_create(ctx: Ctx, req: CreateRequest) -> Reply:
    """[MS-SMB2] 3.3.5.9 Receiving an SMB2 CREATE Request."""
    assert ctx.tree is not None and ctx.session is not None
    contexts = parse_contexts(req.contexts, ctx.dialect) if req.contexts else CreateContexts()
    if ctx.tree.is_ipc:
        from sofs.handlers.pipes import create_pipe

        return await create_pipe(ctx, req)
    if ctx.tree.is_scaleout:
        req, contexts = downgrade_create(req, contexts)  # [MS-SMB2] 3.3.5.9 scale-out share caching
    logic.validate_request(req.desired_access, req.file_attributes, req.share_access,
                           req.create_disposition, req.create_options, req.impersonation_level)
    if req.name.startswith(("\\", "/")):
        raise SmbError(NtStatus.INVALID_PARAMETER, "leading backslash in a CREATE name")
    if "/" in req.name:
        # like Samba, a forward slash separates components (Windows clients never send one)
        req = dataclasses.replace(req, name=req.name.replace("/", "\\"))
    if contexts.timewarp is not None:
        raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "no snapshots")
    for hook in ctx.server.extensions.get("create_reconnect", ()):
        # issue 5: durable reconnect (DHnC/DH2C) and replays answer here before any open
        out = await hook(ctx, req, contexts)
        if out is not None:
            return out  # type: ignore[no-any-return]
    op, info, action, maximal = await _open(ctx, req, contexts)
    return await _respond(ctx, req, contexts, op, info, action, maximal)


async def _open(ctx: Ctx, req: CreateRequest,
                contexts: CreateContexts) -> tuple[Open, FileInfo, CreateAction, int]:
    tree = ctx.tree
    assert tree is not None
    share = tree.share
    vfs = share.vfs
    read_only = bool(share.config.read_only)
    disp = req.create_disposition
    opts = req.create_options
    name = req.name
    if opts & O.DELETE_ON_CLOSE and req.file_attributes & FA.READONLY and disp != D.OPEN:
        raise SmbError(NtStatus.CANNOT_DELETE, "delete-on-close of a read-only file")
    share_max = logic.maximal_access(tree.maximal_access, read_only)
    # explicit rights beyond the share's cap fail before anything is touched
    logic.granted_access(req.desired_access, share_max)
    ext = ctx.server.extensions
    for _attempt in range(4):
        if disp in _TRUNCATING or (read_only and disp in (D.OPEN_IF, D.CREATE)):
            first = D.OPEN
        else:
            first = disp
        try:
            h, action, info, sd_raw = await run_fs(_open_stat, vfs, name, first, opts, req.file_attributes,
                                                  ctx.conn.dialect)
        except SmbError as e:
            if e.status != NtStatus.OBJECT_NAME_NOT_FOUND or first == disp:
                raise
            # the object does not exist: create it (OVERWRITE_IF/SUPERSEDE, or a read-only share)
            if read_only:
                raise SmbError(NtStatus.ACCESS_DENIED, "create on a read-only share") from None
            if disp == D.OVERWRITE:
                raise
            try:
                h, action, info, sd_raw = await run_fs(_open_stat, vfs, name, D.CREATE, opts,
                                                      req.file_attributes, ctx.conn.dialect)
            except SmbError as e2:
                if e2.status == NtStatus.OBJECT_NAME_COLLISION:
                    continue  # raced with another creator: start over
                raise
        try:
            if info.is_directory and name.upper().endswith("::$DATA"):
                # a directory has no unnamed data stream ([MS-FSA] 2.1.5.1; smb2.streams.dir)
                raise SmbError(NtStatus.NOT_A_DIRECTORY if opts & O.DIRECTORY_FILE
                               else NtStatus.FILE_IS_A_DIRECTORY, "directory ::$DATA")
            for hook in ext.get("create_before_admit", ()):
                # issue 4: oplock/lease breaks first; a hook answers None when it has nothing to wait for
                pending = hook(ctx, req, contexts, h, info)
                if pending is not None:
                    await pending
            # what the stored DACL grants (None: no stored descriptor, not restricted), with DELETE /
            # READ_ATTRIBUTES from the parent ([MS-FSA] 2.1.5.1.2.1; sofs.security.files)
            dacl_max = None
            if sd_raw:
                token = token_of_session(ctx.session)
                dacl_max = stored_maximal_access(sd_raw, token, bool(opts & _BACKUP_INTENT))
                if dacl_max is not None and needs_parent(dacl_max):
                    dacl_max = await run_fs(add_parent_rights, vfs, h.path, token, dacl_max,
                                            bool(opts & _BACKUP_INTENT))
            op, maximal = _admit(ctx, req, h, info, action, dacl_max)
        except BaseException:
            await run_fs(vfs.close, h)
            raise
        if not op.delete_on_close and action == _OPENED and disp not in _TRUNCATING:
            return op, info, action, maximal  # the common case: an existing object, opened
        if op.delete_on_close:
            try:
                await run_hooks(ctx, "before_delete", op)
            except BaseException:
                _forget(ctx, op)
                await run_fs(vfs.close, h)
                raise
        if disp in _TRUNCATING and action == CreateAction.OPENED:
            try:
                info = await run_fs(_truncate, vfs, h, req.file_attributes, info.is_directory)
            except BaseException:
                _forget(ctx, op)
                await run_fs(vfs.close, h)
                raise
            action = CreateAction.SUPERSEDED if disp == D.SUPERSEDE else CreateAction.OVERWRITTEN
        if action != CreateAction.OPENED:
            try:
                info = await run_fs(_apply_new_file_contexts, vfs, h, contexts, info,
                                    token_of_session(ctx.session), action == CreateAction.CREATED)
            except BaseException:
                _forget(ctx, op)
                await run_fs(vfs.close, h)
                raise
        return op, info, action, maximal
    raise SmbError(NtStatus.SHARING_VIOLATION, "create kept racing with other creates")


def _open_stat(vfs: Any, name: str, disp: int, opts: int, attrs: int,
               dialect: int) -> tuple[Any, CreateAction, FileInfo, bytes | None]:
    stored = logic.stored_create_attributes(attrs, bool(opts & _DIRECTORY_FILE))
    try:
        h, action, info, sd = vfs.open_stat(name, disp, opts, stored)
    except StoppedOnSymlink as e:
        raise stopped_on_symlink(e, dialect) from None  # the symlink error response (issue 18)
    if h.stream is not None and action == _OPENED:
        try:
            _stream_case(vfs, h)
        except BaseException:
            vfs.close(h)
            raise
    return h, action, info, sd


def _stream_case(vfs: Any, h: Any) -> None:
    """Report a stream under the name it was created with (names are case-insensitive)."""
    want = ":" + h.stream.upper() + ":$DATA"
    for s in vfs.list_streams(h):
        if s.name.upper() == want:
            h.stream = s.name[1:-6]
            return


def _truncate(vfs: Any, h: Any, attrs: int, is_dir: bool) -> FileInfo:
    """Overwrite/supersede of an existing file ([MS-FSA] 2.1.5.1.2.2): data gone, attributes
    replaced by the requested ones (+ARCHIVE)."""
    vfs.set_end_of_file(h, 0)
    if h.stream is None:
        vfs.set_basic_info(h, attributes=logic.stored_create_attributes(attrs, is_dir) or int(FA.ARCHIVE))
    return vfs.stat(h)  # type: ignore[no-any-return]


def _apply_new_file_contexts(vfs: Any, h: Any, contexts: CreateContexts, info: FileInfo, token: Token,
                             created: bool) -> FileInfo:
    """AlSi, ExtA and SecD apply to a created/overwritten object ([MS-SMB2] 3.3.5.9.2/.3/.6), and a
    new object gets its inherited descriptor (:func:`sofs.security.files.new_object_sd`).

    When the parent does not allow creating here (FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY), the object
    just created is removed again and the CREATE fails with ACCESS_DENIED."""
    sd = None
    if h.stream is None and (created or contexts.sd is not None):
        try:
            sd = new_object_sd(vfs, h.path, token, info.is_directory,
                               contexts.sd.sd if contexts.sd is not None else None, created)
        except AccessDenied as e:
            if created:
                vfs.delete(h)
            raise SmbError(e.status, "the parent directory does not allow creating here"
                           if e.status == NtStatus.ACCESS_DENIED else str(e)) from None
    changed = False
    if contexts.allocation_size and not info.is_directory:
        vfs.set_allocation_size(h, contexts.allocation_size)
        changed = True
    if contexts.eas is not None and contexts.eas.eas:
        vfs.set_eas(h, [VfsEa(e.name.encode("latin-1"), bytes(e.value), e.flags) for e in contexts.eas.eas])
        changed = True
    if sd is not None:
        vfs.set_security_descriptor(h, sd.encode())
    return vfs.stat(h) if changed else info


def _admit(ctx: Ctx, req: CreateRequest, h: Any, info: FileInfo, action: CreateAction,
           dacl_max: int | None) -> tuple[Open, int]:
    """Access and share-mode checks on the opened object, then record the Open."""
    tree = ctx.tree
    session = ctx.session
    assert tree is not None and session is not None
    share = tree.share
    existed = action == _OPENED
    is_dir = info.is_directory
    attributes = info.attributes
    disp = req.create_disposition
    truncating = existed and disp in _TRUNCATING
    readonly_file = existed and bool(attributes & _FA_READONLY)
    if truncating and not is_dir:
        if readonly_file:
            raise SmbError(NtStatus.ACCESS_DENIED, "overwrite of a read-only file")
        # a HIDDEN / SYSTEM file is overwritten only by a request that keeps the attribute
        # ([MS-FSA] 2.1.5.1.2.2; smbtorture smb2.openattr)
        if attributes & ~req.file_attributes & _FA_HIDDEN_SYSTEM and h.stream is None:
            raise SmbError(NtStatus.ACCESS_DENIED, "overwrite drops HIDDEN/SYSTEM")
    # truncating needs FILE_WRITE_DATA whatever was asked (as Samba's O_TRUNC rule)
    if truncating and dacl_max is not None and not dacl_max & _WRITE_DATA:
        raise SmbError(NtStatus.ACCESS_DENIED, "overwrite without the access it needs")
    maximal = logic.maximal_access(tree.maximal_access, bool(share.config.read_only), readonly_file, is_dir)
    if dacl_max is not None:
        maximal &= dacl_max
    granted = logic.granted_access(req.desired_access, maximal, is_dir)
    opts = req.create_options
    doc = bool(opts & _DELETE_ON_CLOSE)
    if doc:
        if not granted & _DELETE:
            raise SmbError(NtStatus.ACCESS_DENIED, "delete-on-close without DELETE")
        if attributes & _FA_READONLY and not is_dir:
            raise SmbError(NtStatus.CANNOT_DELETE, "delete-on-close of a read-only file")
    reg = registry(ctx.server)
    stream = h.stream
    node = reg.node(share.name, info.file_id, stream)
    if node.delete_pending:
        raise SmbError(NtStatus.DELETE_PENDING)
    if stream is not None:
        base = reg.peek_node(share.name, info.file_id, None)
        if base is not None and base.delete_pending:
            raise SmbError(NtStatus.DELETE_PENDING, "base file is delete-pending")
    share_access = req.share_access
    if node.opens:
        # truncation writes, whatever access was asked
        logic.check_share_access(node.opens, granted | _WRITE_DATA if truncating else granted, share_access)
    if stream is None and granted & _DELETE:
        # deleting/renaming the file conflicts with opens of its named streams too ([MS-FSA] 2.1.5.1.2)
        for other in reg.nodes_of_file(share.name, info.file_id):
            if other is not node:
                logic.check_share_access(other.opens, granted & _DELETE, share_access)
    path = h.path
    op = Open(
        file_id=reg.new_file_id(), session=session, tree=tree, share=share, path=path,
        stream=stream, is_directory=is_dir, handle=h, granted_access=granted,
        share_access=share_access, create_options=opts,
        create_disposition=disp, node=node, delete_on_close=doc,
        mode=opts & 0x103E,
    )
    node.opens.append(op)
    node.path = path
    reg.add(op)
    tree.open_count += 1
    return op, maximal


def _forget(ctx: Ctx, op: Open) -> None:
    registry(ctx.server).remove(op)
    op.closed = True
    if op.tree.open_count:
        op.tree.open_count -= 1


async def _respond(ctx: Ctx, req: CreateRequest, contexts: CreateContexts, op: Open, info: FileInfo,
                   action: CreateAction, maximal: int) -> Reply:
    out_ctx: list[CreateContext] = []
    if contexts.maximal_access is not None:
        out_ctx.append(maximal_access_response(maximal))
    if contexts.query_on_disk_id:
        out_ctx.append(on_disk_id_response(info.file_id, await _volume_id(op)))
    for hook in ctx.server.extensions.get("create_context_handlers", ()):
        more = hook(ctx, req, contexts, op, action)  # a list, or an awaitable of one
        if type(more) is not list:
            more = await more
        if more:
            out_ctx.extend(more)
    if action == CreateAction.CREATED:
        notify(ctx.server, op, NotifyAction.ADDED)
    ctx.set_file_id(op.file_id)
    wt = info.last_write_time  # ChangeTime is reported as LastWriteTime (opens.change_time)
    return reply(encode_create_response(
        op.oplock_level, int(action), info.creation_time, info.last_access_time, wt, wt,
        info.allocation_size, info.end_of_file, info.attributes, op.file_id, out_ctx))


async def _volume_id(op: Open) -> int:
    share = op.share
    vid = getattr(share, "_sofs_volume_id", None)
    if vid is None:
        try:
            vid = (await run_fs(share.vfs.fs_stats)).volume_serial
        except (SmbError, VfsError):
            vid = 0
        try:
            share._sofs_volume_id = vid
        except AttributeError:
            pass
    return int(vid)
