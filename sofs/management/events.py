"""The structured cluster event log: what changed, seen by each node, one JSON line per event.

Each node keeps its own log, ``<state dir>/events/<node>.jsonl`` (as each WSFC node keeps its own
cluster log): its recorder (:mod:`sofs.management.node_events`) compares what it sees of the cluster
now with what it saw a moment ago and appends one :class:`ClusterEvent` per change. The comparison is
the pure function :func:`diff_events` over two :class:`ClusterView` values:

- ``NodeUp`` / ``NodeDown`` / ``NodeJoining`` / ``NodePaused`` — a node's state changed;
- ``QuorumLost`` / ``QuorumRegained`` — this node's partition lost or regained quorum;
- ``VotesChanged`` — the dynamic vote table changed (votes follow membership);
- ``OwnerChanged`` — a group (role, volume) got a new owner or epoch, with the reason read from the
  previous owner's state (failover when it was Down, move otherwise);
- ``WitnessHolderChanged`` — the node holding the witness changed;
- ``ShareAdded`` / ``ShareChanged`` / ``ShareRemoved``;
- ``WitnessClientRegistered`` / ``WitnessClientUnregistered`` / ``WitnessClientNotified`` — an [MS-SWN]
  client registered, left (or was swept), or was sent a notification (resource change, move);
- from the volumes the node coordinates (:func:`handle_event`): ``HandleReclaimed`` (a client took its
  durable/persistent handle back), ``HandlesReregistered`` (a node re-registered its clients' opens
  with a new coordinator), ``HandleSuperseded`` (a handle closed for another instance of its
  application: a live migration).

Readers (``Get-ClusterLog``, ``GET /api/v1/events``, the dashboard) ask every node for its log through
the cluster store (:mod:`sofs.management.logs_gather`); :func:`read_events` reads the logs a state
directory holds.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sofs.handlestate.stats import HANDLE_RECLAIMED, HANDLES_REREGISTERED, HandleEvent

MAX_LOG_BYTES = 8 << 20
"""A node's log is rotated to ``<node>.jsonl.1`` past this size (one older generation is kept)."""


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    time: float
    node: str
    """The node that recorded the event (its view of the cluster)."""
    kind: str
    subject: str
    message: str
    severity: str = "Information"  # Information | Warning | Error
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a node sees of the cluster at one moment (the input of :func:`diff_events`)."""

    nodes: Mapping[str, str] = field(default_factory=dict)
    """node -> state (Up, Down, Joining, Paused)"""
    owners: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """group -> (owner node or "", epoch)"""
    votes: Mapping[str, int] = field(default_factory=dict)
    witness_holder: str = ""
    quorum: bool = False
    shares: Mapping[str, str] = field(default_factory=dict)
    """share name -> its definition (JSON text), to see changes"""
    witness_clients: Mapping[str, WitnessClientView] = field(default_factory=dict)
    """witness registration id -> what the admin sees of it ([MS-SWN] clients, ``Get-SmbWitnessClient``)"""


@dataclass(frozen=True, slots=True)
class WitnessClientView:
    """One [MS-SWN] registration as the event log follows it (from :mod:`sofs.cluster.swn`'s record)."""

    client: str
    watches: str
    """the file server node the client is told about"""
    witness_node: str
    resource: str
    """the share (RegisterEx for one share) or the network name it registered for"""
    notices: int = 0
    state: str = "available"
    move_to: tuple[str, ...] = ()


Change = tuple[str, str, str, str, dict[str, Any]]  # kind, subject, message, severity, details
_NODE_KIND = {"Up": "NodeUp", "Down": "NodeDown", "Joining": "NodeJoining", "Paused": "NodePaused"}


def diff_events(prev: ClusterView | None, cur: ClusterView) -> list[Change]:
    """The events between two views of one node (pure). ``prev`` None: the recorder just started, only
    a summary of the current state is reported."""
    if prev is None:
        up = sorted(n for n, s in cur.nodes.items() if s == "Up")
        return [("RecorderStarted", "", (f"event recording started; nodes Up: {', '.join(up) or 'none'}; "
                 f"quorum {'held' if cur.quorum else 'not held'}"), "Information", {"nodes": dict(cur.nodes)})]
    out: list[Change] = []
    for n in sorted(set(prev.nodes) | set(cur.nodes)):
        a, b = prev.nodes.get(n), cur.nodes.get(n)
        if a == b:
            continue
        if b is None:
            out.append(("NodeRemoved", n, f"node {n} was removed from the cluster", "Information", {}))
            continue
        sev = "Error" if b == "Down" else "Information"
        out.append((_NODE_KIND.get(b, "NodeStateChanged"), n, f"node {n} is {b} (was {a or 'not a member'})", sev,
                    {"from": a, "to": b}))
    if prev.quorum != cur.quorum:
        out.append(("QuorumRegained", "", "this node's partition has quorum again", "Information", {})
                   if cur.quorum else ("QuorumLost", "", "this node's partition lost quorum: it stops serving",
                                       "Error", {}))
    if dict(prev.votes) != dict(cur.votes) and cur.votes:
        text = ", ".join(f"{n}={v}" for n, v in sorted(cur.votes.items()))
        out.append(("VotesChanged", "", f"dynamic votes: {text}", "Information",
                    {"from": dict(prev.votes), "to": dict(cur.votes)}))
    for g in sorted(set(prev.owners) | set(cur.owners)):
        a_owner, a_epoch = prev.owners.get(g, ("", 0))
        b_owner, b_epoch = cur.owners.get(g, ("", 0))
        if (a_owner, a_epoch) == (b_owner, b_epoch) or g not in cur.owners:
            continue
        failover = bool(a_owner) and a_owner != b_owner and cur.nodes.get(a_owner) in ("Down", None)
        why = "failover: previous owner is down" if failover else "moved" if a_owner else "placed"
        out.append(("OwnerChanged", g, (f"group {g}: owner {a_owner or 'none'} -> {b_owner or 'none'} "
                    f"(epoch {b_epoch}; {why})"), "Warning" if failover else "Information",
                    {"from": a_owner, "to": b_owner, "epoch": b_epoch, "failover": failover}))
    if prev.witness_holder != cur.witness_holder:
        out.append(("WitnessHolderChanged", "", (f"witness held by {cur.witness_holder or 'nobody'} "
                    f"(was {prev.witness_holder or 'nobody'})"), "Information" if cur.witness_holder else "Warning",
                    {"from": prev.witness_holder, "to": cur.witness_holder}))
    out += _witness_changes(prev.witness_clients, cur.witness_clients)
    for s in sorted(set(prev.shares) | set(cur.shares)):
        if s not in prev.shares:
            out.append(("ShareAdded", s, f"share {s} created", "Information", {}))
        elif s not in cur.shares:
            out.append(("ShareRemoved", s, f"share {s} removed", "Information", {}))
        elif prev.shares[s] != cur.shares[s]:
            out.append(("ShareChanged", s, f"share {s} changed", "Information", {}))
    return out


def _witness_changes(prev: Mapping[str, WitnessClientView], cur: Mapping[str, WitnessClientView]) -> list[Change]:
    """[MS-SWN] 3.1.4: WitnessrRegister(Ex) / WitnessrUnRegister (or an abandoned registration swept), and
    each WitnessrAsyncNotify answer a node delivered (the record's notice count grows)."""
    out: list[Change] = []
    for rid in sorted(set(prev) | set(cur), key=lambda r: ((cur.get(r) or prev[r]).client, r)):
        a, b = prev.get(rid), cur.get(rid)
        if a is None and b is not None:
            out.append(("WitnessClientRegistered", b.client, (f"witness client {b.client} registered with "
                        f"{b.witness_node} for {b.resource}, watching {b.watches}"), "Information",
                        {"id": rid, "witness_node": b.witness_node, "watches": b.watches, "resource": b.resource}))
        elif b is None and a is not None:
            out.append(("WitnessClientUnregistered", a.client, (f"witness client {a.client} unregistered (or its "
                        f"registration for {a.resource} expired)"), "Information", {"id": rid}))
        elif a is not None and b is not None and b.notices > a.notices:
            if b.watches != a.watches or (a.move_to and not b.move_to):
                what, sev = f"told to move to {b.watches}", "Information"
            elif b.state != a.state:
                what, sev = f"told {b.watches} is {b.state}", "Warning" if b.state == "unavailable" else "Information"
            else:
                what, sev = f"told of a change of {b.watches}", "Information"
            out.append(("WitnessClientNotified", b.client, f"witness client {b.client} {what} (notice {b.notices})",
                        sev, {"id": rid, "watches": b.watches, "state": b.state, "notices": b.notices}))
    return out


def handle_event(ev: HandleEvent, recorder: str) -> ClusterEvent:
    """Pure: the cluster event of one handle event of the volumes ``recorder`` coordinates
    (:class:`~sofs.handlestate.stats.HandleEvent`); it keeps its own time."""
    kind = "persistent" if ev.persistent else "durable"
    if ev.kind == HANDLE_RECLAIMED:
        msg = (f"volume {ev.volume}: {kind} handle of {ev.path} ({ev.persistent_id:#x}) reclaimed by its client "
               f"through {ev.node or 'this node'}")
        sev = "Information"
    elif ev.kind == HANDLES_REREGISTERED:
        msg = (f"volume {ev.volume}: {ev.node or 'this node'} re-registered {ev.count} open(s) with the new "
               f"coordinator" + (f"; {ev.refused} not taken back (their clients lose them)" if ev.refused else ""))
        sev = "Warning" if ev.refused else "Information"
    else:
        msg = (f"volume {ev.volume}: handle of {ev.path} ({ev.persistent_id:#x}) held through {ev.node or 'this node'} "
               "closed: another instance of its application opened the file (App Instance ID)")
        sev = "Information"
    details = {"volume": ev.volume, "node": ev.node, "persistent_id": ev.persistent_id, "count": ev.count,
               "refused": ev.refused, "persistent": ev.persistent}
    return ClusterEvent(ev.time, recorder, ev.kind, ev.path or ev.volume, msg, sev, details)


def log_path(state_dir: str | os.PathLike[str], node: str) -> Path:
    return Path(state_dir) / "events" / f"{node}.jsonl"


def append_events(state_dir: str | os.PathLike[str], events: list[ClusterEvent]) -> None:
    """Append to the recording node's log (rotated past :data:`MAX_LOG_BYTES`)."""
    if not events:
        return
    path = log_path(state_dir, events[0].node)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
        os.replace(path, path.with_suffix(".jsonl.1"))
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(asdict(e), sort_keys=True) + "\n" for e in events)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash mid-write
    except FileNotFoundError:
        return


def read_events(state_dir: str | os.PathLike[str], since: float = 0.0, until: float = float("inf"),
                nodes: list[str] | None = None, limit: int | None = None) -> list[ClusterEvent]:
    """Events of every node's log (or of ``nodes``) with ``since <= time <= until``, oldest first;
    ``limit`` keeps the newest ones."""
    root = Path(state_dir) / "events"
    names = nodes if nodes is not None else sorted({p.name.split(".")[0] for p in root.glob("*.jsonl*")})
    out = []
    for n in names:
        for path in (root / f"{n}.jsonl.1", root / f"{n}.jsonl"):
            for d in _lines(path):
                if since <= float(d.get("time", 0)) <= until:
                    out.append(ClusterEvent(float(d["time"]), str(d["node"]), str(d["kind"]), str(d["subject"]),
                                            str(d["message"]), str(d.get("severity", "Information")),
                                            dict(d.get("details") or {})))
    out.sort(key=lambda e: (e.time, e.node))
    return out[-limit:] if limit else out
