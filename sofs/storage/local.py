"""The embedded default: volumes are directories of this machine (``<state dir>/ClusterStorage/<name>``).

Reported as they are: one disk (the file system holding the state directory), no Storage Spaces
Direct pool, every volume a single copy (ResiliencySettingName ``Simple``, NumberOfDataCopies 1,
FaultDomainRedundancy 0). Mirror and Parity are refused with the command that gives them
(``sofs cluster up N --storage ceph``).
"""
from __future__ import annotations

import os
from pathlib import Path

from sofs.storage.model import PhysicalDisk, StoragePool, StorageRuleError, VirtualDisk, check_volume_name

MOUNT_FILE = ".sofs-mount.json"
NO_S2D = ("This cluster keeps its volumes in local directories (one copy, no mirror): Storage Spaces Direct needs "
          "a cluster started with `sofs cluster up N --storage ceph`.")


def _fs_sizes(path: Path) -> tuple[int, int]:
    sv = os.statvfs(path)
    unit = sv.f_frsize or sv.f_bsize
    return sv.f_blocks * unit, (sv.f_blocks - sv.f_bfree) * unit


def physical_disks(volume_root: Path, node_names: list[str]) -> list[PhysicalDisk]:
    """The one file system every embedded node uses (they share this machine)."""
    volume_root.mkdir(parents=True, exist_ok=True)
    size, used = _fs_sizes(volume_root)
    st = os.stat(volume_root)
    return [PhysicalDisk(device_id="0", friendly_name=f"local file system (device {st.st_dev:#x})",
                         storage_node=",".join(node_names), bus_type="File System", can_pool=False,
                         usage="Auto-Select", size=size, allocated_size=used)]


def storage_pools(volume_root: Path) -> list[StoragePool]:
    """Only the primordial pool: the local disk is not pooled."""
    volume_root.mkdir(parents=True, exist_ok=True)
    size, used = _fs_sizes(volume_root)
    return [StoragePool(friendly_name="Primordial", is_primordial=True, size=size, allocated_size=used,
                        resiliency_setting_name_default="Simple")]


def _local_volumes(volume_root: Path) -> list[Path]:
    if not volume_root.is_dir():
        return []
    return sorted(p for p in volume_root.iterdir() if p.is_dir() and not (p / MOUNT_FILE).exists())


def virtual_disks(volume_root: Path) -> list[VirtualDisk]:
    out = []
    for p in _local_volumes(volume_root):
        size, used = _fs_sizes(p)
        out.append(VirtualDisk(friendly_name=p.name, resiliency_setting_name="Simple", number_of_data_copies=1,
                               fault_domain_redundancy=0, size=size, footprint_on_pool=used, allocated_size=used,
                               path=f"C:\\ClusterStorage\\{p.name}"))
    return out


def create_volume(volume_root: Path, name: str, resiliency_name: str) -> VirtualDisk:
    """A directory volume; only ``Simple`` (one copy) is possible here."""
    check_volume_name(name)
    if resiliency_name.lower() != "simple":
        raise StorageRuleError(f"-ResiliencySettingName {resiliency_name}: {NO_S2D}")
    path = volume_root / name
    if path.exists():
        raise StorageRuleError(f"A volume named '{name}' already exists.")
    path.mkdir(parents=True)
    return next(v for v in virtual_disks(volume_root) if v.friendly_name == name)
