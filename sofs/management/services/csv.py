"""Cluster Shared Volumes: ``Get-ClusterSharedVolume``, ``Move-ClusterSharedVolume``,
``Get-ClusterSharedVolumeState``.

A cluster shared volume is the cluster group ``Cluster Virtual Disk (<Volume>)`` (type
VolumeCoordinator): its owner node is the volume's coordinator, which holds every open, share mode,
lease, lock and persistent handle of the volume for the clients of all nodes. Moving the volume moves
the coordinator (a new epoch; the new one replays the journal, the nodes re-register their opens).
Each node publishes how it reaches each volume under ``<prefix>csvstate/<node>`` (sofs nodes always
do I/O directly on the volume: Direct when they can reach it, Unavailable with the reason when not;
there is no redirected mode).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sofs.management.errors import ManagementError
from sofs.management.services.models import ClusterSharedVolumeInfo, ClusterSharedVolumeStateInfo

CSV_PREFIX = "Cluster Virtual Disk ("
VOLUME_COORDINATOR = "VolumeCoordinator"


def csv_state_key(prefix: str, node: str) -> str:
    return f"{prefix}csvstate/{node}"


def volume_name(group: str) -> str:
    return group[len(CSV_PREFIX):-1] if group.startswith(CSV_PREFIX) and group.endswith(")") else group


def _match(names: Sequence[str] | None, csv: ClusterSharedVolumeInfo) -> bool:
    if not names:
        return True
    wanted = {n.lower() for n in names}
    return csv.name.lower() in wanted or volume_name(csv.name).lower() in wanted


class CsvService:
    """The CSV view of the cluster service (same store and client)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    async def get_csvs(self, names: Sequence[str] | None = None) -> list[ClusterSharedVolumeInfo]:
        out = [ClusterSharedVolumeInfo(g.name, g.state, g.owner_node,
                                       "C:\\ClusterStorage\\" + volume_name(g.name), g.epoch)
               for g in await self.cluster.get_groups() if g.group_type == VOLUME_COORDINATOR]
        found = [c for c in out if _match(names, c)]
        if names and not found:
            raise ManagementError(f"The cluster shared volume '{', '.join(names)}' was not found.",
                                  "ObjectNotFound", ", ".join(names))
        return found

    async def move_csv(self, name: str, node: str | None) -> ClusterSharedVolumeInfo:
        """Move the volume's coordinator to ``node`` (or the best other Up node)."""
        csv = (await self.get_csvs([name]))[0]
        await self.cluster.move_group(csv.name, node)
        return (await self.get_csvs([csv.name]))[0]

    async def get_states(self, names: Sequence[str] | None = None,
                         nodes: Sequence[str] | None = None) -> list[ClusterSharedVolumeStateInfo]:
        csvs = await self.get_csvs(names)
        store, prefix = self.cluster.client.store, self.cluster.client.keys.prefix
        all_nodes = [n.name for n in await self.cluster.get_nodes(list(nodes) if nodes else None)]
        out = []
        for n in all_nodes:
            raw = await store.get(csv_state_key(prefix, n))
            doc: dict[str, Any] = {}
            if raw is not None:
                try:
                    doc = json.loads(getattr(raw, "value", raw))
                except (ValueError, TypeError):
                    doc = {}
            for c in csvs:
                vol = volume_name(c.name)
                st = doc.get(vol.lower()) or {}
                state = str(st.get("state") or "Unavailable")
                reason = str(st.get("reason") or ("the node has not reported the volume" if not st else ""))
                out.append(ClusterSharedVolumeStateInfo(c.name, n, state, vol, c.volume, reason=reason))
        return out
