"""place(): sticky, spreads orphans over eligible nodes, respects pause/drain/preferred owners."""
from __future__ import annotations

import pytest

from sofs.cluster.placement import GroupView, NodeView, place

UP = {n: NodeView(n, True) for n in ("n1", "n2", "n3")}


def nodes(**over: NodeView) -> list[NodeView]:
    return list({**UP, **over}.values())


def G(*names: str) -> list[GroupView]:
    return [GroupView(n) for n in names]


@pytest.mark.parametrize(("ns", "groups", "current", "expected"), [
    # healthy assignment is kept as is, even if unbalanced
    (nodes(), G("a", "b", "c"), {"a": "n1", "b": "n1", "c": "n1"}, {"a": "n1", "b": "n1", "c": "n1"}),
    # orphans spread over the least loaded nodes, ties by name
    (nodes(), G("v1", "v2", "v3"), {}, {"v1": "n1", "v2": "n2", "v3": "n3"}),
    (nodes(), G("v1", "v2", "v3", "v4"), {"v1": "n1"}, {"v1": "n1", "v2": "n2", "v3": "n3", "v4": "n1"}),
    # a dead owner's groups move, the others stay
    (nodes(n1=NodeView("n1", False)), G("a", "b"), {"a": "n1", "b": "n2"}, {"a": "n3", "b": "n2"}),
    # paused (no drain) keeps its groups but gets no new ones
    (nodes(n1=NodeView("n1", True, paused=True)), G("a", "b"), {"a": "n1"}, {"a": "n1", "b": "n2"}),
    # draining gives its groups away
    (nodes(n1=NodeView("n1", True, paused=True, draining=True)), G("a", "b"), {"a": "n1", "b": "n1"},
     {"a": "n2", "b": "n3"}),
    # nobody eligible: no owner
    ([NodeView("n1", False), NodeView("n2", True, paused=True)], G("a"), {"a": "n1"}, {"a": None}),
    # unknown owner (removed node) is treated as gone
    (nodes(), G("a"), {"a": "n9"}, {"a": "n1"}),
])
def test_place_table(ns: list[NodeView], groups: list[GroupView], current: dict[str, str | None],
                     expected: dict[str, str | None]) -> None:
    assert place(ns, groups, current) == expected


def test_preferred_owner_wins_when_eligible() -> None:
    groups = [GroupView("a", ("n3", "n2"))]
    assert place(nodes(), groups, {}) == {"a": "n3"}
    assert place(nodes(n3=NodeView("n3", False)), groups, {}) == {"a": "n2"}
    assert place(nodes(n3=NodeView("n3", False), n2=NodeView("n2", False)), groups, {}) == {"a": "n1"}


def test_spread_many_volumes() -> None:
    out = place(nodes(), G(*[f"v{i}" for i in range(9)]), {})
    counts = {n: list(out.values()).count(n) for n in UP}
    assert counts == {"n1": 3, "n2": 3, "n3": 3}


def test_place_is_deterministic_and_idempotent() -> None:
    groups = G("x", "y", "z")
    first = place(nodes(), groups, {})
    assert place(nodes(), groups, first) == first
