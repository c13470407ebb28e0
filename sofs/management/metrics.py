"""``/metrics`` of a node in the Prometheus text format (``prometheus_client``).

Everything is read when Prometheus scrapes (a custom collector), so serving metrics costs the SMB
path nothing beyond the per-request counters of ``sofs.server.stats`` (two dict updates and a bisect
per request). The node composes :class:`MetricSources` from its SMB server, agent and event recorder;
names follow the Prometheus conventions (``sofs_`` prefix, ``_total`` counters, ``_seconds`` units):

- ``sofs_smb_requests_total{command,status}`` — requests answered, by SMB2 command and NTSTATUS name;
- ``sofs_smb_request_duration_seconds{command}`` — latency histogram per command;
- ``sofs_smb_read_bytes_total``, ``sofs_smb_written_bytes_total`` — file data moved by READ and WRITE;
- ``sofs_smb_breaks_sent_total``, ``sofs_smb_breaks_timed_out_total`` — oplock and lease breaks the
  volumes this node coordinates sent, and those not acknowledged in time;
- ``sofs_smb_handle_events_total{kind}`` — ``HandleReclaimed`` (a client's DHnC/DH2C),
  ``HandlesReregistered`` (opens a node re-registered with a new coordinator), ``HandleSuperseded``
  (closed for another instance of the application), at the volumes this node coordinates;
- ``sofs_journal_commit_duration_seconds`` — persistent-handle journal commits (write + fdatasync)
  of the volumes this node coordinates (its ``_count``: the commits);
- ``sofs_smb_sessions``, ``sofs_smb_connections``, ``sofs_smb_open_files{kind}`` (plain, durable,
  persistent);
- ``sofs_cluster_node_up{node}`` (1 Up, 0 otherwise) and ``sofs_cluster_node_state{node,state}``,
  ``sofs_cluster_quorum`` (1 while this node's partition has quorum), ``sofs_cluster_node_votes{node}``,
  ``sofs_cluster_witness_held`` (1 while this node holds the witness), ``sofs_cluster_groups_owned``;
- ``sofs_cluster_events_total{kind}`` and ``sofs_cluster_failovers_total`` (groups this node saw move
  away from a Down owner).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from sofs.handlestate.stats import BUCKETS_S  # the bounds the server's counters use

STATES = ("Up", "Down", "Joining", "Paused")


@dataclass(frozen=True, slots=True)
class MetricSources:
    """What a node exposes (each may be None: an agent-only node has no SMB server)."""

    node: str
    stats: Callable[[], Any] | None = None
    """the node's ``sofs.server.stats.RequestStats`` when read (main process and workers added up)"""
    sessions: Callable[[], int] | None = None
    connections: Callable[[], int] | None = None
    open_kinds: Callable[[], dict[str, int]] | None = None
    """kind ("plain", "durable", "persistent") -> open files"""
    agent: Any = None
    """``sofs.cluster.agent.NodeAgent``"""
    recorder: Any = None
    """``sofs.management.node_events.EventRecorder``"""


class NodeCollector:
    def __init__(self, src: MetricSources) -> None:
        self.src = src

    def collect(self) -> Iterator[Metric]:
        yield from self._smb()
        yield from self._cluster()

    def _smb(self) -> Iterator[Metric]:
        src = self.src
        if src.stats is not None:
            stats = src.stats()
            req = CounterMetricFamily("sofs_smb_requests", "SMB2 requests answered", labels=["command", "status"])
            for (cmd, status), n in sorted(stats.named_counts().items()):
                req.add_metric([cmd, status], n)
            yield req
            hist = HistogramMetricFamily("sofs_smb_request_duration_seconds", "SMB2 request latency",
                                         labels=["command"])
            for cmd, (counts, total) in sorted(stats.named_latency().items()):
                hist.add_metric([cmd], _buckets(counts), total)
            yield hist
            yield from _io_and_handles(stats)
        for name, fn, doc in (("sofs_smb_sessions", src.sessions, "SMB sessions"),
                              ("sofs_smb_connections", src.connections, "SMB connections")):
            if fn is not None:
                yield GaugeMetricFamily(name, doc, value=fn())
        if src.open_kinds is not None:
            g = GaugeMetricFamily("sofs_smb_open_files", "open files by handle kind", labels=["kind"])
            kinds = src.open_kinds()
            for kind in ("plain", "durable", "persistent"):
                g.add_metric([kind], kinds.get(kind, 0))
            yield g

    def _cluster(self) -> Iterator[Metric]:
        agent = self.src.agent
        if agent is not None:
            yield GaugeMetricFamily("sofs_cluster_quorum", "1 while this node's partition has quorum",
                                    value=int(bool(agent.has_quorum)))
            yield GaugeMetricFamily("sofs_cluster_witness_held", "1 while this node holds the witness",
                                    value=int(bool(agent.holds_witness)))
            yield GaugeMetricFamily("sofs_cluster_groups_owned", "groups this node serves now",
                                    value=len(agent.owned_groups()))
            snap = agent.snapshot
            if snap is not None:
                up = GaugeMetricFamily("sofs_cluster_node_up", "1 when the node is Up", labels=["node"])
                state = GaugeMetricFamily("sofs_cluster_node_state", "node state (1 for the current one)",
                                          labels=["node", "state"])
                votes = GaugeMetricFamily("sofs_cluster_node_votes", "dynamic vote of each node", labels=["node"])
                weights = snap.weights()
                for n in sorted(snap.nodes):
                    s = snap.node_state(n).value
                    up.add_metric([n], int(s == "Up"))
                    for st in STATES:
                        state.add_metric([n, st], int(s == st))
                    votes.add_metric([n], weights.get(n, 0))
                yield up
                yield state
                yield votes
        rec = self.src.recorder
        if rec is not None:
            ev = CounterMetricFamily("sofs_cluster_events", "cluster events recorded by this node", labels=["kind"])
            for kind, n in sorted(rec.counts.items()):
                ev.add_metric([kind], n)
            yield ev
            yield CounterMetricFamily("sofs_cluster_failovers", "groups seen moving away from a Down owner",
                                      value=rec.failovers)


def _buckets(counts: list[int]) -> list[tuple[str, int]]:
    acc, out = 0, []
    for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), counts, strict=True):
        acc += n
        out.append((bound, acc))
    return out


def _io_and_handles(stats: Any) -> Iterator[Metric]:
    """Bytes moved, breaks, journal commits (``RequestStats`` and its ``HandleStats``)."""
    yield CounterMetricFamily("sofs_smb_read_bytes", "file data read by SMB2 READ", value=stats.bytes_read)
    yield CounterMetricFamily("sofs_smb_written_bytes", "file data written by SMB2 WRITE", value=stats.bytes_written)
    h = stats.handles
    yield CounterMetricFamily("sofs_smb_breaks_sent", "oplock and lease breaks sent by the volumes this node "
                              "coordinates", value=h.breaks_sent)
    yield CounterMetricFamily("sofs_smb_breaks_timed_out", "breaks not acknowledged within the break timeout",
                              value=h.breaks_timed_out)
    ev = CounterMetricFamily("sofs_smb_handle_events", "handles reclaimed by their clients, opens re-registered "
                             "with a new coordinator, handles superseded by another application instance",
                             labels=["kind"])
    for kind in ("HandleReclaimed", "HandlesReregistered", "HandleSuperseded"):
        ev.add_metric([kind], h.event_counts.get(kind, 0))
    yield ev
    j = HistogramMetricFamily("sofs_journal_commit_duration_seconds", "persistent-handle journal commits "
                              "(write + fdatasync) of the volumes this node coordinates")
    j.add_metric([], _buckets(list(h.commit_hist)), h.commit_seconds)
    yield j


def registry_for(src: MetricSources) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(NodeCollector(src))  # type: ignore[arg-type]
    return reg
