"""Get-ClusterSharedVolume, Move-ClusterSharedVolume, Get-ClusterSharedVolumeState."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T
from sofs.management.services.csv import CsvService


async def _svc(ctx: Context) -> CsvService:
    return CsvService(await ctx.service("cluster"))


@cmdlet("Get-ClusterSharedVolume", ParamSpec("Name", T.STRING_LIST, position=0, from_pipeline_by_name=True))
async def get_cluster_shared_volume(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """List cluster shared volumes (Name, State, Node: the volume's coordinator)."""
    return list(await (await _svc(ctx)).get_csvs(p.get("Name")))


@cmdlet("Move-ClusterSharedVolume",
        ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True),
        ParamSpec("Node", T.STRING, position=1))
async def move_cluster_shared_volume(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Move a volume's coordinator to another node (or the best other Up node without -Node)."""
    return [await (await _svc(ctx)).move_csv(p["Name"], p.get("Node"))]


@cmdlet("Get-ClusterSharedVolumeState",
        ParamSpec("Name", T.STRING_LIST, position=0, from_pipeline_by_name=True),
        ParamSpec("Node", T.STRING_LIST))
async def get_cluster_shared_volume_state(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Per node and volume: Direct (I/O straight to the volume) or Unavailable, with the reason."""
    return list(await (await _svc(ctx)).get_states(p.get("Name"), p.get("Node")))
