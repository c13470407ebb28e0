"""Role mutations of :class:`~sofs.cluster.client.ClusterClient`: add/remove the Scale-Out File Server
role and read/change its resources' parameters (``Get-``/``Set-ClusterParameter``).

Every write is a compare-and-set on the group record, retried on a lost race (the agents rewrite the
record when they change its owner).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sofs.cluster.model import GroupType, encode
from sofs.cluster.role import SECRET_PARAMETERS, check_parameter, sofs_role_record

if TYPE_CHECKING:
    from sofs.cluster.client import ClusterClient, GroupInfo

CAS_RETRIES = 20
NETBIOS_MAX = 15


async def add_sofs_role(client: ClusterClient, name: str, parameters: dict[str, Any] | None = None) -> GroupInfo:
    """``Add-ClusterScaleOutFileServerRole -Name``: a new role whose name becomes a DNN."""
    from sofs.cluster.client import ClusterError, check_name

    check_name(name, "role")
    if len(name) > NETBIOS_MAX:
        raise ClusterError(f"The name '{name}' is longer than {NETBIOS_MAX} characters (a NetBIOS name).")
    checked: dict[str, Any] = {}
    for k, v in (parameters or {}).items():
        try:
            key, checked_value = check_parameter(k, v)
        except ValueError as e:
            raise ClusterError(str(e)) from None
        checked[key] = checked_value
    snap, c = await client._cluster()
    taken = {c.name.lower(): "the cluster", **{n.lower(): "a node" for n in snap.nodes}}
    taken.update({g.lower(): "a role" for g in snap.groups})
    if name.lower() in taken:
        raise ClusterError(f"The name '{name}' is already used by {taken[name.lower()]}.")
    rec = sofs_role_record(name, checked)
    if not await client.store.create(client.keys.group(name), encode(rec)):
        raise ClusterError(f"The group '{name}' already exists.")
    return next(x for x in await client.get_groups() if x.name == name)


async def scoped_shares(client: ClusterClient, role: str) -> list[str]:
    listing = await client.store.list(client.keys.prefix + "shares/")
    out = []
    for kv in listing.kvs:
        try:
            doc = json.loads(kv.value)
        except ValueError:
            continue
        if str(doc.get("scope_name", "*")).lower() == role.lower():
            out.append(str(doc.get("name")))
    return sorted(out)


async def remove_role(client: ClusterClient, name: str) -> None:
    """``Remove-ClusterGroup`` of a Scale-Out File Server role: refused while shares are scoped to it."""
    from sofs.cluster.client import CAS_RETRIES, ClusterError, _find

    for _ in range(CAS_RETRIES):  # a node bringing the role online rewrites its record: read it again
        snap, _ = await client._cluster()
        g = _find(snap.groups, name, "group")
        if g.record.group_type == GroupType.SOFS.value:
            shares = await scoped_shares(client, g.record.name)
            if shares:
                raise ClusterError(f"The role '{g.record.name}' still has shares scoped to it "
                                   f"({', '.join(shares)}); remove them first (Remove-SmbShare).")
        if await client.store.cas_delete(client.keys.group(g.record.name), g.mod_revision):
            return
    raise ClusterError(f"The group '{name}' kept changing while it was being removed; try again.")


async def get_parameters(client: ClusterClient, resource: str) -> list[tuple[str, str, Any]]:
    """(resource, parameter, value) of one resource; secrets are shown as ``********``."""
    from sofs.cluster.client import ClusterError

    snap, _ = await client._cluster()
    for g in snap.groups.values():
        for r in g.record.resources:
            if r.name.lower() == resource.lower():
                return [(r.name, k, "********" if k in SECRET_PARAMETERS and v else v)
                        for k, v in r.parameters.items()]
    raise ClusterError(f"The cluster resource '{resource}' was not found.")


async def set_parameter(client: ClusterClient, resource: str, parameter: str, value: Any) -> list[tuple[str, str, Any]]:
    """``Set-ClusterParameter``: change one private property of a resource (only a DNN has any)."""
    from sofs.cluster.client import ClusterError

    for _ in range(CAS_RETRIES):
        snap, _ = await client._cluster()
        hit = next(((g, i) for g in snap.groups.values() for i, r in enumerate(g.record.resources)
                    if r.name.lower() == resource.lower()), None)
        if hit is None:
            raise ClusterError(f"The cluster resource '{resource}' was not found.")
        g, i = hit
        res = g.record.resources[i]
        if not res.parameters:
            raise ClusterError(f"The resource '{res.name}' ({res.resource_type}) has no settable parameters.")
        try:
            key, checked = check_parameter(parameter, value)
        except ValueError as e:
            raise ClusterError(str(e)) from None
        new_res = replace(res, parameters={**res.parameters, key: checked})
        resources = (*g.record.resources[:i], new_res, *g.record.resources[i + 1:])
        if await client.store.cas(client.keys.group(g.record.name), encode(replace(g.record, resources=resources)),
                                  g.mod_revision):
            return await get_parameters(client, res.name)
    raise ClusterError(f"The resource '{resource}' kept changing; try again.")
