"""WSFC-style quorum as pure functions (no I/O, no clock).

Model (Windows Server Failover Clustering, "Understanding cluster and pool quorum"):

- Every node has a configured vote (``NodeWeight``, 0 or 1). With **dynamic quorum** the cluster keeps
  a *dynamic* weight per node, and **votes follow membership whatever the cause**: a node that leaves
  cleanly (shutdown, Remove-ClusterNode) gives up its vote at once, and a node that fails (crash,
  kill -9, lost heartbeats) loses it as soon as a partition with quorum has marked it Down
  (:func:`membership_active`). So the cluster survives a sequence of departures down to one node
  ("last man standing"), while a simultaneous loss of half the votes or more stops it. A node that
  joins again gets its vote back.
- **Node majority**: a partition has quorum when it holds strictly more than half of all votes.
- **Node majority + witness**: the witness adds one vote, held by at most one partition at a time.
  With **dynamic witness** the witness vote counts only when the number of node votes is even, so the
  total is always odd.
- Without a witness, when the node votes are even, dynamic quorum removes one node's vote (the
  tie-breaker, ``LowerQuorumPriorityNodeID``): preferably a node the deciding partition cannot see,
  else the highest-named voter; so the total is odd and a 50/50 split has a winner.

- **Forming** (a cold start: no member is Up, e.g. after ``sofs cluster down`` or after every node
  was killed): the dynamic table describes a membership that no longer runs, so the forming nodes
  count every member's *configured* vote (:func:`forming_votes`), as WSFC does when the cluster
  service starts: a majority of the configured votes (with the witness where it counts) must be
  present to form; one node of three cannot start the cluster alone.

Everybody computes quorum against the same vote table (stored in the ClusterStore, changed only by a
partition that has quorum), so disjoint partitions cannot both have more than half of it. A cold start
ignores the stored table; that is safe because "no member is Up" is read from the store itself: a
node's heartbeat key lives on a store lease, and a node stops serving before its lease can expire, so
a member whose heartbeat is gone serves nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class QuorumView:
    """What one partition knows when it asks "do we have quorum?".

    ``votes``: the effective (dynamic) vote of every cluster node, including nodes not visible;
    ``visible``: nodes this partition can see (their heartbeats are alive), including itself;
    ``witness``: a witness is configured; ``holds_witness``: a node of this partition holds it now.
    """

    votes: Mapping[str, int]
    visible: frozenset[str]
    witness: bool = False
    holds_witness: bool = False
    dynamic_witness: bool = True


@dataclass(frozen=True, slots=True)
class QuorumTally:
    have: int
    total: int
    witness_counts: bool
    quorum: bool = field(default=False)


def witness_counts(node_votes: int, witness: bool, dynamic_witness: bool = True) -> bool:
    """Does the witness vote count? (dynamic witness: only when node votes are even)."""
    if not witness:
        return False
    return node_votes % 2 == 0 if dynamic_witness else True


def tally(view: QuorumView) -> QuorumTally:
    node_total = sum(max(0, v) for v in view.votes.values())
    wc = witness_counts(node_total, view.witness, view.dynamic_witness)
    total = node_total + int(wc)
    have = sum(max(0, view.votes.get(n, 0)) for n in view.visible) + int(wc and view.holds_witness)
    return QuorumTally(have, total, wc, total > 0 and 2 * have > total)


def has_quorum(view: QuorumView) -> bool:
    """Strict majority of the vote table (see module docstring)."""
    return tally(view).quorum


def dynamic_weights(configured: Mapping[str, int], active: AbstractSet[str], witness: bool,
                    keep: AbstractSet[str] = frozenset(), dynamic_quorum: bool = True) -> dict[str, int]:
    """The dynamic vote table.

    ``configured``: NodeWeight per node; ``active``: nodes that have not left cleanly; ``witness``: a
    witness is configured (then parity is fixed by the dynamic witness instead of a tie-breaker);
    ``keep``: nodes the deciding partition sees, which the tie-breaker avoids demoting.
    """
    if not dynamic_quorum:
        return {n: max(0, min(1, v)) for n, v in configured.items()}
    weights = {n: (max(0, min(1, v)) if n in active else 0) for n, v in configured.items()}
    total = sum(weights.values())
    if not witness and total > 0 and total % 2 == 0:
        voters = sorted((n for n, w in weights.items() if w), reverse=True)
        outside = [n for n in voters if n not in keep]
        weights[(outside or voters)[0]] = 0
    return weights


def quorum_type(witness_kind: str | None) -> str:
    """The WSFC ``QuorumType`` name for a witness kind (None = node majority)."""
    return {
        None: "NodeMajority",
        "disk": "NodeAndDiskMajority",
        "fileshare": "NodeAndFileShareMajority",
        "cloud": "NodeAndCloudMajority",
    }.get(witness_kind, "NodeMajority")


def forming_votes(configured: Mapping[str, int], witness: bool, keep: AbstractSet[str] = frozenset(),
                  dynamic_quorum: bool = True) -> dict[str, int]:
    """Votes a cold start counts: every member's configured vote (parity fixed as in the dynamic table)."""
    return dynamic_weights(configured, set(configured), witness, keep, dynamic_quorum)


def counted_votes(configured: Mapping[str, int], table: Mapping[str, int], any_member_up: bool, witness: bool,
                  keep: AbstractSet[str] = frozenset(), dynamic_quorum: bool = True) -> dict[str, int]:
    """The vote table a partition decides on: the stored dynamic one while the cluster runs (some member
    is Up), the configured one while it forms (:func:`forming_votes`)."""
    if any_member_up:
        return dict(table)
    return forming_votes(configured, witness, keep, dynamic_quorum)


def membership_active(members: AbstractSet[str], up: AbstractSet[str]) -> frozenset[str]:
    """Nodes that keep a dynamic vote: the members that are Up (or Paused) now. A node marked Down,
    whatever the cause, and a node that left cleanly, have no vote until they join again."""
    return frozenset(n for n in members if n in up)
