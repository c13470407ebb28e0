"""Wire durable/persistent handles, the journal, replay detection and app instance ids into a server.

``install(server)`` (listed in ``sofs.server.app.EXTENSION_MODULES`` **after** the caching module,
because the durable grant reads the oplock/lease the caching hook granted). Like
``caching_install`` it only wires: the run-time glue is in ``sofs.handlers.durable_*`` (imported
lazily; handlestate itself never imports handlers).

Registered in ``server.extensions``:

- ``persistent_handles`` = True (NEGOTIATE advertises SMB2_GLOBAL_CAP_PERSISTENT_HANDLES on 3.x);
- ``open_table_factory``: wraps any existing factory; per share it also loads the CA journal and
  restores persistent opens (disconnected), and starts the scavenger;
- ``create_reconnect``: reconnect / CREATE replay / app instance / purge (before the open);
- ``create_context_handlers``: the durable grant (after the open);
- ``preserve_open``: a lost connection keeps durable opens, disconnected;
- ``on_open_closed``: a closed durable open leaves the table (journaled);
- ``on_session_end`` (first): a session replaced through PreviousSessionId keeps its durable opens;
- ``lock_sequence_applies`` is left to the lock module (it reads ``op.ext["durable"]``).

Adapter (no hook existed): the dispatcher's resolved handlers for WRITE, SET_INFO, IOCTL and LOCK
are wrapped (``dispatch._resolved``) to apply the ChannelSequence rule of [MS-SMB2] 3.3.5.2.10 on
durable opens and, after a LOCK, to journal the open's locks and lock sequences before the
response. The lead may replace this with explicit calls: see ``sofs.handlers.durable_dispatch``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.durable")
_SCAVENGER_KEY = "sofs.durable.scavenger"


def _add(server: ServerState, name: str, fn: Any) -> None:
    hooks = server.extensions.setdefault(name, [])
    if fn not in hooks:
        hooks.append(fn)


def install(server: ServerState) -> None:
    from sofs.handlers import durable_contexts, durable_dispatch, durable_state

    server.extensions["persistent_handles"] = True
    _add(server, "create_reconnect", durable_contexts.before_open)
    _add(server, "create_context_handlers", durable_contexts.grant)
    _add(server, "on_open_closed", lambda srv, op: durable_state.forget(srv, op))
    ends = server.extensions.setdefault("on_session_end", [])
    if durable_state.detach_session not in ends:
        ends.insert(0, durable_state.detach_session)  # before the hooks that close the opens
    prev_preserve = server.extensions.get("preserve_open")

    def preserve(srv: Any, op: Any) -> bool:
        if durable_state.disconnect(srv, op):
            return True
        return bool(prev_preserve(srv, op)) if prev_preserve is not None else False

    server.extensions["preserve_open"] = preserve
    prev_factory = server.extensions.get("open_table_factory")

    def factory(share: Any) -> Any:
        table = prev_factory(share) if prev_factory is not None else None
        durable_state.restore(server, share)
        start_scavenger(server)
        return table

    server.extensions["open_table_factory"] = factory
    durable_dispatch.install(server)
    durable_state.install_break_purge(server)


def start_scavenger(server: ServerState) -> None:
    """Start the scavenger task once, if an event loop is running (``sofs serve`` builds its state
    inside the loop); otherwise the first disconnect starts it."""
    task = server.extensions.get(_SCAVENGER_KEY)
    if task is not None and not task.done():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    from sofs.handlers import durable_state
    from sofs.handlers.handles_status import serve_close_requests, write_status
    from sofs.handlestate.scavenger import run_scavenger

    async def tick() -> int:
        return await durable_state.close_expired(server) + await serve_close_requests(server)

    server.extensions[_SCAVENGER_KEY] = loop.create_task(
        run_scavenger(tick, after_tick=lambda: write_status(server)))
