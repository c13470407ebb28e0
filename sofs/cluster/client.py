"""`ClusterClient`: the cluster API used by the management layer (cmdlets, REST) and by `sofs cluster`.

Every mutation is a compare-and-set (or a transaction) on the records of :mod:`sofs.cluster.model`,
retried on a lost race, so concurrent admins and node agents never overwrite each other. The node
agents do the actual failover; the client only writes intent (a group's new owner, a node's paused
flag) and reads state. Bad input raises :class:`ClusterError` naming the problem.

Results are frozen dataclasses whose field names are those the management service reads
(``sofs.management.services.cluster``): ``ClusterInfo``, ``NodeInfo``, ``GroupInfo``,
``ResourceInfo``, ``QuorumInfo``.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sofs.cluster.config import ClusterConfig
from sofs.cluster.model import (
    CLUSTER_GROUP,
    ClusterRecord,
    DrainStatus,
    GroupRecord,
    GroupType,
    Keys,
    LinkSecret,
    NodeRecord,
    NodeState,
    ResourceRecord,
    Snapshot,
    VoteTable,
    decode,
    encode,
    parse_snapshot,
)
from sofs.cluster.quorum import dynamic_weights, quorum_type, witness_counts
from sofs.cluster.store import ClusterStore, Compare, Delete, Op, Put

R = TypeVar("R")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
FIRST_NODE_ADDRESS = ipaddress.IPv4Address("127.0.0.11")
CAS_RETRIES = 20
WITNESS_RESOURCE = {"disk": "Disk Witness", "fileshare": "File Share Witness", "cloud": "Cloud Witness"}
PROPERTIES = {  # PowerShell name -> (record field, min, max) for integer properties
    "SameSubnetDelay": ("same_subnet_delay", 100, 10_000),
    "SameSubnetThreshold": ("same_subnet_threshold", 2, 120),
    "DynamicQuorum": ("dynamic_quorum", 0, 1),
}


class ClusterError(Exception):
    """Bad input or an impossible request (unknown node, cluster already exists, ...)."""


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    name: str
    id: str
    description: str
    static_address: tuple[str, ...]
    same_subnet_delay: int
    same_subnet_threshold: int
    dynamic_quorum: int
    witness_dynamic_weight: int
    quorum_type: str
    store: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    id: str
    state: str
    address: str
    node_weight: int
    dynamic_weight: int
    drain_status: str
    last_heartbeat: float | None
    smb_port: int
    heartbeat_refresh_s: float = 0.0
    """The node rewrites ``last_heartbeat`` at least this often (0: only on change, an older node)."""
    link_port: int = 0
    """The node's coordinator link port (0: not listening yet)."""


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    owner_node: str
    state: str
    group_type: str
    epoch: int
    preferred_owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    name: str
    state: str
    owner_group: str
    resource_type: str
    owner_node: str


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A cluster volume as mounted on this machine (embedded mode: ``<state dir>/ClusterStorage/<name>``,
    what nodes map ``C:\\ClusterStorage\\<name>`` to)."""

    name: str
    path: str


@dataclass(frozen=True, slots=True)
class QuorumInfo:
    quorum_type: str
    quorum_resource: str
    witness: dict[str, Any] | None
    votes: dict[str, int] = field(default_factory=dict)
    witness_dynamic_weight: int = 0
    witness_state: str = ""
    """``Online`` while a live node holds the witness, ``Offline`` while none does, "" without one."""
    witness_owner_node: str = ""


def witness_holder(snap: Snapshot) -> str:
    """The node whose live heartbeat says it holds the witness ("" when none does)."""
    return next((n for n, hb in sorted(snap.heartbeats.items()) if hb.holds_witness and n in snap.nodes), "")


def group_state(snap: Snapshot, rec: GroupRecord) -> str:
    if rec.owner is None:
        return "Offline"
    return "Pending" if snap.node_state(rec.owner) is NodeState.DOWN else "Online"


def vote_table(snap: Snapshot, cluster: ClusterRecord, active: Sequence[str] | None = None,
               members: Mapping[str, NodeRecord] | None = None) -> VoteTable:
    """Recompute the dynamic vote table (pure) for ``members`` (default: the snapshot's)."""
    nodes = members if members is not None else {n: v.record for n, v in snap.nodes.items()}
    old_active = set(snap.votes.record.active) if snap.votes else set(nodes)
    act = set(active) if active is not None else old_active & set(nodes)
    alive = {n for n in nodes if n in snap.heartbeats}
    weights = dynamic_weights({n: r.node_weight for n, r in nodes.items()}, act, cluster.witness is not None,
                              keep=alive, dynamic_quorum=bool(cluster.dynamic_quorum))
    return VoteTable(weights, tuple(sorted(act)))


class ClusterClient:
    """See module docstring. ``store`` is public (Test-Cluster checks its health)."""

    def __init__(self, store: ClusterStore, prefix: str | None = None, *, owns_store: bool = False,
                 clock: Callable[[], float] = time.time, store_description: str = "",
                 volume_root: str | None = None) -> None:
        self.store = store
        self.volume_root = volume_root
        """Directory holding this machine's cluster volume mounts (embedded: ``<state dir>/ClusterStorage``)."""
        self.keys = Keys(prefix) if prefix else Keys()
        self._owns_store = owns_store
        self._clock = clock
        self.store_description = store_description

    @classmethod
    async def connect(cls, cfg: ClusterConfig) -> ClusterClient:
        store = await cfg.open_store()
        desc = f"embedded:{cfg.state_dir}" if cfg.backend == "embedded" else "etcd:" + ",".join(cfg.etcd_endpoints)
        vroot = str(cfg.state_dir / "ClusterStorage") if cfg.backend == "embedded" else None
        return cls(store, cfg.prefix, owns_store=True, store_description=desc, volume_root=vroot)

    async def close(self) -> None:
        if self._owns_store:
            await self.store.close()

    # ---- reading ----

    async def snapshot(self) -> Snapshot:
        return parse_snapshot(await self.store.list(self.keys.prefix), self.keys)

    async def _cluster(self) -> tuple[Snapshot, ClusterRecord]:
        snap = await self.snapshot()
        if snap.cluster is None:
            raise ClusterError("No cluster has been created in this store yet (run New-Cluster).")
        return snap, snap.cluster.record

    async def get_cluster(self) -> ClusterInfo:
        snap, c = await self._cluster()
        votes = snap.weights()
        return ClusterInfo(c.name, c.id, c.description, c.static_address, c.same_subnet_delay,
                           c.same_subnet_threshold, c.dynamic_quorum,
                           int(witness_counts(sum(votes.values()), c.witness is not None)),
                           quorum_type(c.witness_kind), self.store_description)

    async def get_nodes(self) -> list[NodeInfo]:
        snap, _ = await self._cluster()
        weights = snap.weights()
        out = []
        for name, v in sorted(snap.nodes.items(), key=lambda kv: kv[1].record.id):
            r, hb = v.record, snap.heartbeats.get(name)
            out.append(NodeInfo(name, str(r.id), snap.node_state(name).value, r.address, r.node_weight,
                                weights.get(name, 0), r.drain_status, hb.time if hb else None, r.smb_port,
                                hb.time_refresh_s if hb else 0.0, r.link_port))
        return out

    async def get_groups(self) -> list[GroupInfo]:
        snap, _ = await self._cluster()
        return [GroupInfo(g.record.name, g.record.owner or "", group_state(snap, g.record), g.record.group_type,
                          g.record.epoch, g.record.preferred_owners) for g in snap.groups.values()]

    async def get_resources(self) -> list[ResourceInfo]:
        snap, _ = await self._cluster()
        holder = witness_holder(snap)
        witness = set(WITNESS_RESOURCE.values())
        return [ResourceInfo(r.name, ("Online" if holder else "Offline") if r.resource_type in witness
                             else group_state(snap, g.record), g.record.name, r.resource_type,
                             (holder if r.resource_type in witness else g.record.owner) or "")
                for g in snap.groups.values() for r in g.record.resources]

    async def get_quorum(self) -> QuorumInfo:
        snap, c = await self._cluster()
        votes = snap.weights()
        holder = witness_holder(snap) if c.witness else ""
        return QuorumInfo(quorum_type(c.witness_kind), WITNESS_RESOURCE.get(c.witness_kind or "", ""),
                          dict(c.witness) if c.witness else None, votes,
                          int(witness_counts(sum(votes.values()), c.witness is not None)),
                          ("Online" if holder else "Offline") if c.witness else "", holder)

    async def get_volumes(self) -> list[VolumeInfo]:
        """Volumes mounted on this machine (Test-Cluster validates their paths); [] when unknown."""
        root = self.volume_root
        if not root or not os.path.isdir(root):
            return []
        return [VolumeInfo(e.name, e.path) for e in sorted(os.scandir(root), key=lambda e: e.name)
                if e.is_dir(follow_symlinks=False)]

    # ---- New-Cluster ----

    async def create_cluster(self, name: str, nodes: Sequence[str], static_address: Sequence[str] | str = (),
                             no_storage: bool = False, addresses: Mapping[str, str] | None = None,
                             properties: Mapping[str, int] | None = None, smb_port: int = 445,
                             link_port: int = 0, dns_port: int = 0, witness_port: int = 0) -> ClusterInfo:
        """``New-Cluster``. ``smb_port``: the SMB port every node listens on (445; tests pick free ones);
        ``link_port``: the coordinator link port of every node (0: each picks a free one);
        ``dns_port``: the port of every node's DNS server for the roles' names (0: none). Also stores a
        new random link secret."""
        check_name(name, "cluster")
        if not nodes:
            raise ClusterError("A cluster needs at least one node.")
        names = [str(n) for n in nodes]
        for n in names:
            check_name(n, "node")
        if len({n.lower() for n in names}) != len(names):
            raise ClusterError(f"Duplicate node names in {names}.")
        statics = (static_address,) if isinstance(static_address, str) else tuple(static_address)
        for a in statics:
            check_address(a)
        addrs = dict(addresses or {})
        used = set(addrs.values())
        free = (str(FIRST_NODE_ADDRESS + i) for i in range(200))
        members = {}
        for i, n in enumerate(names):
            addr = addrs.get(n) or next(a for a in free if a not in used)
            check_address(addr)
            members[n] = NodeRecord(n, i + 1, addr, smb_port=check_port(smb_port),
                                    link_port=check_port(link_port) if link_port else 0,
                                    extra_addresses=second_address(addr),
                                    dns_port=check_port(dns_port) if dns_port else 0,
                                    witness_port=check_port(witness_port) if witness_port else 0)
        cluster = ClusterRecord(name, str(uuid.uuid4()), static_address=statics, no_storage=no_storage)
        for prop, value in (properties or {}).items():
            changes: dict[str, Any] = {field_name(prop): check_property(prop, value)}
            cluster = replace(cluster, **changes)
        empty = Snapshot(0, None, None, {}, {}, {})
        votes = vote_table(empty, cluster, active=names, members=members)
        core = GroupRecord(CLUSTER_GROUP, GroupType.CLUSTER.value, None, 0, (), cluster_resources(cluster))
        ops: list[Op] = [Put(self.keys.cluster, encode(cluster)), Put(self.keys.votes, encode(votes)),
                         Put(self.keys.group(CLUSTER_GROUP), encode(core)),
                         Put(self.keys.link_secret, encode(LinkSecret(secrets.token_hex(32))))]
        ops += [Put(self.keys.node(n), encode(r)) for n, r in members.items()]
        res = await self.store.txn([Compare(self.keys.cluster, mod_revision=0)], ops)
        if not res.succeeded:
            existing = await self.store.get(self.keys.cluster)
            other = decode(ClusterRecord, existing.value).name if existing else "?"
            raise ClusterError(f"A cluster ({other}) already exists in this store.")
        return await self.get_cluster()

    # ---- properties and quorum ----

    async def set_cluster_property(self, name: str, value: Any) -> ClusterInfo:
        """``(Get-Cluster).<Name> = value``: SameSubnetDelay (ms), SameSubnetThreshold, DynamicQuorum,
        Description. Accepts PowerShell or snake_case names."""
        fname = field_name(name)
        checked: Any = str(value) if fname == "description" else check_property(name, value)

        def change(snap: Snapshot, c: ClusterRecord) -> list[Op]:
            new = replace(c, **{fname: checked})
            ops: list[Op] = [Put(self.keys.cluster, encode(new))]
            if fname == "dynamic_quorum":
                ops.append(Put(self.keys.votes, encode(vote_table(snap, new))))
            return ops
        await self._update_cluster(change)
        return await self.get_cluster()

    async def set_quorum(self, config: Mapping[str, Any] | str, witness: Mapping[str, Any] | None = None
                         ) -> QuorumInfo:
        """``Set-ClusterQuorum``: ``{"type": "NodeMajority"}`` or ``{"type": "NodeAnd...Majority",
        "witness": <sofs.cluster.witness.from_config dict>}`` (or mode string + witness dict)."""
        if isinstance(config, str):
            config = {"type": config, "witness": witness}
        w = config.get("witness")
        mode = str(config.get("type", "NodeMajority"))
        if mode == "NodeMajority" or (w is None and mode in ("", "None")):
            w = None
        elif not isinstance(w, Mapping) or str(w.get("type", "")).lower() not in WITNESS_RESOURCE:
            raise ClusterError(f"Quorum mode {mode} needs a witness of type disk, fileshare or cloud.")
        wdict = dict(w) if w is not None else None

        def change(snap: Snapshot, c: ClusterRecord) -> list[Op]:
            new = replace(c, witness=wdict)
            core = snap.groups.get(CLUSTER_GROUP)
            ops: list[Op] = [Put(self.keys.cluster, encode(new)), Put(self.keys.votes, encode(vote_table(snap, new)))]
            if core is not None:
                ops.append(Put(self.keys.group(CLUSTER_GROUP),
                               encode(replace(core.record, resources=cluster_resources(new)))))
            return ops
        await self._update_cluster(change)
        return await self.get_quorum()

    async def _update_cluster(self, change: Callable[[Snapshot, ClusterRecord], list[Op]]) -> None:
        for _ in range(CAS_RETRIES):
            snap, c = await self._cluster()
            assert snap.cluster is not None
            compares = [Compare(self.keys.cluster, mod_revision=snap.cluster.mod_revision)]
            compares.append(Compare(self.keys.votes, mod_revision=snap.votes.mod_revision if snap.votes else 0))
            if (await self.store.txn(compares, change(snap, c))).succeeded:
                return
        raise ClusterError("The cluster configuration kept changing; try again.")

    # ---- groups ----

    async def move_group(self, group: str, node: str | None = None) -> GroupInfo:
        """``Move-ClusterGroup``: write owner=node with epoch+1; the agents release/activate it."""
        for _ in range(CAS_RETRIES):
            snap, _ = await self._cluster()
            g = snap.groups.get(group) or _find(snap.groups, group, "group")
            dest = self._move_target(snap, g.record, node)
            new = replace(g.record, owner=dest, epoch=g.record.epoch + 1)
            if await self.store.cas(self.keys.group(g.record.name), encode(new), g.mod_revision):
                return next(x for x in await self.get_groups() if x.name == g.record.name)
        raise ClusterError(f"The group '{group}' kept changing; try again.")

    def _move_target(self, snap: Snapshot, g: GroupRecord, node: str | None) -> str:
        if node is not None:
            n = _find(snap.nodes, node, "node").record.name
            state = snap.node_state(n)
            if state is not NodeState.UP:
                raise ClusterError(f"The node '{n}' is {state.value}; a group can only move to an Up node.")
            return n
        ups = sorted((n for n in snap.nodes if snap.node_state(n) is NodeState.UP and n != g.owner),
                     key=lambda n: (sum(1 for x in snap.groups.values() if x.record.owner == n), n))
        if not ups:
            raise ClusterError(f"No other Up node can own the group '{g.name}'.")
        return ups[0]

    async def create_group(self, name: str, group_type: GroupType | str = GroupType.VOLUME,
                           resources: Sequence[tuple[str, str]] = (),
                           preferred_owners: Sequence[str] = ()) -> GroupInfo:
        """Add a group (a volume coordinator, the Scale-Out File Server role); agents place it."""
        if not name or "/" in name:
            raise ClusterError(f"Invalid group name {name!r}.")
        gt = group_type.value if isinstance(group_type, GroupType) else str(group_type)
        rec = GroupRecord(name, gt, None, 0, tuple(preferred_owners),
                          tuple(ResourceRecord(n, t) for n, t in resources))
        await self._cluster()
        if not await self.store.create(self.keys.group(name), encode(rec)):
            raise ClusterError(f"The group '{name}' already exists.")
        return next(x for x in await self.get_groups() if x.name == name)

    async def remove_group(self, name: str) -> None:
        """``Remove-ClusterGroup`` (a role with shares scoped to it is refused)."""
        if name.lower() == CLUSTER_GROUP.lower():
            raise ClusterError("The core cluster group cannot be removed.")
        from sofs.cluster.role_client import remove_role
        await remove_role(self, name)

    async def add_sofs_role(self, name: str, parameters: dict[str, Any] | None = None) -> GroupInfo:
        """``Add-ClusterScaleOutFileServerRole`` (:mod:`sofs.cluster.role_client`)."""
        from sofs.cluster.role_client import add_sofs_role
        return await add_sofs_role(self, name, parameters)

    async def get_resource_parameters(self, resource: str) -> list[tuple[str, str, Any]]:
        from sofs.cluster.role_client import get_parameters
        return await get_parameters(self, resource)

    async def set_resource_parameter(self, resource: str, name: str, value: Any) -> list[tuple[str, str, Any]]:
        from sofs.cluster.role_client import set_parameter
        return await set_parameter(self, resource, name, value)

    # ---- nodes ----

    async def _update_node(self, name: str, fn: Callable[[NodeRecord], NodeRecord]) -> NodeInfo:
        for _ in range(CAS_RETRIES):
            snap, _ = await self._cluster()
            v = _find(snap.nodes, name, "node")
            if await self.store.cas(self.keys.node(v.record.name), encode(fn(v.record)), v.mod_revision):
                return next(n for n in await self.get_nodes() if n.name == v.record.name)
        raise ClusterError(f"The node '{name}' kept changing; try again.")

    async def suspend_node(self, name: str, drain: bool = False) -> NodeInfo:
        """``Suspend-ClusterNode [-Drain]``: paused nodes get no new groups; drained ones give theirs away."""
        status = DrainStatus.IN_PROGRESS.value if drain else DrainStatus.NOT_INITIATED.value
        return await self._update_node(name, lambda r: replace(r, paused=True, drain_status=status))

    async def resume_node(self, name: str) -> NodeInfo:
        return await self._update_node(
            name, lambda r: replace(r, paused=False, drain_status=DrainStatus.NOT_INITIATED.value))

    async def set_smb_port(self, name: str, port: int) -> NodeInfo:
        """The SMB port the node listens on (read by the node at start; restart it to apply)."""
        checked = check_port(port)
        return await self._update_node(name, lambda r: replace(r, smb_port=checked))

    async def set_link_port(self, name: str, port: int) -> NodeInfo:
        """The coordinator link port the node listens on (written by the node when it picked one)."""
        checked = check_port(port)
        return await self._update_node(name, lambda r: replace(r, link_port=checked))

    async def link_secret(self) -> bytes:
        """The cluster's link secret; a cluster created before there was one gets one now (once:
        concurrent callers all get the one that was written first)."""
        for _ in range(CAS_RETRIES):
            kv = await self.store.get(self.keys.link_secret)
            if kv is not None:
                return bytes.fromhex(decode(LinkSecret, kv.value).key)
            await self._cluster()  # no cluster, no secret
            await self.store.txn([Compare(self.keys.link_secret, mod_revision=0)],
                                 [Put(self.keys.link_secret, encode(LinkSecret(secrets.token_hex(32))))])
        raise ClusterError("The cluster link secret kept changing; try again.")

    async def set_service_port(self, name: str, service: str, port: int) -> NodeInfo:
        """The port of the node's ``dns`` server or ``witness`` service (0: none; read at start)."""
        checked = check_port(port) if port else 0
        fname = {"dns": "dns_port", "witness": "witness_port"}[service]
        return await self._update_node(name, lambda r: replace(r, **{fname: checked}))

    async def add_node(self, name: str, address: str | None = None) -> NodeInfo:
        """``Add-ClusterNode``: a new member (address: next free 127.0.0.x when omitted); start its process
        with ``sofs node --name <name>``."""
        check_name(name, "node")
        if address is not None:
            check_address(address)
        for _ in range(CAS_RETRIES):
            snap, c = await self._cluster()
            if any(n.lower() == name.lower() for n in snap.nodes):
                raise ClusterError(f"The node '{name}' is already a member of the cluster.")
            used = {v.record.address for v in snap.nodes.values()}
            addr = address or next(str(FIRST_NODE_ADDRESS + i) for i in range(200)
                                   if str(FIRST_NODE_ADDRESS + i) not in used)
            rec = NodeRecord(name, max((v.record.id for v in snap.nodes.values()), default=0) + 1, addr,
                             extra_addresses=second_address(addr))
            members = {**{n: v.record for n, v in snap.nodes.items()}, name: rec}
            active = (*(snap.votes.record.active if snap.votes else ()), name)
            votes = vote_table(snap, c, active=active, members=members)
            if await self._txn_votes(snap, [Compare(self.keys.node(name), mod_revision=0)],
                                     [Put(self.keys.node(name), encode(rec)), Put(self.keys.votes, encode(votes))]):
                return next(n for n in await self.get_nodes() if n.name == name)
        raise ClusterError("The cluster membership kept changing; try again.")

    async def remove_node(self, name: str) -> None:
        """``Remove-ClusterNode``: evict a member; its groups become ownerless and are claimed by others."""
        for _ in range(CAS_RETRIES):
            snap, c = await self._cluster()
            v = _find(snap.nodes, name, "node")
            if len(snap.nodes) == 1:
                raise ClusterError("Cannot remove the last node of the cluster.")
            n = v.record.name
            members = {k: x.record for k, x in snap.nodes.items() if k != n}
            active = [a for a in (snap.votes.record.active if snap.votes else members) if a != n]
            votes = vote_table(snap, c, active=active, members=members)
            ops: list[Op] = [Put(self.keys.votes, encode(votes))]
            ops += [Delete(self.keys.node(n)), Delete(self.keys.heartbeat(n))]
            compares = [Compare(self.keys.node(n), mod_revision=v.mod_revision)]
            for g in snap.groups.values():
                if g.record.owner == n:
                    ops.append(Put(self.keys.group(g.record.name),
                                   encode(replace(g.record, owner=None, epoch=g.record.epoch + 1))))
                    compares.append(Compare(self.keys.group(g.record.name), mod_revision=g.mod_revision))
            if await self._txn_votes(snap, compares, ops):
                return
        raise ClusterError("The cluster membership kept changing; try again.")

    async def _txn_votes(self, snap: Snapshot, compares: list[Compare], ops: list[Op]) -> bool:
        assert snap.cluster is not None
        compares = [*compares, Compare(self.keys.cluster, mod_revision=snap.cluster.mod_revision),
                    Compare(self.keys.votes, mod_revision=snap.votes.mod_revision if snap.votes else 0)]
        return (await self.store.txn(compares, ops)).succeeded


# ---- validation helpers ----

def _find(items: Mapping[str, R], name: str, what: str) -> R:
    for k, v in items.items():
        if k.lower() == name.lower():
            return v
    raise ClusterError(f"The cluster {what} '{name}' was not found.")


def check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ClusterError(f"Invalid {what} name {name!r}: use letters, digits and '-' (at most 63).")


def second_address(addr: str) -> tuple[str, ...]:
    """The embedded cluster's second address of a node on loopback (127.0.0.x -> 127.0.1.x): two
    addresses per node, so a client can open a second channel (multichannel). Real addresses get none:
    add them to the node record."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 4 and ip in ipaddress.ip_network("127.0.0.0/24") and int(ip) & 0xFF:
        return (str(ip + 256),)
    return ()


def check_address(addr: str) -> None:
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ClusterError(f"Invalid IP address {addr!r}.") from None


def check_port(port: Any) -> int:
    try:
        p = int(port)
    except (TypeError, ValueError):
        raise ClusterError(f"Invalid port {port!r}.") from None
    if not 1 <= p <= 65535:
        raise ClusterError(f"Invalid port {p}: use 1-65535.")
    return p


def field_name(prop: str) -> str:
    for ps, (fname, _, _) in PROPERTIES.items():
        if prop.lower() in (ps.lower(), fname):
            return fname
    if prop.lower() == "description":
        return "description"
    raise ClusterError(f"Unknown or read-only cluster property '{prop}'.")


def check_property(prop: str, value: Any) -> int:
    fname = field_name(prop)
    ps, (_, lo, hi) = next((k, v) for k, v in PROPERTIES.items() if v[0] == fname)
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise ClusterError(f"{ps} must be an integer, not {value!r}.") from None
    if not lo <= ivalue <= hi:
        raise ClusterError(f"{ps} must be between {lo} and {hi}, not {ivalue}.")
    return ivalue


def cluster_resources(c: ClusterRecord) -> tuple[ResourceRecord, ...]:
    res = [ResourceRecord("Cluster Name", "Network Name")]
    res += [ResourceRecord("Cluster IP Address" + (f" {a}" if i else ""), "IP Address")
            for i, a in enumerate(c.static_address)]
    if c.witness_kind in WITNESS_RESOURCE:
        res.append(ResourceRecord(WITNESS_RESOURCE[c.witness_kind], WITNESS_RESOURCE[c.witness_kind]))
    return tuple(res)
