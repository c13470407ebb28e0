"""NodeAgent cycles driven by hand with a fake clock over one embedded store (no sleeps, no processes)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sofs.cluster.agent import NodeAgent
from sofs.cluster.client import ClusterClient
from sofs.cluster.decide import Claim, Fence
from sofs.cluster.store_embedded import EmbeddedStore
from sofs.cluster.witness import WitnessClaim, WitnessStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWitness:
    """One shared arbiter: held by one node until its claim is released or runs out (fake clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.holder: str | None = None
        self.until = 0.0
        self.reachable = True
        self.ttl = 2.5

    def factory(self, cfg: dict[str, Any]) -> FakeWitness.Client:
        self.ttl = float(cfg["ttl"])
        return FakeWitness.Client(self)

    class Client:
        def __init__(self, w: FakeWitness) -> None:
            self.w = w
            self.epochs: list[int] = []

        @property
        def ttl(self) -> float:
            return self.w.ttl

        async def acquire(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
            w = self.w
            self.epochs.append(epoch)
            if not w.reachable:
                return None
            if w.holder in (None, node) or w.clock() >= w.until:
                w.holder, w.until = node, w.clock() + w.ttl
                return WitnessClaim(cluster_id, node, epoch, 1, w.until)
            return None

        async def renew(self, claim: WitnessClaim) -> WitnessClaim | None:
            return await self.acquire(claim.cluster_id, claim.node, claim.epoch)

        async def release(self, claim: WitnessClaim) -> None:
            if self.w.holder == claim.node:
                self.w.holder = None

        async def probe(self) -> WitnessStatus:
            return WitnessStatus("fake", self.w.reachable, self.w.holder)

        async def close(self) -> None:
            pass


class Rig:
    def __init__(self, store: EmbeddedStore, clock: Clock, names: list[str], witness: FakeWitness) -> None:
        self.client = ClusterClient(store)
        self.clock = clock
        self.fenced: list[str] = []
        self.agents = {n: NodeAgent(store, n, clock=clock, witness_factory=witness.factory,
                                    on_fence=lambda why, n=n: self.fenced.append(n)) for n in names}

    async def cycle(self, *names: str, seconds: float = 1.0) -> None:
        """Advance time by one heartbeat interval, then run one cycle of each named agent."""
        self.clock.now += seconds
        for n in names or tuple(self.agents):
            a = self.agents[n]
            await a.witness_step()
            await a.step()

    def owners(self) -> dict[str, tuple[str, int]]:
        return {g: (n, e) for n, a in self.agents.items() for g, e in a.owned_groups().items()}


def run(tmp_path: Path, names: list[str], body: Callable[[Rig], Awaitable[None]],
        witness: dict[str, Any] | None = None) -> None:
    async def main() -> None:
        clock = Clock()
        store = await EmbeddedStore.open(tmp_path, clock=clock)
        fw = FakeWitness(clock)
        rig = Rig(store, clock, names, fw)
        rig.witness = fw  # type: ignore[attr-defined]
        await rig.client.create_cluster("c1", names)
        if witness:
            await rig.client.set_quorum({"type": "NodeAndFileShareMajority", "witness": witness})
        await rig.client.create_group("Volume1")
        await rig.client.create_group("Volume2")
        try:
            await body(rig)
        finally:
            await store.close()
    asyncio.run(main())


async def form(rig: Rig) -> None:
    for _ in range(3):
        await rig.cycle()
    assert all(n.state == "Up" for n in await rig.client.get_nodes())


def test_formation_places_every_group_once(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        owners = rig.owners()
        assert set(owners) == {"Cluster Group", "Volume1", "Volume2"}
        assert len({n for n, _ in owners.values()}) == 3  # spread over the three nodes
        assert all(e == 1 for _, e in owners.values())
        groups = {g.name: g for g in await rig.client.get_groups()}
        assert all(groups[g].owner_node == n and groups[g].state == "Online" for g, (n, _) in owners.items())
        assert all(a.has_quorum for a in rig.agents.values())
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_dead_owner_group_claimed_with_higher_epoch(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        victim, epoch = rig.owners()["Volume1"]
        alive = [n for n in rig.agents if n != victim]
        for _ in range(9):  # TTL = 10 s: not yet
            await rig.cycle(*alive)
        g = next(g for g in await rig.client.get_groups() if g.name == "Volume1")
        assert (g.owner_node, g.epoch) == (victim, epoch)  # the store still names the victim
        assert rig.agents[victim].owned_groups() == {}  # but the victim's own clock fenced it already
        await rig.cycle(*alive, seconds=2.0)
        await rig.cycle(*alive)
        new_owner, new_epoch = rig.owners()["Volume1"]
        assert new_owner in alive and new_epoch == epoch + 1
        assert [n.state for n in await rig.client.get_nodes() if n.name == victim] == ["Down"]
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_stopped_node_resumes_without_acting_on_old_epoch(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        victim, epoch = rig.owners()["Volume1"]
        alive = [n for n in rig.agents if n != victim]
        await rig.cycle(*alive, seconds=9.5)  # the victim is stopped (no cycles) past its fence margin
        assert rig.agents[victim].owned_groups() == {}  # fenced by clock, before its loop even runs
        await rig.cycle(*alive, seconds=1.0)
        await rig.cycle(*alive)
        assert rig.owners()["Volume1"][1] == epoch + 1
        acts = await rig.agents[victim].step()  # SIGCONT
        assert any(isinstance(a, Fence) for a in acts) or rig.agents[victim].owned_groups() == {}
        assert "Volume1" not in rig.agents[victim].owned_groups()
        for _ in range(3):
            await rig.cycle()
        assert rig.owners()["Volume1"][1] == epoch + 1  # nobody went back to the old epoch
        assert [n.state for n in await rig.client.get_nodes()] == ["Up", "Up", "Up"]
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_lost_quorum_fences_within_threshold(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        lonely = rig.owners()["Volume1"][0]
        for i in range(12):
            await rig.cycle(lonely)
            if not rig.agents[lonely].owned_groups():
                break
        assert i <= 10 and lonely in rig.fenced and not rig.agents[lonely].has_quorum
        for _ in range(3):
            await rig.cycle()  # the others come back: everyone rejoins and serves again
        assert all(a.has_quorum for a in rig.agents.values())
        assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_threshold_change_at_run_time(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        await rig.client.set_cluster_property("SameSubnetThreshold", 3)
        await rig.cycle()
        assert all(a.ttl_s == 3.0 for a in rig.agents.values())
        victim = rig.owners()["Volume1"][0]
        alive = [n for n in rig.agents if n != victim]
        for _ in range(4):
            await rig.cycle(*alive)
        assert rig.owners()["Volume1"][0] in alive
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_move_and_drain(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        src, epoch = rig.owners()["Volume1"]
        dst = next(n for n in rig.agents if n != src)
        await rig.client.move_group("Volume1", dst)
        await rig.cycle()
        assert rig.owners()["Volume1"] == (dst, epoch + 1)
        await rig.client.suspend_node(dst, drain=True)
        await rig.cycle()
        await rig.cycle()
        assert all(n != dst for n, _ in rig.owners().values())
        node = next(n for n in await rig.client.get_nodes() if n.name == dst)
        assert (node.state, node.drain_status) == ("Paused", "Completed")
        await rig.client.resume_node(dst)
        await rig.cycle()
        assert next(n for n in await rig.client.get_nodes() if n.name == dst).state == "Up"
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_clean_leaves_keep_quorum_down_to_one(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        left: list[str] = []
        for n in ["n3", "n2"]:
            await rig.agents[n].stop(leave=True)
            left.append(n)
            rest = [x for x in rig.agents if x not in left]
            await rig.cycle(*rest)
            await rig.cycle(*rest)
            assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
            assert all(owner in rest for owner, _ in rig.owners().values())
        assert rig.agents["n1"].has_quorum
        q = await rig.client.get_quorum()
        assert q.votes == {"n1": 1, "n2": 0, "n3": 0}
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_two_nodes_with_witness(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        fw: FakeWitness = rig.witness  # type: ignore[attr-defined]
        assert fw.holder is not None
        victim = fw.holder  # kill the witness holder: the worst case
        survivor = next(n for n in rig.agents if n != victim)
        for _ in range(14):
            await rig.cycle(survivor)
            assert rig.agents[survivor].has_quorum
        assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
        assert {n for n, _ in rig.owners().values()} == {survivor}
        # the victim comes back; then the witness becomes unreachable and the other node dies
        for _ in range(3):
            await rig.cycle()
        fw.reachable = False
        for _ in range(14):
            await rig.cycle(survivor)
        assert not rig.agents[survivor].has_quorum and rig.owners() == {}
    run(tmp_path, ["n1", "n2"], body, witness={"type": "fileshare", "share": "\\\\srv\\w"})


def test_two_nodes_without_witness_loses_half(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        # 2 nodes, no witness: the tie-breaker removed one vote; the node keeping it survives alone
        q = await rig.client.get_quorum()
        voter = next(n for n, v in q.votes.items() if v)
        other = next(n for n in rig.agents if n != voter)
        for _ in range(14):
            await rig.cycle(voter)
        assert rig.agents[voter].has_quorum
        claims = [a for a in await rig.agents[voter].step() if isinstance(a, Claim)]
        assert claims == [] and {n for n, _ in rig.owners().values()} == {voter}
        assert other not in {n for n, _ in rig.owners().values()}
    run(tmp_path, ["n1", "n2"], body)


def test_witness_ttl_read_back_and_epoch_is_quorum_revision(tmp_path: Path) -> None:
    """A backend that clamps the TTL (the cloud witness: 15-60 s) is read back; the epoch passed to the
    witness is the quorum configuration revision, not a cycle count."""
    async def body(rig: Rig) -> None:
        fw: FakeWitness = rig.witness  # type: ignore[attr-defined]
        orig = fw.factory

        def clamping(cfg: dict[str, Any]) -> FakeWitness.Client:
            c = orig(cfg)
            fw.ttl = max(15.0, fw.ttl)  # what CloudWitness does with the 5 s it is asked for
            return c
        for a in rig.agents.values():
            a._witness_factory = clamping
        await form(rig)
        a = rig.agents["n1"]
        assert a.witness_ttl_s == 15.0 and a.witness_interval() == 1.0
        snap = await rig.client.snapshot()
        client = a._witness
        assert client.epochs and set(client.epochs) == {snap.quorum_epoch}
        assert snap.quorum_epoch == max(snap.cluster.mod_revision, snap.votes.mod_revision)  # type: ignore[union-attr]
        a.delay_s = 10.0
        assert a.witness_interval() == 5.0  # at least three renewals per witness TTL
    run(tmp_path, ["n1", "n2"], body, witness={"type": "cloud", "account_name": "a", "access_key": "k"})


def test_two_nodes_leaving_together_both_give_up_votes(tmp_path: Path) -> None:
    """Both leavers decided on the same vote table: the second one loses the CAS race and retries."""
    async def body(rig: Rig) -> None:
        await form(rig)
        a, b = rig.agents["n2"], rig.agents["n3"]
        await a._load()
        await b._load()  # same snapshot as a
        assert await a._update_votes(add=False)
        assert await b._update_votes(add=False)  # stale snapshot: first txn fails, retry succeeds
        q = await rig.client.get_quorum()
        assert q.votes == {"n1": 1, "n2": 0, "n3": 0}
        snap = await rig.client.snapshot()
        assert snap.votes is not None and snap.votes.record.active == ("n1",)
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_heartbeat_time_refreshed_without_changes(tmp_path: Path) -> None:
    from sofs.cluster.membership import HeartbeatKeeper
    from sofs.cluster.model import Heartbeat, Keys, decode

    async def main() -> None:
        clock = Clock()
        store = await EmbeddedStore.open(tmp_path, clock=clock)
        wall = [1_700_000_000.0]
        hb = HeartbeatKeeper(store, Keys(), "n1", "127.0.0.11", clock=clock, wall=lambda: wall[0],
                             time_refresh_s=2.0)
        try:
            times = []
            for _ in range(6):
                await hb.beat(10.0, joining=False)
                kv = await store.get(Keys().heartbeat("n1"))
                assert kv is not None
                rec = decode(Heartbeat, kv.value)
                times.append(rec.time)
                assert rec.time_refresh_s == 2.0
                clock.now += 1.0
                wall[0] += 1.0
            # written at t=0 (grant), then every 2 s of unchanged content: never older than refresh
            assert times == [1_700_000_000.0, 1_700_000_000.0, 1_700_000_002.0, 1_700_000_002.0,
                             1_700_000_004.0, 1_700_000_004.0]
        finally:
            await store.close()
    asyncio.run(main())


WITNESS = {"type": "fileshare", "share": "\\\\srv\\w"}


async def kill_and_wait_down(rig: Rig, victims: list[str], alive: list[str]) -> None:
    """SIGKILL ``victims`` (their agents stop cycling) and run the others until the victims are Down."""
    for _ in range(14):
        await rig.cycle(*alive)
    states = {n.name: n.state for n in await rig.client.get_nodes()}
    assert all(states[v] == "Down" for v in victims), states


def test_last_man_standing_with_witness(tmp_path: Path) -> None:
    """Issue 15 acceptance 7: 3 nodes + witness, two killed one after the other (the second once the
    first is Down): the last node keeps quorum and every group, because each Down node's vote was
    removed as soon as it was marked Down."""
    async def body(rig: Rig) -> None:
        await form(rig)
        await kill_and_wait_down(rig, ["n1"], ["n2", "n3"])
        q = await rig.client.get_quorum()
        assert q.votes == {"n1": 0, "n2": 1, "n3": 1} and q.witness_dynamic_weight == 1
        await kill_and_wait_down(rig, ["n2"], ["n3"])
        assert rig.agents["n3"].has_quorum
        assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
        assert {n for n, _ in rig.owners().values()} == {"n3"}
        q = await rig.client.get_quorum()
        assert q.votes == {"n1": 0, "n2": 0, "n3": 1}
        # the others come back and get their votes back
        for _ in range(3):
            await rig.cycle()
        assert (await rig.client.get_quorum()).votes == {"n1": 1, "n2": 1, "n3": 1}
    run(tmp_path, ["n1", "n2", "n3"], body, witness=WITNESS)


def test_simultaneous_loss_of_two_of_three_stops_the_last(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        for _ in range(14):
            await rig.cycle("n3")
        assert not rig.agents["n3"].has_quorum and rig.owners() == {} and "n3" in rig.fenced
        assert (await rig.client.get_quorum()).votes == {"n1": 1, "n2": 1, "n3": 1}  # no quorum: no change
    run(tmp_path, ["n1", "n2", "n3"], body, witness=WITNESS)


def restart_agents(rig: Rig, names: list[str], witness: FakeWitness) -> None:
    """New agent objects (new processes) for ``names`` on the same store."""
    store = rig.client.store
    for n in names:
        rig.agents[n] = NodeAgent(store, n, clock=rig.clock, witness_factory=witness.factory,  # type: ignore[arg-type]
                                  on_fence=lambda why, n=n: rig.fenced.append(n))


def test_cluster_starts_again_after_clean_shutdown(tmp_path: Path) -> None:
    """Issue 15 acceptance 6: every node left cleanly (each gave up its vote): a cold start counts the
    configured votes, so the same nodes form the cluster again."""
    async def body(rig: Rig) -> None:
        await form(rig)
        for n in ["n1", "n2", "n3"]:
            await rig.agents[n].stop(leave=True)
        assert sum((await rig.client.get_quorum()).votes.values()) <= 1
        restart_agents(rig, ["n1", "n2", "n3"], rig.witness)  # type: ignore[attr-defined]
        await form(rig)
        assert all(a.has_quorum for a in rig.agents.values())
        assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
        assert (await rig.client.get_quorum()).votes == {"n1": 1, "n2": 1, "n3": 1}
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_cluster_starts_again_after_all_killed(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        rig.clock.now += 30  # every node killed: their heartbeat leases run out
        restart_agents(rig, ["n1", "n2", "n3"], rig.witness)  # type: ignore[attr-defined]
        await form(rig)
        assert set(rig.owners()) == {"Cluster Group", "Volume1", "Volume2"}
        assert all(a.has_quorum for a in rig.agents.values())
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_one_node_of_three_cannot_form_alone(tmp_path: Path) -> None:
    """A cold start needs a majority of the configured votes, as WSFC's cluster service does."""
    async def body(rig: Rig) -> None:
        await form(rig)
        for n in ["n1", "n2", "n3"]:
            await rig.agents[n].stop(leave=True)
        restart_agents(rig, ["n1"], rig.witness)  # type: ignore[attr-defined]
        for _ in range(5):
            await rig.cycle("n1")
        assert not rig.agents["n1"].has_quorum and rig.owners() == {}
        assert [n.state for n in await rig.client.get_nodes()] == ["Joining", "Down", "Down"]
        restart_agents(rig, ["n2"], rig.witness)  # type: ignore[attr-defined]
        for _ in range(3):
            await rig.cycle("n1", "n2")
        assert rig.agents["n1"].has_quorum and rig.agents["n2"].has_quorum
        assert {n for n, _ in rig.owners().values()} <= {"n1", "n2"} and len(rig.owners()) == 3
    run(tmp_path, ["n1", "n2", "n3"], body)


def test_two_node_cluster_with_witness_starts_on_one_node(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await form(rig)
        for n in ["n1", "n2"]:
            await rig.agents[n].stop(leave=True)
        restart_agents(rig, ["n1"], rig.witness)  # type: ignore[attr-defined]
        for _ in range(4):
            await rig.cycle("n1")
        assert rig.agents["n1"].has_quorum and len(rig.owners()) == 3
    run(tmp_path, ["n1", "n2"], body, witness=WITNESS)
