"""Replay rules on the state-changing commands of durable opens ([MS-SMB2] 3.3.5.2.10, 3.3.5.14).

- :func:`check_channel_sequence` (before WRITE / SET_INFO / IOCTL / LOCK on a durable open): a
  request with an older ChannelSequence than the open's fails with STATUS_FILE_NOT_AVAILABLE; a newer
  one moves the open forward (journaled for a persistent open).
- :func:`after_lock` (after a successful LOCK): the open's byte-range locks and lock sequence
  numbers are journaled and made durable before the LOCK response.

``install(server)`` wraps the dispatcher's resolved handlers so these run without edits to the
command modules. The explicit alternative for the lead: call ``check_channel_sequence(ctx, req)`` in
``dispatch.dispatch`` for ``spec.modifies_state`` commands with a FileId, and ``await after_lock(ctx)``
at the end of ``handle_lock``.
"""
from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from sofs.handlers.base import Ctx, Reply, SmbError
from sofs.handlers.durable_state import caching, sync_locks, volume
from sofs.handlers.opens import Open, registry
from sofs.handlestate.oplocks import Caching
from sofs.handlestate.replay import check_channel_sequence as channel_rule
from sofs.wire.constants import Command
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

_CHECKED = (Command.WRITE, Command.SET_INFO, Command.IOCTL, Command.LOCK)
_COUNTED = (Command.READ, Command.QUERY_INFO, Command.FLUSH)  # move the sequence, never fail
_INFO_FILE = 1
_RENAME_CLASSES = (10, 65)  # FileRenameInformation, FileRenameInformationEx ([MS-FSCC] 2.4.42/2.4.43)


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


def check_channel_sequence(ctx: Ctx, req: Any, modifies: bool = True) -> None:
    op = _durable_open(ctx, req)
    if op is None:
        return
    hop = op.ext["durable"]
    d = channel_rule(hop.channel_sequence, ctx.header.channel_sequence, dialect=ctx.dialect,
                     is_replay=ctx.header.is_replay, modifies=modifies)
    if d.status != NtStatus.SUCCESS:
        raise SmbError(d.status, "stale ChannelSequence")
    if d.new_sequence != hop.channel_sequence:
        volume(ctx.server, op.share).table.set_channel_sequence(hop.persistent_id, d.new_sequence)


async def after_lock(ctx: Ctx, req: Any) -> None:
    op = _durable_open(ctx, req)
    if op is not None and sync_locks(ctx.server, op):
        await volume(ctx.server, op.share).commit()


def _is_rename(req: Any) -> bool:
    return bool(req.info_type == _INFO_FILE and req.file_info_class in _RENAME_CLASSES)


async def break_handles_for_rename(ctx: Ctx, req: Any) -> None:
    """Before a rename, other leases of the file lose Handle caching and the rename waits for
    their acknowledgment (Samba ``delay_rename_for_r_handles``; smbtorture
    durable-v2-open.purge-disconnected-rh-with-rename). Caching-layer behaviour kept here for want
    of a SET_INFO hook (see the module docstring)."""
    try:
        op = registry(ctx.server).by_id.get(ctx.file_id(bytes(req.file_id)))
    except SmbError:
        return
    mgr = caching(ctx.server)
    if op is None or op.node is None or mgr is None or not mgr.has_holders(op.node.key):
        return
    futs = []
    for h in mgr.holders(op.node.key, exclude_lease=op.ext.get("lease")):
        cur = h.breaking_to if h.breaking_to is not None else h.caching
        if h.is_lease and cur & Caching.H:
            fut = mgr.break_holder(h.ident, cur & ~Caching.H, True)
            if fut is not None:
                futs.append(fut)
    if futs:
        await ctx.go_async()
        await asyncio.wait(futs)


async def after_set_info(ctx: Ctx, req: Any) -> None:
    """A rename or delete-on-close change of a durable open is journaled before the response."""
    op = _durable_open(ctx, req)
    if op is None:
        return
    hop = op.ext["durable"]
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
        check_channel_sequence(ctx, req, modifies)
        if command == Command.SET_INFO and _is_rename(req):
            await break_handles_for_rename(ctx, req)
        out: Reply = await fn(ctx, req)
        if out.status == 0:
            if command == Command.LOCK:
                await after_lock(ctx, req)
            elif command == Command.SET_INFO:
                await after_set_info(ctx, req)
        return out

    wrapped.__sofs_durable__ = True  # type: ignore[attr-defined]
    return wrapped


def _wrap_create(fn: Any) -> Any:
    """DHnC/DH2C reconnects are answered before the CREATE's own validation: a reconnect carries
    arbitrary values in every other field ([MS-SMB2] 3.3.5.9.7: only the FileId and CreateGuid
    count; smbtorture durable-v2-open.reopen2 sends 0x12345678 everywhere)."""
    from sofs.handlers.create_contexts import parse_contexts
    from sofs.handlers.durable_contexts import before_open

    pending: set[tuple[bytes, bytes]] = set()

    @functools.wraps(fn)
    async def wrapped(ctx: Ctx, req: Any) -> Reply:
        key = None
        if req.contexts and ctx.tree is not None and not ctx.tree.is_ipc:
            contexts = parse_contexts(req.contexts, ctx.dialect)
            if contexts.reconnect_v1 is not None or contexts.reconnect_v2 is not None:
                if contexts.reconnect_v2 is not None and contexts.durable_v2 is not None:
                    raise SmbError(NtStatus.INVALID_PARAMETER, "DH2C together with DH2Q")
                out = await before_open(ctx, req, contexts)
                if out is not None:
                    return out
            elif contexts.durable_v2 is not None and ctx.dialect >= 0x0300:
                # a CREATE still waiting (e.g. for a break ack) is not replayed a second time:
                # Samba's replay cache answers FILE_NOT_AVAILABLE (smb2.replay.dhv2-pending*)
                key = (bytes(ctx.conn.client_guid), bytes(contexts.durable_v2.create_guid))
                if key in pending:
                    raise SmbError(NtStatus.FILE_NOT_AVAILABLE, "the CREATE with this CreateGuid is pending")
                pending.add(key)
        if key is None:
            out2: Reply = await fn(ctx, req)
            return out2
        # The open goes on even if the connection drops meanwhile (Samba: a deferred open is not
        # cancelled); the client then finds it by replaying the CREATE (smb2.replay.dhv2-pending2*).
        inner = asyncio.ensure_future(fn(ctx, req))
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


def install(server: ServerState) -> None:
    from sofs.handlers import dispatch

    create = dispatch.handler_for(Command.CREATE)
    if create is not None and not getattr(create, "__sofs_durable__", False):
        dispatch._resolved[Command.CREATE] = _wrap_create(create)
    for command in (*_CHECKED, *_COUNTED):
        fn = dispatch.handler_for(command)
        if fn is None or getattr(fn, "__sofs_durable__", False):
            continue
        dispatch._resolved[command] = _wrap(command, fn)
