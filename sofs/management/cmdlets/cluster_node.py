"""Get-ClusterNode, Suspend-/Resume-ClusterNode, Add-/Remove-ClusterNode."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

NAME = ParamSpec("Name", T.STRING_LIST, position=0, from_pipeline_by_name=True)


@cmdlet("Get-ClusterNode", NAME)
async def get_cluster_node(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List the cluster's nodes (Name, State, Type)."""
    svc = await ctx.service("cluster")
    return list(await svc.get_nodes(p.get("Name")))


async def _names(ctx: Context, p: dict[str, Any]) -> list[str]:
    if p.get("Name"):
        return list(p["Name"])
    from sofs.management.errors import ManagementError
    raise ManagementError("Specify the node (-Name); sofs has no 'local node' for this command.",
                          "InvalidArgument")


@cmdlet("Suspend-ClusterNode", NAME, ParamSpec("Drain", T.SWITCH),
        ParamSpec("ForceDrain", T.SWITCH, help="drain (sofs has no draining failure to force past)"),
        ParamSpec("Wait", T.SWITCH, unsupported="the drain runs in the background; follow it with Get-ClusterNode "
                                                "(DrainStatus)"),
        ParamSpec("TargetNode", T.STRING, unsupported="the nodes place the drained roles themselves; move one "
                                                      "with Move-ClusterGroup -Node"))
async def suspend_cluster_node(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Pause a node; with -Drain move its roles to other nodes first."""
    svc = await ctx.service("cluster")
    return [await svc.suspend_node(n, drain=bool(p.get("Drain") or p.get("ForceDrain")))
            for n in await _names(ctx, p)]


@cmdlet("Resume-ClusterNode", NAME,
        ParamSpec("Failback", T.STRING, position=1, choices=("Immediate", "NoFailback", "Policy"),
                  unsupported="roles never fail back by themselves; move them with Move-ClusterGroup"))
async def resume_cluster_node(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Resume a paused node."""
    svc = await ctx.service("cluster")
    return [await svc.resume_node(n) for n in await _names(ctx, p)]


@cmdlet("Add-ClusterNode", NAME, ParamSpec("NoStorage", T.SWITCH, help="sofs never adds a node's disks to the "
                                                                        "cluster: this is always so"))
async def add_cluster_node(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Add nodes to the cluster."""
    svc = await ctx.service("cluster")
    return list(await svc.add_node(await _names(ctx, p)))


@cmdlet("Remove-ClusterNode", NAME, ParamSpec("Force", T.SWITCH, help="sofs never prompts"),
        ParamSpec("CleanupDisks", T.SWITCH, unsupported="sofs nodes own no cluster disks"))
async def remove_cluster_node(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Evict nodes from the cluster (no confirmation prompt: sofs never prompts)."""
    svc = await ctx.service("cluster")
    await svc.remove_node(await _names(ctx, p))
    return []
