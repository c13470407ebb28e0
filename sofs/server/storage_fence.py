"""Fencing a dead node out of the cluster's Ceph volumes (``sofs cluster up --storage ceph``).

Each node's libcephfs clients tag their MDS sessions with the node's name
(:func:`sofs.vfs.mounts.session_uuid`). A client session holds *caps*: the right to cache and buffer a
file's data and attributes. When a node dies, its sessions stay open in the MDS with their caps until
the session timeout (60 s), and until then any other node's open of a file the dead node had open for
writing waits (measured: 65 s; the write-through of CA shares does not help: the dead client still
holds the buffer caps). That is exactly the open a client of the dead node makes when it reconnects
its persistent handle (DH2C) on a surviving node. So when the cluster declares a node Down, one
surviving node — the Up node with the lowest name, and only while it has quorum (a node cut off in a
minority must never fence the majority's nodes) — evicts the dead node's sessions on every Ceph
volume (:func:`sofs.vfs.mounts.fence_sessions`, Ceph's reclaim interface with CEPH_RECLAIM_RESET:
session killed, caps released, client blocklisted; measured ~0.1 s). The blocklist is also the
storage fence: a node declared Down that was in fact alive can no longer write to the volume (its
Ceph calls fail with ESHUTDOWN) after its handles were given to others.

A node that finds itself fenced (it lost quorum and regains it) re-creates any of its own Ceph clients
that were evicted meanwhile (:func:`sofs.vfs.mounts.renew_evicted`); the handles opened through the old
clients are gone with them (the node dropped its connections when it lost quorum).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from sofs.vfs.mounts import cluster_mounts, fence_sessions, renew_evicted

log = logging.getLogger("sofs.storage.fence")
POLL_S = 1.0


def to_fence(me: str, up: set[str], down: set[str], has_quorum: bool, fenced: set[str]) -> list[str]:
    """The Down nodes ``me`` evicts from the Ceph volumes now (sorted): none unless ``me`` is Up, holds
    quorum and has the lowest name among the Up nodes; each Down node once (``fenced``) until it is
    seen Up again. Nodes neither Up nor Down (joining) are never fenced."""
    if not has_quorum or me not in up or min(up) != me:
        return []
    return sorted(down - fenced - {me})


def _states(agent: Any) -> tuple[set[str], set[str]]:
    """(Up or Paused nodes, Down nodes) of the agent's last snapshot."""
    snap = agent.snapshot
    if snap is None:
        return set(), set()
    state = {n: snap.node_state(n).value for n in snap.nodes}
    return ({n for n, s in state.items() if s in ("Up", "Paused")}, {n for n, s in state.items() if s == "Down"})


async def run_storage_fencing(agent: Any, me: str, volume_root: Path) -> None:
    """The node's fencing loop (a task of ``sofs node`` on a cluster with Ceph storage)."""
    fenced: set[str] = set()
    changed = asyncio.Event()
    agent.on_change(lambda _a: changed.set())
    had_quorum = True
    while True:
        up, down = _states(agent)
        fenced &= down  # a node seen Up again is fenced again at its next death
        quorum = bool(agent.has_quorum)
        if quorum and not had_quorum:
            renewed = await asyncio.to_thread(renew_evicted)
            if renewed:
                log.warning("%s: re-created %d Ceph client(s) evicted while this node was fenced", me, renewed)
        had_quorum = quorum
        for node in to_fence(me, up, down, quorum, fenced):
            try:
                evicted = await asyncio.to_thread(fence_sessions, node, cluster_mounts(volume_root))
            except OSError as e:
                log.warning("%s: evicting the Ceph sessions of dead node %s failed (%s); retrying", me, node, e)
                continue
            fenced.add(node)
            log.warning("%s: node %s is down: evicted its Ceph sessions %s", me, node, evicted or "(none open)")
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), POLL_S)
