"""The node agent: the small async loop that applies :func:`sofs.cluster.decide.decide`.

Each cycle (every ``SameSubnetDelay``, or sooner when a watched key changes):
heartbeat (renew the lease) -> load a snapshot -> build the view -> ``decide()`` -> apply every
action with CAS -> log one line per action saying what and why.

What the SMB server hooks into: :attr:`NodeAgent.has_quorum`, :meth:`NodeAgent.owned_groups`
(group -> epoch, empty as soon as the local lease deadline passes, even before the loop runs again:
a node resumed after SIGSTOP never serves an old epoch), :meth:`NodeAgent.on_change` and the
``on_fence`` callback.

The witness (if configured) is kept by a separate task: every node tries to acquire/renew it each
cycle, at most one holds it; its heartbeat says so, and "this partition holds the witness" means a
visible node's heartbeat says so. The agent *asks* for a witness TTL of half the heartbeat TTL, so a
dead holder's witness is free again before the holder is declared Down and a survivor takes it over
without a gap. A backend may not honour that: the cloud witness clamps to Azure's 15-60 s lease
range. The agent reads the effective ``witness.ttl`` after building the witness and renews at least
three times per TTL; when the TTL exceeds the heartbeat TTL it logs the consequence once: **after the
witness holder dies, the surviving nodes count no witness vote until the holder's lease runs out**
(up to ``witness.ttl`` after its last renewal). In a 2-node cluster with a cloud witness the survivor
of a holder's death is therefore without quorum (fenced, not serving) from the moment the holder is
Down until it acquires the lease, i.e. for up to ``witness.ttl - heartbeat TTL`` seconds; the death
of the node that does *not* hold the witness costs nothing. We do not count a dead holder's vote on
the survivors' behalf: the vote belongs to whoever holds the lease.

The witness ``epoch`` (written into the witness record, shown by ``probe()``) is the **quorum
configuration revision**: the store revision of the last change of the cluster record or the vote
table (``Snapshot.quorum_epoch``) when this node took the witness. It tells an operator which vote
table the holder acted on; fencing between holders uses the witness's own ``generation``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sofs.cluster.decide import (
    Action,
    Activate,
    Claim,
    DrainDone,
    Fence,
    GroupState,
    HAView,
    MarkUp,
    Release,
    Relinquish,
    SetVotes,
    decide,
)
from sofs.cluster.membership import HeartbeatKeeper
from sofs.cluster.model import DrainStatus, Keys, NodeState, Snapshot, encode, parse_snapshot
from sofs.cluster.placement import NodeView
from sofs.cluster.quorum import QuorumView, counted_votes, has_quorum
from sofs.cluster.store import ClusterStore, StoreError, StoreUnavailable

log = logging.getLogger("sofs.cluster.agent")
VOTE_RETRIES = 20
WitnessFactory = Callable[[dict[str, Any]], Any]


def default_witness_factory(cfg: dict[str, Any]) -> Any:
    from sofs.cluster.witness import from_config
    return from_config(cfg)


class NodeAgent:
    """One node's membership + failover loop. ``await agent.start()``, later ``await agent.stop()``."""

    def __init__(self, store: ClusterStore, name: str, address: str = "", *, prefix: str | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 on_fence: Callable[[str], None] | None = None,
                 witness_factory: WitnessFactory = default_witness_factory) -> None:
        self.store = store
        self.name = name
        self.address = address
        self.keys = Keys(prefix) if prefix else Keys()
        self._clock = clock
        self.heartbeat = HeartbeatKeeper(store, self.keys, name, address, clock=clock, wall=wall)
        self._on_fence = on_fence
        self._listeners: list[Callable[[NodeAgent], None]] = []
        self._local: dict[str, int] = {}
        self._quorum = False
        self._joining = True
        self._leaving = False
        self.snapshot: Snapshot | None = None
        self.delay_s = 1.0
        self.ttl_s = 10.0
        self._witness_factory = witness_factory
        self._witness: Any = None
        self._witness_cfg: dict[str, Any] | None = None
        self._witness_src: dict[str, Any] | None = None
        self._claim: Any = None
        self.witness_ttl_s: float | None = None
        """Effective TTL of the configured witness (after the backend's clamping), or None."""
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.cycles = 0

    # ---- what the server hooks into ----

    @property
    def has_quorum(self) -> bool:
        return self._quorum and self.heartbeat.lease_valid(self._margin())

    def owned_groups(self) -> dict[str, int]:
        """Groups this node may serve right now -> epoch (empty when fenced or the lease is in doubt)."""
        return dict(self._local) if self.has_quorum else {}

    def owns(self, group: str, epoch: int) -> bool:
        """May this node act for ``group`` at ``epoch`` right now? (The volume coordinator's fencing
        check before every grant and journal append: false as soon as the record moved on, quorum
        is lost, or the heartbeat lease may have run out, even before the loop runs again.)"""
        return self._local.get(group) == epoch and self.has_quorum

    def group_owners(self) -> dict[str, tuple[str | None, int]]:
        """Every group of the last snapshot -> (owner, epoch)."""
        snap = self.snapshot
        if snap is None:
            return {}
        return {n: (g.record.owner, g.record.epoch) for n, g in snap.groups.items()}

    def up_nodes(self) -> set[str]:
        snap = self.snapshot
        if snap is None:
            return set()
        return {n for n in snap.nodes if snap.node_state(n) in (NodeState.UP, NodeState.PAUSED)}

    async def declare_down(self, node: str, reason: str) -> bool:
        """``node`` is known dead (its process is gone: its links closed and nothing listens on its
        link port): remove its heartbeat so every node sees it Down now instead of after the
        heartbeat threshold. A node that is in fact alive finds its heartbeat gone at its next beat
        and fences itself (it rejoins). Never for this node itself."""
        if node == self.name:
            return False
        try:
            gone = await self.store.delete(self.keys.heartbeat(node))
        except StoreError as e:
            log.warning("%s: declaring %s down failed: %s", self.name, node, e)
            return False
        if gone:
            log.warning("%s: node %s declared down at once (%s)", self.name, node, reason)
            self._wake.set()
        return gone

    def on_change(self, callback: Callable[[NodeAgent], None]) -> None:
        """``callback(agent)`` after every change of quorum, owned groups, any group's owner, or the
        set of Up nodes."""
        self._listeners.append(callback)

    @property
    def holds_witness(self) -> bool:
        return self._claim is not None and self._clock() < float(self._claim.valid_until)

    def _margin(self) -> float:
        return self.delay_s

    # ---- one cycle ----

    async def step(self) -> list[Action]:
        """One HA cycle; returns the actions decided (already applied)."""
        self.cycles += 1
        before = (self._quorum, dict(self._local), self.group_owners(), self.up_nodes())
        try:
            await self._load()  # first: the TTL may have changed (SameSubnetDelay/Threshold)
            lost = await self.heartbeat.beat(self.ttl_s, joining=self._joining, holds_witness=self.holds_witness)
            if lost and not self._joining:  # the lease expired while we were not running (hung, SIGSTOP)
                self._joining = True
                if self._local:
                    await self._apply(Fence("heartbeat lease expired while this node was not running"))
        except StoreUnavailable as e:
            log.warning("%s: store unavailable: %s", self.name, e)
        view = self._view()
        self._quorum = view is not None and has_quorum(view.quorum) and view.lease_valid
        actions = decide(view, self.name) if view is not None else self._blind()
        for a in actions:
            await self._apply(a)
        if before != (self._quorum, self._local, self.group_owners(), self.up_nodes()):
            for cb in list(self._listeners):
                cb(self)
        return actions

    def _blind(self) -> list[Action]:
        if self._local and not self.heartbeat.lease_valid(self._margin()):
            return [Fence("no cluster snapshot and heartbeat lease may have expired")]
        return []

    async def _load(self) -> None:
        snap = parse_snapshot(await self.store.list(self.keys.prefix), self.keys)
        self.snapshot = snap
        if snap.cluster is not None:
            c = snap.cluster.record
            self.delay_s, self.ttl_s = c.delay_s, c.ttl_s
            self._witness_cfg = c.witness

    def _view(self) -> HAView | None:
        snap = self.snapshot
        if snap is None or snap.cluster is None or self.name not in snap.nodes:
            return None
        nodes = []
        for n, v in snap.nodes.items():
            state = snap.node_state(n)
            nodes.append(NodeView(n, state in (NodeState.UP, NodeState.PAUSED), v.record.paused,
                                  v.record.paused and v.record.drain_status == DrainStatus.IN_PROGRESS.value))
        visible = frozenset(n for n in snap.heartbeats if n in snap.nodes) | {self.name}
        holds = self.holds_witness or any(hb.holds_witness for n, hb in snap.heartbeats.items() if n in visible)
        c = snap.cluster.record
        running = any(not hb.joining for n, hb in snap.heartbeats.items() if n in snap.nodes)
        votes = counted_votes({n: v.record.node_weight for n, v in snap.nodes.items()}, snap.weights(), running,
                              c.witness is not None, keep=visible, dynamic_quorum=bool(c.dynamic_quorum))
        q = QuorumView(votes, visible, c.witness is not None, holds)
        groups = {n: GroupState(g.record.owner, g.record.epoch, g.mod_revision, g.record.preferred_owners)
                  for n, g in snap.groups.items()}
        table = snap.votes
        return HAView(tuple(nodes), groups, q, dict(self._local),
                      lease_valid=self.heartbeat.lease_valid(self._margin()),
                      joining=self._joining, leaving=self._leaving,
                      vote_active=frozenset(table.record.active) if table and c.dynamic_quorum else None,
                      vote_revision=table.mod_revision if table else 0)

    # ---- applying actions ----

    async def _apply(self, a: Action) -> None:
        try:
            if isinstance(a, Fence):
                self._local.clear()
                self._quorum = False
                log.warning("%s: fence: stop serving every group (%s)", self.name, a.reason)
                if self._on_fence is not None:
                    self._on_fence(a.reason)
            elif isinstance(a, Release):
                self._local.pop(a.group, None)
                log.info("%s: release %s epoch %d (%s)", self.name, a.group, a.epoch, a.reason)
            elif isinstance(a, Activate):
                self._local[a.group] = a.epoch
                log.info("%s: activate %s epoch %d (%s)", self.name, a.group, a.epoch, a.reason)
            elif isinstance(a, Claim):
                await self._claim_group(a)
            elif isinstance(a, Relinquish):
                await self._relinquish(a)
            elif isinstance(a, MarkUp):
                await self._mark_up(a)
            elif isinstance(a, DrainDone):
                await self._drain_done(a)
            elif isinstance(a, SetVotes):
                await self._set_votes(a)
        except StoreError as e:
            log.warning("%s: %s failed: %s", self.name, type(a).__name__, e)

    async def _claim_group(self, a: Claim) -> None:
        snap = self.snapshot
        assert snap is not None
        rec = snap.groups[a.group].record
        new = replace(rec, owner=self.name, epoch=a.epoch)
        if await self.store.cas(self.keys.group(a.group), encode(new), a.expected_revision):
            self._local[a.group] = a.epoch
            log.info("%s: claimed %s epoch %d from %s (%s)", self.name, a.group, a.epoch,
                     a.previous_owner or "nobody", a.reason)
            self._wake.set()
        else:
            log.info("%s: claim of %s lost a race (%s)", self.name, a.group, a.reason)

    async def _relinquish(self, a: Relinquish) -> None:
        snap = self.snapshot
        assert snap is not None
        rec = snap.groups[a.group].record
        self._local.pop(a.group, None)
        ok = await self.store.cas(self.keys.group(a.group), encode(replace(rec, owner=None)), a.expected_revision)
        log.info("%s: relinquish %s epoch %d %s (%s)", self.name, a.group, a.epoch,
                 "done" if ok else "lost a race", a.reason)

    async def _mark_up(self, a: MarkUp) -> None:
        self._joining = False
        await self.heartbeat.beat(self.ttl_s, joining=False, holds_witness=self.holds_witness)
        await self._update_votes(add=True)
        log.info("%s: state Up (%s)", self.name, a.reason)

    async def _drain_done(self, a: DrainDone) -> None:
        snap = self.snapshot
        assert snap is not None
        v = snap.nodes[self.name]
        new = replace(v.record, drain_status=DrainStatus.COMPLETED.value)
        if await self.store.cas(self.keys.node(self.name), encode(new), v.mod_revision):
            log.info("%s: drain completed (%s)", self.name, a.reason)

    async def _set_votes(self, a: SetVotes) -> None:
        """Votes follow membership: rewrite the vote table's active set (CAS on its revision)."""
        from sofs.cluster.client import vote_table
        from sofs.cluster.store import Compare, Put

        snap = self.snapshot
        assert snap is not None and snap.cluster is not None
        votes = vote_table(snap, snap.cluster.record, active=a.active)
        res = await self.store.txn([Compare(self.keys.votes, mod_revision=a.expected_revision)],
                                   [Put(self.keys.votes, encode(votes))])
        if res.succeeded:
            log.info("%s: dynamic quorum: votes %s (%s)", self.name,
                     ", ".join(f"{n}={w}" for n, w in sorted(votes.weights.items())), a.reason)
            self._wake.set()

    async def _update_votes(self, add: bool) -> bool:
        """Dynamic quorum: a rejoining node gets its vote back; a cleanly leaving node gives it up.

        A transaction guarded by the vote table's revision; on a lost race (another node joined or
        left at the same moment) re-read the snapshot and try again, so two nodes leaving together
        both give up their votes. Returns True when the table says what we want."""
        from sofs.cluster.client import vote_table
        from sofs.cluster.store import Compare, Put

        snap = self.snapshot
        for attempt in range(VOTE_RETRIES):
            if attempt:  # lost a race: decide again on what the winner wrote
                snap = parse_snapshot(await self.store.list(self.keys.prefix), self.keys)
            if snap is None or snap.cluster is None or self.name not in snap.nodes:
                return False
            active = set(snap.votes.record.active) if snap.votes else set(snap.nodes)
            if (self.name in active) == add:
                return True
            active = active | {self.name} if add else active - {self.name}
            votes = vote_table(snap, snap.cluster.record, active=sorted(active))
            res = await self.store.txn(
                [Compare(self.keys.votes, mod_revision=snap.votes.mod_revision if snap.votes else 0)],
                [Put(self.keys.votes, encode(votes))])
            if res.succeeded:
                log.info("%s: dynamic quorum: vote %s%s", self.name, "restored" if add else "given up",
                         f" (after {attempt} lost race(s))" if attempt else "")
                return True
        log.warning("%s: dynamic quorum: vote %s failed: the vote table kept changing", self.name,
                    "restore" if add else "give-up")
        return False

    # ---- witness ----

    async def witness_step(self) -> None:
        """Acquire or renew the witness (if one is configured); never raises."""
        cfg = self._witness_cfg
        if cfg != self._witness_src:
            await self._close_witness()
            self._witness_src = cfg
            if cfg is not None:
                full = {"ttl": self.ttl_s / 2, "timeout": max(0.5, min(5.0, self.ttl_s / 4)), **cfg}
                try:
                    self._witness = self._witness_factory(full)
                except Exception as e:  # noqa: BLE001  # a bad witness config must not stop the node
                    log.warning("%s: cannot build witness %s: %s", self.name, cfg.get("type"), e)
                else:
                    self._adopt_witness_ttl(float(full["ttl"]))
        if self._witness is None:  # every node keeps trying: a standby claim makes failover instant
            return
        try:
            snap = self.snapshot
            cluster_id = snap.cluster.record.id if snap and snap.cluster else ""
            epoch = snap.quorum_epoch if snap is not None else 0
            if self._claim is not None:
                self._claim = await self._witness.renew(self._claim)
            else:
                self._claim = await self._witness.acquire(cluster_id, self.name, epoch)
        except Exception as e:  # noqa: BLE001  # witness contract: no raise, but be defensive
            log.warning("%s: witness error: %s", self.name, e)
            self._claim = None

    def _adopt_witness_ttl(self, asked: float) -> None:
        """Read the TTL the backend really uses (it may clamp what we asked for) and say what it costs."""
        ttl = float(getattr(self._witness, "ttl", asked) or asked)
        self.witness_ttl_s = ttl
        if ttl > self.ttl_s:
            log.warning("%s: %s witness TTL is %.0f s (asked %.1f s), longer than the heartbeat TTL %.1f s: "
                        "after the witness holder dies the other nodes have no witness vote for up to "
                        "%.1f s more", self.name, getattr(self._witness, "kind", "the"), ttl, asked,
                        self.ttl_s, ttl - self.ttl_s)

    def witness_interval(self) -> float:
        """Seconds between witness acquire/renew calls: every heartbeat, and at least 3 per witness TTL."""
        if self.witness_ttl_s:
            return max(0.01, min(self.delay_s, self.witness_ttl_s / 3))
        return self.delay_s

    async def _close_witness(self) -> None:
        if self._witness is not None:
            with contextlib.suppress(Exception):
                if self._claim is not None:
                    await self._witness.release(self._claim)
                await self._witness.close()
        self._witness, self._claim, self.witness_ttl_s = None, None, None

    # ---- lifecycle ----

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name=f"agent-{self.name}"),
                       asyncio.create_task(self._watch_loop(), name=f"agent-watch-{self.name}"),
                       asyncio.create_task(self._witness_loop(), name=f"agent-witness-{self.name}")]

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.step()
            except Exception:
                log.exception("%s: agent cycle failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.delay_s)

    async def _watch_loop(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.store.watch(self.keys.prefix)) as events:  # type: ignore[type-var]
                    async for ev in events:
                        if not ev.key.startswith(self.keys.hb) or ev.type.value == "delete":
                            self._wake.set()
            except StoreError:
                await asyncio.sleep(self.delay_s)

    async def _witness_loop(self) -> None:
        while True:
            await self.witness_step()
            await asyncio.sleep(self.witness_interval())

    async def stop(self, leave: bool = True) -> None:
        """Stop the loop. ``leave``: clean shutdown (hand groups back, give up the dynamic vote)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if leave:
            self._leaving = True
            with contextlib.suppress(StoreError):
                await self._load()
                await self.step()
                if self._quorum:
                    await self._update_votes(add=False)
        self._local.clear()
        await self._close_witness()
        await self.heartbeat.stop()
        for cb in list(self._listeners):
            cb(self)
