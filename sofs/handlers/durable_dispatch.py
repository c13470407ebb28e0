"""Replay and durability rules on the commands of durable opens ([MS-SMB2] 3.3.5.2.10, 3.3.5.9.10,
3.3.5.14), applied around the dispatcher's handlers.

- :func:`check_channel_sequence` (every request naming a durable open; WRITE / SET_INFO / IOCTL /
  LOCK are the modifying ones): an older ChannelSequence fails a modifying request with
  STATUS_FILE_NOT_AVAILABLE; a newer one moves the open forward, journaled before the response;
- :func:`after_lock`: the open's byte-range locks and lock sequence numbers are journaled and
  durable before the LOCK response; :func:`after_set_info`: a rename or delete-on-close change;
- CLOSE of a persistent open: the removal is durable before the response;
- OPLOCK_BREAK acknowledgments: the acknowledged lease state / oplock level is journaled first;
- CREATE: DHnC/DH2C reconnects are answered before the CREATE's own validation; a DH2Q CREATE in
  progress answers a replay of itself with FILE_NOT_AVAILABLE and keeps running if its connection
  drops (the client finds the open by replaying).

``install(server)`` wraps ``dispatch._resolved`` (an adapter: no hook existed). The explicit calls
for the lead, to replace the adapter (then delete ``install``):

- ``sofs/handlers/dispatch.py``, before a handler whose request has a FileId (3.x):
  ``if durable_dispatch.check_channel_sequence(ctx, req, spec.modifies_state): await durable_dispatch.commit_channel_sequence(ctx, req)``
- ``sofs/handlers/lock.py``, end of ``handle_lock`` on success: ``await durable_dispatch.after_lock(ctx, req)``
- ``sofs/handlers/setinfo.py``, end of a successful SET_INFO: ``await durable_dispatch.after_set_info(ctx, req)``
- ``sofs/handlers/close.py``, ``handle_close`` after ``close_open``: ``await durable_state.volume(ctx.server, op.share).commit()``
- ``sofs/handlers/oplock.py``, end of ``handle_oplock_break`` on success: ``await durable_dispatch.after_break_ack(ctx, req)``
- ``sofs/handlers/create.py``, first line of ``handle_create``: route DHnC/DH2C to the
  ``create_reconnect`` hooks *before* validating the other CREATE fields (see :func:`_wrap_create`).
"""
from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.handlers.durable_state import caching, replay_cache, sync_locks, volume
from sofs.handlers.eager import run_eager
from sofs.handlers.opens import Open, registry
from sofs.handlestate.model import Open as HOpen
from sofs.handlestate.replay import check_channel_sequence as channel_rule
from sofs.wire.constants import Command
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

_CHECKED = (Command.WRITE, Command.SET_INFO, Command.IOCTL, Command.LOCK)
# move the sequence, never fail
_COUNTED = (Command.READ, Command.QUERY_INFO, Command.FLUSH, Command.QUERY_DIRECTORY, Command.CHANGE_NOTIFY)
_RELATED = b"\xff" * 16


def _durable_open(ctx: Ctx, req: Any) -> Open | None:
    fid = getattr(req, "file_id", None)
    if fid is None:
        return None
    try:
        resolved = ctx.file_id(bytes(fid))
    except SmbError:
        return None
    op = registry(ctx.server).by_id.get(resolved)
    if op is None or op.session is not ctx.session or "durable" not in op.ext:
        return None
    return op


def clear_replay_entry(ctx: Ctx, req: Any) -> None:
    """A request naming an open by its FileId proves the client saw the CREATE response: the
    open's CreateGuid leaves the replay cache, so a later CREATE replay with that GUID is a new
    open (Samba ``smbXsrv_open_clear_replay_cache`` in ``smb2srv_open_lookup``; a related
    compound request does not count, smb2.replay.replay6)."""
    fid = getattr(req, "file_id", None)
    if fid is None or ctx.header.is_related or bytes(fid) == _RELATED:
        return
    op = registry(ctx.server).by_id.get(bytes(fid))
    if op is None or op.session is not ctx.session:
        return
    key = op.ext.pop("replay_key", None)
    if key is not None:
        cache = replay_cache(ctx.server)
        if cache.get(key, (None,))[0] is op:
            del cache[key]


def check_channel_sequence(ctx: Ctx, req: Any, modifies: bool = True) -> bool:
    """Apply [MS-SMB2] 3.3.5.2.10; True when the open's ChannelSequence moved (the caller then
    awaits ``commit_channel_sequence`` before the response: a persistent open's sequence is
    journaled first, so a request from before a failover stays stale after a restart too)."""
    op = _durable_open(ctx, req)
    if op is None:
        return False
    hop = op.ext["durable"]
    d = channel_rule(hop.channel_sequence, ctx.header.channel_sequence, dialect=ctx.dialect,
                     is_replay=ctx.header.is_replay, modifies=modifies)
    if d.status != NtStatus.SUCCESS:
        raise SmbError(d.status, "stale ChannelSequence")
    if d.new_sequence == hop.channel_sequence:
        return False
    volume(ctx.server, op.share).table.set_channel_sequence(hop.persistent_id, d.new_sequence)
    return bool(hop.persistent)


async def commit_channel_sequence(ctx: Ctx, req: Any) -> None:
    op = _durable_open(ctx, req)
    if op is not None:
        await volume(ctx.server, op.share).commit()


async def after_lock(ctx: Ctx, req: Any) -> None:
    op = _durable_open(ctx, req)
    if op is not None and sync_locks(ctx.server, op):
        await volume(ctx.server, op.share).commit()


async def after_set_info(ctx: Ctx, req: Any) -> None:
    """A rename or delete-on-close change of a durable open is journaled before the response."""
    op = _durable_open(ctx, req)
    if op is None:
        return
    hop: HOpen = op.ext["durable"]
    v = volume(ctx.server, op.share)
    if v.table.get_by_persistent(hop.persistent_id) is not hop:
        return
    if op.path != hop.path:
        v.table.move_path(hop.file_id, hop.path, op.path, hop.is_directory)
    if bool(op.delete_on_close) != hop.delete_on_close:
        v.table.set_delete_on_close(hop.persistent_id, bool(op.delete_on_close))
    await v.commit()


def _wrap(command: int, fn: Any) -> Any:
    modifies = command in _CHECKED

    @functools.wraps(fn)
    async def wrapped(ctx: Ctx, req: Any) -> Reply:
        clear_replay_entry(ctx, req)
        if check_channel_sequence(ctx, req, modifies):
            await commit_channel_sequence(ctx, req)
        out: Reply = await fn(ctx, req)
        if out.status == 0:
            if command == Command.LOCK:
                await after_lock(ctx, req)
            elif command == Command.SET_INFO:
                await after_set_info(ctx, req)
        return out

    wrapped.__sofs_durable__ = True  # type: ignore[attr-defined]
    return wrapped


_RECONNECT_NAMES = (b"DHnC", b"DH2C")


def _scan(contexts: list[Any]) -> tuple[bool, bytes | None]:
    """(a reconnect context is there, the DH2Q CreateGuid) from the raw context names, without
    decoding the rest (a malformed DH2Q gives None: ``handle_create`` refuses it)."""
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


def _wrap_create(fn: Any) -> Any:
    """DHnC/DH2C reconnects are answered before the CREATE's own validation: a reconnect carries
    arbitrary values in every other field ([MS-SMB2] 3.3.5.9.7: only the FileId and CreateGuid
    count; smbtorture durable-v2-open.reopen2 sends 0x12345678 everywhere).

    A CREATE without a DHnC/DH2C/DH2Q context (or an IPC$ one) costs one scan of the raw context
    names here; the contexts are decoded once, by ``handle_create``, except for a reconnect."""
    from sofs.handlers.create_contexts import parse_contexts
    from sofs.handlers.durable_contexts import before_open

    pending: set[tuple[bytes, bytes]] = set()

    @functools.wraps(fn)
    async def wrapped(ctx: Ctx, req: Any) -> Reply:
        if not req.contexts or ctx.tree is None or ctx.tree.is_ipc:
            return await fn(ctx, req)  # type: ignore[no-any-return]
        reconnect, guid = _scan(req.contexts)
        if reconnect:
            contexts = parse_contexts(req.contexts, ctx.dialect)
            if contexts.reconnect_v1 is not None or contexts.reconnect_v2 is not None:
                if contexts.reconnect_v2 is not None and contexts.durable_v2 is not None:
                    raise SmbError(NtStatus.INVALID_PARAMETER, "DH2C together with DH2Q")
                out = await before_open(ctx, req, contexts)
                if out is not None:
                    return out
        if guid is None or ctx.dialect < 0x0300:
            return await fn(ctx, req)  # type: ignore[no-any-return]
        # a CREATE still waiting (e.g. for a break ack) is not replayed a second time:
        # Samba's replay cache answers FILE_NOT_AVAILABLE (smb2.replay.dhv2-pending*)
        key = (bytes(ctx.conn.client_guid), guid)
        if key in pending:
            raise SmbError(NtStatus.FILE_NOT_AVAILABLE, "the CREATE with this CreateGuid is pending")
        pending.add(key)
        # The open goes on even if the connection drops meanwhile (Samba: a deferred open is not
        # cancelled); the client then finds it by replaying the CREATE (smb2.replay.dhv2-pending2*).
        # Its first step runs here: most CREATEs finish without suspending, and then need no Task
        # (which would also take the response off the connection's batched write).
        try:
            done, value = run_eager(asyncio.get_running_loop(), fn(ctx, req))
        except BaseException:
            pending.discard(key)
            raise
        if done:
            pending.discard(key)
            return value  # type: ignore[no-any-return]
        inner: asyncio.Task[Reply] = value
        inner.add_done_callback(lambda _t: pending.discard(key))
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            inner.add_done_callback(lambda t: _orphaned_create(ctx.server, key, t))
            raise

    wrapped.__sofs_durable__ = True  # type: ignore[attr-defined]
    return wrapped


def _orphaned_create(server: Any, key: tuple[bytes, bytes], task: asyncio.Future[Any]) -> None:
    """A DH2Q CREATE finished after its connection was lost: a durable result is kept disconnected
    (for a replay or a reconnect), anything else is closed."""
    if task.cancelled() or task.exception() is not None:
        return
    from sofs.handlers.close import close_open
    from sofs.handlers.durable_state import _spawn, disconnect, replay_cache

    cached = replay_cache(server).get(key)
    if cached is None or cached[0].closed:
        return
    op = cached[0]
    conn = op.session.connection
    driver = server.connections.get(conn.conn_id) if conn.conn_id else None
    if driver is not None and not getattr(driver, "closed", False):
        return
    if not disconnect(server, op):
        _spawn(close_open(server, op))


def _wrap_close(fn: Any) -> Any:
    """CLOSE of a persistent open: its removal is on stable storage before the response (a
    restart must not bring back a handle the client saw closed). The ``on_open_closed`` hook
    (``durable_state.forget``) journals the removal and commits it inline when the volume syncs
    fast; here the response waits for a commit still under way (group commit in a thread). Only
    a CA tree can hold persistent opens, so a CLOSE elsewhere costs one attribute test."""
    @functools.wraps(fn)
    async def wrapped(ctx: Ctx, req: Any) -> Reply:
        out: Reply = await fn(ctx, req)
        tree = ctx.tree
        if tree is not None and tree.is_ca:
            j = volume(ctx.server, tree.share).journal
            if j is not None and j.pending:
                await j.commit()
        return out

    wrapped.__sofs_durable__ = True  # type: ignore[attr-defined]
    return wrapped


def _wrap_break_ack(fn: Any) -> Any:
    """OPLOCK_BREAK acknowledgment: the lease state / oplock level the client now relies on is
    journaled for its durable opens before the response."""
    @functools.wraps(fn)
    async def wrapped(ctx: Ctx, req: Any) -> Reply:
        out: Reply = await fn(ctx, req)
        if out.status == 0:
            await after_break_ack(ctx, req)
        return out

    wrapped.__sofs_durable__ = True  # type: ignore[attr-defined]
    return wrapped


async def after_break_ack(ctx: Ctx, req: Any) -> None:
    from sofs.handlers.durable_state import sync_lease

    ops: list[Open] = []
    key = getattr(req, "lease_key", None)
    if key is not None:
        mgr = caching(ctx.server)
        lease = mgr.leases.get(ctx.conn.client_guid, key) if mgr is not None else None
        ops = [o for o in getattr(lease, "opens", ()) if "durable" in o.ext]
    else:
        op = _durable_open(ctx, req)
        if op is not None:
            hop: HOpen = op.ext["durable"]
            v = volume(ctx.server, op.share)
            if v.table.get_by_persistent(hop.persistent_id) is hop and hop.oplock_level != op.oplock_level:
                v.table.set_oplock(hop.persistent_id, op.oplock_level)
            ops = [op]
    for o in ops:
        sync_lease(ctx.server, o)
    for v in {id(volume(ctx.server, o.share)): volume(ctx.server, o.share) for o in ops}.values():
        await v.commit()


def install(server: ServerState) -> None:
    from sofs.handlers import dispatch

    for command, wrap in ((Command.CLOSE, _wrap_close), (Command.OPLOCK_BREAK, _wrap_break_ack)):
        fn = dispatch.handler_for(command)
        if fn is not None and not getattr(fn, "__sofs_durable__", False):
            dispatch._resolved[command] = wrap(fn)
    create = dispatch.handler_for(Command.CREATE)
    if create is not None and not getattr(create, "__sofs_durable__", False):
        dispatch._resolved[Command.CREATE] = _wrap_create(create)
    for command in (*_CHECKED, *_COUNTED):
        fn = dispatch.handler_for(command)
        if fn is None or getattr(fn, "__sofs_durable__", False):
            continue
        dispatch._resolved[command] = _wrap(command, fn)
