"""A private Ceph for tests: one node (its own loopback address), 3 OSDs on sparse files, one MDS.

Bootstrapped once per test process (``shared_ceph()``, ~20 s) through ``sofs.storage.ceph_cluster``
and stopped at exit; state under /var/tmp (the OSD files are sparse; tmpfs would hold their data in
memory). ``ceph_share_dir(path, name)`` turns a local share directory into a mount point of a fresh
CephFS directory, so ``sofs serve`` serves that share through ``CephVfs``.

Tests skip only when Ceph's packages are absent (scripts/setup.sh installs them).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sofs.storage.ceph_cluster import CephCluster, missing_binaries

ROOT = str(Path(__file__).resolve().parents[2])
sys.path.insert(0, str(Path(ROOT) / "tests" / "cluster"))
from cluster_proc import free_port_on

from sofs.storage.ceph_conf import CLIENT, FS_NAME
from sofs.vfs import cephlib

ADDRESS = os.environ.get("SOFS_TEST_CEPH_ADDRESS", "127.0.0.171")
_shared: CephCluster | None = None


def ceph_missing() -> str | None:
    """Why Ceph tests cannot run here, or None."""
    missing = missing_binaries()
    if missing:
        return "Ceph is not installed (missing " + ", ".join(missing) + "; scripts/setup.sh installs it)"
    if not cephlib.available():
        return "libcephfs.so.2 is not installed (scripts/setup.sh installs it)"
    return None


def require_ceph() -> None:
    why = ceph_missing()
    if why:
        pytest.skip(why)


def shared_ceph() -> CephCluster:
    """The test process's Ceph (started on first use, stopped and wiped at exit)."""
    global _shared
    require_ceph()
    if _shared is None:
        base = Path(tempfile.mkdtemp(prefix="sofs-ceph-test-", dir="/var/tmp"))
        c = CephCluster(base / "ceph")
        atexit.register(_teardown, c, base)
        c.bootstrap([("t1", ADDRESS)], disks_per_node=3, osd_size=8 << 30)
        _shared = c
    return _shared


def _teardown(c: CephCluster, base: Path) -> None:
    try:
        c.stop(timeout=10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def ceph_share_dir(c: CephCluster, directory: Path, name: str | None = None) -> str:
    """Make ``directory`` the mount point of a new CephFS directory; returns that directory's path."""
    root = f"/sofs-tests/{name or uuid.uuid4().hex}"
    m = client_mount(c)
    try:
        m.mkdirs(root.encode(), 0o777)  # a volume's root exists before it is mounted (New-Volume makes it)
    finally:
        m.shutdown()
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"backend": "cephfs", "conf": str(c.conf), "client": CLIENT, "keyring": str(c.client_keyring),
           "fs": FS_NAME, "root": root}
    (directory / ".sofs-mount.json").write_text(json.dumps(doc))
    return root


USER, PASSWORD = "alice", "Secret1!"


class Cluster:
    """A ``sofs cluster up 3 --storage ceph`` of the test (state dir, SMB port) and ways to drive it."""

    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.env = dict(os.environ, SOFS_CLUSTER_DIR=str(state), PYTHONPATH=ROOT)
        self.env.pop("SOFS_CLUSTER_CONFIG", None)
        self.ceph = CephCluster(state / "ceph")

    def sofs(self, *argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "sofs", *argv], env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False, cwd=ROOT)
        if check:
            assert r.returncode == 0, f"sofs {' '.join(argv)}:\n{r.stdout}\n{r.stderr}"
        return r

    def cmdlet_json(self, *argv: str) -> list[dict[str, Any]]:
        out = self.sofs(*argv, "-AsJson").stdout.strip()
        doc = json.loads(out) if out else []
        return doc if isinstance(doc, list) else [doc]

    def smbclient(self, node: int, cmds: str, cwd: Path, share: str = "VMS") -> str:
        r = subprocess.run(["smbclient", f"//127.0.0.1{node}/{share}", "-p", str(self.port), "-U",
                            f"{USER}%{PASSWORD}", "-c", cmds], cwd=cwd, capture_output=True, text=True,
                           timeout=600, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def wait_disk(self, want: tuple[str, ...], name: str = "Volume1", timeout: float = 180) -> dict[str, Any]:
        """Get-VirtualDisk until its OperationalStatus is one of ``want`` (or the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            vd = self.cmdlet_json("Get-VirtualDisk", "-FriendlyName", name)[0]
            if vd["OperationalStatus"] in want or time.monotonic() > deadline:
                return vd
            time.sleep(1)

    def mirrored_ca_share(self, size: str = "2GB") -> None:
        """Enable-ClusterStorageSpacesDirect, a three-way mirror Volume1 and the CA share VMS on it."""
        self.sofs("Enable-ClusterStorageSpacesDirect")
        self.sofs("New-Volume", "-FriendlyName", "Volume1", "-FileSystem", "CSVFS_ReFS", "-StoragePoolFriendlyName",
                  "S2D*", "-Size", size, "-ResiliencySettingName", "Mirror")
        self.sofs("New-SmbShare", "-Name", "VMS", "-Path", "C:\\ClusterStorage\\Volume1\\Shares\\VMS",
                  "-FullAccess", USER, "-ContinuouslyAvailable", "$true", "-CreatePath")


@contextlib.contextmanager
def ceph_cluster_up(**extra: str) -> Iterator[Cluster]:
    """``sofs cluster up 3 --storage ceph`` in a fresh state dir (nodes 127.0.0.11-13, a free SMB port);
    ``sofs cluster down`` afterwards, which must leave no Ceph daemon running."""
    require_ceph()
    state = Path(tempfile.mkdtemp(prefix="sofs-ceph-cluster-", dir="/var/tmp"))
    (state / "smb.toml").write_text(f'[server]\nserver_name = "SOFS"\n\n[[user]]\nname = "{USER}"\n'
                                    f'password = "{PASSWORD}"\n')
    c = Cluster(state, free_port_on(["127.0.0.11", "127.0.0.12", "127.0.0.13"]))
    try:
        c.sofs("cluster", "up", "3", "--storage", "ceph", "--smb-port", str(c.port), "--disk-size", "8GB",
               *[x for k, v in extra.items() for x in (f"--{k}", v)], timeout=400)
        yield c
    finally:
        c.sofs("cluster", "down", check=False, timeout=120)
        leftover = c.ceph.pids() if c.ceph.exists() else {}
        if leftover:  # never leave daemons behind, even when the test failed
            c.ceph.stop(timeout=5)
        shutil.rmtree(state, ignore_errors=True)
        assert not leftover, f"Ceph daemons still running after `sofs cluster down`: {leftover}"


def client_mount(c: CephCluster) -> cephlib.CephMount:
    from sofs.vfs.ceph import CLIENT_OPTIONS

    return cephlib.CephMount(str(c.conf), CLIENT, FS_NAME, {"keyring": str(c.client_keyring), **CLIENT_OPTIONS})
