"""New-Cluster, Get-Cluster (FailoverClusters module equivalents)."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("New-Cluster",
        ParamSpec("Name", T.STRING, mandatory=True, position=0),
        ParamSpec("Node", T.STRING_LIST),
        ParamSpec("StaticAddress", T.STRING_LIST),
        ParamSpec("NoStorage", T.SWITCH),
        ParamSpec("IgnoreNetwork", T.STRING_LIST, unsupported="the nodes use the addresses they are given; there "
                                                              "is no network selection"),
        ParamSpec("AdministrativeAccessPoint", T.STRING, choices=("None", "ActiveDirectoryAndDns", "Dns"),
                  unsupported="the cluster has no network name of its own (roles have DNS names)"),
        ParamSpec("Force", T.SWITCH, help="sofs never prompts; an existing cluster is still refused"))
async def new_cluster(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Create a cluster from the named nodes."""
    svc = await ctx.service("cluster")
    return [await svc.new_cluster(p["Name"], p.get("Node") or [], p.get("StaticAddress") or [],
                                  bool(p.get("NoStorage")))]


@cmdlet("Get-Cluster", ParamSpec("Name", T.STRING, position=0))
async def get_cluster(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show the cluster this node belongs to."""
    svc = await ctx.service("cluster")
    info = await svc.get_cluster()
    if p.get("Name") and p["Name"].lower() != info.name.lower():
        from sofs.management.errors import ManagementError
        raise ManagementError(f"The cluster '{p['Name']}' was not found (this is cluster '{info.name}').",
                              "ObjectNotFound", p["Name"])
    return [info]


@cmdlet("Get-ClusterLog",
        ParamSpec("Node", T.STRING_LIST, position=0),
        ParamSpec("Destination", T.STRING, help="folder for the <node>_cluster.log files (default: the current one)"),
        ParamSpec("TimeSpan", T.INT, help="minutes back from now (default: everything kept)"),
        ParamSpec("UseLocalTime", T.SWITCH))
async def get_cluster_log(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Write each node's events and process log of a time window to <node>_cluster.log files."""
    svc = await ctx.service("clusterlog")
    return await svc.write(p.get("Node"), p.get("Destination") or ctx.cwd, p.get("TimeSpan"),
                           bool(p.get("UseLocalTime")))
