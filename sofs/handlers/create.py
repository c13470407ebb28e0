"""SMB2 CREATE ([MS-SMB2] 3.3.5.9): parse and validate, open through the VFS, answer.

The three parts, as in Samba's ``smb2_create.c``:

1. validate (:mod:`open_logic`) and parse the contexts (:mod:`create_contexts`);
2. open: non-destructive dispositions (OPEN, OPEN_IF, CREATE) are one VFS call in the thread pool;
   OVERWRITE / OVERWRITE_IF / SUPERSEDE first open the existing file without touching it, check
   access and share modes, and only then truncate (so a SHARING_VIOLATION never loses data);
3. ask the volume's coordinator to admit the open (:meth:`HandleService.admit`: share modes,
   oplock/lease breaks and grants, durable/persistent grant, wherever the other opens' clients
   are), record the :class:`~sofs.handlers.opens.Handle`, set the compound FileId, build the
   response with the MxAc / QFid / lease / durable answers.

Durable reconnects (DHnC/DH2C) and replayed CREATEs (DH2Q CreateGuid) are answered before the VFS
open, by :mod:`sofs.handlers.durable`. IPC$ opens go to :mod:`sofs.handlers.pipes`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from sofs.handlers import durable
from sofs.handlers import open_logic as logic
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.create_contexts import (
    CreateContexts,
    maximal_access_response,
    on_disk_id_response,
    parse_contexts,
)
from sofs.handlers.flags import FA, A, D, O
from sofs.handlers.fsio import inline_metadata, run_fs, run_inline, run_pool
from sofs.handlers.opens import Handle, caller_of, notify
from sofs.handlers.reparse import stopped_on_symlink
from sofs.handlers.scaleout import downgrade_create
from sofs.handlestate.api import AdmitRequest, AdmitResult, HandleStateError, LeaseRequest
from sofs.handlestate.model import stream_key
from sofs.security.access import AccessDenied
from sofs.security.files import add_parent_rights, needs_parent, new_object_sd, stored_maximal_access
from sofs.security.token import Token, token_of_session
from sofs.vfs.base import EaEntry as VfsEa
from sofs.vfs.base import FileInfo, VfsError
from sofs.vfs.links import StoppedOnSymlink
from sofs.wire.codec import slots_builder
from sofs.wire.constants import NotifyAction
from sofs.wire.fscc_constants import CreateAction
from sofs.wire.messages.create import CreateRequest, encode_create_response
from sofs.wire.messages.create_contexts import CreateContext, LeaseV2
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
_PARENT_KEY_SET = 0x4  # [MS-SMB2] 2.2.13.2.10 SMB2_LEASE_FLAG_PARENT_LEASE_KEY_SET
_SIZE, _ATTRIBUTES = 0x008, 0x004  # [MS-SMB2] 2.2.35 CompletionFilter
_OPEN = int(D.OPEN)
_NO_CONTEXTS = CreateContexts()  # a CREATE without contexts (most of them); never mutated
# the two records every CREATE makes, built positionally without ``type.__call__`` (codec.slots_builder)
_new_handle = slots_builder(Handle, 23)  # file_id ... durable_timeout_ms
_new_admit = slots_builder(AdmitRequest, 19)  # caller ... persistent_capable


async def handle_create(ctx: Ctx, req: CreateRequest) -> Reply:
    """[MS-SMB2] 3.3.5.9 Receiving an SMB2 CREATE Request."""
    tree = ctx.tree
    assert tree is not None and ctx.session is not None
    if tree.is_ipc:
        from sofs.handlers.pipes import create_pipe

        return await create_pipe(ctx, req)
    guid = None
    if req.contexts:
        # DHnC/DH2C reconnects are answered before the CREATE's own validation: a reconnect
        # carries arbitrary values in every other field ([MS-SMB2] 3.3.5.9.7; durable-v2-open.reopen2)
        reconnect, guid = durable.scan(req.contexts)
        if reconnect:
            contexts = parse_contexts(req.contexts, ctx.dialect)
            if contexts.reconnect_v1 is not None or contexts.reconnect_v2 is not None:
                return await durable.reconnect(ctx, req, contexts)
    if guid is None or ctx.dialect < 0x0300:
        return await _create(ctx, req)
    return await durable.create_with_guid(ctx, req, guid, _create)


async def _create(ctx: Ctx, req: CreateRequest) -> Reply:
    contexts = parse_contexts(req.contexts, ctx.dialect) if req.contexts else _NO_CONTEXTS
    assert ctx.tree is not None
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
    if contexts.durable_v2 is not None and ctx.dialect >= 0x0300 and ctx.header.is_replay:
        # a replayed CREATE may name an open the coordinator has; a CREATE without the replay flag
        # reusing a CreateGuid is refused by admit itself (DUPLICATE_OBJECTID): one call, not two
        out = await durable.replayed(ctx, req, contexts)
        if out is not None:
            return out
    op, info, action, maximal, res = await _open(ctx, req, contexts)
    return _respond(ctx, contexts, op, info, action, maximal, res,
                    await _volume_id(op) if contexts.query_on_disk_id else 0)


async def _open(ctx: Ctx, req: CreateRequest,
                contexts: CreateContexts) -> tuple[Handle, FileInfo, CreateAction, int, AdmitResult]:
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
    # explicit rights beyond the share's cap fail before anything is touched; what this grants is
    # the final answer unless the object's READONLY attribute or DACL takes rights away (_check_access)
    share_max, share_granted = logic.share_grant(tree.maximal_access, read_only, req.desired_access)
    # a created object is born with its descriptor (inherited / SecD), before any other open sees it
    born = None if disp == _OPEN else _new_sd(vfs, ctx.session, contexts.sd.sd if contexts.sd is not None else None)
    for _attempt in range(4):
        if disp in _TRUNCATING or (read_only and disp in (D.OPEN_IF, D.CREATE)):
            first = D.OPEN
        else:
            first = disp
        try:
            # a local file system's open runs right here (no coroutine of its own: fsio's policy)
            h, action, info, sd_raw = (
                run_inline(_open_stat, vfs, name, first, opts, req.file_attributes, ctx.conn.dialect, born)
                if inline_metadata(vfs) else
                await run_pool(_open_stat, vfs, name, first, opts, req.file_attributes, ctx.conn.dialect, born))
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
                                                      req.file_attributes, ctx.conn.dialect, born)
            except SmbError as e2:
                if e2.status == NtStatus.OBJECT_NAME_COLLISION:
                    continue  # raced with another creator: start over
                raise
        try:
            if info.is_directory and name.upper().endswith("::$DATA"):
                # a directory has no unnamed data stream ([MS-FSA] 2.1.5.1; smb2.streams.dir)
                raise SmbError(NtStatus.NOT_A_DIRECTORY if opts & O.DIRECTORY_FILE
                               else NtStatus.FILE_IS_A_DIRECTORY, "directory ::$DATA")
            # what the stored DACL grants (None: no stored descriptor, not restricted), with DELETE /
            # READ_ATTRIBUTES from the parent ([MS-FSA] 2.1.5.1.2.1; sofs.security.files)
            dacl_max = None
            if sd_raw:
                token = token_of_session(ctx.session)
                dacl_max = stored_maximal_access(sd_raw, token, bool(opts & _BACKUP_INTENT))
                if dacl_max is not None and needs_parent(dacl_max):
                    dacl_max = await run_fs(add_parent_rights, vfs, h.path, token, dacl_max,
                                            bool(opts & _BACKUP_INTENT))
            granted, maximal = _check_access(req, h, info, action, dacl_max, share_max, share_granted)
            res = await share.volume.svc.admit(_admit_request(ctx, req, contexts, h, info, action, granted), ctx)
        except HandleStateError as e:
            await run_fs(_refused, vfs, h, action, e.status)
            raise SmbError(e.status, e.message) from None
        except BaseException:
            await run_fs(vfs.close, h)
            raise
        if res.reopen:
            await run_fs(vfs.close, h)
            continue
        op = _record(ctx, req, contexts, h, info, granted, res)
        if action == _OPENED and disp not in _TRUNCATING:
            return op, info, action, maximal, res  # the common case: an existing object, opened
        if disp in _TRUNCATING and action == CreateAction.OPENED:
            try:
                info = await run_fs(_truncate, vfs, h, req.file_attributes, info.is_directory)
            except BaseException:
                await _forget(ctx, op)
                raise
            action = CreateAction.SUPERSEDED if disp == D.SUPERSEDE else CreateAction.OVERWRITTEN
        if action != CreateAction.OPENED:
            try:
                info = await run_fs(_apply_new_file_contexts, vfs, h, contexts, info,
                                    token_of_session(ctx.session), action == CreateAction.CREATED,
                                    born is not None and born.ran)
            except BaseException:
                await _forget(ctx, op)
                raise
        return op, info, action, maximal, res
    raise SmbError(NtStatus.SHARING_VIOLATION, "create kept racing with other creates")


@dataclasses.dataclass(slots=True, eq=False)
class _NewSd:
    """The descriptor a created object is born with (the vfs calls it just before it creates the
    object: :meth:`sofs.vfs.base.Vfs.open_stat` ``new_sd``): inherited from the parent and merged with
    a SecD context ([MS-SMB2] 3.3.5.9.6, [MS-DTYP] 2.5.3.4 via :func:`new_object_sd`). A parent that
    does not grant FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY refuses the create before anything exists.
    ``ran``: the descriptor was decided (and stored by the vfs), not to be stored again. Made for
    every CREATE that may create (OPEN_IF mostly opens; made by ``_new_sd``): the session's token is
    looked up only here."""

    vfs: Any
    session: Any
    creator: Any
    ran: bool = False

    def __call__(self, path: str, is_directory: bool) -> bytes | None:
        try:
            sd = new_object_sd(self.vfs, path, token_of_session(self.session), is_directory, self.creator, True)
        except AccessDenied as e:
            raise SmbError(e.status, "the parent directory does not allow creating here"
                           if e.status == NtStatus.ACCESS_DENIED else str(e)) from None
        self.ran = True
        return None if sd is None else sd.encode()


_new_sd = slots_builder(_NewSd, 3)  # _NewSd(vfs, session, creator), one per CREATE that may create


def _open_stat(vfs: Any, name: str, disp: int, opts: int, attrs: int, dialect: int,
               born: _NewSd | None = None) -> tuple[Any, CreateAction, FileInfo, bytes | None]:
    stored = logic.stored_create_attributes(attrs, bool(opts & _DIRECTORY_FILE))
    try:
        h, action, info, sd = vfs.open_stat(name, disp, opts, stored, born)
    except StoppedOnSymlink as e:
        raise stopped_on_symlink(e, dialect) from None  # the symlink error response (issue 18)
    if h.stream is not None and action == _OPENED:
        try:
            _stream_case(vfs, h)
        except BaseException:
            vfs.close(h)
            raise
    return h, action, info, sd


def _refused(vfs: Any, h: Any, action: CreateAction, status: int) -> None:
    """Admission refused the open: the object goes back as it was. One this CREATE created for a
    reused CreateGuid is removed again: the spec refuses such a CREATE before it opens anything
    ([MS-SMB2] 3.3.5.9.10), and sofs learns of the reuse from admit, after the VFS open."""
    try:
        if action == CreateAction.CREATED and status == NtStatus.DUPLICATE_OBJECTID:
            vfs.delete(h)
    finally:
        vfs.close(h)


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
                             created: bool, sd_stored: bool = False) -> FileInfo:
    """AlSi, ExtA and SecD apply to a created/overwritten object ([MS-SMB2] 3.3.5.9.2/.3/.6), and a
    new object gets its inherited descriptor (:func:`sofs.security.files.new_object_sd`).

    ``sd_stored``: the vfs created the object with its descriptor already (:class:`_NewSd`). Else (a
    stream's base file) when the parent does not allow creating here (FILE_ADD_FILE /
    FILE_ADD_SUBDIRECTORY), the object just created is removed again and the CREATE fails with
    ACCESS_DENIED."""
    sd = None
    if h.stream is None and (created or contexts.sd is not None) and not (created and sd_stored):
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


def _check_access(req: CreateRequest, h: Any, info: FileInfo, action: CreateAction, dacl_max: int | None,
                  share_max: int, share_granted: int) -> tuple[int, int]:
    """The access checks of the opened object ([MS-FSA] 2.1.5.1.2.1): (granted, maximal).
    ``share_max`` / ``share_granted``: the share's cap and what it grants (checked before the open)."""
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
    if dacl_max is None and not (readonly_file and not is_dir):
        maximal, granted = share_max, share_granted  # nothing narrows the share's answer
    else:
        # logic.maximal_access with the object's READONLY attribute (directories ignore it)
        maximal = share_max & ~logic.READONLY_FILE_DENIED if readonly_file and not is_dir else share_max
        if dacl_max is not None:
            maximal &= dacl_max
        granted = logic.granted_access(req.desired_access, maximal, is_dir)
    if req.create_options & _DELETE_ON_CLOSE:
        if not granted & _DELETE:
            raise SmbError(NtStatus.ACCESS_DENIED, "delete-on-close without DELETE")
        if attributes & _FA_READONLY and not is_dir:
            raise SmbError(NtStatus.CANNOT_DELETE, "delete-on-close of a read-only file")
    return granted, maximal


def _admit_request(ctx: Ctx, req: CreateRequest, contexts: CreateContexts, h: Any, info: FileInfo,
                   action: CreateAction, granted: int) -> AdmitRequest:
    tree = ctx.tree
    assert tree is not None
    share = tree.share
    lease = None
    rq = contexts.lease
    if rq is not None:
        if isinstance(rq, LeaseV2):
            parent = rq.parent_lease_key if rq.flags & _PARENT_KEY_SET else None
            lease = LeaseRequest(bytes(rq.lease_key), rq.lease_state, 2, parent, rq.epoch)
        else:
            lease = LeaseRequest(bytes(rq.lease_key), rq.lease_state, 1)
    app = contexts.app_instance_id
    ver = contexts.app_instance_version
    return _new_admit(
        caller_of(ctx), info.file_id, h.stream, share.volume.to_volume(share, h.path), info.is_directory,
        action == _OPENED, req.create_disposition, req.create_options, req.desired_access, granted,
        req.share_access, req.requested_oplock_level, lease,
        None if contexts is _NO_CONTEXTS else durable.request_of(contexts),
        bytes(app.app_instance_id) if app is not None else None,
        (ver.version_high, ver.version_low) if ver is not None and app is not None else None,
        tree.is_ca, int(share.config.ca_timeout), bool(ctx.server.persistent_handles))


def _record(ctx: Ctx, req: CreateRequest, contexts: CreateContexts, h: Any, info: FileInfo, granted: int,
            res: AdmitResult) -> Handle:
    """The admitted open becomes this process's handle."""
    tree = ctx.tree
    session = ctx.session
    assert tree is not None and session is not None
    handles = ctx.server.handles
    g = res.durable
    lease = res.lease
    pid = res.persistent_id
    opts = req.create_options
    stream = h.stream
    op = _new_handle(  # Handle(...), positional, in field order (file_id ... durable_timeout_ms)
        handles.new_file_id(pid), pid, session, tree, tree.share, h.path, stream,
        stream_key(stream) if stream else "", info.is_directory, h,
        granted, req.share_access, opts, req.create_disposition, bool(opts & _DELETE_ON_CLOSE), opts & 0x103E,
        res.oplock_level, info.file_id, g is not None, g is not None and g.persistent,
        lease.key if lease is not None else None, lease, g.timeout_ms if g is not None else 0)
    dialect = ctx.conn.dialect
    if dialect >= 0x0300:
        op.channel_sequence = ctx.header.channel_sequence  # [MS-SMB2] 3.3.5.9: Open.ChannelSequence
    dq = contexts.durable_v2
    if dq is not None and dialect >= 0x0300:
        op.create_guid = bytes(dq.create_guid)
        op.replay_pending = True
        if contexts.app_instance_id is not None and g is not None:
            op.app_instance_id = bytes(contexts.app_instance_id.app_instance_id)
    handles.add(op)
    tree.open_count += 1
    return op


async def _forget(ctx: Ctx, op: Handle) -> None:
    """Take back an admitted open whose CREATE failed afterwards."""
    from sofs.handlers.close import close_open

    await close_open(ctx.server, op)


def _respond(ctx: Ctx, contexts: CreateContexts, op: Handle, info: FileInfo, action: CreateAction,
             maximal: int, res: AdmitResult, volume_id: int) -> Reply:
    out_ctx: list[CreateContext] = []
    g = res.durable
    if contexts is not _NO_CONTEXTS:  # without contexts: no lease, no durable grant, nothing to answer
        if contexts.maximal_access is not None:
            out_ctx.append(maximal_access_response(maximal))
        if contexts.query_on_disk_id:
            out_ctx.append(on_disk_id_response(info.file_id, volume_id))
        if res.lease is not None:
            out_ctx.append(durable.lease_context(res.lease))
        if g is not None and out_ctx:
            out_ctx.append(durable.grant_context(g))
    if action != _OPENED:  # (the usual open asks no Enum class attribute: each is a metaclass lookup)
        if action == CreateAction.CREATED:
            notify(ctx.server, op, NotifyAction.ADDED)
        elif action == CreateAction.OVERWRITTEN or action == CreateAction.SUPERSEDED:
            # the truncation changes size and attributes (Samba open_file_ntcreate; smb2.dirlease.overwrite)
            notify(ctx.server, op, NotifyAction.MODIFIED, _SIZE | _ATTRIBUTES)
    ctx.chain.file_id = op.file_id  # Ctx.set_file_id
    wt = info.last_write_time  # ChangeTime is reported as LastWriteTime (opens.change_time)
    return reply(encode_create_response(
        op.oplock_level, int(action), info.creation_time, info.last_access_time, wt, wt,
        info.allocation_size, info.end_of_file, info.attributes, op.file_id,
        # the usual persistent CREATE answers with the durable grant alone: its chain encoded once
        out_ctx if out_ctx or g is None else durable.grant_chain(g)))


async def _volume_id(op: Handle) -> int:
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
