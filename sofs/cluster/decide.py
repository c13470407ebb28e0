"""The HA step as a pure function (Patroni's ``_run_cycle``, without I/O): what should this node do now?

``decide(view, me)`` gets a snapshot of the cluster as this node sees it and returns a list of
:class:`Action`; the agent applies them (writes with CAS, starts/stops serving) and logs each with its
``reason``. Rules, in priority order:

1. **Fence.** If this node's heartbeat lease may have expired (``lease_valid`` false: the node was
   stopped, or the store was unreachable for too long) or its partition has no quorum, it stops
   serving everything at once (:class:`Fence`) and does nothing else.
2. **Release.** A group served locally whose record no longer names this node with the same epoch
   (moved away, claimed by another node after we hung) is dropped (:class:`Release`). An old epoch
   is never acted on.
3. **Leave.** On clean shutdown every group this node owns is handed back (:class:`Relinquish`,
   owner ``None`` with CAS) so others claim it without waiting for the heartbeat to expire.
4. **Join.** A Joining node with quorum declares itself Up (:class:`MarkUp`).
5. **Activate.** A record that names this node at an epoch it does not serve yet is taken up
   (:class:`Activate`): after a claim, or after ``Move-ClusterGroup`` moved it here.
6. **Claim.** A group that :func:`~sofs.cluster.placement.place` assigns to this node and whose owner
   cannot keep it (none, Down, drained) is claimed with ``epoch + 1`` by compare-and-set on the
   record's revision (:class:`Claim`); a lost race is simply seen on the next cycle.
7. **Drain done.** A draining node that owns nothing reports the drain as Completed (:class:`DrainDone`).
8. **Votes follow membership.** When the vote table's active set is not the set of Up members
   (:func:`~sofs.cluster.quorum.membership_active`: a node was marked Down or came back), the first Up
   node by name rewrites it (:class:`SetVotes`, CAS on the table's revision). With quorum only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sofs.cluster.placement import GroupView, NodeView, can_keep, place
from sofs.cluster.quorum import QuorumView, has_quorum, membership_active


@dataclass(frozen=True, slots=True)
class GroupState:
    owner: str | None
    epoch: int
    revision: int
    """Store ``mod_revision`` of the group record (the CAS token)."""
    preferred_owners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HAView:
    nodes: tuple[NodeView, ...]
    groups: Mapping[str, GroupState]
    quorum: QuorumView
    local: Mapping[str, int] = field(default_factory=dict)
    """Groups this node serves now -> the epoch it serves them at."""
    lease_valid: bool = True
    joining: bool = False
    leaving: bool = False
    vote_active: frozenset[str] | None = None
    """The stored vote table's active set (None: no table, votes are not managed)."""
    vote_revision: int = 0
    """Store ``mod_revision`` of the vote table (the CAS token for :class:`SetVotes`)."""


@dataclass(frozen=True, slots=True)
class Fence:
    reason: str


@dataclass(frozen=True, slots=True)
class Release:
    group: str
    epoch: int
    reason: str


@dataclass(frozen=True, slots=True)
class Relinquish:
    group: str
    epoch: int
    expected_revision: int
    reason: str


@dataclass(frozen=True, slots=True)
class MarkUp:
    reason: str


@dataclass(frozen=True, slots=True)
class Activate:
    group: str
    epoch: int
    reason: str


@dataclass(frozen=True, slots=True)
class Claim:
    group: str
    epoch: int
    """The new epoch (old + 1)."""
    expected_revision: int
    previous_owner: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class DrainDone:
    reason: str


@dataclass(frozen=True, slots=True)
class SetVotes:
    active: tuple[str, ...]
    """The members that keep a dynamic vote (sorted)."""
    expected_revision: int
    reason: str


Action = Fence | Release | Relinquish | MarkUp | Activate | Claim | DrainDone | SetVotes


def decide(view: HAView, me: str) -> list[Action]:
    if not view.lease_valid:
        return [Fence("heartbeat lease may have expired")] if view.local else []
    if not has_quorum(view.quorum):
        return [Fence("partition has no quorum")] if view.local else []

    actions: list[Action] = []
    for name, epoch in sorted(view.local.items()):
        rec = view.groups.get(name)
        if rec is None:
            actions.append(Release(name, epoch, "group no longer exists"))
        elif rec.owner != me:
            actions.append(Release(name, epoch, f"owned by {rec.owner or 'nobody'} at epoch {rec.epoch}"))
        elif rec.epoch != epoch:
            actions.append(Release(name, epoch, f"record epoch is {rec.epoch}, not {epoch}"))
    released = {a.group for a in actions if isinstance(a, Release)}

    if view.leaving:
        for name, rec in sorted(view.groups.items()):
            if rec.owner == me:
                actions.append(Relinquish(name, rec.epoch, rec.revision, "node is leaving the cluster"))
        return actions

    if view.joining:
        actions.append(MarkUp("joined with quorum"))
        return actions  # claims wait until the others see us Up

    by_name = {n.name: n for n in view.nodes}
    for name, rec in sorted(view.groups.items()):
        if rec.owner == me and (view.local.get(name) != rec.epoch or name in released):
            actions.append(Activate(name, rec.epoch, "record names this node"))

    target = place(view.nodes, [GroupView(n, r.preferred_owners) for n, r in view.groups.items()],
                   {n: r.owner for n, r in view.groups.items()})
    for name, rec in sorted(view.groups.items()):
        if target.get(name) != me or rec.owner == me:
            continue
        owner = by_name.get(rec.owner) if rec.owner else None
        if rec.owner is None:
            why = "group has no owner"
        elif owner is None or not owner.up:
            why = f"owner {rec.owner} is down"
        elif not can_keep(owner):
            why = f"owner {rec.owner} is draining"
        else:
            continue
        actions.append(Claim(name, rec.epoch + 1, rec.revision, rec.owner, why))

    mine = by_name.get(me)
    if mine is not None and mine.draining and not any(r.owner == me for r in view.groups.values()):
        actions.append(DrainDone("no group left on this node"))
    votes = _set_votes(view, me)
    if votes is not None:
        actions.append(votes)
    return actions


def _set_votes(view: HAView, me: str) -> SetVotes | None:
    if view.vote_active is None:
        return None
    up = sorted(n.name for n in view.nodes if n.up)
    if not up or up[0] != me:
        return None
    want = membership_active({n.name for n in view.nodes}, set(up))
    if want == view.vote_active:
        return None
    lost, back = sorted(view.vote_active - want), sorted(want - view.vote_active)
    why = "; ".join(p for p in (f"{', '.join(lost)} left membership" if lost else "",
                                f"{', '.join(back)} joined" if back else "") if p)
    return SetVotes(tuple(sorted(want)), view.vote_revision, why)
