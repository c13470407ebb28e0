"""Pure placement of cluster groups on nodes (CTDB ``ipalloc`` style: a function tested by tables).

Rules, in order:
1. **Sticky**: a group stays with its current owner while that owner may keep groups (alive and not
   Down; a Paused node keeps its groups unless it is being drained).
2. An orphaned group (no owner, owner Down, or owner draining) goes to an *eligible* node (Up, not
   paused): a preferred owner if one is eligible, else the eligible node owning the fewest groups
   (volume coordinators are thus spread), ties broken by node name.
3. No eligible node: the group has no owner (``None``) until one comes back.
Nothing that is fine is moved: ``place`` never rebalances a healthy assignment.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    up: bool
    """Heartbeat alive and joined (state Up or Paused)."""
    paused: bool = False
    draining: bool = False


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    preferred_owners: tuple[str, ...] = field(default=())


def can_keep(node: NodeView | None) -> bool:
    return node is not None and node.up and not node.draining


def eligible(node: NodeView) -> bool:
    return node.up and not node.paused and not node.draining


def place(nodes: Sequence[NodeView], groups: Sequence[GroupView],
          current: Mapping[str, str | None]) -> dict[str, str | None]:
    """Group name -> owner node name (or None). ``current`` maps group -> current owner."""
    by_name = {n.name: n for n in nodes}
    load = {n.name: 0 for n in nodes if eligible(n)}
    result: dict[str, str | None] = {}
    orphans: list[GroupView] = []
    for g in sorted(groups, key=lambda g: g.name):
        owner = current.get(g.name)
        if owner is not None and can_keep(by_name.get(owner)):
            result[g.name] = owner
            if owner in load:
                load[owner] += 1
        else:
            orphans.append(g)
    for g in orphans:
        if not load:
            result[g.name] = None
            continue
        preferred = [p for p in g.preferred_owners if p in load]
        pool = preferred or sorted(load)
        target = min(pool, key=lambda n: (load[n], n if not preferred else preferred.index(n)))
        result[g.name] = target
        load[target] += 1
    return result
