"""Who adopts a dead node's handle journals (pure decision, tested by tables).

Until a volume has one coordinator, every node journals the persistent handles it grants in its own
directory on the volume (``sofs.handlestate.journal.journal_dir``). When the cluster declares a node
down, exactly one surviving node should adopt that journal so that clients of the dead node can
reconnect (DH2C) to a surviving node: the **up node with the lowest node id**, and only while it has
quorum (a node cut off in a minority must never take state from nodes the majority still sees). The
claim itself is an atomic rename on the volume, so two nodes that briefly disagree about who is the
adopter cannot both adopt the same journal.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Member", "journals_to_adopt"]


@dataclass(frozen=True, slots=True)
class Member:
    """A cluster node as the adopter decision sees it."""

    name: str
    node_id: int
    up: bool


def journals_to_adopt(me: str, members: Sequence[Member], has_quorum: bool) -> list[str]:
    """Names of the down nodes whose journals ``me`` adopts now (sorted), or [] if ``me`` is not the
    adopter: it must be up, hold quorum, and have the lowest node id among the up nodes."""
    if not has_quorum:
        return []
    up = [m for m in members if m.up]
    if not up or min(up, key=lambda m: (m.node_id, m.name)).name != me:
        return []
    return sorted(m.name for m in members if not m.up and m.name != me)
