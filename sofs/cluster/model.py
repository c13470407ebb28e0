"""Cluster records as kept in the ClusterStore, their key layout, and the snapshot the agent decides on.

Key layout under the cluster prefix ``P`` (default ``/sofs/``), all values JSON:

- ``P cluster``            :class:`ClusterRecord` (name, properties, quorum configuration)
- ``P votes``              :class:`VoteTable` (dynamic weights; changed only by a node with quorum)
- ``P nodes/<name>``       :class:`NodeRecord` (membership: address, NodeWeight, admin state)
- ``P hb/<name>``          :class:`Heartbeat`, attached to the node's lease (TTL = delay x threshold):
                            present = the node is alive
- ``P groups/<name>``      :class:`GroupRecord` (owner node + epoch, written with CAS)
- ``P linksecret``         :class:`LinkSecret` (the HMAC key of the coordinator links between node
                            processes, written by New-Cluster; readable by whoever can read the store)

Pure: parsing a :class:`~sofs.cluster.store.Listing` into a :class:`Snapshot` does no I/O.
"""
from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sofs.cluster.store import Listing

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_PREFIX = "/sofs/"
DEFAULT_DELAY_MS = 1000
DEFAULT_THRESHOLD = 10


class NodeState(enum.Enum):
    """``Get-ClusterNode`` State."""

    UP = "Up"
    DOWN = "Down"
    PAUSED = "Paused"
    JOINING = "Joining"


class GroupType(enum.Enum):
    CLUSTER = "Cluster"
    SOFS = "ScaleOutFileServer"
    VOLUME = "VolumeCoordinator"


class DrainStatus(enum.Enum):
    NOT_INITIATED = "NotInitiated"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


CLUSTER_GROUP = "Cluster Group"


def encode(rec: Any) -> bytes:
    return json.dumps(dataclasses.asdict(rec), sort_keys=True).encode()


def decode(cls: type[T], data: bytes) -> T:
    """Decode a record, ignoring unknown fields (newer writers) and converting lists to tuples."""
    raw = json.loads(data.decode())
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        if k in names:
            kw[k] = tuple(v) if isinstance(v, list) else v
    if cls is GroupRecord and "resources" in kw:
        kw["resources"] = tuple(decode_resource(r) for r in kw["resources"])
    return cls(**kw)


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    name: str
    id: str
    description: str = ""
    static_address: tuple[str, ...] = ()
    same_subnet_delay: int = DEFAULT_DELAY_MS
    """Heartbeat interval in milliseconds (WSFC ``SameSubnetDelay``)."""
    same_subnet_threshold: int = DEFAULT_THRESHOLD
    """Missed heartbeats before a node is Down (WSFC ``SameSubnetThreshold``)."""
    dynamic_quorum: int = 1
    witness: dict[str, Any] | None = None
    """``sofs.cluster.witness.from_config`` dict, or None for node majority."""
    no_storage: bool = False

    @property
    def delay_s(self) -> float:
        return self.same_subnet_delay / 1000.0

    @property
    def ttl_s(self) -> float:
        """Heartbeat lease TTL: delay x threshold."""
        return self.delay_s * self.same_subnet_threshold

    @property
    def witness_kind(self) -> str | None:
        return str(self.witness["type"]).lower() if self.witness else None


@dataclass(frozen=True, slots=True)
class VoteTable:
    weights: dict[str, int] = field(default_factory=dict)
    active: tuple[str, ...] = ()
    """Nodes that have not left cleanly."""


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    id: int
    address: str
    node_weight: int = 1
    paused: bool = False
    drain_status: str = DrainStatus.NOT_INITIATED.value
    smb_port: int = 445
    dns_port: int = 0
    """Port of the node's DNS server for the cluster's network names (0: none)."""
    witness_port: int = 0
    """TCP port of the node's Witness service ([MS-SWN], ncacn_ip_tcp; 0: none)."""
    extra_addresses: tuple[str, ...] = ()
    """More client-access addresses of the node (multichannel); ``address`` comes first."""
    link_port: int = 0
    """TCP port of the node's coordinator link (:mod:`sofs.server.coordlink`) on ``address``; 0: any
    free port, which the node writes here once it listens (other nodes read it from this record)."""

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.extra_addresses)


@dataclass(frozen=True, slots=True)
class LinkSecret:
    key: str
    """Hex of the random key (32 bytes) that authenticates node processes to each other."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    node: str
    pid: int
    address: str
    joining: bool = True
    holds_witness: bool = False
    time: float = 0.0
    """The node's wall-clock time at the last write of this record (LastHeartbeat, clock-skew check)."""
    time_refresh_s: float = 0.0
    """The node rewrites the record at least this often (so ``time`` is never older than that plus
    one SameSubnetDelay); 0 = an older node that rewrote it only on change."""


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    name: str
    resource_type: str
    parameters: dict[str, Any] = field(default_factory=dict)
    """Private properties (``Get-ClusterParameter``), e.g. a Distributed Network Name's ``DnsName``."""


def decode_resource(raw: dict[str, Any]) -> ResourceRecord:
    names = {f.name for f in dataclasses.fields(ResourceRecord)}
    return ResourceRecord(**{k: v for k, v in raw.items() if k in names})


@dataclass(frozen=True, slots=True)
class GroupRecord:
    name: str
    group_type: str = GroupType.VOLUME.value
    owner: str | None = None
    epoch: int = 0
    """Incremented by every change of owner (fencing token); written with CAS."""
    preferred_owners: tuple[str, ...] = ()
    resources: tuple[ResourceRecord, ...] = ()


class Keys:
    """Key layout of one cluster under ``prefix``."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.cluster = self.prefix + "cluster"
        self.votes = self.prefix + "votes"
        self.nodes = self.prefix + "nodes/"
        self.hb = self.prefix + "hb/"
        self.groups = self.prefix + "groups/"
        self.link_secret = self.prefix + "linksecret"

    def node(self, name: str) -> str:
        return self.nodes + name

    def heartbeat(self, name: str) -> str:
        return self.hb + name

    def group(self, name: str) -> str:
        return self.groups + name


@dataclass(frozen=True, slots=True)
class Versioned(Generic[R]):
    record: R
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything under the cluster prefix at one store revision."""

    revision: int
    cluster: Versioned[ClusterRecord] | None
    votes: Versioned[VoteTable] | None
    nodes: dict[str, Versioned[NodeRecord]]
    heartbeats: dict[str, Heartbeat]
    groups: dict[str, Versioned[GroupRecord]]

    def node_state(self, name: str) -> NodeState:
        hb = self.heartbeats.get(name)
        node = self.nodes.get(name)
        if hb is None or node is None:
            return NodeState.DOWN
        if node.record.paused:
            return NodeState.PAUSED
        return NodeState.JOINING if hb.joining else NodeState.UP

    @property
    def quorum_epoch(self) -> int:
        """Store revision of the last change of the quorum configuration (cluster record or vote table)."""
        return max(self.cluster.mod_revision if self.cluster else 0, self.votes.mod_revision if self.votes else 0)

    def weights(self) -> dict[str, int]:
        """Dynamic weights of every member (a member missing from the table votes its NodeWeight)."""
        table = self.votes.record.weights if self.votes else {}
        return {n: int(table.get(n, v.record.node_weight)) for n, v in self.nodes.items()}


def parse_snapshot(listing: Listing, keys: Keys) -> Snapshot:
    cluster = votes = None
    nodes: dict[str, Versioned[NodeRecord]] = {}
    hbs: dict[str, Heartbeat] = {}
    groups: dict[str, Versioned[GroupRecord]] = {}
    for kv in listing.kvs:
        try:
            if kv.key == keys.cluster:
                cluster = Versioned(decode(ClusterRecord, kv.value), kv.mod_revision)
            elif kv.key == keys.votes:
                votes = Versioned(decode(VoteTable, kv.value), kv.mod_revision)
            elif kv.key.startswith(keys.nodes):
                nodes[kv.key[len(keys.nodes):]] = Versioned(decode(NodeRecord, kv.value), kv.mod_revision)
            elif kv.key.startswith(keys.hb):
                hbs[kv.key[len(keys.hb):]] = decode(Heartbeat, kv.value)
            elif kv.key.startswith(keys.groups):
                groups[kv.key[len(keys.groups):]] = Versioned(decode(GroupRecord, kv.value), kv.mod_revision)
        except (ValueError, TypeError, KeyError):
            continue  # a corrupt record is ignored rather than stopping the cluster
    return Snapshot(listing.revision, cluster, votes, nodes, hbs, groups)
