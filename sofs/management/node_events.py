"""A node's event recorder: at every change of the cluster records (a store watch), at every change the
agent reports, and at least every second, it builds a :class:`~sofs.management.events.ClusterView`
from a fresh snapshot of the store and the agent's quorum, and appends the
:func:`~sofs.management.events.diff_events` of the last two views to the node's log. Heartbeat
renewals do not wake it (they are not changes)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sofs.cluster.model import Keys, Snapshot, parse_snapshot
from sofs.cluster.store import Listing, StoreError
from sofs.cluster.swn import WitnessRegistration, decode_registration
from sofs.handlestate.stats import HandleStats
from sofs.management.events import (
    ClusterEvent,
    ClusterView,
    WitnessClientView,
    append_events,
    diff_events,
    handle_event,
)

log = logging.getLogger("sofs.node.events")


def view_of(snap: Snapshot, quorum: bool, shares: dict[str, str],
            witness: list[WitnessRegistration] | None = None) -> ClusterView:
    """Pure: the view of one snapshot (node states, owners, votes, witness holder) plus shares and the
    [MS-SWN] registrations."""
    nodes = {n: snap.node_state(n).value for n in snap.nodes}
    owners = {g: (v.record.owner or "", v.record.epoch) for g, v in snap.groups.items()}
    holder = next((n for n, hb in sorted(snap.heartbeats.items()) if hb.holds_witness and n in snap.nodes), "")
    clients = {r.id: WitnessClientView(r.client_computer_name, r.file_server_node, r.witness_node,
                                       r.share_name or r.net_name, r.notices, r.last_state, r.move_to)
               for r in witness or ()}
    return ClusterView(nodes, owners, snap.weights() if snap.votes else {}, holder, quorum, shares, clients)


def registrations(listing: Listing, keys: Keys) -> list[WitnessRegistration]:
    """The witness registrations of a listing of the whole cluster prefix (undecodable ones skipped)."""
    out = []
    for kv in listing.kvs:
        if kv.key.startswith(keys.prefix + "swn/"):
            with contextlib.suppress(ValueError, TypeError):
                out.append(decode_registration(kv.value))
    return out


class EventRecorder:
    def __init__(self, node: str, state_dir: str | Path, store: Any, prefix: str, agent: Any,
                 clock: Callable[[], float] = time.time, handles: HandleStats | None = None) -> None:
        self.node = node
        self.handles = handles
        """the node's SMB server's handle events (reclaims, re-registrations, App Instance closes), or None"""
        self.state_dir = Path(state_dir)
        self.store = store
        self.keys = Keys(prefix)
        self.shares_prefix = self.keys.prefix + "shares/"
        self.agent = agent
        self.clock = clock
        self.prev: ClusterView | None = None
        self.counts: Counter[str] = Counter()
        """Events recorded by kind since the node started (the metrics read ``OwnerChanged``/failovers)."""
        self.failovers = 0
        self._wake = asyncio.Event()

    async def step(self) -> list[ClusterEvent]:
        handles = [handle_event(e, self.node) for e in self.handles.take_events()] if self.handles else []
        if handles:
            self._append(handles)
        everything = await self.store.list(self.keys.prefix)
        snap = parse_snapshot(everything, self.keys)
        if snap.cluster is None:
            return handles
        listing = await self.store.list(self.shares_prefix)
        shares = {kv.key[len(self.shares_prefix):]: kv.value.decode(errors="replace") for kv in listing.kvs}
        cur = view_of(snap, bool(self.agent.has_quorum), shares, registrations(everything, self.keys))
        now = self.clock()
        events = [ClusterEvent(now, self.node, k, s, m, sev, d) for k, s, m, sev, d in diff_events(self.prev, cur)]
        self.prev = cur
        self._append(events)
        return handles + events

    def _append(self, events: list[ClusterEvent]) -> None:
        append_events(self.state_dir, events)
        for e in events:
            self.counts[e.kind] += 1
            self.failovers += int(bool(e.details.get("failover")))

    def poke(self, _agent: Any = None) -> None:
        self._wake.set()

    async def _watch(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.store.watch(self.keys.prefix)) as events:  # type: ignore[type-var]
                    async for ev in events:
                        if not ev.key.startswith(self.keys.hb) or ev.type.value == "delete":
                            self._wake.set()
            except StoreError:
                await asyncio.sleep(1.0)

    async def run(self, interval: float = 1.0) -> None:
        self.agent.on_change(self.poke)
        watcher = asyncio.create_task(self._watch())
        try:
            await self._loop(interval)
        finally:
            watcher.cancel()

    async def _loop(self, interval: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.step()
            except Exception as e:  # noqa: BLE001 - a store hiccup must not stop the node
                log.warning("%s: event recorder: %s", self.node, e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
