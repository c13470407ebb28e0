"""A private Ceph for tests: one node (its own loopback address), 3 OSDs on sparse files, one MDS.

Bootstrapped once per test process (``shared_ceph()``, ~20 s) through ``sofs.storage.ceph_cluster``
and stopped at exit; state under /var/tmp (the OSD files are sparse; tmpfs would hold their data in
memory). ``ceph_share_dir(path, name)`` turns a local share directory into a mount point of a fresh
CephFS directory, so ``sofs serve`` serves that share through ``CephVfs``.

Tests skip only when Ceph's packages are absent (scripts/setup.sh installs them).
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from sofs.storage.ceph_cluster import CephCluster, missing_binaries
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


def client_mount(c: CephCluster) -> cephlib.CephMount:
    from sofs.vfs.ceph import CLIENT_OPTIONS

    return cephlib.CephMount(str(c.conf), CLIENT, FS_NAME, {"keyring": str(c.client_keyring), **CLIENT_OPTIONS})
