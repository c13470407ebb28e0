"""Volumes of the Ceph-backed storage: one Ceph pool + one CephFS subvolume per volume.

``New-Volume -FriendlyName Volume1 -Size 100GB -ResiliencySettingName Mirror`` becomes: a pool
``sofs.Volume1`` (replicated, ``size`` = copies; or erasure-coded k=2 m=1 with overwrites for
Parity), added as a data pool of the file system, and the subvolume ``Volume1`` (the CephFS
subvolume API that OpenStack Manila uses: a directory with its data pool layout and a quota of
``-Size``). Ceph is the record: every query reads Ceph's state (``fs subvolume ls/info``, ``osd pool
ls detail``, ``pg ls-by-pool``, ``osd df``); sofs keeps no copy of it.

Each volume is mounted on the nodes by its mount descriptor at ``<state dir>/ClusterStorage/<name>``
(:mod:`sofs.vfs.mounts` reads it): the SMB server then serves ``C:\\ClusterStorage\\<name>\\...`` from
the subvolume through libcephfs.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from sofs.storage.ceph_cluster import CephCluster, CephError
from sofs.storage.ceph_conf import CLIENT, FS_NAME
from sofs.storage.model import (
    PhysicalDisk,
    Resiliency,
    StorageJob,
    StoragePool,
    VirtualDisk,
    disk_status,
    pool_name,
    repair_job,
    volume_health,
)

PGS_PER_VOLUME = 8
EC_PROFILE = "sofs-k{k}m{m}"
MOUNT_FILE = ".sofs-mount.json"  # the contract of sofs.vfs.mounts (storage may not import vfs)


def physical_disks(c: CephCluster) -> list[PhysicalDisk]:
    """One disk per OSD: its node, size and use from ``osd df``, health from up/in."""
    daemons = {d.id: d for d in c.plan().of_kind("osd")}
    df = {n["id"]: n for n in c.ceph("osd", "df")["nodes"]}
    dump = {o["osd"]: o for o in c.ceph("osd", "dump")["osds"]}
    out = []
    for oid, d in sorted(daemons.items(), key=lambda kv: int(kv[0])):
        o, n = dump.get(int(oid), {}), df.get(int(oid), {})
        health, op = disk_status(bool(o.get("up")), bool(o.get("in")))
        out.append(PhysicalDisk(device_id=oid, friendly_name=f"osd.{oid}", storage_node=d.node,
                                serial_number=str(o.get("uuid", "")), can_pool=False, operational_status=op,
                                health_status=health, usage="Auto-Select", size=int(n.get("kb", 0)) * 1024,
                                allocated_size=int(n.get("kb_used", 0)) * 1024))
    return out


def storage_pool(c: CephCluster, name: str) -> StoragePool:
    s = c.status()
    pm = s["pgmap"]
    health = {"HEALTH_OK": "Healthy", "HEALTH_WARN": "Warning"}.get(s["health"]["status"], "Unhealthy")
    return StoragePool(friendly_name=name, operational_status="OK" if health != "Unhealthy" else "Degraded",
                       health_status=health, size=int(pm.get("bytes_total", 0)),
                       allocated_size=int(pm.get("bytes_used", 0)))


def _pools(c: CephCluster) -> dict[str, dict[str, Any]]:
    return {p["pool_name"]: p for p in c.ceph("osd", "pool", "ls", "detail")}


def volume_names(c: CephCluster) -> list[str]:
    return sorted(v["name"] for v in c.ceph("fs", "subvolume", "ls", FS_NAME) or [])


def _resiliency_of(pool: dict[str, Any]) -> tuple[str, int, int]:
    """(ResiliencySettingName, NumberOfDataCopies, FaultDomainRedundancy) of a Ceph pool."""
    if pool.get("erasure_code_profile") and pool.get("type") == 3:
        size = int(pool.get("size", 3))
        return "Parity", 1, size - int(pool.get("min_size", size))
    size = int(pool.get("size", 1))
    return "Mirror", size, size - 1


def _pg_stats(c: CephCluster, pool: str) -> list[dict[str, Any]]:
    out = c.ceph("pg", "ls-by-pool", pool)
    return list(out.get("pg_stats", []) if isinstance(out, dict) else out or [])


def virtual_disk(c: CephCluster, name: str, pools: dict[str, dict[str, Any]] | None = None) -> VirtualDisk:
    info = c.ceph("fs", "subvolume", "info", FS_NAME, name)
    pools = pools if pools is not None else _pools(c)
    pool = pools.get(info.get("data_pool", ""), {})
    res, copies, redundancy = _resiliency_of(pool)
    stats = _pg_stats(c, pool.get("pool_name", pool_name(name)))
    health, op = volume_health([str(p.get("state", "")) for p in stats], int(pool.get("pg_num", 0)))
    used = int(info.get("bytes_used", 0))
    quota = info.get("bytes_quota")
    factor = copies if res == "Mirror" else 1.5
    return VirtualDisk(friendly_name=name, resiliency_setting_name=res, number_of_data_copies=copies,
                       fault_domain_redundancy=redundancy, operational_status=op, health_status=health,
                       size=int(quota) if isinstance(quota, int) else 0, footprint_on_pool=int(used * factor),
                       allocated_size=used, path=f"C:\\ClusterStorage\\{name}", pool_name=str(pool.get("pool_name", "")))


def virtual_disks(c: CephCluster) -> list[VirtualDisk]:
    pools = _pools(c)
    return [virtual_disk(c, n, pools) for n in volume_names(c)]


def storage_jobs(c: CephCluster) -> list[StorageJob]:
    jobs = []
    for name in volume_names(c):
        info = c.ceph("fs", "subvolume", "info", FS_NAME, name)
        job = repair_job(name, _pg_stats(c, str(info.get("data_pool", pool_name(name)))))
        if job is not None:
            jobs.append(job)
    return jobs


def create_volume(c: CephCluster, volume_root: Path, name: str, size: int, res: Resiliency) -> VirtualDisk:
    """The pool, the subvolume with its quota, and the mount descriptor (see the module docstring)."""
    if name in volume_names(c):
        raise CephError(f"A virtual disk named '{name}' already exists.")
    pool = pool_name(name)
    if res.name == "Parity":
        profile = EC_PROFILE.format(k=res.ec_k, m=res.ec_m)
        c.ceph("osd", "erasure-code-profile", "set", profile, f"k={res.ec_k}", f"m={res.ec_m}",
               f"crush-failure-domain={c.plan().failure_domain}")
        c.ceph("osd", "pool", "create", pool, str(PGS_PER_VOLUME), str(PGS_PER_VOLUME), "erasure", profile)
        c.ceph("osd", "pool", "set", pool, "allow_ec_overwrites", "true")
    else:
        c.ceph("osd", "pool", "create", pool, str(PGS_PER_VOLUME), str(PGS_PER_VOLUME), "replicated")
        c.ceph("osd", "pool", "set", pool, "size", str(res.copies), "--yes-i-really-mean-it")
        c.ceph("osd", "pool", "set", pool, "min_size", str(max(1, res.copies - 1)))
    c.ceph("fs", "add_data_pool", FS_NAME, pool)
    c.ceph("fs", "subvolume", "create", FS_NAME, name, "--size", str(size), "--pool_layout", pool)
    path = c.ceph_text("fs", "subvolume", "getpath", FS_NAME, name)
    if not path.startswith("/"):
        raise CephError(f"fs subvolume getpath {name}: unexpected answer {path!r}")
    write_mount(volume_root / name, c, path)
    return wait_active(c, name)


def wait_active(c: CephCluster, name: str, timeout: float = 60.0) -> VirtualDisk:
    """The new volume once every PG of its pool serves I/O (peering takes a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        vd = virtual_disk(c, name)
        if vd.operational_status not in ("Starting", "Detached") or time.monotonic() > deadline:
            return vd
        time.sleep(0.5)


def write_mount(directory: Path, c: CephCluster, root: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"backend": "cephfs", "conf": str(c.conf), "client": CLIENT, "keyring": str(c.client_keyring),
           "fs": FS_NAME, "root": root}
    tmp = directory / (MOUNT_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / MOUNT_FILE)


def resize_volume(c: CephCluster, name: str, size: int) -> VirtualDisk:
    """A new quota; refused below the bytes in use (``--no_shrink`` is not passed: shrinking is allowed
    down to the used size, as Resize-VirtualDisk is for ReFS volumes that fit)."""
    used = int(c.ceph("fs", "subvolume", "info", FS_NAME, name).get("bytes_used", 0))
    if size < used:
        raise CephError(f"'{name}' holds {used} bytes; it cannot shrink to {size}.")
    c.ceph("fs", "subvolume", "resize", FS_NAME, name, str(size))
    return virtual_disk(c, name)


def remove_volume(c: CephCluster, volume_root: Path, name: str) -> None:
    """Delete the subvolume (its data), its pool and its mount point."""
    info = c.ceph("fs", "subvolume", "info", FS_NAME, name)
    pool = str(info.get("data_pool", pool_name(name)))
    c.ceph("fs", "subvolume", "rm", FS_NAME, name, "--force")
    if pool.startswith("sofs."):
        c.ceph("fs", "rm_data_pool", FS_NAME, pool)
        c.ceph("osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it")
    mount = volume_root / name
    (mount / MOUNT_FILE).unlink(missing_ok=True)
    shutil.rmtree(mount, ignore_errors=True)
