"""Durable and persistent handles on the serving side ([MS-SMB2] 3.3.5.9.6-.14, 3.3.5.2.10).

The coordinator decides and journals (:mod:`sofs.handlestate.coord_create`); this module turns
CREATE contexts into requests and answers into contexts, and handles what lives with the
connection:

- DHnC/DH2C reconnects, answered before the CREATE's own validation (a reconnect carries arbitrary
  values in every other field: durable-v2-open.reopen2): the coordinator hands the disconnected open
  to this session (from whichever node its client used before), this process opens the file again;
- CREATEs carrying a DH2Q CreateGuid: a replay of an open the coordinator has is answered with that
  open ([MS-SMB2] 3.3.5.9.10); a replay of a CREATE still running is FILE_NOT_AVAILABLE, and a
  CREATE whose connection drops keeps running, its durable result kept disconnected for a replay;
- the ChannelSequence rule on every request naming a durable open (stale modifying requests fail
  with FILE_NOT_AVAILABLE), and the first use of a FileId clearing the CreateGuid replay entry.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.eager import run_eager
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Handle, caller_of, change_time
from sofs.handlestate.api import HandleStateError, LeaseGrant, OpenImage, ReconnectRequest, ReplayRequest
from sofs.handlestate.durable import (
    DH_FLAG_PERSISTENT,
    OPLOCK_BATCH,
    OPLOCK_LEASE,
    DurableGrant,
    DurableRequest,
)
from sofs.handlestate.model import stream_key
from sofs.handlestate.replay import check_channel_sequence as channel_rule
from sofs.wire.fscc_constants import CreateAction
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.messages.create import CreateResponse
from sofs.wire.messages.create_contexts import (
    CreateContext,
    DurableHandleResponse,
    DurableHandleResponseV2,
    LeaseV1,
    LeaseV2,
    encode_create_contexts,
    to_context,
)
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.durable")
_RECONNECT_NAMES = (b"DHnC", b"DH2C")
_RELATED = b"\xff" * 16


def scan(contexts: list[Any]) -> tuple[bool, bytes | None]:
    """(a reconnect context is there, the DH2Q CreateGuid) from the raw context names, without
    decoding the rest (a malformed DH2Q gives None: the CREATE refuses it)."""
    reconnect, guid = False, None
    for c in contexts:
        name = c.name
        if name == b"DH2Q":
            data = c.data
            if len(data) == 32:
                guid = bytes(data[16:32])
        elif name in _RECONNECT_NAMES:
            reconnect = True
    return reconnect, guid


def request_of(contexts: Any) -> DurableRequest | None:
    if contexts.durable_v2 is not None:
        d = contexts.durable_v2
        return DurableRequest(2, d.timeout, bool(d.flags & DH_FLAG_PERSISTENT), bytes(d.create_guid))
    if contexts.durable_v1 is not None:
        return DurableRequest(1)
    return None


def lease_context(g: LeaseGrant) -> CreateContext:
    """The lease response context in the lease's own format ([MS-SMB2] 2.2.14.2.10 / .11)."""
    if g.version >= 2:
        return to_context(LeaseV2(g.key, g.state, g.flags, 0, g.parent_key or bytes(16), g.epoch))
    return to_context(LeaseV1(g.key, g.state, g.flags, 0))


_DH2Q_RESPONSES: dict[tuple[int, bool], CreateContext] = {}
_DHNQ_RESPONSE = to_context(DurableHandleResponse())


def grant_context(g: DurableGrant) -> CreateContext:
    """The DHnQ / DH2Q response context (immutable, built once per (timeout, flags) seen)."""
    if g.version == 1:
        return _DHNQ_RESPONSE
    key = (g.timeout_ms, g.persistent)
    c = _DH2Q_RESPONSES.get(key)
    if c is None:
        c = to_context(DurableHandleResponseV2(g.timeout_ms, DH_FLAG_PERSISTENT if g.persistent else 0))
        if len(_DH2Q_RESPONSES) < 64:  # client-chosen timeouts: keep the cache small
            _DH2Q_RESPONSES[key] = c
    return c


_DH2Q_CHAINS: dict[tuple[int, bool], bytes] = {}


def grant_chain(g: DurableGrant) -> bytes:
    """The encoded context chain of a response whose only context is the DHnQ / DH2Q answer (the
    common persistent CREATE): built once per (timeout, flags), like :func:`grant_context`."""
    key = (g.timeout_ms if g.version == 2 else -1, g.persistent)
    c = _DH2Q_CHAINS.get(key)
    if c is None:
        c = encode_create_contexts([grant_context(g)])
        if len(_DH2Q_CHAINS) < 64:
            _DH2Q_CHAINS[key] = c
    return c


def _full_name(path: str, stream: str | None) -> str:
    return path + (":" + stream if stream else "")


# --- reconnect --------------------------------------------------------------------------------------

async def reconnect(ctx: Ctx, req: Any, contexts: Any) -> Reply:
    """[MS-SMB2] 3.3.5.9.7 (DHnC) and 3.3.5.9.12 (DH2C)."""
    tree = ctx.tree
    assert tree is not None
    if contexts.reconnect_v2 is not None and contexts.durable_v2 is not None:
        raise SmbError(NtStatus.INVALID_PARAMETER, "DH2C together with DH2Q")
    if contexts.reconnect_v2 is not None:
        version, rc = 2, contexts.reconnect_v2
        guid: bytes | None = bytes(rc.create_guid)
    else:
        version, rc, guid = 1, contexts.reconnect_v1, None
    pid = int.from_bytes(bytes(rc.file_id)[:8], "little")
    share = tree.share
    vol = share.volume
    lease_key = bytes(contexts.lease.lease_key) if contexts.lease is not None else None
    name = req.name.replace("/", "\\")
    try:
        img = await vol.svc.reconnect(ReconnectRequest(caller_of(ctx), pid, version, guid, lease_key,
                                                       vol.to_volume(share, name)))
    except HandleStateError as e:
        raise SmbError(e.status, e.message or "durable reconnect refused") from None
    op, info = await attach(ctx, img)
    out: list[CreateContext] = []
    if img.lease is not None and contexts.lease is not None:
        out.append(_lease_as_asked(img.lease, contexts.lease))
    return _response(ctx, op, info, CreateAction.OPENED, out)


def _lease_as_asked(g: LeaseGrant, asked: Any) -> CreateContext:
    """A reconnect answers the lease in the format the request used."""
    if isinstance(asked, LeaseV2):
        return to_context(LeaseV2(g.key, g.state, 0x4 if g.parent_key else 0, 0, g.parent_key or bytes(16), g.epoch))
    return to_context(LeaseV1(g.key, g.state, 0, 0))


async def attach(ctx: Ctx, img: OpenImage, existing: Handle | None = None) -> tuple[Handle, Any]:
    """The open the coordinator gave this session becomes a handle here: the object is opened again
    (it must still be the same file); on failure the open goes back, disconnected."""
    tree, session = ctx.tree, ctx.session
    assert tree is not None and session is not None
    share = tree.share
    vfs = share.vfs
    vol = share.volume
    if existing is not None and not existing.closed and existing.handle is not None:
        existing.session, existing.tree = session, tree
        info = await run_fs(vfs.stat, existing.handle)
        ctx.set_file_id(existing.file_id)
        return existing, info
    path = vol.to_share(share, img.path)
    try:
        if path is None:
            raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "the open is not on this share")
        opts = img.create_options & (O.DIRECTORY_FILE | O.NON_DIRECTORY_FILE)
        h, _action = await run_fs(vfs.open, _full_name(path, img.stream), D.OPEN, opts, 0)
        try:
            info = await run_fs(vfs.stat, h)
            if info.file_id != img.file_id:
                raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "the file was replaced while disconnected")
        except BaseException:
            await run_fs(vfs.close, h)
            raise
    except BaseException:
        try:
            await vol.svc.disconnect(img.persistent_id)
        except Exception:
            log.exception("giving back %#x failed", img.persistent_id)
        raise
    handles = ctx.server.handles
    old = handles.of_pid(vol.name, img.persistent_id)
    if old is not None and not old.closed:  # a handle of a lost connection not yet let go
        handles.remove(old)
        old.closed = True
        if old.handle is not None:
            await run_fs(vfs.close, old.handle)
    g = img.durable
    op = Handle(
        file_id=handles.new_file_id(img.persistent_id), pid=img.persistent_id, session=session, tree=tree,
        share=share, path=path, stream=img.stream,
        stream_key=stream_key(img.stream) if img.stream else "", is_directory=img.is_directory, handle=h,
        granted_access=img.granted_access, share_access=img.share_access, create_options=img.create_options,
        delete_on_close=img.delete_on_close, oplock_level=img.oplock_level, vfile_id=img.file_id,
        durable=g is not None, persistent=g is not None and g.persistent,
        lease_key=img.lease.key if img.lease is not None else None, lease=img.lease,
        durable_timeout_ms=g.timeout_ms if g is not None else 0, channel_sequence=img.channel_sequence,
        position=img.position)
    handles.add(op)
    tree.open_count += 1
    ctx.set_file_id(op.file_id)
    return op, info


def _response(ctx: Ctx, op: Handle, info: Any, action: int, out: list[CreateContext],
              oplock_level: int | None = None) -> Reply:
    rsp = CreateResponse(
        oplock_level=op.oplock_level if oplock_level is None else oplock_level, flags=0,
        create_action=int(action),
        creation_time=info.creation_time, last_access_time=info.last_access_time,
        last_write_time=info.last_write_time, change_time=change_time(info),
        allocation_size=info.allocation_size, end_of_file=info.end_of_file,
        file_attributes=info.attributes, file_id=op.file_id, contexts=out)
    return reply(rsp.encode())


# --- CREATE replay ----------------------------------------------------------------------------------

async def replayed(ctx: Ctx, req: Any, contexts: Any) -> Reply | None:
    """A DH2Q CREATE naming an open the coordinator has: the same open again ([MS-SMB2] 3.3.5.9.10);
    None when it is a new open. The answer carries the original CreateAction, the *requested* oplock
    level, the open's lease state, and the DH2Q response when the open is durable and the replay
    asked for a batch oplock or a lease."""
    tree = ctx.tree
    assert tree is not None
    vol = tree.share.volume
    lease_key = (bytes(contexts.lease.lease_key)
                 if contexts.lease is not None and req.requested_oplock_level == OPLOCK_LEASE else None)
    try:
        res = await vol.svc.replay(ReplayRequest(caller_of(ctx), bytes(contexts.durable_v2.create_guid),
                                                 ctx.header.is_replay, lease_key))
    except HandleStateError as e:
        raise SmbError(e.status, e.message) from None
    if res.status:
        raise SmbError(res.status, "CreateGuid already in use")
    img = res.image
    if img is None:
        return None
    existing = ctx.server.handles.of_pid(vol.name, img.persistent_id)
    if existing is not None and existing.session is not ctx.session:
        existing = None
    op, info = await attach(ctx, img, existing)
    out: list[CreateContext] = []
    if img.lease is not None and contexts.lease is not None:
        out.append(_lease_as_asked(img.lease, contexts.lease))
    if img.durable is not None and req.requested_oplock_level in (OPLOCK_BATCH, OPLOCK_LEASE):
        out.append(to_context(DurableHandleResponseV2(img.durable.timeout_ms,
                                                      DH_FLAG_PERSISTENT if img.durable.persistent else 0)))
    log.info("CREATE replay of %s answered from the replay cache", op.path)
    return _response(ctx, op, info, img.create_action, out, oplock_level=req.requested_oplock_level)


_pending_creates: set[tuple[bytes, bytes]] = set()
Create = Callable[[Ctx, Any], Awaitable[Reply]]


async def create_with_guid(ctx: Ctx, req: Any, guid: bytes, create: Create) -> Reply:
    """A CREATE with a DH2Q CreateGuid (3.x). One still waiting (e.g. for a break ack) is not
    replayed a second time: FILE_NOT_AVAILABLE (Samba's replay cache; smb2.replay.dhv2-pending*).
    The open goes on even if the connection drops meanwhile (Samba: a deferred open is not
    cancelled); the client then finds it by replaying the CREATE (smb2.replay.dhv2-pending2*). Its
    first step runs inline: most CREATEs finish without suspending and need no Task."""
    key = (bytes(ctx.conn.client_guid), guid)
    if key in _pending_creates:
        raise SmbError(NtStatus.FILE_NOT_AVAILABLE, "the CREATE with this CreateGuid is pending")
    _pending_creates.add(key)
    try:
        done, value = run_eager(asyncio.get_running_loop(), create(ctx, req))
    except BaseException:
        _pending_creates.discard(key)
        raise
    if done:
        _pending_creates.discard(key)
        return value  # type: ignore[no-any-return]
    inner: asyncio.Task[Reply] = value
    inner.add_done_callback(lambda _t: _pending_creates.discard(key))
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        inner.add_done_callback(lambda t: _orphaned(ctx, t))
        raise


def _orphaned(ctx: Ctx, task: asyncio.Future[Any]) -> None:
    """A DH2Q CREATE finished after its connection was lost: a durable result is kept disconnected
    (for a replay or a reconnect), anything else is closed."""
    if task.cancelled() or task.exception() is not None:
        return
    fid = ctx.chain.file_id
    h = ctx.server.handles.by_id.get(fid) if fid is not None else None
    if h is None or h.closed:
        return
    conn = h.session.connection
    driver = ctx.server.connections.get(conn.conn_id) if conn.conn_id else None
    if driver is not None and not getattr(driver, "closed", False):
        return
    from sofs.handlers.opens import _spawn, lose_handle

    _spawn(lose_handle(ctx.server, h))


# --- every request naming a durable open ------------------------------------------------------------

async def on_request(ctx: Ctx, req: Any, modifies: bool, closing: bool = False) -> None:
    """Before a handler whose request has a FileId: the first use of the FileId clears its CreateGuid
    replay entry (Samba ``smbXsrv_open_clear_replay_cache``; a related compound request does not
    count, smb2.replay.replay6), and the ChannelSequence rule of [MS-SMB2] 3.3.5.2.10 applies to every
    open on SMB 3.x (as Samba's smbd_smb2_request_dispatch_update_counts): a stale modifying request
    fails with FILE_NOT_AVAILABLE, a newer sequence moves the open forward (journaled for a durable
    open before the request runs; smb2.replay.channel-sequence on a scale-out share, where the open
    is not durable). A CLOSE leaves the replay entry to the close itself, which drops it with the
    open: no call of its own."""
    fid = getattr(req, "file_id", None)
    if fid is None:
        return
    raw = bytes(fid)
    h = ctx.open  # dispatch looked the FileId up (opens.lookup_open)
    if h is None or h.session is not ctx.session or h.closed:
        return
    if h.replay_pending and not closing and not ctx.header.is_related and raw != _RELATED:
        h.replay_pending = False
        await h.share.volume.svc.forget_replay(h.pid)
    d = channel_rule(h.channel_sequence, ctx.header.channel_sequence, dialect=ctx.dialect,
                     is_replay=ctx.header.is_replay, modifies=modifies)
    if d.status != NtStatus.SUCCESS:
        raise SmbError(d.status, "stale ChannelSequence")
    if d.new_sequence != h.channel_sequence:
        h.channel_sequence = d.new_sequence
        if h.durable or h.resilient:  # a plain open's sequence lives and dies with this handle
            await h.share.volume.svc.set_channel_sequence(h.pid, d.new_sequence)
