"""Get-ClusterQuorum, Set-ClusterQuorum (node majority, disk / file-share / cloud witness)."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T
from sofs.management.services.cluster import QuorumSpec


@cmdlet("Get-ClusterQuorum")
async def get_cluster_quorum(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Show the quorum configuration (Cluster, QuorumResource)."""
    svc = await ctx.service("cluster")
    return [await svc.get_quorum()]


@cmdlet("Set-ClusterQuorum",
        ParamSpec("NodeMajority", T.SWITCH), ParamSpec("NoWitness", T.SWITCH),
        ParamSpec("DiskWitness", T.STRING), ParamSpec("FileShareWitness", T.STRING),
        ParamSpec("CloudWitness", T.SWITCH), ParamSpec("AccountName", T.STRING),
        ParamSpec("AccessKey", T.STRING), ParamSpec("Endpoint", T.STRING),
        ParamSpec("UserName", T.STRING, help="sofs extension: account for the file-share witness"),
        ParamSpec("Password", T.STRING, help="sofs extension: password for the file-share witness"))
async def set_cluster_quorum(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Configure quorum: -NodeMajority, -DiskWitness <path>, -FileShareWitness \\\\srv\\share, -CloudWitness."""
    modes = [m for m in ("NodeMajority", "NoWitness", "DiskWitness", "FileShareWitness", "CloudWitness")
             if p.get(m)]
    if len(modes) != 1:
        raise ManagementError("Parameter set cannot be resolved using the specified named parameters. Use "
                              "exactly one of -NodeMajority, -NoWitness, -DiskWitness, -FileShareWitness, "
                              "-CloudWitness.", "InvalidArgument")
    mode = "NodeMajority" if modes[0] == "NoWitness" else modes[0]
    if mode != "CloudWitness" and any(p.get(k) for k in ("AccountName", "AccessKey", "Endpoint")):
        raise ManagementError("-AccountName, -AccessKey and -Endpoint go with -CloudWitness only.",
                              "InvalidArgument")
    spec = QuorumSpec(mode, path=p.get("DiskWitness") or "", share=p.get("FileShareWitness") or "",
                      username=p.get("UserName"), password=p.get("Password"),
                      account_name=p.get("AccountName") or "", access_key=p.get("AccessKey") or "",
                      endpoint=p.get("Endpoint"))
    svc = await ctx.service("cluster")
    return [await svc.set_quorum(spec)]
