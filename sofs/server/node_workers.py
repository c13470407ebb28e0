"""The worker processes of a cluster node (``sofs node`` with ``workers`` > 1; each runs
:mod:`sofs.server.node_worker`).

A :class:`~sofs.server.workers.Supervisor` (accepting, placing connections by ClientGuid, restarting
workers, routing PreviousSessionId, binding hand-offs, the open-file listing and Close-SmbOpenFile)
whose workers follow the node instead of a fixed configuration. The node's main process keeps what a
node has once — the agent, the store watches (shares, accounts, domain membership), the volume
coordinators it owns, its link server, fencing — and tells its workers over their control channels
(the messages are listed in :mod:`sofs.server.node_worker`). A (re)started worker gets the whole
state when it is ready.

Each worker links to every volume's coordinator itself, wherever it is (this node's main process or
another node), named ``<node>/w<i>`` there: breaks, revocations, end_session and release reach the
worker holding the connection directly. When a volume's coordinator changes,
:meth:`NodeSupervisor.follow` (``ClusterVolumes.follow_workers``) returns once every worker re-registered
its opens at the new one; only then does the main process reclaim its own, which ends the new
coordinator's grace for this node's name — so the workers' opens are back before any new open.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

from sofs.server.placement import session_worker
from sofs.server.workerlink import ChannelClosed
from sofs.server.workers import Supervisor, WorkerSpec, _Child

log = logging.getLogger("sofs.workers")
FOLLOW_WAIT_S = 8.0  # below the new coordinator's grace (cluster_volumes.GRACE_S)
RELINK_AFTER_S = 0.5


class NodeSupervisor(Supervisor):
    def __init__(self, server: Any, count: int, *, link: Any, secret: bytes, state_dir: Path, node_id: int = 0,
                 uvloop: bool = True, log_level: int = logging.INFO) -> None:
        super().__init__(server, count, uvloop=uvloop, log_level=log_level, link=link)
        self.node_id = node_id
        self.nodes: list[list[Any]] = []  # [node id, link address, link port] of the members (channel relay)
        self.secret = secret
        self.state_dir = state_dir
        self.serving = False
        self.shares: dict[str, tuple[dict[str, Any], str, str]] = {}  # name -> (doc, volume, path in it)
        self.users: list[dict[str, Any]] = []
        self.domain: bytes | None = None
        self.where: dict[str, tuple[str, int, int]] = {}  # volume -> coordinator (link host, port, epoch)
        self.sessions: dict[int, list[dict[str, Any]]] = {}  # worker -> its session rows
        self._rids = itertools.count(1)
        self._follows: dict[int, dict[int, asyncio.Future[None]]] = {}  # rid -> worker -> done

    def spec_for(self, child: _Child, control_fd: int) -> WorkerSpec:
        node = self.server.node_name
        return WorkerSpec(child.index, f"{node}/w{child.index}", self.server.config, "", 0, self.secret, [],
                          self.server.start_filetime, control_fd, self.uvloop, self.log_level, node,
                          str(self.state_dir), self.node_id)

    def _ready_children(self) -> list[_Child]:
        return [c for i, c in self.children.items() if i in self.placement.up and c.channel is not None
                and not c.channel.closed]

    def _send(self, child: _Child, msg: tuple[Any, ...]) -> bool:
        try:
            assert child.channel is not None
            child.channel.send(msg)
            return True
        except ChannelClosed:
            return False

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        for c in self._ready_children():
            self._send(c, msg)

    # ---- the node's state -------------------------------------------------------------------------
    def on_ready(self, child: _Child) -> None:
        self._send(child, ("users", self.users))
        self._send(child, ("domain", self.domain))
        for doc, volume, rest in self.shares.values():
            self._send(child, ("share", doc, volume, rest))
        for volume, (host, port, epoch) in self.where.items():
            self._send(child, ("volume", 0, volume, host, port, epoch))  # nothing to reclaim yet
        self._send(child, ("nodes", self.nodes))
        self._send(child, ("serving", self.serving))

    def share(self, doc: dict[str, Any], volume: str, rest: str) -> None:
        self.shares[str(doc["name"]).lower()] = (doc, volume, rest)
        self._broadcast(("share", doc, volume, rest))

    def unshare(self, name: str) -> None:
        self.shares.pop(name.lower(), None)
        self._broadcast(("unshare", name))

    def set_users(self, records: list[dict[str, Any]]) -> None:
        self.users = records
        self._broadcast(("users", records))

    def set_domain(self, value: bytes | None) -> None:
        self.domain = value
        self._broadcast(("domain", value))

    def set_nodes(self, nodes: list[list[Any]]) -> None:
        """The members' link addresses, for a worker carrying a binding to another node's session."""
        if nodes != self.nodes:
            self.nodes = nodes
            self._broadcast(("nodes", nodes))

    def serve(self, on: bool) -> None:
        """Fencing: listen (and let the workers serve) only with quorum."""
        self.serving = on
        if on:
            self.acceptor.listen(self.server.config.listen)
        else:
            self.acceptor.close()
        self._broadcast(("serving", on))

    def _listen(self) -> None:
        """Listening follows quorum (:meth:`serve`), not the start."""

    async def follow(self, volume: str, host: str, port: int, epoch: int) -> None:
        """The coordinator of ``volume`` is at ``host:port`` now (port 0: nowhere): every ready worker
        links there and re-registers its opens; returns when they did (or after FOLLOW_WAIT_S)."""
        if not port and self.where.get(volume, (None, 0, 0))[1] == 0 and volume in self.where:
            return  # still nowhere (the node's loop asks on every change)
        self.where[volume] = (host, port, epoch)
        rid = next(self._rids)
        waits: dict[int, asyncio.Future[None]] = {}
        for c in self._ready_children():
            fut: asyncio.Future[None] = self.loop.create_future()
            if self._send(c, ("volume", rid, volume, host, port, epoch)):
                waits[c.index] = fut
        if not waits:
            return
        self._follows[rid] = waits
        try:
            _done, pending = await asyncio.wait(list(waits.values()), timeout=FOLLOW_WAIT_S)
            if pending:
                log.warning("volume %s: %d worker(s) did not re-register their opens in %.0f s", volume,
                            len(pending), FOLLOW_WAIT_S)
        finally:
            self._follows.pop(rid, None)

    def _finish_follows(self, index: int, rid: int | None = None) -> None:
        for r, waits in self._follows.items():
            fut = waits.get(index)
            if (rid is None or r == rid) and fut is not None and not fut.done():
                fut.set_result(None)

    def _on_closed(self, child: _Child, why: str) -> None:
        self._finish_follows(child.index)  # a worker that died has nothing left to re-register
        self.sessions.pop(child.index, None)
        super()._on_closed(child, why)

    def on_message(self, child: _Child, msg: tuple[Any, ...]) -> bool:
        kind = msg[0]
        if kind == "volume_done":
            self._finish_follows(child.index, int(msg[1]))
        elif kind == "sessions":
            self.sessions[child.index] = list(msg[1])
        elif kind == "volume_lost":
            self._spawn_task(self._relink(child, str(msg[1])))
        else:
            return False
        return True

    async def _relink(self, child: _Child, volume: str) -> None:
        """A worker's link closed while this process's view did not change (yet): tell it again where
        the coordinator is, once this process's own link settled."""
        where = self.where.get(volume)
        await asyncio.sleep(RELINK_AFTER_S)
        if where is not None and where[1] and self.where.get(volume) == where and child in self._ready_children():
            self._send(child, ("volume", 0, volume, *where))

    # ---- listings ---------------------------------------------------------------------------------
    def session_rows(self) -> list[dict[str, Any]]:
        return [r for rows in self.sessions.values() for r in rows]

    def close_sessions(self, session_ids: list[int]) -> None:
        """Close-SmbSession of sessions the workers hold (each id names its worker)."""
        for sid in session_ids:
            child = self.children.get(session_worker(sid))
            if child is not None and child in self._ready_children():
                self._send(child, ("close_sessions", [sid]))


__all__ = ["NodeSupervisor"]
