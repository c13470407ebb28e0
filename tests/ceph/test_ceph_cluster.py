"""``sofs cluster up 3 --storage ceph`` end to end: S2D cmdlets with real effects, a mirrored CSV served by
every node, an OSD killed (Get-VirtualDisk Degraded, writes go on) and back (Healthy again), and
``sofs cluster down`` stopping every Ceph daemon."""
from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ceph_fixture import USER, Cluster, ceph_cluster_up

from sofs.storage.ceph_cluster import CephCluster

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with ceph_cluster_up() as c:
        yield c


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_s2d_mirror_csv_served_by_every_node_and_osd_failure(cluster: Cluster, tmp_path: Path) -> None:
    disks = cluster.cmdlet_json("Get-PhysicalDisk")
    assert [(d["FriendlyName"], d["StorageNode"], d["CanPool"]) for d in disks] == [
        ("osd.0", "n1", True), ("osd.1", "n2", True), ("osd.2", "n3", True)]
    r = cluster.sofs("New-Volume", "-FriendlyName", "Volume1", "-Size", "1GB", check=False)
    assert r.returncode != 0 and "Enable-ClusterStorageSpacesDirect" in r.stderr
    cluster.sofs("Enable-ClusterStorageSpacesDirect")
    assert [p["FriendlyName"] for p in cluster.cmdlet_json("Get-StoragePool", "-IsPrimordial", "$false")] == [
        "S2D on sofs"]
    vd = cluster.cmdlet_json("New-Volume", "-FriendlyName", "Volume1", "-FileSystem", "CSVFS_ReFS",
                             "-StoragePoolFriendlyName", "S2D*", "-Size", "2GB", "-ResiliencySettingName", "Mirror")[0]
    assert (vd["ResiliencySettingName"], vd["NumberOfDataCopies"], vd["Size"]) == ("Mirror", 3, 2 << 30)
    assert vd["HealthStatus"] == "Healthy"
    cluster.sofs("New-SmbShare", "-Name", "VMS", "-Path", "C:\\ClusterStorage\\Volume1\\Shares\\VMS",
                 "-FullAccess", USER, "-ContinuouslyAvailable", "$true", "-CreatePath")
    time.sleep(2)  # the nodes follow the share definitions through a watch
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(24 << 20))
    cluster.smbclient(1, "put src.bin a.bin", tmp_path)
    for node in (2, 3):  # the same file through every node
        out = cluster.smbclient(node, f"get a.bin back{node}.bin; ls", tmp_path)
        assert _sha(tmp_path / f"back{node}.bin") == _sha(src)
        assert "blocks of size" in out
    free_line = next(ln for ln in out.splitlines() if "blocks of size" in ln).split()
    assert int(free_line[0]) * int(free_line[4].rstrip(".")) == 2 << 30  # the volume's size, not the pool's

    ceph = CephCluster(cluster.state / "ceph")
    pid = ceph.pids("n2")["osd.1"]
    os.kill(pid, signal.SIGKILL)
    vd = cluster.wait_disk(("Degraded", "InService"))
    assert vd["HealthStatus"] == "Warning", vd
    disks = {d["FriendlyName"]: d for d in cluster.cmdlet_json("Get-PhysicalDisk")}
    assert disks["osd.1"]["OperationalStatus"] == "Lost Communication"
    cluster.smbclient(3, "put src.bin while-degraded.bin", tmp_path)  # writes go on with 2 of 3 copies
    ceph.start(["n2"])  # the disk comes back
    vd = cluster.wait_disk(("OK",))
    assert (vd["HealthStatus"], vd["OperationalStatus"]) == ("Healthy", "OK"), vd
    cluster.smbclient(1, "get while-degraded.bin wd.bin", tmp_path)
    assert _sha(tmp_path / "wd.bin") == _sha(src)

    cluster.sofs("Resize-VirtualDisk", "-FriendlyName", "Volume1", "-Size", "3GB")
    assert cluster.cmdlet_json("Get-VirtualDisk")[0]["Size"] == 3 << 30
    r = cluster.sofs("Remove-VirtualDisk", "-FriendlyName", "Volume1", check=False)
    assert r.returncode != 0 and "in use by share(s) VMS" in r.stderr
    r = cluster.sofs("New-Volume", "-FriendlyName", "Volume2", "-Size", "1GB", "-ResiliencySettingName", "Mirror",
                     "-NumberOfDataCopies", "4", check=False)
    assert r.returncode != 0 and "2 or 3" in r.stderr
    vd2 = cluster.cmdlet_json("New-Volume", "-FriendlyName", "Volume2", "-Size", "1GB", "-ResiliencySettingName",
                              "Parity")[0]
    assert (vd2["ResiliencySettingName"], vd2["FaultDomainRedundancy"]) == ("Parity", 1)
    cluster.sofs("Remove-VirtualDisk", "-FriendlyName", "Volume2")
    assert [v["FriendlyName"] for v in cluster.cmdlet_json("Get-VirtualDisk")] == ["Volume1"]
    assert not (cluster.state / "ClusterStorage" / "Volume2").exists()
