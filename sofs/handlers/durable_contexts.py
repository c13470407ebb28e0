"""CREATE with durable/persistent contexts: grant (DHnQ/DH2Q), reconnect (DHnC/DH2C), CREATE replay
by CreateGuid, App Instance ID, purge of abandoned durable opens ([MS-SMB2] 3.3.5.9.6-3.3.5.9.14).

Hooks (registered by :mod:`sofs.server.persist_install`):

- ``create_reconnect`` → :func:`before_open`: runs before any open. Reconnects answer here (the
  reclaimed open's CREATE response), so do replayed CREATEs (same FileId, no second open); an App
  Instance ID closes the stale open of the previous instance; a disconnected non-persistent durable
  open of the same file is closed (its oplock/lease could not be broken).
- ``create_context_handlers`` → :func:`grant`: after the open and **after the oplock/lease hook**
  (the v1/v2 rules need the granted oplock level / lease state): decides, records the open in the
  share's table and, for a persistent open, awaits the journal (group commit) before answering.
"""
from __future__ import annotations

import logging
from typing import Any

from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.durable_state import (
    VolumeHandles,
    caching,
    mark,
    pid_of,
    remember_create,
    replay_cache,
    sync_lease,
    volume,
)
from sofs.handlers.fsio import run_fs
from sofs.handlers.opens import Open, change_time, registry
from sofs.handlestate import records as R
from sofs.handlestate.appinstance import is_stale, version_allows_close
from sofs.handlestate.durable import (
    DH_FLAG_PERSISTENT,
    OPLOCK_BATCH,
    OPLOCK_LEASE,
    DurableRequest,
    ReconnectFacts,
    check_reconnect,
    decide_grant,
    should_purge,
)
from sofs.handlestate.model import Lease, LeaseState
from sofs.handlestate.model import Open as HOpen
from sofs.handlestate.oplocks import is_stat_open, plan_breaks
from sofs.handlestate.replay import create_replay_status
from sofs.handlestate.table import HandleStateError
from sofs.vfs.names import fold_name
from sofs.wire.fscc_constants import AccessMask as A
from sofs.wire.fscc_constants import CreateAction, map_generic
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.messages.create import CreateResponse
from sofs.wire.messages.create_contexts import (
    CreateContext,
    DurableHandleResponse,
    DurableHandleResponseV2,
    LeaseV1,
    LeaseV2,
    to_context,
)
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.durable")
_OVERWRITE = (D.SUPERSEDE, D.OVERWRITE, D.OVERWRITE_IF)


def _user(ctx: Ctx) -> str:
    u = ctx.session.user if ctx.session is not None else None
    return str(getattr(u, "sid", "") or getattr(u, "name", ""))


def _norm(path: str) -> str:
    return fold_name(path.strip("\\"))


def _full_name(op: Open) -> str:
    return op.path + (":" + op.stream if op.stream else "")


def _request(contexts: Any) -> DurableRequest | None:
    if contexts.durable_v2 is not None:
        d = contexts.durable_v2
        return DurableRequest(2, d.timeout, bool(d.flags & DH_FLAG_PERSISTENT), bytes(d.create_guid))
    if contexts.durable_v1 is not None:
        return DurableRequest(1)
    return None


# --- before the open --------------------------------------------------------------------------------

async def before_open(ctx: Ctx, req: Any, contexts: Any) -> Reply | None:
    """``create_reconnect`` hook."""
    assert ctx.tree is not None
    v = volume(ctx.server, ctx.tree.share)
    if contexts.reconnect_v1 is not None or contexts.reconnect_v2 is not None:
        return await _reconnect(ctx, req, contexts, v)
    if contexts.durable_v2 is not None and ctx.dialect >= 0x0300:
        cached = replay_cache(ctx.server).get((ctx.conn.client_guid, bytes(contexts.durable_v2.create_guid)))
        if cached is not None and not cached[0].closed:
            status = create_replay_status(True, True, cached[1] == _user(ctx), ctx.header.is_replay)
            if status is None:
                return await _replay_create(ctx, req, contexts, v, cached[0])
            if status != NtStatus.SUCCESS:
                raise SmbError(status, "CreateGuid already in use")
    if contexts.app_instance_id is not None and contexts.durable_v2 is not None:
        await _close_stale_instance(ctx, req, contexts, v)
    if v.live:
        await _purge_conflicting(ctx, req, contexts, v)
    return None


async def _close_stale_instance(ctx: Ctx, req: Any, contexts: Any, v: VolumeHandles) -> None:
    """[MS-SMB2] 3.3.5.9.13/.14: close the previous instance's open of this file."""
    from sofs.handlers.close import close_open

    app = bytes(contexts.app_instance_id.app_instance_id)
    ver = contexts.app_instance_version
    new_ver = (ver.version_high, ver.version_low) if ver is not None else None
    want = _norm(req.name)
    for hop in v.table.get_by_app_instance(app):
        if not is_stale(app, ctx.conn.client_guid, None, other_app_id=hop.app_instance_id,
                        other_client_guid=hop.client_guid, other_file_id=hop.file_id):
            continue
        if _norm(hop.path) != want:
            continue
        status = version_allows_close(hop.app_instance_version, new_ver)
        if status != NtStatus.SUCCESS:
            raise SmbError(status, "a newer instance of the application holds the file")
        op = v.live.get(hop.persistent_id)
        log.info("app instance %s: closing stale open of %s", app.hex(), hop.path)
        if op is not None:
            await close_open(ctx.server, op)
        elif v.table.get_by_persistent(hop.persistent_id) is hop:
            v.table.close_open(hop.persistent_id)
    await v.commit()


async def _purge_conflicting(ctx: Ctx, req: Any, contexts: Any, v: VolumeHandles) -> None:
    """Close the disconnected non-persistent durable opens of the file that the new open conflicts
    with: a sharing violation, or an oplock/lease break that could not be delivered (Samba
    ``delay_for_oplock``/``share_mode_... durable disconnected``; smbtorture durable-v2-open
    purge-disconnected-* vs keep-disconnected-*). Persistent opens stay; the new open then meets
    their share modes and locks."""
    from sofs.handlers.close import close_open
    from sofs.handlers.open_logic import check_share_access

    want = _norm(req.name)
    doomed = [op for op in list(v.live.values())
              if _is_abandoned(v, op) and _norm(_full_name(op)) == want]
    if not doomed:
        return
    access = map_generic(req.desired_access, False)
    if access & A.MAXIMUM_ALLOWED:
        access |= A.FILE_READ_DATA | A.FILE_WRITE_DATA
    overwrite = req.create_disposition in _OVERWRITE
    own_lease = (ctx.conn.client_guid, bytes(contexts.lease.lease_key)) if (
        contexts.lease is not None and req.requested_oplock_level == OPLOCK_LEASE) else None
    mgr = caching(ctx.server)
    for op in doomed:
        try:
            check_share_access([op], int(access), req.share_access)
            conflict = False
        except SmbError:
            conflict = True
        if not conflict and mgr is not None and op.node is not None and (
                overwrite or not is_stat_open(int(access))):
            lease = op.ext.get("lease")
            if lease is not None and own_lease == (lease.client_guid, lease.key):
                continue
            mine = [h for h in mgr.holders(op.node.key) if h.ident is op or h.ident is lease]
            conflict = bool(plan_breaks(mine, False, overwrite))
        if conflict:
            log.info("purging disconnected durable open of %s for a conflicting open", op.path)
            await close_open(ctx.server, op)


def _is_abandoned(v: VolumeHandles, op: Open) -> bool:
    hop: HOpen | None = op.ext.get("durable")
    return (hop is not None and not op.closed and v.table.get_by_persistent(hop.persistent_id) is hop
            and should_purge(persistent=hop.persistent, disconnected=not hop.connected))


# --- reconnect --------------------------------------------------------------------------------------

def _conn_alive(ctx: Ctx, op: Open) -> bool:
    conn = op.session.connection
    driver = ctx.server.connections.get(conn.conn_id) if conn.conn_id else None
    return driver is not None and not getattr(driver, "closed", False)


async def _reconnect(ctx: Ctx, req: Any, contexts: Any, v: VolumeHandles) -> Reply:
    """[MS-SMB2] 3.3.5.9.7 (DHnC) and 3.3.5.9.12 (DH2C)."""
    if contexts.reconnect_v2 is not None:
        version, rc = 2, contexts.reconnect_v2
        guid: bytes | None = bytes(rc.create_guid)
    else:
        version, rc, guid = 1, contexts.reconnect_v1, None
    pid = pid_of(bytes(rc.file_id))
    hop = v.table.get_by_persistent(pid)
    op = v.live.get(pid)
    if hop is not None and op is not None and hop.connected and not _conn_alive(ctx, op):
        v.table.disconnect(pid, 0)  # its connection is gone but the loss was not seen yet
    lease_key = bytes(contexts.lease.lease_key) if contexts.lease is not None else None
    facts = None if hop is None or op is None else ReconnectFacts(
        2 if hop.create_guid is not None else 1, hop.create_guid, hop.client_guid, hop.owner_sid,
        hop.lease_key, hop.connected)
    status = check_reconnect(facts, version=version, create_guid=guid, client_guid=ctx.conn.client_guid,
                             user=_user(ctx), lease_key=lease_key,
                             name_matches=op is not None and _norm(req.name) == _norm(_full_name(op)))
    if status != NtStatus.SUCCESS:
        raise SmbError(status, "durable reconnect refused")
    assert hop is not None and op is not None
    info = await _attach(ctx, v, hop, op)
    out: list[CreateContext] = []
    lease_ctx = _lease_context(op, contexts)
    if lease_ctx is not None:
        out.append(lease_ctx)
    return _response(ctx, op, info, CreateAction.OPENED, out)


async def _attach(ctx: Ctx, v: VolumeHandles, hop: HOpen, op: Open) -> Any:
    """Give the disconnected open to this session and tree (re-opening the file after a restart)."""
    assert ctx.tree is not None and ctx.session is not None
    vfs = op.share.vfs
    if op.handle is None:
        name = hop.path + (":" + hop.stream if hop.stream else "")
        opts = hop.create_options & (O.DIRECTORY_FILE | O.NON_DIRECTORY_FILE)
        h, _action = await run_fs(vfs.open, name, D.OPEN, opts, 0)
        info = await run_fs(vfs.stat, h)
        if info.file_id != hop.file_id:
            await run_fs(vfs.close, h)
            raise SmbError(NtStatus.OBJECT_NAME_NOT_FOUND, "the file was replaced while disconnected")
        op.handle = h
    else:
        info = await run_fs(vfs.stat, op.handle)
    op.session, op.tree, op.share = ctx.session, ctx.tree, ctx.tree.share
    ctx.tree.open_count += 1
    v.table.apply(R.OpenReconnected(hop.persistent_id, hop.volatile_id, ctx.session.session_id,
                                    ctx.tree.tree_id))
    registry(ctx.server).add(op)
    await v.commit()
    ctx.set_file_id(op.file_id)
    return info


def _lease_context(op: Open, contexts: Any) -> CreateContext | None:
    lease = op.ext.get("lease")
    if lease is None or contexts.lease is None:
        return None
    if isinstance(contexts.lease, LeaseV2):
        parent = lease.parent_key or bytes(16)
        flags = 0x4 if lease.parent_key else 0
        return to_context(LeaseV2(lease.key, int(lease.state), flags, 0, parent, lease.epoch))
    return to_context(LeaseV1(lease.key, int(lease.state), 0, 0))


def _response(ctx: Ctx, op: Open, info: Any, action: int, out: list[CreateContext],
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

async def _replay_create(ctx: Ctx, req: Any, contexts: Any, v: VolumeHandles, op: Open) -> Reply:
    """A replayed CREATE (REPLAY flag + a CreateGuid in the replay cache): the same open again, not a
    second one ([MS-SMB2] 3.3.5.9.10; Samba ``smbd_smb2_create_send`` replay rules, smbtorture
    smb2.replay). Any DH2Q CREATE is cached, durable or not (Samba ``need_replay_cache``).

    - a lease in the replay needs the open to hold a lease with that key (else ACCESS_DENIED);
    - the answer carries the original CreateAction, the *requested* oplock level, the open's current
      lease state, and the DH2Q response when the open is durable and the replay asked for a batch
      oplock or a lease;
    - if a durable open lost its connection (the response never arrived), it moves to this session."""
    if contexts.lease is not None and req.requested_oplock_level == OPLOCK_LEASE:
        lease = op.ext.get("lease")
        if lease is None or bytes(lease.key) != bytes(contexts.lease.lease_key):
            raise SmbError(NtStatus.ACCESS_DENIED, "replay with another lease")
    hop: HOpen | None = op.ext.get("durable")
    if hop is not None and v.table.get_by_persistent(hop.persistent_id) is not hop:
        hop = None
    if hop is None:
        if op.session is not ctx.session or op.handle is None:
            raise SmbError(NtStatus.FILE_NOT_AVAILABLE, "replayed open belongs to another session")
        info = await run_fs(op.share.vfs.stat, op.handle)
        ctx.set_file_id(op.file_id)
    elif hop.connected and _conn_alive(ctx, op) and op.session is not ctx.session:
        raise SmbError(NtStatus.FILE_NOT_AVAILABLE, "replayed open still in use elsewhere")
    elif not hop.connected or op.session is not ctx.session:
        if hop.connected:
            v.table.disconnect(hop.persistent_id, 0)
        info = await _attach(ctx, v, hop, op)
    else:
        info = await run_fs(op.share.vfs.stat, op.handle)
        ctx.set_file_id(op.file_id)
    out: list[CreateContext] = []
    lease_ctx = _lease_context(op, contexts)
    if lease_ctx is not None:
        out.append(lease_ctx)
    if hop is not None and req.requested_oplock_level in (OPLOCK_BATCH, OPLOCK_LEASE):
        out.append(to_context(DurableHandleResponseV2(hop.durable_timeout_ms,
                                                      DH_FLAG_PERSISTENT if hop.persistent else 0)))
    log.info("CREATE replay of %s answered from the replay cache", op.path)
    action = op.ext.get("create_action", CreateAction.OPENED)
    return _response(ctx, op, info, action, out, oplock_level=req.requested_oplock_level)


# --- grant ------------------------------------------------------------------------------------------

async def grant(ctx: Ctx, req: Any, contexts: Any, op: Open, action: int = CreateAction.OPENED,
                *_: Any) -> list[CreateContext]:
    """``create_context_handlers`` hook: make the new open durable/persistent if asked and allowed."""
    if op.is_pipe or op.handle is None or op.node is None or ctx.tree is None:
        return []
    op.ext["create_action"] = int(action)  # a replayed CREATE answers with it
    dreq = _request(contexts)
    if dreq is None:
        return []
    if dreq.create_guid is not None and ctx.dialect >= 0x0300:
        remember_create(ctx.server, op, ctx.conn.client_guid, dreq.create_guid, _user(ctx))
    lease = op.ext.get("lease")
    g = decide_grant(dreq, dialect=ctx.dialect, is_ca=ctx.tree.is_ca,
                     server_persistent=bool(ctx.server.extensions.get("persistent_handles")),
                     oplock_level=op.oplock_level, lease_state=int(lease.state) if lease is not None else 0,
                     is_directory=op.is_directory, ca_timeout_s=int(ctx.tree.share.config.ca_timeout))
    if g is None:
        return []
    v = volume(ctx.server, ctx.tree.share)
    app = contexts.app_instance_id if g.version == 2 else None
    ver = contexts.app_instance_version if app is not None else None
    assert ctx.session is not None
    fid = op.file_id
    hop = HOpen(
        persistent_id=int.from_bytes(fid[:8], "little"), volatile_id=int.from_bytes(fid[8:], "little"),
        file_id=op.node.key[1], path=op.path, stream=op.stream, is_directory=op.is_directory,
        granted_access=op.granted_access, share_access=op.share_access, create_options=op.create_options,
        session_id=ctx.session.session_id, tree_id=ctx.tree.tree_id, client_guid=ctx.conn.client_guid,
        owner_sid=_user(ctx), durable=True, persistent=g.persistent, durable_timeout_ms=g.timeout_ms,
        create_guid=dreq.create_guid if g.version == 2 else None,
        app_instance_id=bytes(app.app_instance_id) if app is not None else None,
        app_instance_version=(ver.version_high, ver.version_low) if ver is not None else None,
        oplock_level=op.oplock_level, lease_key=lease.key if lease is not None else None)
    try:
        hop = v.table.add_open(hop, check=False)
    except HandleStateError as e:
        log.info("durable grant refused for %s: %s", op.path, e)
        return []
    mark(op, hop)
    v.live[hop.persistent_id] = op
    if lease is not None:
        v.table.set_lease(hop.file_id, Lease(lease.client_guid, lease.key, LeaseState(int(lease.state)),
                                             lease.epoch, lease.version, lease.parent_key))
        sync_lease(ctx.server, op)
    if g.persistent:
        j = v.journal
        try:
            if j is not None and not j.commit_now():
                await j.commit()  # durable before the response grants it (group commit)
        except OSError:
            log.exception("journal commit failed: %s not granted persistence", op.path)
            from sofs.handlers.durable_state import forget

            forget(ctx.server, op)
            op.ext.pop("durable", None)
            op.ext.pop("persistent", None)
            return []
    if g.version == 1:
        return [to_context(DurableHandleResponse())]
    return [_dh2q_response(g.timeout_ms, g.persistent)]


_DH2Q_RESPONSES: dict[tuple[int, bool], CreateContext] = {}


def _dh2q_response(timeout_ms: int, persistent: bool) -> CreateContext:
    """The DH2Q response context (immutable), built once per (timeout, flags) seen."""
    key = (timeout_ms, persistent)
    c = _DH2Q_RESPONSES.get(key)
    if c is None:
        c = to_context(DurableHandleResponseV2(timeout_ms, DH_FLAG_PERSISTENT if persistent else 0))
        if len(_DH2Q_RESPONSES) < 64:  # client-chosen timeouts: keep the cache small
            _DH2Q_RESPONSES[key] = c
    return c
