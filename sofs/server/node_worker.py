"""An SMB worker process of a cluster node (``sofs node`` with ``workers`` > 1; the main side is
:mod:`sofs.server.node_workers`).

A :class:`~sofs.server.worker.Worker` whose state follows the node's main process instead of a fixed
configuration, over the control channel:

- ``share``/``unshare``: the cluster's shares the node serves (the main process follows the store);
- ``users``: the cluster accounts (``New-LocalUser``) merged with smb.toml's users;
- ``domain``: the node's domain membership (Add-Computer), applied as the main process applies it;
- ``volume``: where a cluster volume's coordinator is now (a node's link address, or nowhere). The
  worker links to it **directly** (as another node does, named ``<node>/w<i>``), re-registers its
  live handles there (reclaim, as a node does after a coordinator change) and answers
  ``volume_done``; the main process reclaims its own only after every worker answered, so the new
  coordinator's grace (which waits for the node's name) covers the workers' opens too;
- ``serving``: fencing (no quorum: every connection is dropped, as the main process drops its own);
- ``close_sessions``: Close-SmbSession of sessions this worker holds;
- ``nodes``: the members' link addresses: a binding for another node's session that lands on this
  worker is carried to that node from here (:mod:`sofs.server.channel_relay`); one carried to this
  node arrives at the main process, which moves it on to the worker whose id the session carries.

It publishes its open files and its sessions to the main process, which lists them with its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from sofs.handlers.handles_status import open_kinds, open_rows, rows_text
from sofs.handlers.netif import os_interfaces
from sofs.handlers.sessions_status import close_sessions, session_rows
from sofs.handlers.volume import VolumeClient
from sofs.server.app import make_share
from sofs.server.channel_relay import NodeChannels
from sofs.server.cluster_volumes import (
    Router,
    connect_coordinator,
    reclaim_at,
    reclaim_images,
    routed_client,
    with_endpoint,
)
from sofs.server.connection import SmbConnection
from sofs.server.coordlink_client import RemoteService
from sofs.server.domain_member import apply_membership
from sofs.server.node_accounts import user_db
from sofs.server.node_smb import share_from_doc
from sofs.server.worker import ROWS_EVERY_S, Worker
from sofs.server.workerlink import ChannelClosed

log = logging.getLogger("sofs.worker")


class NodeWorker(Worker):
    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.server.extensions["scaleout"] = True
        self.state_dir = Path(spec.state_dir)
        self.vols: dict[str, tuple[VolumeClient, Router]] = {}
        self.remote: dict[str, tuple[RemoteService, str, int]] = {}  # volume -> (link, host, port)
        self.where: dict[str, tuple[str, int, int]] = {}
        self._follow_lock = asyncio.Lock()
        self._interfaces = os_interfaces()  # for the session listing's channels
        self.nodes: dict[int, tuple[str, int]] = {}
        if spec.node_id:  # a binding for another node's session is carried there (sofs.server.channel_relay)
            self.server.channels = NodeChannels(spec.name, spec.node_id, spec.secret, self.nodes.get,
                                                lambda state, request: SmbConnection(self.server, 0, (state, request)))

    async def connect_volumes(self) -> None:
        """Nothing yet: the main process says where each volume is."""

    def _volume(self, key: str) -> tuple[VolumeClient, Router]:
        if key not in self.vols:
            self.vols[key] = routed_client(self.server, key)
        return self.vols[key]

    def _on_message(self, msg: tuple[Any, ...], fds: list[int]) -> None:
        kind = msg[0]
        if kind == "share":
            self._share(dict(msg[1]), str(msg[2]), str(msg[3]))
        elif kind == "unshare":
            self.server.shares.pop(str(msg[1]).lower(), None)
        elif kind == "users":
            self._users(list(msg[1]))
        elif kind == "domain":
            # a keytab and directory cache of its own (not the main process's files)
            where = self.state_dir / "domain" / self.spec.node_name / f"w{self.spec.index}"
            self._spawn(apply_membership(self.server, None if msg[1] is None else bytes(msg[1]), where))
        elif kind == "volume":
            self._spawn(self._follow(int(msg[1]), str(msg[2]), str(msg[3]), int(msg[4]), int(msg[5])))
        elif kind == "nodes":
            self.nodes.clear()
            self.nodes.update({int(n): (str(a), int(p)) for n, a, p, _d in msg[1] if int(n) != self.spec.node_id})
            down = {int(n) for n, _a, _p, d in msg[1] if d}
            if isinstance(self.server.channels, NodeChannels) and down:
                self.server.channels.close(down.__contains__)  # carried to a node declared down
        elif kind == "serving":
            if isinstance(self.server.channels, NodeChannels):
                self.server.channels.serving = bool(msg[1])
            if not msg[1]:
                if isinstance(self.server.channels, NodeChannels):
                    self.server.channels.close()
                for conn in list(self.server.connections.values()):
                    conn.abort()
        elif kind == "close_sessions":
            self._spawn(close_sessions(self.server, [int(x) for x in msg[1]]))
        else:
            super()._on_message(msg, fds)

    def _share(self, doc: dict[str, Any], volume: str, rest: str) -> None:
        try:
            share = make_share(self.server, share_from_doc(doc, self.state_dir), standalone=False)
        except Exception:
            log.exception("share %s could not be loaded; not served by this worker", doc.get("name"))
            return
        client, _router = self._volume(volume.lower())
        client.prefixes[share.name.lower()] = rest
        share.volume = client
        self.server.add_share(share)

    def _users(self, records: list[dict[str, Any]]) -> None:
        directory = self.server.users.directory
        try:
            db = user_db(self.spec.config, records)
        except ValueError as e:
            log.warning("cluster accounts not applied: %s", e)
            return
        db.directory = directory
        self.server.users = db
        self.server.acceptor.userdb = db

    async def _follow(self, rid: int, volume: str, addr: str, port: int, epoch: int) -> None:
        """Link to the volume's coordinator at ``addr:port`` (none: ``port`` 0) and reclaim there."""
        key = volume.lower()
        self.where[key] = (addr, port, epoch)
        try:
            async with self._follow_lock:
                if self.where.get(key) == (addr, port, epoch):
                    await self._relink(key, addr, port, epoch)
        except Exception:
            log.exception("volume %s: following its coordinator at %s:%d failed", volume, addr, port)
        finally:
            with contextlib.suppress(ChannelClosed):
                self.channel.send(("volume_done", rid))

    async def _relink(self, key: str, addr: str, port: int, epoch: int) -> None:
        client, router = self._volume(key)
        old = self.remote.get(key)
        if old is not None and old[0].is_open and port and old[1:] == (addr, port) and router.current is old[0]:
            return  # the same coordinator, linked already (a repeated message)
        images = reclaim_images(self.server, client, -1)
        router.unset()
        if old is not None:
            del self.remote[key]
            old[0].abort_link("the volume's coordinator moved")
        if not port:
            return
        rs = await connect_coordinator(self.server, client, addr, port, self.spec.secret, self.spec.name,
                                       lambda: self.where.get(key) == (addr, port, epoch))
        if rs is None:
            return
        self.remote[key] = (rs, addr, port)
        await reclaim_at(self.server, client, rs.reclaim(with_endpoint(images, rs.endpoint)))
        router.set(rs)
        self._spawn(self._watch_link(key, rs))
        log.info("volume %s: coordinator at %s:%d (epoch %d), %d open(s) re-registered", key, addr, port, epoch,
                 len(images))

    async def _watch_link(self, key: str, rs: RemoteService) -> None:
        why = await asyncio.shield(rs.lost)
        if self.remote.get(key, (None,))[0] is not rs:
            return
        del self.remote[key]
        router = self.vols[key][1]
        if router.current is rs:
            router.unset()  # requests wait for the main process's next word on the volume
        log.info("volume %s: coordinator link lost (%s)", key, why)
        with contextlib.suppress(ChannelClosed):
            self.channel.send(("volume_lost", key))

    async def publish_rows(self) -> None:
        last: Any = None
        last_counts: Any = None
        while True:
            rows = (open_rows(self.server), session_rows(list(self.server.sessions.values()),
                                                         self.server.config.server_name, self._interfaces))
            if rows != last:
                last = rows
                with contextlib.suppress(ChannelClosed):
                    self.channel.send(("rows", rows_text(rows[0])))  # JSON text per share (workers.py)
                    self.channel.send(("sessions", rows[1]))
            counts = (self.server.stats.snapshot(), len(self.server.connections), len(self.server.sessions),
                      open_kinds(rows[0]))
            if counts != last_counts:  # the node's /metrics add them up (sofs.server.stats)
                last_counts = counts
                with contextlib.suppress(ChannelClosed):
                    self.channel.send(("stats", *counts))
            await asyncio.sleep(ROWS_EVERY_S)

    async def close_links(self) -> None:
        for rs, _host, _port in list(self.remote.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rs.close_link(), 2)
