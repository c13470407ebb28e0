"""Node membership: this node's heartbeat, a store lease renewed every ``SameSubnetDelay``.

The heartbeat key ``P hb/<node>`` is attached to a lease with TTL ``SameSubnetDelay x
SameSubnetThreshold``; when the node stops renewing (killed, hung, cut off from the store) the lease
expires, the key vanishes and every other node sees it Down. So "Down" needs no clock agreement
between nodes: the store's lease timer decides.

The node itself keeps a **local deadline**: the moment a renewal *started* (on its own monotonic
clock) + TTL. The store renewed the lease no earlier than that start, so the lease cannot expire
before the deadline; the agent stops serving ``margin`` before it (see ``lease_valid``), hence always
before anybody else may consider it Down and take its groups.

The heartbeat record is rewritten when its content changes and at least every
:data:`TIME_REFRESH_S` seconds (of the node's monotonic clock) even when it does not, so its ``time``
field (the node's wall clock) is a fresh clock sample: ``Test-Cluster`` compares it with its own
clock and can bound the skew in both directions (a record is never older than ``time_refresh_s`` +
one ``SameSubnetDelay``). The keepalive itself stays a lease renewal, not a write.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace

from sofs.cluster.model import Heartbeat, Keys, encode
from sofs.cluster.store import ClusterStore, LeaseId, LeaseNotFound, StoreUnavailable

log = logging.getLogger("sofs.cluster.membership")
TIME_REFRESH_S = 2.0


class HeartbeatKeeper:
    """Grants, renews and re-creates this node's heartbeat lease and key."""

    def __init__(self, store: ClusterStore, keys: Keys, node: str, address: str, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 time_refresh_s: float = TIME_REFRESH_S) -> None:
        self.store = store
        self.keys = keys
        self.node = node
        self._clock = clock
        self._wall = wall
        self.lease: LeaseId | None = None
        self.ttl_s = 0.0
        self.deadline = float("-inf")
        """Local monotonic time before which the lease surely exists."""
        self.value = Heartbeat(node, os.getpid(), address, joining=True, time_refresh_s=time_refresh_s)
        self._written: Heartbeat | None = None
        self._written_at = float("-inf")  # monotonic time of the last write

    def lease_valid(self, margin: float) -> bool:
        return self._clock() < self.deadline - margin

    async def beat(self, ttl_s: float, *, joining: bool | None = None, holds_witness: bool | None = None) -> bool:
        """One heartbeat: renew (or re-create) the lease, rewrite the key if its content changed.

        Returns True when an existing lease had expired and was re-created (the node rejoins).
        Raises :class:`StoreUnavailable` when the store cannot be reached.
        """
        if joining is not None:
            self.value = replace(self.value, joining=joining)
        if holds_witness is not None:
            self.value = replace(self.value, holds_witness=holds_witness)
        started = self._clock()
        if self.lease is not None and abs(ttl_s - self.ttl_s) > 1e-9:
            old, self.lease = self.lease, None  # TTL changed (SameSubnetDelay/Threshold): new lease
            await self._grant(ttl_s, started)
            with contextlib.suppress(StoreUnavailable):
                await self.store.revoke(old)
            return False
        if self.lease is None:
            await self._grant(ttl_s, started)
            return False
        try:
            await self.store.keepalive(self.lease)
        except LeaseNotFound:
            log.warning("%s: heartbeat lease %s expired; rejoining", self.node, self.lease)
            self.lease = None
            self.value = replace(self.value, joining=True)
            await self._grant(ttl_s, started)
            return True
        self.deadline = started + self.ttl_s
        if self.value != self._written or started - self._written_at >= self.value.time_refresh_s:
            await self._write()
        return False

    async def _grant(self, ttl_s: float, started: float) -> None:
        lease = await self.store.grant(ttl_s)
        self.lease, self.ttl_s = lease, ttl_s
        await self._write()
        self.deadline = started + ttl_s

    async def _write(self) -> None:
        assert self.lease is not None
        self._written_at = self._clock()
        self.value = replace(self.value, time=self._wall())
        await self.store.put(self.keys.heartbeat(self.node), encode(self.value), lease=self.lease)
        self._written = self.value

    async def stop(self) -> None:
        """Clean exit: revoke the lease so the node is Down at once."""
        if self.lease is not None:
            with contextlib.suppress(StoreUnavailable):
                await self.store.revoke(self.lease)
            self.lease = None
        self.deadline = float("-inf")
