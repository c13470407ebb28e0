"""The drill as a management service: finds the share, the nodes and their processes, runs, reports."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sofs.cluster.config import ClusterConfig, load_cluster_config
from sofs.management.drill.run import DrillResult, DrillSpec, report_html, run_drill
from sofs.management.errors import ManagementError


def share_volume(path: str) -> str:
    """The cluster shared volume a share's path lies on (``C:\\ClusterStorage\\<Volume>\\...`` or a
    POSIX path under ``.../ClusterStorage/<Volume>/``), or "" when it is on none."""
    parts = [x for x in path.replace("\\", "/").split("/") if x]
    low = [x.lower() for x in parts]
    i = low.index("clusterstorage") if "clusterstorage" in low else -1
    return parts[i + 1] if 0 <= i < len(parts) - 1 else ""


class DrillService:
    def __init__(self, cfg: ClusterConfig, cluster: Any, shares: Any) -> None:
        self.cfg = cfg
        self.cluster = cluster
        self.shares = shares

    async def close(self) -> None:
        await self.cluster.close()

    async def run(self, share: str, events: list[str], *, user: str, password: str, node: str | None, vms: int,
                  size: int, warmup_s: float, after_s: float, report: str,
                  progress: Callable[[str], None]) -> list[DrillResult]:
        info = (await self.shares.get_shares([share]))[0]
        if not info.continuously_available:
            raise ManagementError(f"The share '{share}' is not continuously available: the drill needs a CA "
                                  "share (New-SmbShare -ContinuouslyAvailable $true).", "InvalidArgument", share)
        nodes = await self.cluster.get_nodes()
        ports = {n.smb_port for n in nodes}
        if len(ports) != 1:
            raise ManagementError("The nodes listen on different SMB ports; the drill needs one.", "InvalidOperation")

        def pids() -> dict[str, int]:
            cfg = load_cluster_config(self.cfg.state_dir)
            return {n: p.pid for n, p in (cfg.nodes if cfg else {}).items()}
        with tempfile.TemporaryDirectory(prefix="sofs-drill-") as work:
            spec = DrillSpec(self.cfg.state_dir, info.name, Path(self.shares.local_path(info.path)),
                             share_volume(info.path),
                             {n.name: n.address for n in nodes}, pids, ports.pop(), user, password, vms, size,
                             warmup_s, after_s, node, Path(work), progress)
            results = await run_drill(spec, self.cluster, events)
        Path(report).write_text(report_html(results, f"Failover drill on {self.cfg.name}: share {info.name}"))
        return results
