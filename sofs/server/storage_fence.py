"""Fencing a dead node out of the cluster's Ceph volumes (``sofs cluster up --storage ceph``).

A node's libcephfs clients hold *caps* in their MDS sessions: the right to cache and buffer a file's
data and attributes. When a node dies, its sessions stay open in the MDS with their caps until the
session timeout (60 s), and until then any other node's open of a file the dead node had open for
writing waits (measured: 65 s; the write-through of CA shares does not help: the dead client still
holds the buffer caps). That is exactly the open a client of the dead node makes when it reconnects
its persistent handle (DH2C) on a surviving node. Worse, when the dead node also ran the active MDS,
the MDS taking over waits up to 45 s (``mds_reconnect_timeout``) for the dead clients to reconnect
before it serves anyone.

So every node publishes its Ceph clients' addresses in the cluster store
(``<prefix>storage/ceph-clients/<node>``, kept after its death), and when the cluster declares a node
Down, one surviving node — the Up node with the lowest name, and only while it has quorum (a node cut
off in a minority must never fence the majority's nodes) — blocklists them through the monitors
(:func:`sofs.vfs.mounts.fence_node`): every MDS, the one taking over included, drops their sessions
and caps as soon as it sees the new OSD map, and the OSDs refuse their writes. It also marks the
node's OSDs down and fails its MDS, so the standby takes over at once rather than ``mds beacon
grace`` after the monitors' re-election (a node's death is one: its monitor dies with it). That is also the
storage fence: a node declared Down that was in fact alive can no longer write to the volume (its Ceph
calls fail with ESHUTDOWN) after its handles were given to others. Only nodes this node saw Up are
fenced (a node not started yet is Down too). A node that dies within a second of mounting a volume,
before it published the address, is not fenced: its session times out as without sofs.

A node that regains quorum after losing it re-creates any of its own Ceph clients that were evicted
meanwhile (:func:`sofs.vfs.mounts.renew_evicted`); the handles opened through the old clients are
gone with them (the node dropped its connections when it lost quorum).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from sofs.vfs.mounts import cluster_mounts, fence_node, renew_evicted, session_addrs

log = logging.getLogger("sofs.storage.fence")
POLL_S = 1.0


def to_fence(me: str, up: set[str], down: set[str], has_quorum: bool, fenced: set[str]) -> list[str]:
    """The Down nodes ``me`` fences now (sorted): none unless ``me`` is Up, holds quorum and has the
    lowest name among the Up nodes; each Down node once (``fenced``) until it is seen Up again."""
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


class StorageFence:
    """One node's side: publish its clients' addresses, fence dead nodes' (see the module docstring)."""

    def __init__(self, agent: Any, store: Any, prefix: str, me: str, volume_root: Path) -> None:
        self.agent, self.store, self.me, self.volume_root = agent, store, me, volume_root
        self.key_prefix = prefix.rstrip("/") + "/storage/ceph-clients/"
        self.published: list[str] | None = None
        self.fenced: set[str] = set()
        self.seen_up: set[str] = set()
        self.had_quorum = True

    async def publish(self) -> None:
        addrs = await asyncio.to_thread(session_addrs)
        if addrs != self.published:
            await self.store.put(self.key_prefix + self.me, json.dumps(addrs).encode())
            self.published = addrs

    async def fence(self, node: str) -> list[str]:
        kv = await self.store.get(self.key_prefix + node)
        addrs = json.loads(kv.value) if kv is not None else []
        specs = cluster_mounts(self.volume_root)
        return await asyncio.to_thread(fence_node, specs[0], node, addrs) if specs else []

    async def step(self) -> None:
        up, down = _states(self.agent)
        self.seen_up |= up
        self.fenced &= down  # a node seen Up again is fenced again at its next death
        quorum = bool(self.agent.has_quorum)
        if quorum and not self.had_quorum:
            renewed = await asyncio.to_thread(renew_evicted)
            if renewed:
                log.warning("%s: re-created %d Ceph client(s) evicted while this node was fenced", self.me, renewed)
        self.had_quorum = quorum
        for node in to_fence(self.me, up, down & self.seen_up, quorum, self.fenced):
            try:
                addrs = await self.fence(node)  # what was done
            except Exception as e:  # noqa: BLE001 - store or monitors unreachable: retried next cycle
                log.warning("%s: fencing dead node %s's Ceph clients failed (%s); retrying", self.me, node, e)
                continue
            self.fenced.add(node)
            log.warning("%s: node %s is down, fenced out of Ceph: %s", self.me, node, "; ".join(addrs) or "nothing to do")
        if quorum:
            try:
                await self.publish()
            except Exception as e:  # noqa: BLE001 - retried next cycle
                log.warning("%s: publishing this node's Ceph clients failed: %s", self.me, e)


async def run_storage_fencing(fence: StorageFence) -> None:
    """The node's fencing loop (a task of ``sofs node`` on a cluster with Ceph storage)."""
    changed = asyncio.Event()
    fence.agent.on_change(lambda _a: changed.set())
    while True:
        try:
            await fence.step()
        except Exception:  # the loop outlives one bad cycle
            log.exception("%s: storage fencing step failed", fence.me)
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), POLL_S)
