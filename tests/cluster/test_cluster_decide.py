"""decide(): the HA step as a table of views -> actions."""
from __future__ import annotations

import pytest

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
    decide,
)
from sofs.cluster.placement import NodeView
from sofs.cluster.quorum import QuorumView

ALL = ("n1", "n2", "n3")
VOTES = dict.fromkeys(ALL, 1)


def view(groups: dict[str, GroupState], *, up: tuple[str, ...] = ALL, local: dict[str, int] | None = None,
         visible: tuple[str, ...] | None = None, **kw: object) -> HAView:
    ns = tuple(NodeView(n, n in up) for n in ALL)
    q = QuorumView(VOTES, frozenset(visible if visible is not None else up))
    return HAView(ns, groups, q, local or {}, **kw)  # type: ignore[arg-type]


def gs(owner: str | None, epoch: int, rev: int = 100) -> GroupState:
    return GroupState(owner, epoch, rev)


CASES: list[tuple[str, HAView, str, list[type]]] = [
    ("steady owner does nothing", view({"v": gs("n1", 3)}, local={"v": 3}), "n1", []),
    ("steady non-owner does nothing", view({"v": gs("n1", 3)}), "n2", []),
    ("dead owner: the placement target claims", view({"v": gs("n3", 3)}, up=("n1", "n2")), "n1", [Claim]),
    ("dead owner: the non-target waits", view({"v": gs("n3", 3)}, up=("n1", "n2")), "n2", []),
    ("ownerless group claimed", view({"v": gs(None, 7)}), "n1", [Claim]),
    ("record names me at a new epoch: activate", view({"v": gs("n1", 4)}), "n1", [Activate]),
    ("moved away: release", view({"v": gs("n2", 4)}, local={"v": 3}), "n1", [Release]),
    ("epoch changed under me (hung then resumed)", view({"v": gs("n1", 5)}, local={"v": 3}), "n1",
     [Release, Activate]),
    ("group deleted: release", view({}, local={"v": 3}), "n1", [Release]),
    ("no quorum: fence", view({"v": gs("n1", 3)}, local={"v": 3}, visible=("n1",)), "n1", [Fence]),
    ("no quorum and nothing served: quiet", view({"v": gs("n3", 3)}, visible=("n1",)), "n1", []),
    ("lease expired: fence", view({"v": gs("n1", 3)}, local={"v": 3}, lease_valid=False), "n1", [Fence]),
    ("leaving: relinquish", view({"v": gs("n1", 3), "w": gs("n2", 1)}, local={"v": 3}, leaving=True),
     "n1", [Relinquish]),
    ("joining with quorum: mark up, no claims", view({"v": gs(None, 0)}, joining=True), "n1", [MarkUp]),
]


@pytest.mark.parametrize(("name", "v", "me", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide_table(name: str, v: HAView, me: str, expected: list[type]) -> None:
    assert [type(a) for a in decide(v, me)] == expected


def test_claim_carries_next_epoch_and_cas_token() -> None:
    (a,) = decide(view({"v": gs("n3", 3, rev=42)}, up=("n1", "n2")), "n1")
    assert a == Claim("v", 4, 42, "n3", "owner n3 is down")


def test_drain_moves_groups_and_completes() -> None:
    ns = (NodeView("n1", True, paused=True, draining=True), NodeView("n2", True), NodeView("n3", True))
    q = QuorumView(VOTES, frozenset(ALL))
    groups = {"a": gs("n1", 1), "b": gs("n1", 1)}
    v = HAView(ns, groups, q, {})
    claims: list[Action] = decide(v, "n2") + decide(v, "n3")
    assert sorted((a.group, type(a).__name__) for a in claims if isinstance(a, Claim)) == [
        ("a", "Claim"), ("b", "Claim")]
    assert decide(v, "n1") == [Activate("a", 1, "record names this node"),
                               Activate("b", 1, "record names this node")]
    after = HAView(ns, {"a": gs("n2", 2), "b": gs("n3", 2)}, q, {"a": 1, "b": 1})
    acts = decide(after, "n1")
    assert [type(a) for a in acts] == [Release, Release, DrainDone]


def test_two_partitions_never_both_claim() -> None:
    """The same group, seen from both sides of a 2/1 split: only the majority side acts."""
    groups = {"v": gs("n3", 3)}
    majority = view(groups, up=("n1", "n2"))
    minority = view(groups, up=("n3",), local={"v": 3})
    assert [type(a) for a in decide(majority, "n1")] == [Claim]
    assert [type(a) for a in decide(minority, "n3")] == [Fence]


def test_votes_follow_membership() -> None:
    from sofs.cluster.decide import SetVotes
    v = view({"v": gs("n1", 3)}, up=("n1", "n2"), local={"v": 3}, visible=("n1", "n2"),
             vote_active=frozenset(ALL), vote_revision=9)
    assert decide(v, "n1")[-1] == SetVotes(("n1", "n2"), 9, "n3 left membership")
    assert not any(isinstance(a, SetVotes) for a in decide(v, "n2"))  # only the first Up node writes
    back = view({"v": gs("n1", 3)}, local={"v": 3}, vote_active=frozenset({"n1", "n2"}), vote_revision=10)
    assert decide(back, "n1")[-1] == SetVotes(ALL, 10, "n3 joined")
    same = view({"v": gs("n1", 3)}, local={"v": 3}, vote_active=frozenset(ALL))
    assert decide(same, "n1") == []
    unmanaged = view({"v": gs("n1", 3)}, up=("n1", "n2"), local={"v": 3}, visible=("n1", "n2"))
    assert decide(unmanaged, "n1") == []  # DynamicQuorum 0: no table to follow
    lost = view({"v": gs("n1", 3)}, up=("n1",), local={"v": 3}, visible=("n1",), vote_active=frozenset(ALL))
    assert decide(lost, "n1") == [Fence("partition has no quorum")]  # without quorum the table stays
