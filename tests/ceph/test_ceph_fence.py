"""Evicting a dead client's Ceph session (sofs.vfs.mounts.fence_sessions): what a survivor does when the
cluster declares a node down, so that the dead node's caps do not block the files it had open."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from ceph_fixture import ROOT, ceph_share_dir, shared_ceph

from sofs.storage.ceph_conf import CLIENT, FS_NAME
from sofs.vfs import cephlib, cephmon, mounts
from sofs.vfs.ceph import CLIENT_OPTIONS

VICTIM = textwrap.dedent("""
    import os, signal, sys
    from sofs.vfs import mounts
    mounts.set_session_tag(sys.argv[2])
    m = mounts.ceph_client(mounts.read_mount(__import__("pathlib").Path(sys.argv[1])))
    fd = m.open(b"/held", os.O_RDWR | os.O_CREAT, 0o666)
    m.pwrite(fd, b"x" * 65536, 0)  # buffered: the client holds the file's write and buffer caps
    print(__import__("json").dumps(mounts.session_addrs()), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _opts(c) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"keyring": str(c.client_keyring), **CLIENT_OPTIONS}


def test_reset_session_evicts_a_live_client(tmp_path: Path) -> None:
    """A tagged client evicted by another: its writes fail (ESHUTDOWN), none is acknowledged; a remount
    works again; an unknown tag is no error."""
    c = shared_ceph()
    root = ceph_share_dir(c, tmp_path / "vol")
    tag = f"fence-{uuid.uuid4().hex[:8]}"
    m = cephlib.CephMount(str(c.conf), CLIENT, FS_NAME, _opts(c), root=root, uuid=tag)
    try:
        fd = m.open(b"/f", os.O_RDWR | os.O_CREAT, 0o666)
        assert m.pwrite(fd, b"a" * 100, 0) == 100
        assert not m.evicted()
        assert cephlib.reset_session(str(c.conf), CLIENT, FS_NAME, tag, _opts(c)) is True
        with pytest.raises(OSError) as ei:
            m.pwrite(fd, b"b" * 100, 0)
            m.fsync(fd)
        assert ei.value.errno == 108  # ESHUTDOWN: blocklisted
        assert m.evicted()
        m.remount()
        assert not m.evicted()
        fd = m.open(b"/f", os.O_RDWR, 0)
        assert m.pwrite(fd, b"c" * 10, 0) == 10
        m.close(fd)
    finally:
        m.shutdown()
    assert cephlib.reset_session(str(c.conf), CLIENT, FS_NAME, f"nosuch-{tag}", _opts(c)) is False


def test_fence_node_of_a_killed_node(tmp_path: Path) -> None:
    """A node process killed while holding a file's write caps: blocklisting the client address it
    published (fence_node) releases them, and another client writes the file."""
    c = shared_ceph()
    vol = tmp_path / "ClusterStorage" / "Volume1"
    ceph_share_dir(c, vol)
    tag = f"n-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-c", VICTIM, str(vol), tag], capture_output=True, text=True, env=env,
                       timeout=120, check=False)
    assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr
    addrs = json.loads(p.stdout)
    assert len(addrs) == 1 and addrs[0].startswith("127.0.0.1:0/"), addrs
    specs = mounts.cluster_mounts(tmp_path / "ClusterStorage")
    assert [s.root for s in specs] == [json.loads((vol / mounts.MOUNT_FILE).read_text())["root"]]
    done = mounts.fence_node(specs[0], "no-such-node", addrs)
    assert done[0] == f"blocklisted {addrs[0]}", done
    m = cephlib.CephMount(str(c.conf), CLIENT, FS_NAME, _opts(c), root=specs[0].root)
    try:
        fd = m.open(b"/held", os.O_RDWR, 0)
        assert m.pwrite(fd, b"y" * 10, 0) == 10
        m.fsync(fd)
        m.close(fd)
    finally:
        m.shutdown()
    out = cephmon.mon_commands(str(c.conf), "admin", [{"prefix": "osd blocklist ls", "format": "json"}],
                                 {"keyring": str(c.admin_keyring)})[0]
    listed, _ = json.JSONDecoder().raw_decode(out)  # the address list, then the (empty) range list
    assert addrs[0] in [e["addr"] for e in listed]
