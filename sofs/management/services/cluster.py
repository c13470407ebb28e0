"""The cluster management service: every cluster query and mutation the admin surfaces offer.

The CLI cmdlets, the REST API and the web dashboard call this class and nothing below it. It wraps a
``sofs.cluster.client.ClusterClient`` (or any object with the same methods: tests pass a fake) and
turns whatever that client returns into the records of :mod:`sofs.management.services.models`,
validating arguments first and raising :class:`ManagementError` with a PowerShell-style message and
category on failure.

Client methods used (each may be sync or async; results may be dataclasses, objects or dicts with
snake_case or PascalCase keys — read tolerantly by :func:`field_of`):
``create_cluster(name, nodes, static_address=..., no_storage=...)``, ``get_cluster()``,
``set_cluster_property(name, value)``, ``get_nodes()``, ``get_groups()``, ``get_resources()``,
``get_quorum()``, ``set_quorum(config)``, ``move_group(group, node)``, ``suspend_node(node, drain=)``,
``resume_node(node)``, ``add_node(node)``, ``remove_node(node)``.

``set_quorum`` receives ``{"type": "NodeMajority"}`` or
``{"type": "NodeAnd<Disk|FileShare|Cloud>Majority", "witness": <sofs.cluster.witness.from_config dict>}``.
"""
from __future__ import annotations

import enum
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sofs.cluster.client import PROPERTIES
from sofs.management.errors import ManagementError
from sofs.management.services import close_quietly
from sofs.management.services.models import (
    ClusterInfo,
    ClusterParameterInfo,
    GroupInfo,
    NodeInfo,
    QuorumInfo,
    ResourceInfo,
)


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a client method that may be sync or async; client and store errors become ManagementError."""
    from sofs.cluster.store import StoreError, StoreUnavailable
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except ManagementError:
        raise
    except StoreUnavailable as e:
        raise ManagementError(f"The cluster store is unavailable: {e}", "ConnectionError") from e
    except StoreError as e:
        raise ManagementError(f"Cluster store error: {e}", "InvalidOperation") from e
    except Exception as e:
        if type(e).__name__ != "ClusterError":  # sofs.cluster.client.ClusterError: bad input / impossible
            raise
        msg = str(e)
        category = "ObjectNotFound" if "not found" in msg.lower() or "unknown" in msg.lower() else \
            "ResourceExists" if "already" in msg.lower() else "InvalidOperation"
        raise ManagementError(msg, category) from e
    return result


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` (snake_case) from an object or mapping, also trying its PascalCase spelling."""
    pas = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
    for key in (name, pas, pas[:1].lower() + pas[1:]):
        if isinstance(obj, dict):
            if key in obj:
                return obj[key]
        elif hasattr(obj, key):
            return getattr(obj, key)
    return default


def state_text(value: Any, default: str = "Unknown") -> str:
    """Enum or string state -> PowerShell spelling (``up`` / ``State.UP`` -> ``Up``)."""
    if value is None:
        return default
    if isinstance(value, enum.Enum):
        value = value.value if isinstance(value.value, str) else value.name
    s = str(value)
    return s[:1].upper() + s[1:].lower() if s.isupper() or s.islower() else s


def _strs(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


_MISSING = object()


def need(obj: Any, name: str, what: str) -> Any:
    """A field the cluster client always returns: missing is an error, never a made-up default."""
    value = field_of(obj, name, _MISSING)
    if value is _MISSING:
        raise ManagementError(f"The cluster returned a {what} record without '{name}'; the store and this "
                              "sofs disagree on the record format.", "InvalidData", name)
    return value


def to_node(obj: Any) -> NodeInfo:
    hb = field_of(obj, "last_heartbeat", None)
    return NodeInfo(
        name=str(need(obj, "name", "node")), state=state_text(need(obj, "state", "node")), type="Node",
        id=str(need(obj, "id", "node")), address=str(need(obj, "address", "node")),
        node_weight=int(need(obj, "node_weight", "node")), dynamic_weight=int(need(obj, "dynamic_weight", "node")),
        drain_status=state_text(need(obj, "drain_status", "node")), last_heartbeat=hb,
        smb_port=int(need(obj, "smb_port", "node")),
        heartbeat_refresh_s=float(field_of(obj, "heartbeat_refresh_s", 0.0) or 0.0),
    )


def to_group(obj: Any) -> GroupInfo:
    return GroupInfo(
        name=str(field_of(obj, "name", "")), owner_node=str(field_of(obj, "owner_node", field_of(obj, "owner"))
                                                            or ""),
        state=state_text(field_of(obj, "state")), group_type=str(field_of(obj, "group_type", "Unknown")),
        epoch=int(field_of(obj, "epoch", 0) or 0), preferred_owners=_strs(field_of(obj, "preferred_owners")),
    )


def to_resource(obj: Any) -> ResourceInfo:
    return ResourceInfo(
        name=str(field_of(obj, "name", "")), state=state_text(field_of(obj, "state")),
        owner_group=str(field_of(obj, "owner_group", field_of(obj, "group")) or ""),
        resource_type=str(field_of(obj, "resource_type", field_of(obj, "type")) or ""),
        owner_node=str(field_of(obj, "owner_node", "") or ""),
    )


def to_cluster(obj: Any) -> ClusterInfo:
    return ClusterInfo(
        name=str(field_of(obj, "name", "")), id=str(field_of(obj, "id", "") or ""),
        description=str(field_of(obj, "description", "") or ""),
        static_address=_strs(field_of(obj, "static_address")),
        same_subnet_delay=int(field_of(obj, "same_subnet_delay", 1000)),
        same_subnet_threshold=int(field_of(obj, "same_subnet_threshold", 10)),
        dynamic_quorum=int(field_of(obj, "dynamic_quorum", 1)),
        witness_dynamic_weight=int(field_of(obj, "witness_dynamic_weight", 0) or 0),
        quorum_type=str(field_of(obj, "quorum_type", "NodeMajority") or "NodeMajority"),
        store=str(field_of(obj, "store", "") or ""),
    )


WITNESS_RESOURCE = {"disk": "Disk Witness", "fileshare": "File Share Witness", "cloud": "Cloud Witness"}
QUORUM_TYPE = {None: "NodeMajority", "disk": "NodeAndDiskMajority", "fileshare": "NodeAndFileShareMajority",
               "cloud": "NodeAndCloudMajority"}


def to_quorum(obj: Any, cluster_name: str) -> QuorumInfo:
    witness = field_of(obj, "witness") or {}
    if not isinstance(witness, dict):
        witness = {k: field_of(witness, k) for k in ("type", "path", "share", "account_name", "endpoint")}
    kind = str(witness.get("type") or "").lower() or None
    qtype = field_of(obj, "quorum_type", field_of(obj, "type")) or QUORUM_TYPE.get(kind, "NodeMajority")
    resource = field_of(obj, "quorum_resource") or WITNESS_RESOURCE.get(kind or "", "")
    safe = {k: v for k, v in witness.items() if k not in ("access_key", "password")}
    where = str(safe.get("path") or safe.get("share") or
                (f"{safe.get('account_name')}@{safe.get('endpoint') or 'core.windows.net'}" if kind == "cloud" else ""))
    return QuorumInfo(cluster=cluster_name, quorum_resource=str(resource), quorum_type=str(qtype),
                      witness_state=str(field_of(obj, "witness_state", "") or ""),
                      witness_owner_node=str(field_of(obj, "witness_owner_node", "") or ""),
                      witness_location=where,
                      witness_dynamic_weight=int(field_of(obj, "witness_dynamic_weight", 0) or 0), witness=safe)


@dataclass(frozen=True, slots=True)
class QuorumSpec:
    """What ``Set-ClusterQuorum`` asks for (one of its parameter sets)."""

    mode: str  # NodeMajority | DiskWitness | FileShareWitness | CloudWitness
    path: str = ""
    share: str = ""
    username: str | None = None
    password: str | None = None
    account_name: str = ""
    access_key: str = ""
    endpoint: str | None = None

    def config(self) -> dict[str, Any]:
        """The ``set_quorum`` argument (the witness part is ``sofs.cluster.witness.from_config``'s dict)."""
        if self.mode == "NodeMajority":
            return {"type": "NodeMajority"}
        if self.mode == "DiskWitness":
            if not self.path:
                raise ManagementError("A disk witness needs a path (-DiskWitness <path>).", "InvalidArgument")
            return {"type": "NodeAndDiskMajority", "witness": {"type": "disk", "path": self.path}}
        if self.mode == "FileShareWitness":
            if not self.share.startswith("\\\\") or len([p for p in self.share.split("\\") if p]) < 2:
                raise ManagementError(f"The file share path '{self.share}' is not a UNC path "
                                      "(\\\\server\\share).", "InvalidArgument", self.share)
            w: dict[str, Any] = {"type": "fileshare", "share": self.share}
            if self.username is not None:
                w["username"], w["password"] = self.username, self.password
            return {"type": "NodeAndFileShareMajority", "witness": w}
        if self.mode == "CloudWitness":
            if not self.account_name or not self.access_key:
                raise ManagementError("A cloud witness needs -AccountName and -AccessKey.", "InvalidArgument")
            w = {"type": "cloud", "account_name": self.account_name, "access_key": self.access_key}
            if self.endpoint:
                w["endpoint"] = self.endpoint
            return {"type": "NodeAndCloudMajority", "witness": w}
        raise ManagementError(f"Unknown quorum mode '{self.mode}'.", "InvalidArgument")


# Settable cluster common properties: PowerShell name -> (field, type, min, max). The integer ranges
# are the cluster client's table (sofs.cluster.client.PROPERTIES), the one table for these settings.
SETTABLE: dict[str, tuple[str, type, int, int]] = {
    **{ps: (fname, int, lo, hi) for ps, (fname, lo, hi) in PROPERTIES.items()},
    "Description": ("description", str, 0, 0),
}


class ClusterService:
    """Cluster queries and mutations (Get-Cluster*, New-Cluster, Set-ClusterQuorum, Move-ClusterGroup...)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def close(self) -> None:
        """Close the underlying client (the CLI opens one per command)."""
        await close_quietly(self.client)

    # --- cluster -----------------------------------------------------------------------------
    async def new_cluster(self, name: str, nodes: Sequence[str], static_address: Sequence[str] = (),
                          no_storage: bool = False) -> ClusterInfo:
        if not name or len(name) > 15 or not all(c.isalnum() or c == "-" for c in name):
            raise ManagementError(f"The cluster name '{name}' is not valid: use 1-15 letters, digits or '-' "
                                  "(a NetBIOS name).", "InvalidArgument", name)
        if not nodes:
            raise ManagementError("At least one node is required (-Node).", "InvalidArgument")
        dup = {n.lower() for n in nodes if [m.lower() for m in nodes].count(n.lower()) > 1}
        if dup:
            raise ManagementError(f"Node(s) listed twice: {', '.join(sorted(dup))}.", "InvalidArgument")
        got = await call(self.client.create_cluster, name, list(nodes), static_address=list(static_address),
                         no_storage=no_storage)
        return to_cluster(got) if got is not None else await self.get_cluster()

    async def get_cluster(self) -> ClusterInfo:
        return to_cluster(await call(self.client.get_cluster))

    async def set_cluster_property(self, prop: str, value: Any) -> ClusterInfo:
        """``(Get-Cluster).<prop> = value``; only the properties in :data:`SETTABLE`."""
        key = next((k for k in SETTABLE if k.lower() == prop.lower()), None)
        if key is None:
            info = await self.get_cluster()
            known = {f.lower() for f in ("Name", "Id", "StaticAddress", "QuorumType", "Store",
                                         "WitnessDynamicWeight")}
            if prop.lower() in known:
                raise ManagementError(f"'{prop}' is a ReadOnly property.", "InvalidOperation", info.name)
            raise ManagementError(f"The property '{prop}' cannot be found on this object. Verify that the "
                                  "property exists and can be set.", "InvalidOperation", prop)
        fname, typ, lo, hi = SETTABLE[key]
        if typ is int:
            try:
                ivalue = int(value)
            except (TypeError, ValueError):
                raise ManagementError(f'Cannot convert value "{value}" to type "System.UInt32".',
                                      "InvalidArgument", key) from None
            if not lo <= ivalue <= hi:
                raise ManagementError(f"The value {ivalue} for {key} is out of range ({lo}-{hi}).",
                                      "InvalidArgument", key)
            value = ivalue
        else:
            value = "" if value is None else str(value)
        got = await call(self.client.set_cluster_property, fname, value)
        return to_cluster(got) if got is not None else await self.get_cluster()

    # --- nodes ---------------------------------------------------------------------------------
    async def get_nodes(self, names: Sequence[str] | None = None) -> list[NodeInfo]:
        nodes = [to_node(n) for n in await call(self.client.get_nodes)]
        return _select(nodes, names, "node")

    async def _node(self, name: str) -> NodeInfo:
        return (await self.get_nodes([name]))[0]

    async def suspend_node(self, name: str, drain: bool = False) -> NodeInfo:
        node = await self._node(name)
        if node.state == "Down":
            raise ManagementError(f"The cluster node '{node.name}' is Down and cannot be paused.",
                                  "InvalidOperation", node.name)
        got = await call(self.client.suspend_node, node.name, drain=drain)
        return to_node(got) if got is not None else await self._node(node.name)

    async def resume_node(self, name: str) -> NodeInfo:
        node = await self._node(name)
        got = await call(self.client.resume_node, node.name)
        return to_node(got) if got is not None else await self._node(node.name)

    async def add_node(self, names: Sequence[str]) -> list[NodeInfo]:
        existing = {n.name.lower() for n in await self.get_nodes()}
        for n in names:
            if n.lower() in existing:
                raise ManagementError(f"The node '{n}' is already a member of the cluster.",
                                      "ResourceExists", n)
        for n in names:
            await call(self.client.add_node, n)
        return await self.get_nodes(list(names))

    async def remove_node(self, names: Sequence[str]) -> list[NodeInfo]:
        nodes = await self.get_nodes(list(names))
        all_nodes = await self.get_nodes()
        if len(nodes) >= len(all_nodes):
            raise ManagementError("Removing every node would destroy the cluster; not allowed.",
                                  "InvalidOperation")
        for n in nodes:
            await call(self.client.remove_node, n.name)
        return nodes

    # --- groups and resources ------------------------------------------------------------------
    async def get_groups(self, names: Sequence[str] | None = None) -> list[GroupInfo]:
        groups = [to_group(g) for g in await call(self.client.get_groups)]
        return _select(groups, names, "group")

    async def get_resources(self, names: Sequence[str] | None = None) -> list[ResourceInfo]:
        res = [to_resource(r) for r in await call(self.client.get_resources)]
        return _select(res, names, "resource")

    async def move_group(self, name: str, node: str | None = None) -> GroupInfo:
        """``Move-ClusterGroup``: to ``node``, or (None) to the best other Up node."""
        group = (await self.get_groups([name]))[0]
        nodes = await self.get_nodes()
        if node is not None:
            target = _select(nodes, [node], "node")[0]
            if target.state != "Up":
                raise ManagementError(f"The cluster node '{target.name}' is {target.state}; a group can only "
                                      "move to an Up node.", "InvalidOperation", target.name)
            dest: str | None = target.name
        else:
            ups = [n.name for n in nodes if n.state == "Up" and n.name.lower() != group.owner_node.lower()]
            if not ups:
                raise ManagementError(f"No other Up node can own the group '{group.name}'.",
                                      "InvalidOperation", group.name)
            dest = ups[0]
        got = await call(self.client.move_group, group.name, dest)
        return to_group(got) if got is not None else (await self.get_groups([group.name]))[0]

    async def add_sofs_role(self, name: str) -> GroupInfo:
        """``Add-ClusterScaleOutFileServerRole -Name``."""
        if not name or len(name) > 15 or not all(c.isalnum() or c == "-" for c in name) or name[0] == "-":
            raise ManagementError(f"The name '{name}' is not valid: use 1-15 letters, digits or '-' (a NetBIOS "
                                  "and DNS name).", "InvalidArgument", name)
        got = await call(self.client.add_sofs_role, name)
        return to_group(got) if got is not None else (await self.get_groups([name]))[0]

    async def remove_group(self, name: str) -> None:
        """``Remove-ClusterGroup``."""
        group = (await self.get_groups([name]))[0]
        await call(self.client.remove_group, group.name)

    async def get_parameters(self, resource: str, names: Sequence[str] | None = None) -> list[ClusterParameterInfo]:
        """``Get-ClusterParameter`` of one resource (``names``: only these, wildcards allowed)."""
        rows = [_param(r, n, v) for r, n, v in await call(self.client.get_resource_parameters, resource)]
        return _select(rows, names, "parameter")

    async def set_parameter(self, resource: str, name: str, value: Any) -> list[ClusterParameterInfo]:
        """``Set-ClusterParameter``: takes effect at once (the nodes follow the store)."""
        rows = await call(self.client.set_resource_parameter, resource, name, value)
        return [_param(r, n, v) for r, n, v in rows if n.lower() == name.lower()]

    # --- quorum --------------------------------------------------------------------------------
    async def get_quorum(self) -> QuorumInfo:
        cluster = await self.get_cluster()
        return to_quorum(await call(self.client.get_quorum), cluster.name)

    async def set_quorum(self, spec: QuorumSpec) -> QuorumInfo:
        await call(self.client.set_quorum, spec.config())
        return await self.get_quorum()

    async def quorum_config(self) -> dict[str, Any]:
        """The raw quorum configuration including witness secrets (for Test-Cluster's probe only)."""
        q = await call(self.client.get_quorum)
        w = field_of(q, "witness") or {}
        return {"witness": w if isinstance(w, dict) else dict(vars(w))}

    # --- for Test-Cluster ------------------------------------------------------------------------
    def store(self) -> Any:
        """The client's ClusterStore (attribute ``store``), or None."""
        return getattr(self.client, "store", None)

    async def volume_paths(self) -> list[str]:
        """Local paths of the cluster's volumes (client ``get_volumes()`` when it has one)."""
        fn = getattr(self.client, "get_volumes", None)
        if fn is None:
            return []
        return [str(p) for v in await call(fn) if (p := field_of(v, "path"))]


def _param(resource: str, name: str, value: Any) -> ClusterParameterInfo:
    return ClusterParameterInfo(resource, name, value, "UInt32" if isinstance(value, int) else "String")


def _select(items: list[Any], names: Sequence[str] | None, what: str) -> list[Any]:
    """Filter records by name (case-insensitive, ``*`` wildcards); a missing literal name is an error."""
    if not names:
        return items
    import fnmatch

    out: list[Any] = []
    for n in names:
        hits = [i for i in items if fnmatch.fnmatchcase(i.name.lower(), n.lower())]
        if not hits and not any(c in n for c in "*?["):
            raise ManagementError(f"The cluster {what} '{n}' was not found.", "ObjectNotFound", n)
        out.extend(h for h in hits if h not in out)
    return out
