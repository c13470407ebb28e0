"""A cluster node's SMB sessions in the cluster store (``Get-SmbSession`` and friends), and the node's
side of ``Close-SmbSession``. Key layout: :mod:`sofs.handlestate.session_listing`.

:meth:`SessionPublisher.tick` runs in the node's one-second loop: it rewrites the node's listing when
its rows changed, and ends the sessions named by close requests for this node (deleting each request,
then publishing the listing without them). The OS interface table (interface index, speed, RSS for
each channel's server address) is read at most every 30 s.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sofs.handlers.netif import OsInterface, os_interfaces
from sofs.handlers.sessions_status import close_sessions, session_rows
from sofs.handlestate.session_listing import close_prefix, sessions_key

log = logging.getLogger("sofs.node.sessions")
INTERFACES_TTL = 30.0


class SessionPublisher:
    def __init__(self, server: Any, store: Any, prefix: str, node: str,
                 clock: Callable[[], float] = time.time, workers: Any = None) -> None:
        self.server, self.store, self.prefix, self.node = server, store, prefix, node
        self.workers = workers  # the node's worker processes (NodeSupervisor): their sessions too
        self.clock = clock
        self._last: list[dict[str, Any]] | None = None
        self._ifs: list[OsInterface] = []
        self._ifs_at = float("-inf")

    def _interfaces(self) -> list[OsInterface]:
        now = time.monotonic()
        if now - self._ifs_at > INTERFACES_TTL:
            self._ifs, self._ifs_at = os_interfaces(), now
        return self._ifs

    async def tick(self) -> None:
        await self._serve_close_requests()
        await self.publish()

    async def publish(self) -> None:
        rows = session_rows(list(self.server.sessions.values()), self.server.config.server_name,
                            self._interfaces())
        if self.workers is not None:
            rows += self.workers.session_rows()
        if rows == self._last:
            return
        doc = {"node": self.node, "time": self.clock(), "sessions": rows}
        await self.store.put(sessions_key(self.prefix, self.node), json.dumps(doc).encode())
        self._last = rows

    async def _serve_close_requests(self) -> None:
        listing = await self.store.list(close_prefix(self.prefix, self.node))
        for kv in listing.kvs:
            try:
                sid = int(kv.key.rsplit("/", 1)[1])
            except ValueError:
                sid = -1
            if sid >= 0:
                await close_sessions(self.server, [sid])
                if self.workers is not None:
                    self.workers.close_sessions([sid])
            await self.store.delete(kv.key)

    async def withdraw(self) -> None:
        """The node leaves: its listing goes (a killed node's stays, and readers skip nodes not Up)."""
        await self.store.delete(sessions_key(self.prefix, self.node))
