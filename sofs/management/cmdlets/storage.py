"""Storage cmdlets: Enable-ClusterStorageSpacesDirect, Get-PhysicalDisk, Get-StoragePool, New-Volume,
Get-VirtualDisk, Resize-VirtualDisk, Remove-VirtualDisk, Get-StorageJob (service: ``services.storage``)."""
from __future__ import annotations

from typing import Any

from sofs.management.cmdlets.base import Context, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T

FORCE = ParamSpec("Force", T.SWITCH, help="sofs never prompts")
CONFIRM = ParamSpec("Confirm", T.BOOL, help="only -Confirm:$false: sofs never prompts")
FRIENDLY = ParamSpec("FriendlyName", T.STRING_LIST, position=0, from_pipeline_by_name=True)
ONE_FRIENDLY = ParamSpec("FriendlyName", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True)


NO_PROMPT = "sofs never prompts: -Confirm:$true is not supported."


@cmdlet("Enable-ClusterStorageSpacesDirect", ParamSpec("PoolFriendlyName", T.STRING), CONFIRM, FORCE)
async def enable_s2d(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Claim the nodes' disks (Ceph OSDs) into the Storage Spaces Direct pool."""
    if p.get("Confirm"):
        raise ManagementError(NO_PROMPT, "InvalidArgument")
    svc = await ctx.service("storage")
    return [await svc.enable_s2d(p.get("PoolFriendlyName"))]


@cmdlet("Get-PhysicalDisk", ParamSpec("FriendlyName", T.STRING_LIST, position=0))
async def get_physical_disk(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """The disks of every node (Ceph OSDs), with node, size, health and usage."""
    from sofs.management.services.storage import select_friendly

    svc = await ctx.service("storage")
    return select_friendly(list(await svc.get_physical_disks()), p.get("FriendlyName"), "MSFT_PhysicalDisk")


@cmdlet("Get-StoragePool", FRIENDLY, ParamSpec("IsPrimordial", T.BOOL))
async def get_storage_pool(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """The storage pools (Primordial, and the S2D pool once enabled)."""
    svc = await ctx.service("storage")
    pools = list(await svc.get_storage_pools(p.get("FriendlyName")))
    if "IsPrimordial" in p:
        pools = [x for x in pools if x.is_primordial == bool(p["IsPrimordial"])]
    return pools


@cmdlet("New-Volume", ParamSpec("FriendlyName", T.STRING, mandatory=True),
        ParamSpec("FileSystem", T.STRING), ParamSpec("StoragePoolFriendlyName", T.STRING),
        ParamSpec("Size", T.UINT64), ParamSpec("ResiliencySettingName", T.STRING, choices=("Mirror", "Parity", "Simple")),
        ParamSpec("NumberOfDataCopies", T.INT), ParamSpec("PhysicalDiskRedundancy", T.INT))
async def new_volume(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Create a volume (a Cluster Shared Volume at C:\\ClusterStorage\\<FriendlyName>)."""
    copies = p.get("NumberOfDataCopies")
    if "PhysicalDiskRedundancy" in p:
        red = int(p["PhysicalDiskRedundancy"])
        if copies is not None and int(copies) != red + 1:
            raise ManagementError("-NumberOfDataCopies and -PhysicalDiskRedundancy disagree.", "InvalidArgument")
        kind = (p.get("ResiliencySettingName") or "Mirror").lower()
        if kind == "mirror":
            copies = red + 1
        elif kind == "parity" and red != 1:
            raise ManagementError("Parity here tolerates one failure (-PhysicalDiskRedundancy 1).", "InvalidArgument")
        elif kind == "simple" and red != 0:
            raise ManagementError("A Simple volume keeps one copy: it tolerates no failure (-PhysicalDiskRedundancy "
                                  "0).", "InvalidArgument")
    svc = await ctx.service("storage")
    return [await svc.new_volume(p["FriendlyName"], p.get("Size"), p.get("ResiliencySettingName"),
                                 p.get("StoragePoolFriendlyName"), p.get("FileSystem"),
                                 int(copies) if copies is not None else None)]


@cmdlet("Get-VirtualDisk", FRIENDLY)
async def get_virtual_disk(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """The volumes with their resiliency and Ceph's health (Healthy, Degraded, InService while repairing)."""
    svc = await ctx.service("storage")
    return list(await svc.get_virtual_disks(p.get("FriendlyName")))


@cmdlet("Resize-VirtualDisk", ONE_FRIENDLY, ParamSpec("Size", T.UINT64, mandatory=True))
async def resize_virtual_disk(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Change a volume's size (its quota on the pool)."""
    svc = await ctx.service("storage")
    return [await svc.resize_virtual_disk(p["FriendlyName"], int(p["Size"]))]


@cmdlet("Remove-VirtualDisk", ONE_FRIENDLY, CONFIRM, FORCE)
async def remove_virtual_disk(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Delete a volume and its data (refused while a share uses it; sofs never prompts)."""
    if p.get("Confirm"):
        raise ManagementError(NO_PROMPT, "InvalidArgument")
    svc = await ctx.service("storage")
    shares = await (await ctx.service("shares")).get_shares()
    await svc.remove_virtual_disk(p["FriendlyName"], shares)
    return []


@cmdlet("Get-StorageJob")
async def get_storage_job(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Running repairs (Ceph recovery/backfill of a volume's pool) with their progress."""
    svc = await ctx.service("storage")
    return list(await svc.get_storage_jobs())
