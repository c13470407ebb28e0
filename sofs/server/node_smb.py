"""The SMB server of a cluster node (``sofs node`` runs a :class:`NodeSmb`).

- Listens on the node's address (``NodeRecord.smb_port``, 445 by default) — in embedded mode each node
  has its own loopback address (127.0.0.11, .12, …), so every node serves the same shares.
- Shares come from the cluster store (``<prefix>shares/<name>``, written by ``New-SmbShare``) and are
  followed live through a watch: a share created, changed or removed on any node appears/changes/
  disappears on every node without a restart.
- Windows paths are mapped to the node's mount of the cluster volumes: ``C:\\ClusterStorage\\Volume1\\X``
  → ``<state dir>/ClusterStorage/Volume1/X`` (:func:`map_cluster_path`).
- Users and server options come from ``<state dir>/smb.toml`` (the ``[server]`` and ``[[user]]``
  sections of a ``sofs serve`` config; listen addresses and shares in it are ignored), plus the
  cluster accounts in the store (``New-LocalUser``), followed live (:mod:`sofs.server.node_accounts`).
- Fencing: when the node agent loses quorum, the node stops serving SMB (listeners closed, connections
  dropped) and starts again when quorum is back, so a partitioned node never serves stale state.

- One file server across all nodes: every share lives on a Cluster Shared Volume
  (``C:\\ClusterStorage\\<Volume>``), and the volume's coordinator (the node owning the volume's
  cluster group) holds every open, share mode, lease, lock, watch and persistent handle of the volume,
  for the clients of all nodes (:mod:`sofs.server.cluster_volumes`). Data goes straight from each
  node to the volume. A client of a node that dies reconnects (DH2C) to any other node.
- Sessions stay with the node that made them; their ids carry the node's id, and a binding
  SESSION_SETUP that reaches another node is carried to the node holding the session
  (:mod:`sofs.server.channel_relay`, over the coordinator link port).
- A share whose path is not on a cluster volume is not served (every node would enforce share modes
  and locks on its own: not one file server); the node logs why.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from sofs.config import ConfigError, ServerConfig, ShareConfig, load_config, map_cluster_path
from sofs.server.app import build_state, make_share, start_listeners, tune_malloc
from sofs.server.channel_relay import NodeChannels
from sofs.server.cluster_volumes import ClusterVolumes, ensure_volume_group, volume_and_rest
from sofs.server.connection import SmbConnection
from sofs.server.domain_member import DomainMember
from sofs.server.node_accounts import AccountFollower
from sofs.server.node_status import SessionPublisher
from sofs.server.node_workers import NodeSupervisor
from sofs.server.placement import MAX_NODES, session_ids
from sofs.server.state import ServerState
from sofs.server.volumes import start_scavenger
from sofs.vfs.mounts import share_root_exists

log = logging.getLogger("sofs.node.smb")

_SHARE_FIELDS = {f.name for f in dataclasses.fields(ShareConfig)}
def share_from_doc(doc: dict[str, Any], state_dir: Path) -> ShareConfig:
    cfg = ShareConfig(**{k: v for k, v in doc.items() if k in _SHARE_FIELDS})
    cfg.path = map_cluster_path(cfg.path, state_dir)
    return cfg


def node_server_config(ctx: Any) -> ServerConfig:
    path = Path(ctx.state_dir) / "smb.toml"
    cfg = load_config(path) if path.exists() else ServerConfig()
    if cfg.dedicated_coordinator:
        # refused, not ignored: a node's main process serves clients too (its coordinators move)
        raise ConfigError(f"{path}: dedicated_coordinator = true: standalone sofs serve only (a cluster node's "
                          "main process serves SMB as worker 0)")
    cfg.workers = node_workers(cfg.workers, int(getattr(ctx.config, "workers", 0) or 0))
    cfg.shares = []
    cfg.listen = [(a, int(ctx.smb_port)) for a in (getattr(ctx, "addresses", ()) or (ctx.address,))]
    if ctx.config.name:
        cfg.server_name = ctx.config.name.upper()[:15]
    return cfg


def node_workers(toml: int, cluster: int) -> int:
    """A node's SMB processes: the cluster's setting (``sofs cluster up --workers W``, in its
    configuration) wins, then smb.toml's ``workers``; unset (0) means one process. Not one per core
    as for ``sofs serve``: the nodes of an embedded cluster share one machine's cores already, and a
    worker that does not coordinate the volume pays a link round trip for each CREATE and CLOSE
    (see docs/DESIGN.md, "Worker processes")."""
    return cluster or toml or 1


class NodeSmb:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.cfg = node_server_config(ctx)
        self.server: ServerState = build_state(self.cfg)
        self.server.extensions["scaleout"] = True
        self.server.node_name = ctx.name
        self.volume_root = Path(ctx.state_dir) / "ClusterStorage"
        self.volumes = ClusterVolumes(self.server, ctx, self.volume_root)
        self._pending: set[asyncio.Task[Any]] = set()
        self.listeners: list[Any] = []
        self.prefix = f"{ctx.config.prefix}shares/"
        self._serving = False
        self._changed = asyncio.Event()
        self.workers: NodeSupervisor | None = None
        node_id = int(getattr(ctx, "node_id", 0) or 0)
        if 0 < node_id < MAX_NODES and ctx.link_secret:
            self.server.number_sessions(session_ids(0, node=node_id))
            channels = NodeChannels(ctx.name, node_id, ctx.link_secret, self._node_link,
                                    lambda state, request: SmbConnection(self.server, 0,
                                                                         ({**state, "carried_in": True}, request)))
            self.server.channels = channels
            if ctx.link is not None:
                ctx.link.channels = channels
        elif node_id:
            log.warning("%s: node id %d does not fit in a session id: channels bound through another node "
                        "are refused (USER_SESSION_DELETED)", ctx.name, node_id)

    def _node_down(self, node_id: int) -> bool:
        """The cluster member with id ``node_id`` is Down (or no longer a member)."""
        snap = self.ctx.agent.snapshot
        if snap is None:
            return False
        name = next((n for n, v in snap.nodes.items() if v.record.id == node_id), None)
        return name is None or snap.node_state(name).value == "Down"

    def _node_link(self, node_id: int) -> tuple[str, int] | None:
        """(address, coordinator link port) of the cluster member with id ``node_id``."""
        return next(((a, p) for n, a, p, _down in self._node_links() if n == node_id), None)

    def _node_links(self) -> list[list[Any]]:
        """[id, address, coordinator link port, down] of every member (for the worker processes)."""
        snap = self.ctx.agent.snapshot
        return sorted([v.record.id, v.record.address, int(v.record.link_port), self._node_down(v.record.id)]
                      for v in (snap.nodes.values() if snap is not None else ()) if v.record.link_port)

    def apply_share(self, doc: dict[str, Any]) -> None:
        try:
            cfg = share_from_doc(doc, Path(self.ctx.state_dir))
        except (TypeError, ConfigError) as e:
            log.warning("share %r ignored: %s", doc.get("name"), e)
            return
        if not share_root_exists(cfg.path):  # a local directory, or below a Ceph volume's mount point
            log.warning("share %s: path %s is not a directory on this node; not served", cfg.name, cfg.path)
            return
        old = self.server.share(cfg.name)
        if old is not None and old.config == cfg:
            return
        where = volume_and_rest(cfg.path, self.volume_root)
        if where is None:
            log.warning("%s: share %s: %s is not on a Cluster Shared Volume (C:\\ClusterStorage\\<Volume>); "
                        "not served (its opens would not be coordinated across the nodes)",
                        self.ctx.name, cfg.name, cfg.path)
            return
        volume, rest = where
        try:
            share = make_share(self.server, cfg, standalone=False)
        except Exception:
            log.exception("%s: share %s could not be loaded; not served", self.ctx.name, cfg.name)
            return
        client = self.volumes.client_for(volume)
        client.prefixes[cfg.name.lower()] = rest
        share.volume = client
        self.server.add_share(share)
        if self.workers is not None:
            self.workers.share(doc, volume, rest)
        self._spawn(self._volume_ready(volume))
        log.info("%s: serving share %s -> %s on volume %s%s", self.ctx.name, cfg.name, cfg.path, volume,
                 " (continuously available)" if cfg.continuously_available else "")

    async def _volume_ready(self, volume: str) -> None:
        try:
            await ensure_volume_group(self.ctx, volume)
        except Exception:
            log.exception("%s: registering volume %s failed", self.ctx.name, volume)
        self._changed.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def remove_share(self, key: str) -> None:
        name = key[len(self.prefix):]
        if self.server.shares.pop(name.lower(), None) is not None:
            log.info("%s: share %s removed", self.ctx.name, name)
        if self.workers is not None:
            self.workers.unshare(name)

    async def load_shares(self) -> int:
        listing = await self.ctx.store.list(self.prefix)
        for kv in listing.kvs:
            with contextlib.suppress(ValueError):
                self.apply_share(json.loads(kv.value))
        return int(listing.revision)

    async def follow_shares(self, revision: int) -> None:
        while True:
            try:
                async for ev in self.ctx.store.watch(self.prefix, start_revision=revision + 1):
                    revision = ev.revision
                    if ev.type.value == "delete":
                        self.remove_share(ev.key)
                    else:
                        with contextlib.suppress(ValueError):
                            self.apply_share(json.loads(ev.kv.value))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - store hiccup: reload and watch again
                log.warning("%s: share watch interrupted (%s); reloading", self.ctx.name, e)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    revision = await self.load_shares()

    async def set_serving(self, on: bool) -> None:
        if on == self._serving:
            return
        self._serving = on
        if isinstance(self.server.channels, NodeChannels):
            self.server.channels.serving = on
        if on:
            if self.workers is not None:
                self.workers.serve(True)
            else:
                self.listeners = await start_listeners(self.server)
            log.info("%s: SMB serving on %s:%d", self.ctx.name, self.ctx.address, self.ctx.smb_port)
        else:
            for srv in self.listeners:
                srv.close()
            if self.workers is not None:
                self.workers.serve(False)
            for conn in list(self.server.connections.values()):
                conn.abort()
            if isinstance(self.server.channels, NodeChannels):
                self.server.channels.close()  # the connections carried to other nodes too
            self.listeners = []
            log.warning("%s: SMB stopped (no quorum)", self.ctx.name)

    async def start_workers(self) -> None:
        """The node's worker processes (``workers`` > 1): they follow this process (shares, accounts,
        volumes' coordinators; :mod:`sofs.server.node_workers`)."""
        if self.cfg.workers <= 1:
            return
        node_id = int(getattr(self.ctx, "node_id", 0) or 0)
        sup = NodeSupervisor(self.server, self.cfg.workers, link=self.ctx.link, secret=self.ctx.link_secret,
                             state_dir=Path(self.ctx.state_dir), node_id=node_id if 0 < node_id < MAX_NODES else 0,
                             log_level=logging.getLogger().getEffectiveLevel())
        self.workers = sup
        self.volumes.follow_workers = sup.follow
        await sup.start()

    async def run(self) -> None:
        tune_malloc()
        start_scavenger(self.server)
        await self.start_workers()
        revision = await self.load_shares()
        accounts = AccountFollower(self.server, self.ctx.store, self.ctx.config.prefix, self.cfg)
        domain = DomainMember(self.server, self.ctx.store, f"{self.ctx.config.prefix}secrets/domain/{self.ctx.name}",
                              Path(self.ctx.state_dir), self.ctx.name)  # issue 18: Add-Computer's secret
        if self.workers is not None:
            accounts.on_records = self.workers.set_users
            domain.on_change = self.workers.set_domain
        await accounts.load()
        sessions = SessionPublisher(self.server, self.ctx.store, self.ctx.config.prefix, self.ctx.name,
                                    workers=self.workers)
        agent = self.ctx.agent
        agent.on_change(lambda _a: self._changed.set())
        watcher = asyncio.create_task(self.follow_shares(revision))
        account_watch = asyncio.create_task(accounts.follow())
        try:
            while True:
                await self.set_serving(bool(agent.has_quorum))
                try:
                    await domain.refresh()
                except Exception:
                    log.exception("domain membership not applied")
                self._changed.clear()
                await self.volumes.sync()
                if self.workers is not None:
                    self.workers.set_nodes(self._node_links())
                if isinstance(self.server.channels, NodeChannels):
                    self.server.channels.close(self._node_down)
                try:
                    await sessions.tick()  # Get-SmbSession's listing, Close-SmbSession's requests
                except Exception as e:  # noqa: BLE001 - a store hiccup: next second
                    log.debug("session listing not published: %s", e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=1.0)
        finally:
            watcher.cancel()
            account_watch.cancel()
            await self.set_serving(False)
            if self.workers is not None:
                await self.workers.stop()
            with contextlib.suppress(Exception):
                await sessions.withdraw()
            await self.volumes.close()
