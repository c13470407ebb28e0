"""``sofs cluster up 3 --storage ceph`` end to end: S2D cmdlets with real effects, a mirrored CSV served by
every node, an OSD killed (Get-VirtualDisk Degraded, writes go on) and back (Healthy again), and
``sofs cluster down`` stopping every Ceph daemon."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ceph_fixture import require_ceph
from conftest import ROOT, free_port

from sofs.storage.ceph_cluster import CephCluster

pytestmark = pytest.mark.interop
USER, PASSWORD = "alice", "Secret1!"


class Cluster:
    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.env = dict(os.environ, SOFS_CLUSTER_DIR=str(state), PYTHONPATH=ROOT)

    def sofs(self, *argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "sofs", *argv], env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False, cwd=ROOT)
        if check:
            assert r.returncode == 0, f"sofs {' '.join(argv)}:\n{r.stdout}\n{r.stderr}"
        return r

    def cmdlet_json(self, *argv: str) -> list[dict[str, object]]:
        out = self.sofs(*argv, "-AsJson").stdout.strip()
        doc = json.loads(out) if out else []
        return doc if isinstance(doc, list) else [doc]

    def smbclient(self, node: int, cmds: str, cwd: Path) -> str:
        r = subprocess.run(["smbclient", f"//127.0.0.1{node}/VMS", "-p", str(self.port), "-U", f"{USER}%{PASSWORD}",
                            "-c", cmds], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def wait_disk(self, want: tuple[str, ...], timeout: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            vd = self.cmdlet_json("Get-VirtualDisk", "-FriendlyName", "Volume1")[0]
            if vd["OperationalStatus"] in want or time.monotonic() > deadline:
                return vd
            time.sleep(1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_ceph()
    state = Path(os.environ.get("TMPDIR", "/var/tmp")) / f"sofs-ceph-cluster-{os.getpid()}"
    state.mkdir(parents=True)
    (state / "smb.toml").write_text(f'[server]\nserver_name = "SOFS"\n\n[[user]]\nname = "{USER}"\n'
                                    f'password = "{PASSWORD}"\n')
    c = Cluster(state, free_port("127.0.0.11"))
    try:
        c.sofs("cluster", "up", "3", "--storage", "ceph", "--smb-port", str(c.port), "--disk-size", "8GB",
               timeout=400)
        yield c
    finally:
        c.sofs("cluster", "down", check=False, timeout=120)
        leftover = CephCluster(state / "ceph").pids() if (state / "ceph" / "plan.json").exists() else {}
        shutil.rmtree(state, ignore_errors=True)
        assert not leftover, f"Ceph daemons still running after `sofs cluster down`: {leftover}"


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
                 "-FullAccess", USER, "-ContinuouslyAvailable", "$true")
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
