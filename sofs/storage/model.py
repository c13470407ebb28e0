"""Storage Spaces Direct objects as sofs reports them, and the pure rules that derive them from Ceph's state.

The records carry the MSFT_PhysicalDisk / MSFT_StoragePool / MSFT_VirtualDisk / MSFT_StorageJob
properties sofs fills (Windows Storage Management API); the functions below turn what Ceph reports
(``ceph osd df``, ``ceph pg ls-by-pool``) into HealthStatus / OperationalStatus, so the cmdlets
show Ceph's real state. No I/O here: tests drive them with tables.

Mapping: a physical disk is an OSD; the S2D pool is the set of OSDs; a virtual disk (volume) is a
Ceph pool of its own (replicated ``size`` = NumberOfDataCopies for Mirror, erasure-coded k=2 m=1
for Parity) holding the data of the CephFS directory ``/volumes/<FriendlyName>``, whose quota is the
volume's size; a storage job is the repair (recovery/backfill) of a volume's pool.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
POOL_PREFIX = "sofs."
ACTIVE_CLEAN = "active+clean"
# PG state words meaning "copies missing or being rebuilt" / "no copy can serve I/O"
_DEGRADED = ("degraded", "undersized", "recovering", "recovery_wait", "backfilling", "backfill_wait",
             "remapped", "peering")
_REPAIRING = ("recovering", "recovery_wait", "backfilling", "backfill_wait")
_DOWN = ("down", "incomplete", "stale", "inactive", "unknown")


@dataclass(frozen=True, slots=True)
class PhysicalDisk:
    """``Get-PhysicalDisk``."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("device_id", "friendly_name", "storage_node", "can_pool",
                                           "operational_status", "health_status", "usage", "size")
    device_id: str
    friendly_name: str
    storage_node: str
    serial_number: str = ""
    media_type: str = "Unspecified"
    bus_type: str = "File Backed Virtual"
    can_pool: bool = False
    operational_status: str = "OK"
    health_status: str = "Healthy"
    usage: str = "Auto-Select"
    size: int = 0
    allocated_size: int = 0


@dataclass(frozen=True, slots=True)
class StoragePool:
    """``Get-StoragePool``."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("friendly_name", "operational_status", "health_status",
                                           "is_primordial", "is_read_only", "size", "allocated_size")
    friendly_name: str
    operational_status: str = "OK"
    health_status: str = "Healthy"
    is_primordial: bool = False
    is_read_only: bool = False
    size: int = 0
    allocated_size: int = 0
    resiliency_setting_name_default: str = "Mirror"


@dataclass(frozen=True, slots=True)
class VirtualDisk:
    """``Get-VirtualDisk`` (and what ``New-Volume`` returns, with ``file_system_label``)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("friendly_name", "resiliency_setting_name", "fault_domain_redundancy",
                                           "operational_status", "health_status", "size", "footprint_on_pool")
    friendly_name: str
    resiliency_setting_name: str
    number_of_data_copies: int
    fault_domain_redundancy: int
    operational_status: str = "OK"
    health_status: str = "Healthy"
    size: int = 0
    footprint_on_pool: int = 0
    allocated_size: int = 0
    path: str = ""  # C:\ClusterStorage\<FriendlyName>
    pool_name: str = ""  # the Ceph pool holding the data ("" for a local directory)


@dataclass(frozen=True, slots=True)
class StorageJob:
    """``Get-StorageJob``: the repair of one volume."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "is_background_task", "job_state", "percent_complete",
                                           "bytes_processed", "bytes_total")
    name: str
    is_background_task: bool = True
    job_state: str = "Running"
    percent_complete: int = 0
    bytes_processed: int = 0
    bytes_total: int = 0


@dataclass(frozen=True, slots=True)
class Resiliency:
    """How a volume keeps its data: a replicated pool of ``copies`` or an erasure-coded k+m pool."""

    name: str  # Mirror | Parity | Simple
    copies: int  # NumberOfDataCopies (Parity: 1, as Windows reports it)
    fault_domain_redundancy: int
    ec_k: int = 0
    ec_m: int = 0


class StorageRuleError(ValueError):
    """A request the storage cannot carry out; the message says why (shown as the cmdlet's error)."""


def resiliency(name: str, disks: int, copies: int | None = None) -> Resiliency:
    """The layout for ``-ResiliencySettingName`` over ``disks`` fault domains (nodes, or OSDs on one or
    two machines) ([S2D]: three-way mirror by default with 3+ fault domains, two-way with 2; parity
    needs 3+)."""
    key = name.lower()
    if key == "mirror":
        want = copies if copies is not None else (3 if disks >= 3 else 2)
        if want not in (2, 3):
            raise StorageRuleError("NumberOfDataCopies of a mirror is 2 or 3.")
        if disks < want:
            raise StorageRuleError(f"A {want}-way mirror needs {want} fault domains; the pool has {disks}.")
        return Resiliency("Mirror", want, want - 1)
    if key == "parity":
        if copies not in (None, 1):
            raise StorageRuleError("Parity keeps one copy of the data plus parity (NumberOfDataCopies 1).")
        if disks < 3:
            raise StorageRuleError(f"Parity needs at least 3 fault domains; the pool has {disks}.")
        return Resiliency("Parity", 1, 1, ec_k=2, ec_m=1)
    if key == "simple":
        raise StorageRuleError("Storage Spaces Direct volumes are resilient: use Mirror or Parity.")
    raise StorageRuleError(f"Unknown resiliency setting '{name}' (Mirror or Parity).")


def pool_name(volume: str) -> str:
    return POOL_PREFIX + volume


def check_volume_name(name: str) -> None:
    if not VOLUME_NAME.match(name):
        raise StorageRuleError(f"'{name}' is not a valid FriendlyName for a volume (letters, digits, '.', '-', '_'; "
                               "at most 64).")


def volume_health(pg_states: list[str], expected_pgs: int) -> tuple[str, str]:
    """(HealthStatus, OperationalStatus) of a volume from the states of its pool's PGs.

    All active+clean → Healthy/OK. A PG with no serving copy → Unhealthy/Detached (I/O stops). Copies
    missing while repair runs → Warning/InService; copies missing, nothing running → Warning/Degraded.
    No PG stats yet, or PGs still being created (a new pool) → Warning/Starting.
    """
    if not pg_states or len(pg_states) < expected_pgs:
        return "Warning", "Starting"
    words = [set(s.split("+")) for s in pg_states]
    if any("creating" in w for w in words):
        return "Warning", "Starting"
    if any(w & set(_DOWN) or "active" not in w for w in words):
        return "Unhealthy", "Detached"
    if all(s == ACTIVE_CLEAN for s in pg_states):
        return "Healthy", "OK"
    if any(w & set(_REPAIRING) for w in words):
        return "Warning", "InService"
    if any(w & set(_DEGRADED) for w in words):
        return "Warning", "Degraded"
    return "Healthy", "OK"  # e.g. active+clean+scrubbing


def disk_status(up: bool, in_: bool) -> tuple[str, str]:
    """(HealthStatus, OperationalStatus) of an OSD as a physical disk."""
    if up and in_:
        return "Healthy", "OK"
    if in_:
        return "Warning", "Lost Communication"
    return "Unhealthy", "Removing From Pool" if up else "Lost Communication"


def repair_job(volume: str, pg_stats: list[dict[str, Any]]) -> StorageJob | None:
    """The repair job of a volume from ``ceph pg ls-by-pool`` entries, or None when nothing is missing.

    Progress counts object copies: total = objects × copies the pool wants, missing = degraded +
    misplaced copies; BytesTotal/BytesProcessed scale the pool's bytes by that ratio.
    """
    total = missing = nbytes = 0
    for pg in pg_stats:
        s = pg.get("stat_sum", {})
        copies = max(1, len(pg.get("acting", [])) or 1)
        want = int(s.get("num_objects", 0)) * max(copies, len(pg.get("up", [])) or copies)
        total += want
        missing += int(s.get("num_objects_degraded", 0)) + int(s.get("num_objects_misplaced", 0))
        nbytes += int(s.get("num_bytes", 0))
    states = [str(pg.get("state", "")) for pg in pg_stats]
    if missing == 0 and all(st == ACTIVE_CLEAN for st in states):
        return None
    done = max(0, total - missing)
    pct = int(100 * done / total) if total else 0
    running = any(set(st.split("+")) & set(_REPAIRING) for st in states)
    return StorageJob(f"{volume}-Repair", True, "Running" if running else "Suspended", min(pct, 99),
                      int(nbytes * done / total) if total else 0, nbytes)
