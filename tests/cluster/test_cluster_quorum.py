"""Quorum tables: WSFC node majority, witness, dynamic quorum/witness; no two disjoint partitions win."""
from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from sofs.cluster.quorum import (
    QuorumView,
    counted_votes,
    dynamic_weights,
    forming_votes,
    has_quorum,
    membership_active,
    quorum_type,
    tally,
    witness_counts,
)


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def set_partitions(items: list[str]) -> Iterator[list[list[str]]]:
    """Every partition of ``items`` into non-empty disjoint groups (Bell(7) = 877)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1:]
        yield [[first], *part]


def test_set_partitions_count() -> None:
    assert [sum(1 for _ in set_partitions(names(n))) for n in range(1, 8)] == [1, 2, 5, 15, 52, 203, 877]


def winners(votes: dict[str, int], part: list[list[str]], witness: bool) -> Iterator[list[list[str]]]:
    """For each placement of the witness (no side, or exactly one side): the sides with quorum."""
    for holder in range(-1, len(part) if witness else 0):
        yield [g for i, g in enumerate(part)
               if has_quorum(QuorumView(votes, frozenset(g), witness, holds_witness=(i == holder)))]


@pytest.mark.parametrize("n", range(1, 8))
@pytest.mark.parametrize("witness", [False, True])
def test_no_two_disjoint_partitions_have_quorum(n: int, witness: bool) -> None:
    """Every set partition of the full cluster; then every vote table reachable by clean leaves
    (every active subset x tie-breaker preference) against every two-way split. Two-way splits
    suffice there because quorum is monotone: two winning groups of a k-way split would also win as
    "group 1" vs "everybody else"."""
    nodes = names(n)
    full = dynamic_weights(dict.fromkeys(nodes, 1), set(nodes), witness, set(nodes))
    for part in set_partitions(nodes):
        for won in winners(full, part, witness):
            assert len(won) <= 1, (full, part, won)
    for k in range(n + 1):
        for active in itertools.combinations(nodes, k):
            for keep in ({*active}, set(), {nodes[-1]}):
                votes = dynamic_weights(dict.fromkeys(nodes, 1), set(active), witness, keep)
                for mask in range(2 ** (n - 1)):
                    side = [x for i, x in enumerate(nodes) if mask >> i & 1]
                    other = [x for x in nodes if x not in side]
                    for won in winners(votes, [side, other], witness):
                        assert len(won) <= 1, (votes, side, witness, won)


@pytest.mark.parametrize(("n", "witness", "visible", "holds", "expected"), [
    (1, False, 1, False, True),
    (2, False, 1, False, True),    # 2 nodes, no witness: the tie-breaker drops n2's vote
    (3, False, 2, False, True),
    (3, False, 1, False, False),
    (4, False, 2, False, None),    # depends on which side has the tie-breaker: see next test
    (5, False, 3, False, True),
    (5, False, 2, False, False),
    (2, True, 1, True, True),      # 2 nodes + witness: survivor with witness keeps quorum
    (2, True, 1, False, False),    # ... and without the witness it does not
    (3, True, 2, False, True),     # odd node votes: the dynamic witness does not count
    (3, True, 1, True, False),
    (4, True, 2, True, True),
    (4, True, 2, False, False),
    (6, True, 3, True, True),
    (7, True, 4, False, True),
    (7, True, 3, True, False),
])
def test_quorum_table_all_active(n: int, witness: bool, visible: int, holds: bool, expected: bool | None) -> None:
    nodes = names(n)
    votes = dynamic_weights(dict.fromkeys(nodes, 1), set(nodes), witness, keep=set(nodes))
    got = has_quorum(QuorumView(votes, frozenset(nodes[:visible]), witness, holds))
    if expected is not None:
        assert got is expected
    if n == 2 and not witness:
        assert votes == {"n1": 1, "n2": 0}


def test_even_cluster_tie_breaker_prefers_invisible_node() -> None:
    nodes = names(4)
    votes = dynamic_weights(dict.fromkeys(nodes, 1), set(nodes), False, keep={"n3", "n4"})
    assert sum(votes.values()) == 3 and votes["n3"] == votes["n4"] == 1
    assert has_quorum(QuorumView(votes, frozenset({"n3", "n4"})))
    assert not has_quorum(QuorumView(votes, frozenset({"n1", "n2"})))


def test_clean_leaves_shrink_the_cluster_down_to_one() -> None:
    nodes = names(5)
    active = set(nodes)
    for leaving in ["n5", "n4", "n3", "n2"]:
        active.discard(leaving)
        votes = dynamic_weights(dict.fromkeys(nodes, 1), active, False, keep=active)
        assert has_quorum(QuorumView(votes, frozenset(active)))
    assert has_quorum(QuorumView(votes, frozenset({"n1"})))


def test_without_dynamic_quorum_votes_are_configured() -> None:
    votes = dynamic_weights({"a": 1, "b": 1, "c": 0}, {"a"}, False, dynamic_quorum=False)
    assert votes == {"a": 1, "b": 1, "c": 0}
    assert not has_quorum(QuorumView(votes, frozenset({"a"})))


def test_zero_vote_nodes_do_not_count() -> None:
    votes = {"a": 1, "b": 0, "c": 0}
    assert has_quorum(QuorumView(votes, frozenset({"a"})))
    assert not has_quorum(QuorumView(votes, frozenset({"b", "c"})))


def test_static_witness_always_counts() -> None:
    assert witness_counts(3, True, dynamic_witness=False)
    assert not witness_counts(3, True)
    assert witness_counts(2, True)
    assert not witness_counts(2, False)
    t = tally(QuorumView({"a": 1, "b": 1, "c": 1}, frozenset({"a"}), True, True, dynamic_witness=False))
    assert (t.have, t.total, t.quorum) == (2, 4, False)


def test_no_votes_at_all_is_no_quorum() -> None:
    assert not has_quorum(QuorumView({"a": 0}, frozenset({"a"})))
    assert not has_quorum(QuorumView({}, frozenset()))


def test_quorum_type_names() -> None:
    assert quorum_type(None) == "NodeMajority"
    assert quorum_type("fileshare") == "NodeAndFileShareMajority"
    assert quorum_type("cloud") == "NodeAndCloudMajority"
    assert quorum_type("disk") == "NodeAndDiskMajority"


# ---- failures over time: votes follow membership (issue 15) ----

def failure_sequences(live: tuple[str, ...]) -> Iterator[list[tuple[str, ...]]]:
    """Every sequence of failure events over ``live``: each event kills a non-empty subset at once
    (a subset of one node = a sequential failure, several = a simultaneous one)."""
    yield []
    for k in range(1, len(live) + 1):
        for killed in itertools.combinations(live, k):
            rest = tuple(x for x in live if x not in killed)
            for tail in failure_sequences(rest):
                yield [killed, *tail]


def play(nodes: list[str], witness: bool, events: list[tuple[str, ...]]) -> list[bool]:
    """The implementation: after each event the survivors (holding the witness, which is free before a
    dead holder is marked Down) decide on the current table; with quorum they remove the dead nodes'
    votes (membership_active), without it the cluster stops (and stays stopped)."""
    conf = dict.fromkeys(nodes, 1)
    live = set(nodes)
    votes = dynamic_weights(conf, live, witness, live)
    out: list[bool] = []
    for killed in events:
        live -= set(killed)
        ok = bool(live) and has_quorum(QuorumView(votes, frozenset(live), witness, holds_witness=bool(live)))
        out.append(ok)
        if not ok:
            break
        votes = dynamic_weights(conf, membership_active(set(nodes), live), witness, live)
    return out


def oracle(nodes: list[str], witness: bool, events: list[tuple[str, ...]]) -> list[bool]:
    """WSFC's rule counted by hand: m voters; with a witness the witness votes when m is even; without
    one, an even m drops the vote of the highest-named voter (the tie-breaker); the survivors need
    more than half of the total."""
    voters = sorted(nodes)
    out: list[bool] = []
    live = set(nodes)
    for killed in events:
        m = len(voters)
        counting = voters if witness or m % 2 else voters[:-1]
        w = int(witness and m % 2 == 0)
        live -= set(killed)
        have = sum(1 for v in counting if v in live) + (w if live else 0)
        ok = bool(live) and 2 * have > len(counting) + w
        out.append(ok)
        if not ok:
            break
        voters = sorted(live)
    return out


@pytest.mark.parametrize("n", range(1, 7))
@pytest.mark.parametrize("witness", [False, True])
def test_failure_sequences_match_wsfc(n: int, witness: bool) -> None:
    """Exhaustive: every sequence of sequential and simultaneous failures of an n-node cluster."""
    nodes = names(n)
    count = 0
    for events in failure_sequences(tuple(nodes)):
        assert play(nodes, witness, events) == oracle(nodes, witness, events), events
        count += 1
    assert count > 0


@pytest.mark.parametrize("n", range(2, 8))
def test_last_man_standing_with_witness(n: int) -> None:
    """With a witness, one failure after another leaves a serving last node, in any order."""
    nodes = names(n)
    for order in itertools.permutations(nodes, n - 1):
        assert play(nodes, True, [(x,) for x in order]) == [True] * (n - 1)


@pytest.mark.parametrize(("n", "witness", "events", "expected"), [
    (3, True, [("n1",), ("n2",)], [True, True]),        # sequential: last man standing
    (3, True, [("n1", "n2")], [False]),                 # simultaneous: 1 vote of 3
    (3, False, [("n1",), ("n2",)], [True, False]),      # 2 left, no witness: the tie-breaker demoted n3 ...
    (3, False, [("n1",), ("n3",)], [True, True]),       # ... so n3's death is free, n2's is not
    (3, False, [("n2",), ("n1",)], [True, False]),      # n1 held the one vote that counted
    (4, True, [("n1", "n2")], [True]),                  # 2 of 4 + witness = 3 of 5
    (4, False, [("n1", "n2")], [False]),                # tie-breaker n4 demoted: n3 alone has 1 of 3
    (5, True, [("n1", "n2"), ("n3", "n4")], [True, False]),
    (5, True, [("n1", "n2"), ("n3",), ("n4",)], [True, True, True]),
])
def test_failure_table(n: int, witness: bool, events: list[tuple[str, ...]], expected: list[bool]) -> None:
    assert play(names(n), witness, events) == expected


def test_forming_counts_configured_votes() -> None:
    conf = dict.fromkeys(names(3), 1)
    assert forming_votes(conf, False) == conf
    empty = dict.fromkeys(names(3), 0)  # the table after every node left cleanly
    assert counted_votes(conf, empty, any_member_up=False, witness=False) == conf
    assert counted_votes(conf, empty, any_member_up=True, witness=False) == empty
    assert not has_quorum(QuorumView(forming_votes(conf, False), frozenset({"n1"})))
    assert has_quorum(QuorumView(forming_votes(conf, False), frozenset({"n1", "n2"})))
    two = dict.fromkeys(names(2), 1)
    assert has_quorum(QuorumView(forming_votes(two, True), frozenset({"n1"}), True, holds_witness=True))
    assert not has_quorum(QuorumView(forming_votes(two, True), frozenset({"n1"}), True))
