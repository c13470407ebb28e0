"""Seeded, bounded simulation: random partitions, heals, crashes, restarts and clean leaves.

Each node keeps its own copy of the vote table (a version + the set of nodes that have not left
cleanly); a group of nodes that can talk adopts the newest copy among its members; only a group that
has quorum may change the table (clean leave, rejoin, and "prune": the votes of every node it cannot
see are removed, as votes follow membership) and only its members learn the change. The
witness is held by at most one group; a holder keeps it while its group exists. At no step may two
groups have quorum at once ("serve at once").

The real cluster keeps ONE vote table, in the store, which every node reads; per-node copies are the
harder case. With "prune" they need what WSFC does: every table change is written through to the
witness when it is reachable (the paxos tag), and a group whose table is older than the witness's tag
cannot count the witness (without that, seed 1127 of 4000 found two groups serving).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from sofs.cluster.quorum import QuorumView, dynamic_weights, has_quorum


@dataclass
class Table:
    version: int
    active: frozenset[str]
    votes: dict[str, int]


class Sim:
    def __init__(self, n: int, witness: bool, rng: random.Random) -> None:
        self.nodes = [f"n{i}" for i in range(1, n + 1)]
        self.witness = witness
        self.rng = rng
        votes = dynamic_weights(dict.fromkeys(self.nodes, 1), set(self.nodes), witness, set(self.nodes))
        self.table = {x: Table(0, frozenset(self.nodes), votes) for x in self.nodes}
        self.groups: list[list[str]] = [list(self.nodes)]
        self.stopped: set[str] = set()  # crashed or left cleanly
        self.witness_group: int | None = 0 if witness else None
        self.witness_version = 0
        """Newest table version written through to the witness (WSFC's paxos tag on the witness)."""

    def sync(self) -> None:
        for g in self.groups:
            newest = max((self.table[x] for x in g), key=lambda t: t.version)
            for x in g:
                self.table[x] = newest

    def quorum(self, i: int) -> bool:
        g = self.groups[i]
        t = self.table[g[0]]
        return has_quorum(QuorumView(t.votes, frozenset(g), self.witness,
                                     holds_witness=self.witness_group == i and t.version >= self.witness_version))

    def serving(self) -> list[int]:
        return [i for i, g in enumerate(self.groups) if g and self.quorum(i)]

    def change_table(self, i: int, active: frozenset[str]) -> None:
        g = self.groups[i]
        old = self.table[g[0]]
        votes = dynamic_weights(dict.fromkeys(self.nodes, 1), active, self.witness, set(g))
        new = Table(old.version + 1, active, votes)
        for x in g:
            self.table[x] = new
        if self.witness and self.witness_group in (None, i):  # the witness is reachable: tag it
            self.witness_version = max(self.witness_version, new.version)

    def step(self) -> str:
        live = [x for x in self.nodes if x not in self.stopped]
        op = self.rng.choice(["split", "split", "heal", "crash", "restart", "leave", "witness", "prune"])
        if op == "split" and live:
            k = self.rng.randint(1, min(3, len(live)))
            groups: list[list[str]] = [[] for _ in range(k)]
            for x in live:
                groups[self.rng.randrange(k)].append(x)
            old_holder = self.groups[self.witness_group] if self.witness_group is not None else []
            self.groups = [g for g in groups if g]
            self.witness_group = None
            if self.witness and old_holder:  # the holder keeps the witness in whichever group it lands
                keeper = old_holder[0]
                self.witness_group = next(i for i, g in enumerate(self.groups) if keeper in g)
        elif op == "heal":
            self.groups = [live] if live else []
            self.witness_group = 0 if self.witness and live and self.rng.random() < 0.8 else None
        elif op == "crash" and live:
            victim = self.rng.choice(live)
            self.remove(victim)
        elif op == "restart" and self.stopped:
            x = self.rng.choice(sorted(self.stopped))
            self.stopped.discard(x)
            if not self.groups:
                self.groups = [[x]]
            else:
                self.groups[self.rng.randrange(len(self.groups))].append(x)
            self.sync()
            i = next(i for i, g in enumerate(self.groups) if x in g)
            t = self.table[x]
            if x not in t.active and self.quorum(i):  # rejoin: get its vote back
                self.change_table(i, t.active | {x})
        elif op == "leave":
            candidates = [(i, x) for i, g in enumerate(self.groups) for x in g if self.quorum(i)]
            if candidates:
                i, x = self.rng.choice(candidates)
                self.change_table(i, self.table[x].active - {x})
                self.remove(x)
        elif op == "prune":  # votes follow membership: a group with quorum drops the votes of nodes it lost
            serving = self.serving()
            if serving:
                i = self.rng.choice(serving)
                self.change_table(i, frozenset(self.groups[i]))
        elif op == "witness" and self.witness and self.witness_group is None and self.groups:
            # the witness is free only when its holder's group is gone; else nothing changes hands
            self.witness_group = self.rng.randrange(len(self.groups))
        self.sync()
        return op

    def remove(self, x: str) -> None:
        self.stopped.add(x)
        holder = self.groups[self.witness_group] if self.witness_group is not None else None
        for g in self.groups:
            if x in g:
                g.remove(x)
        if holder is not None and not holder:
            self.witness_group = None
        empties = [i for i, g in enumerate(self.groups) if not g]
        if self.witness_group is not None:
            self.witness_group -= sum(1 for i in empties if i < self.witness_group)
        self.groups = [g for g in self.groups if g]


@pytest.mark.parametrize("seed", range(40))
def test_random_partitions_never_two_serving(seed: int) -> None:
    rng = random.Random(seed)
    sim = Sim(rng.randint(1, 7), rng.random() < 0.5, rng)
    history = []
    served = 0
    for _ in range(300):
        history.append(sim.step())
        serving = sim.serving()
        assert len(serving) <= 1, (seed, history[-10:], sim.groups, [sim.table[g[0]] for g in sim.groups])
        served += len(serving)
    assert served > 0  # the simulation is not vacuous: somebody served at some point


def test_sim_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        sim = Sim(5, True, rng)
        return [sim.step() for _ in range(50)]
    assert run(7) == run(7)
