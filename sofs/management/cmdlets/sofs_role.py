"""Add-ClusterScaleOutFileServerRole, Remove-ClusterGroup, Get-/Set-ClusterParameter."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Add-ClusterScaleOutFileServerRole", ParamSpec("Name", T.STRING, mandatory=True, position=0))
async def add_sofs_role(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Create the Scale-Out File Server role: a Distributed Network Name resolving to every Up node."""
    svc = await ctx.service("cluster")
    return [await svc.add_sofs_role(p["Name"])]


@cmdlet("Remove-ClusterGroup",
        ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True),
        ParamSpec("RemoveResources", T.SWITCH, help="a group's resources are always removed with it"),
        ParamSpec("Force", T.SWITCH, help="sofs never prompts"))
async def remove_cluster_group(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Remove a role with its resources (sofs never prompts; -RemoveResources and -Force are accepted)."""
    svc = await ctx.service("cluster")
    await svc.remove_group(p["Name"])
    return []


def _resource(ctx: Context, cmd: str) -> str:
    props = [getattr(o, "name", None) for o in ctx.input if type(o).__name__ == "ResourceInfo"]
    if len(props) != 1 or not props[0]:
        raise ManagementError(f"{cmd} needs the resource from the pipeline, e.g. "
                              f"Get-ClusterResource SOFS | {cmd} ...", "InvalidArgument")
    return str(props[0])


@cmdlet("Get-ClusterParameter", ParamSpec("Name", T.STRING_LIST, position=0))
async def get_cluster_parameter(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show a resource's private properties (Get-ClusterResource X | Get-ClusterParameter)."""
    svc = await ctx.service("cluster")
    return list(await svc.get_parameters(_resource(ctx, "Get-ClusterParameter"), p.get("Name")))


@cmdlet("Set-ClusterParameter", ParamSpec("Name", T.STRING, mandatory=True, position=0),
        ParamSpec("Value", T.STRING, mandatory=True, position=1))
async def set_cluster_parameter(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Change a resource's private property (Get-ClusterResource X | Set-ClusterParameter HostRecordTTL 5)."""
    svc = await ctx.service("cluster")
    await svc.set_parameter(_resource(ctx, "Set-ClusterParameter"), p["Name"], p["Value"])
    return []
