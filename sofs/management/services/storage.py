"""Storage Spaces Direct cmdlets' service: disks, pool, volumes and repair jobs of the cluster's storage.

Two backends, chosen when the cluster was started (``cluster.json`` ``storage``):

- ``local`` (the embedded default): volumes are directories of this machine, reported as one copy
  (:mod:`sofs.storage.local`); Enable-ClusterStorageSpacesDirect and Mirror/Parity are refused.
- ``ceph`` (``sofs cluster up N --storage ceph``): the cluster's private Ceph (:mod:`sofs.storage.ceph_cluster`);
  every answer is read from Ceph (:mod:`sofs.storage.ceph_volumes`). Enabling S2D records the pool's
  name in the monitors' config-key store (``sofs/s2d/pool``); until then the OSDs show CanPool True
  and New-Volume has no pool to use.

Ceph calls are blocking (the ``ceph`` CLI): they run in a thread.
"""
from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from sofs.management.errors import ManagementError
from sofs.storage import ceph_volumes as cv
from sofs.storage import local
from sofs.storage.ceph_cluster import CephCluster, CephError
from sofs.storage.model import (
    PhysicalDisk,
    StorageJob,
    StoragePool,
    StorageRuleError,
    VirtualDisk,
    check_volume_name,
    resiliency,
)

T = TypeVar("T")
POOL_KEY = "sofs/s2d/pool"
FILE_SYSTEMS = ("CSVFS_ReFS", "CSVFS_NTFS", "ReFS", "NTFS")


def select_friendly(items: list[T], names: Sequence[str] | None, cim_class: str) -> list[T]:
    """The items whose FriendlyName matches one of ``names`` (wildcards, any case); all without names. As
    the Storage cmdlets: a literal name that matches nothing is an error, a wildcard that matches
    nothing selects nothing."""
    if not names:
        return items
    out: list[T] = []
    for n in names:
        hits = [x for x in items if fnmatch.fnmatchcase(str(getattr(x, "friendly_name", "")).lower(), n.lower())]
        if not hits and not any(c in n for c in "*?["):
            raise ManagementError(f"No {cim_class} objects found with property 'FriendlyName' equal to '{n}'.",
                                  "ObjectNotFound", n)
        out.extend(h for h in hits if h not in out)
    return out


class StorageService:
    """See the module docstring. ``state_dir`` is the cluster's state directory."""

    def __init__(self, state_dir: Path, backend: str, cluster_name: str, nodes: Sequence[str]) -> None:
        self.state_dir = Path(state_dir)
        self.backend = backend
        self.cluster_name = cluster_name
        self.nodes = list(nodes)
        self.volume_root = self.state_dir / "ClusterStorage"
        self.ceph = CephCluster(self.state_dir / "ceph") if backend == "ceph" else None

    async def close(self) -> None:
        return None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except StorageRuleError as e:
            raise ManagementError(str(e), "InvalidArgument") from None
        except CephError as e:
            raise ManagementError(str(e), "InvalidOperation") from None

    def _cluster(self) -> CephCluster:
        if self.ceph is None or not self.ceph.exists():
            raise ManagementError(local.NO_S2D, "InvalidOperation")
        return self.ceph

    def _pool_name(self) -> str | None:
        """The S2D pool's FriendlyName once Enable-ClusterStorageSpacesDirect ran, else None."""
        c = self._cluster()
        try:
            return c.ceph_text("config-key", "get", POOL_KEY) or None
        except CephError:
            return None

    # --- disks and pool ------------------------------------------------------------------------------
    async def enable_s2d(self, pool_friendly_name: str | None = None) -> StoragePool:
        """Enable-ClusterStorageSpacesDirect: claim every OSD into the pool ``S2D on <cluster>``."""
        if self.backend != "ceph":
            raise ManagementError(local.NO_S2D, "InvalidOperation")
        c = self._cluster()
        name = await self._call(self._pool_name)
        if name is not None:
            raise ManagementError(f"Storage Spaces Direct is already enabled (pool '{name}').", "ResourceExists", name)
        name = pool_friendly_name or f"S2D on {self.cluster_name}"
        await self._call(c.ceph_text, "config-key", "set", POOL_KEY, name)
        return await self._call(cv.storage_pool, c, name)

    async def get_physical_disks(self) -> list[PhysicalDisk]:
        if self.backend != "ceph":
            return await asyncio.to_thread(local.physical_disks, self.volume_root, self.nodes)
        c = self._cluster()
        disks = await self._call(cv.physical_disks, c)
        if await self._call(self._pool_name) is None:  # not claimed yet
            disks = [replace(d, can_pool=True) for d in disks]
        return disks

    async def get_storage_pools(self, friendly_name: Sequence[str] | None = None) -> list[StoragePool]:
        if self.backend != "ceph":
            pools = await asyncio.to_thread(local.storage_pools, self.volume_root)
        else:
            c = self._cluster()
            name = await self._call(self._pool_name)
            pools = [StoragePool(friendly_name="Primordial", is_primordial=True)]
            if name is not None:
                pools.append(await self._call(cv.storage_pool, c, name))
        return select_friendly(pools, friendly_name, "MSFT_StoragePool")

    # --- volumes -------------------------------------------------------------------------------------
    async def new_volume(self, friendly_name: str, size: int | None, resiliency_name: str | None,
                         storage_pool: str | None, file_system: str | None,
                         number_of_data_copies: int | None = None) -> VirtualDisk:
        """New-Volume: a pool-backed CSV at ``C:\\ClusterStorage\\<FriendlyName>``."""
        try:
            check_volume_name(friendly_name)
        except StorageRuleError as e:
            raise ManagementError(str(e), "InvalidArgument", friendly_name) from None
        if file_system is not None and file_system not in FILE_SYSTEMS:
            raise ManagementError(f"-FileSystem {file_system} is not supported ({', '.join(FILE_SYSTEMS)}).",
                                  "InvalidArgument", file_system)
        if self.backend != "ceph":
            if storage_pool is not None or number_of_data_copies not in (None, 1):
                raise ManagementError(local.NO_S2D, "InvalidOperation")
            return await self._call(local.create_volume, self.volume_root, friendly_name, resiliency_name or "Simple")
        c = self._cluster()
        pool = await self._call(self._pool_name)
        if pool is None:
            raise ManagementError("No storage pool: run Enable-ClusterStorageSpacesDirect first.", "ObjectNotFound")
        if storage_pool is not None and not fnmatch.fnmatchcase(pool.lower(), storage_pool.lower()):
            raise ManagementError(f"No MSFT_StoragePool objects found with property 'FriendlyName' equal to "
                                  f"'{storage_pool}'.", "ObjectNotFound", storage_pool)
        if size is None or size <= 0:
            raise ManagementError("-Size is required (e.g. -Size 100GB).", "InvalidArgument")
        try:
            res = resiliency(resiliency_name or "Mirror", c.plan().fault_domains, number_of_data_copies)
        except StorageRuleError as e:
            raise ManagementError(str(e), "InvalidArgument", resiliency_name or "") from None
        return await self._call(cv.create_volume, c, self.volume_root, friendly_name, size, res)

    async def get_virtual_disks(self, friendly_name: Sequence[str] | None = None) -> list[VirtualDisk]:
        if self.backend != "ceph":
            disks = await asyncio.to_thread(local.virtual_disks, self.volume_root)
        else:
            disks = await self._call(cv.virtual_disks, self._cluster())
        return select_friendly(disks, friendly_name, "MSFT_VirtualDisk")

    async def _existing(self, name: str) -> VirtualDisk:
        return (await self.get_virtual_disks([name]))[0]

    async def resize_virtual_disk(self, friendly_name: str, size: int) -> VirtualDisk:
        vd = await self._existing(friendly_name)
        if self.backend != "ceph":
            raise ManagementError(f"'{vd.friendly_name}' is a local directory: its size is the file system's.",
                                  "InvalidOperation", friendly_name)
        return await self._call(cv.resize_volume, self._cluster(), vd.friendly_name, size)

    async def remove_virtual_disk(self, friendly_name: str, shares: Sequence[Any] = ()) -> None:
        """Remove-VirtualDisk: refused while a share uses the volume (sofs never prompts)."""
        vd = await self._existing(friendly_name)
        prefix = vd.path.lower() + "\\"
        users = [s.name for s in shares if (s.path.lower() + "\\").startswith(prefix)]
        if users:
            raise ManagementError(f"The volume '{vd.friendly_name}' is in use by share(s) {', '.join(users)}; remove "
                                  "them first.", "InvalidOperation", friendly_name)
        if self.backend != "ceph":
            raise ManagementError(f"'{vd.friendly_name}' is a local directory; sofs does not delete it.",
                                  "InvalidOperation", friendly_name)
        await self._call(cv.remove_volume, self._cluster(), self.volume_root, vd.friendly_name)

    async def get_storage_jobs(self) -> list[StorageJob]:
        if self.backend != "ceph":
            return []  # one copy: nothing is ever repaired
        return await self._call(cv.storage_jobs, self._cluster())
