"""Register oplocks, leases, byte-range locks and change notify on a server (``install(server)``).

Listed in ``sofs.server.app.EXTENSION_MODULES``. The state lives in ``sofs.handlestate.{oplocks,
leases,locks,notify}`` (pure); the run-time glue is in ``sofs.handlers.{breaks,oplock,lock,notify}``,
imported here lazily (this module only wires).

Hooks registered in ``server.extensions``:

- ``create_before_admit``: ``f(ctx, req, contexts, handle, info) -> Awaitable | None`` — the CREATE
  path calls it after the VFS open and before the share-mode check and awaits what it returns
  (breaks + wait for acks, async CREATE); None when there is nothing to break (no coroutine);
- ``create_context_handlers``: grant the oplock / lease, return the RqLs response context (a list,
  or an awaitable of one: the CREATE path awaits anything that is not a list);
- ``before_rename`` / ``before_delete``: ``await f(ctx, open)`` before a rename / delete-on-close /
  disposition through ``open``: other leases lose H, the request waits for the acks (async); a
  directory rename also breaks H of the opens below it, file by file, and raises ACCESS_DENIED
  when one stays open (the caller must run it *before* refusing for open children);
- ``check_read`` / ``check_write``: byte-range lock conflicts (FILE_LOCK_CONFLICT);
- ``on_write``: a write breaks other opens' level II oplocks / read leases to none;
- ``on_open_closed``: locks released (waiters woken), oplock/lease share dropped (break waiters
  released), notify watch cleaned up (NOTIFY_CLEANUP);
- ``notify_change``: ``f(server, share, path, action, completion_filter, origin_open=None)``, called by
  the handlers for every change (CREATE added, CLOSE removed, SET_INFO modified, rename); a size
  change (SET_INFO end-of-file / allocation) also breaks level II oplocks and read leases;
- ``caching``: the :class:`~sofs.handlers.breaks.CachingManager`;
- ``directory_leasing``: True (NEGOTIATE may advertise SMB2_GLOBAL_CAP_DIRECTORY_LEASING on 3.x).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sofs.server.state import ServerState


def _add(server: ServerState, name: str, fn: Any) -> None:
    hooks = server.extensions.setdefault(name, [])
    if fn not in hooks:
        hooks.append(fn)


class _Handlers:
    """The handler modules the per-CLOSE / per-WRITE hooks call, bound by :func:`install` (a
    function-level ``from sofs.handlers import ...`` ran the import machinery on every call, ~1 µs)."""

    breaks: Any = None
    lock: Any = None
    notify: Any = None


_handlers = _Handlers()


def install(server: ServerState) -> None:
    from sofs.handlers import breaks, lock, notify, oplock

    _handlers.breaks, _handlers.lock, _handlers.notify = breaks, lock, notify

    mgr = breaks.manager(server)
    server.extensions["caching"] = mgr
    server.extensions["directory_leasing"] = True
    server.extensions["notify_change"] = notify.notify_change
    _add(server, "create_before_admit", oplock.before_admit)
    _add(server, "before_rename", oplock.break_for_rename)
    _add(server, "before_delete", oplock.break_handle_caching)
    _add(server, "create_context_handlers", oplock.create_context_handler)
    _add(server, "check_read", lock.check_read_hook)
    _add(server, "check_write", lock.check_write_hook)
    _add(server, "on_write", _on_write)
    _add(server, "on_open_closed", _on_open_closed)
    # adapter: TREE_DISCONNECT / LOGOFF close the tree's / session's opens (pending LOCKs and
    # CHANGE_NOTIFYs complete); harmless if the open registry registers the same (close is idempotent)
    _add(server, "on_tree_end", _close_tree_opens)
    _add(server, "on_session_end", _close_session_opens)


def _on_write(ctx: Any, op: Any, offset: int, length: int) -> None:
    _handlers.breaks.manager(ctx.server).contend_write(op)


def _on_open_closed(server: ServerState, op: Any) -> None:
    mgr = _handlers.breaks.manager(server)
    _handlers.lock.release_open_locks(mgr, op)
    mgr.forget_open(op)
    _handlers.notify.cleanup_watch(mgr, op)
    _handlers.notify.delete_pending_watches(mgr, op)
    mgr.pending_renames.pop(id(op), None)


async def _close_tree_opens(server: ServerState, tree: Any) -> None:
    from sofs.handlers.opens import close_tree_opens

    await close_tree_opens(server, tree)


async def _close_session_opens(server: ServerState, session: Any, disconnected: bool = False) -> None:
    from sofs.handlers.opens import close_session_opens

    await close_session_opens(server, session)
