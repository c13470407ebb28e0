"""Records the management services return (and the CLI, REST API and web UI display).

Field names are snake_case; the formatter shows them in PascalCase (``owner_node`` -> ``OwnerNode``),
so these records print like the Windows FailoverClusters objects. ``PS_TABLE`` is the default
Format-Table view, chosen to match what Windows Server prints for the same cmdlet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """``Get-Cluster`` ([MS-CMRP] cluster common properties we support)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name",)
    name: str
    id: str = ""
    description: str = ""
    static_address: tuple[str, ...] = ()
    same_subnet_delay: int = 1000  # milliseconds between heartbeats
    same_subnet_threshold: int = 10  # missed heartbeats before a node is Down
    dynamic_quorum: int = 1
    witness_dynamic_weight: int = 0
    quorum_type: str = "NodeMajority"
    store: str = ""  # embedded:<path> or etcd:<endpoints>


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``Get-ClusterNode``."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "state", "type")
    name: str
    state: str = "Unknown"  # Up, Down, Paused, Joining
    type: str = "Node"
    id: str = ""
    address: str = ""
    node_weight: int = 1
    dynamic_weight: int = 1
    drain_status: str = "NotInitiated"  # NotInitiated, InProgress, Completed, Failed
    last_heartbeat: float | None = None  # unix time the node last reported (its own clock)
    smb_port: int = 445
    heartbeat_refresh_s: float = 0.0  # last_heartbeat is rewritten at least this often (0: unknown)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """``Get-ClusterGroup``: a role (the Scale-Out File Server, a volume coordinator)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "owner_node", "state")
    name: str
    owner_node: str = ""
    state: str = "Unknown"  # Online, Offline, Pending, Failed
    group_type: str = "Unknown"
    epoch: int = 0
    preferred_owners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """``Get-ClusterResource``."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "state", "owner_group", "resource_type")
    name: str
    state: str = "Unknown"
    owner_group: str = ""
    resource_type: str = ""
    owner_node: str = ""


@dataclass(frozen=True, slots=True)
class ClusterParameterInfo:
    """``Get-ClusterParameter``: one private property of a resource."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("object", "name", "value", "type")
    object: str
    name: str
    value: object = None
    type: str = "String"


@dataclass(frozen=True, slots=True)
class QuorumInfo:
    """``Get-ClusterQuorum``."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("cluster", "quorum_resource", "witness_state", "witness_owner_node")
    cluster: str
    quorum_resource: str = ""  # "" for node majority; witness resource name otherwise
    quorum_type: str = "NodeMajority"
    witness: dict[str, object] = field(default_factory=dict, metadata={"hidden": True})
    witness_state: str = ""  # Online (a live node holds it), Offline (none does); "" without a witness
    witness_owner_node: str = ""  # the node holding the witness now
    witness_location: str = ""  # the disk path, the \\server\share, or the storage account
    witness_dynamic_weight: int = 0  # 1 when the witness vote counts now (even node votes)


@dataclass(frozen=True, slots=True)
class ClusterSharedVolumeInfo:
    """``Get-ClusterSharedVolume``: a cluster shared volume and its coordinator node."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "state", "node")
    name: str  # "Cluster Virtual Disk (Volume1)"
    state: str = "Unknown"  # Online, Offline, Pending
    node: str = ""  # the coordinator (owner node)
    volume: str = ""  # C:\ClusterStorage\Volume1
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class ClusterSharedVolumeStateInfo:
    """``Get-ClusterSharedVolumeState``: how one node reaches one volume."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "node", "state_info", "volume_friendly_name")
    name: str
    node: str
    state_info: str = "Unavailable"  # Direct, Unavailable (sofs never redirects I/O)
    volume_friendly_name: str = ""
    volume_name: str = ""
    file_system_redirected_io_reason: str = "NotFileSystemRedirected"
    block_redirected_io_reason: str = "NotBlockRedirected"
    reason: str = ""  # why a node cannot reach the volume
