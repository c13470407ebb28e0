"""Get-ClusterGroup, Move-ClusterGroup, Get-ClusterResource."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Get-ClusterGroup", ParamSpec("Name", T.STRING_LIST, position=0, from_pipeline_by_name=True))
async def get_cluster_group(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List roles (Name, OwnerNode, State)."""
    svc = await ctx.service("cluster")
    return list(await svc.get_groups(p.get("Name")))


@cmdlet("Move-ClusterGroup",
        ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True),
        ParamSpec("Node", T.STRING, position=1),
        ParamSpec("Wait", T.INT, unsupported=("the move is written at once and the nodes apply it within a "
                                                "heartbeat; follow it with Get-ClusterGroup")),
        ParamSpec("IgnoreLocked", T.SWITCH, unsupported="sofs has no locked groups"))
async def move_cluster_group(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Move a role to another node (or the best other Up node when -Node is omitted)."""
    svc = await ctx.service("cluster")
    return [await svc.move_group(p["Name"], p.get("Node"))]


@cmdlet("Get-ClusterResource", ParamSpec("Name", T.STRING_LIST, position=0, from_pipeline_by_name=True))
async def get_cluster_resource(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List cluster resources (Name, State, OwnerGroup, ResourceType)."""
    svc = await ctx.service("cluster")
    return list(await svc.get_resources(p.get("Name")))
