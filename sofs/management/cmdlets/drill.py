"""Invoke-ClusterFailoverDrill: a Hyper-V-like workload through a CA share while nodes fail
(``sofs.management.drill.run``)."""
from __future__ import annotations

import time
from typing import Any

from sofs.management.cmdlets.base import Context, Rendered, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T


@cmdlet("Invoke-ClusterFailoverDrill",
        ParamSpec("Share", T.STRING, mandatory=True, position=0, help="a continuously available share"),
        ParamSpec("Event", T.STRING_LIST, help="Kill, Drain, LiveMigration, LiveMigrationOtherNode, VolumeMove (default: "
                                                 "all)"),
        ParamSpec("Node", T.STRING, help="the node to kill or drain, or to move the volume to (default: the first VM's node; "
                                           "for VolumeMove another node than its coordinator)"),
        ParamSpec("VMCount", T.INT, help="VM processes per event (default 2)"),
        ParamSpec("VMSize", T.UINT64, help="size of each VM's preallocated file (default 8MB)"),
        ParamSpec("User", T.STRING, mandatory=True, help="the SMB account the VMs log on with"),
        ParamSpec("Password", T.STRING, mandatory=True),
        ParamSpec("WarmupSeconds", T.INT, help="I/O before the event (default 3)"),
        ParamSpec("RunSeconds", T.INT, help="I/O after the event (default 6)"),
        ParamSpec("ReportName", T.STRING, help="HTML report path (default ./FailoverDrill-<time>.htm)"))
async def invoke_cluster_failover_drill(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Run VMs on a CA share through node failures and a live migration; writes an HTML report."""
    svc = await ctx.service("drill")
    events = p.get("Event") or ["Kill", "Drain", "LiveMigration", "LiveMigrationOtherNode", "VolumeMove"]
    report = p.get("ReportName") or f"{ctx.cwd}/FailoverDrill-{time.strftime('%Y.%m.%d-%H.%M.%S')}.htm"
    results = await svc.run(p["Share"], events, user=p["User"], password=p["Password"], node=p.get("Node"),
                            vms=p.get("VMCount", 2), size=p.get("VMSize", 8 << 20), warmup_s=p.get("WarmupSeconds", 3),
                            after_s=p.get("RunSeconds", 6), report=report,
                            progress=lambda m: (ctx.stderr.write(f"drill: {m}\n"), ctx.stderr.flush()))
    return [*results, Rendered(f"Failover drill report: {report}\n")]
