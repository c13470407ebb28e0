"""A real ``sofs serve`` with Ceph-backed shares, driven by smbclient."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ceph_fixture import ceph_share_dir, shared_ceph
from conftest import USERS, SofsServer, start_sofs, tmpfs_dir

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def server() -> Iterator[SofsServer]:
    c = shared_ceph()
    root = tmpfs_dir("sofs-ceph-smb-")
    for name in ("data", "ca"):
        ceph_share_dir(c, root / "shares" / name)
    srv = start_sofs(root, shares={"data": "", "ca": "continuously_available = true"})
    yield srv
    srv.stop()
    shutil.rmtree(root, ignore_errors=True)


def smbclient(srv: SofsServer, share: str, cmds: str, cwd: Path) -> str:
    r = subprocess.run(["smbclient", f"//{srv.host}/{share}", "-p", str(srv.port), "-U", f"alice%{USERS['alice']}",
                        "-c", cmds], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def _sha(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _round_trip(srv: SofsServer, share: str, tmp: Path, size: int) -> None:
    src = tmp / "src.bin"
    with open(src, "wb") as f:
        f.writelines(os.urandom(1 << 20) for _ in range(size >> 20))
    out = smbclient(srv, share, "mkdir d; put src.bin d\\big.bin; ls d\\*; get d\\big.bin back.bin", tmp)
    assert "big.bin" in out
    assert _sha(tmp / "back.bin") == _sha(src)
    smbclient(srv, share, "del d\\big.bin; rmdir d", tmp)


@pytest.mark.parametrize("share", ["data", "ca"])
def test_round_trip_64mib(server: SofsServer, share: str, tmp_path: Path) -> None:
    _round_trip(server, share, tmp_path, 64 << 20)


@pytest.mark.slow
def test_round_trip_1gib(server: SofsServer, tmp_path: Path) -> None:
    _round_trip(server, "data", Path(tmpfs_dir("sofs-ceph-1g-")), 1 << 30)


def test_namespace_streams_and_attributes(server: SofsServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello ceph")
    out = smbclient(server, "data", "mkdir Dir; put f.txt Dir\\F.txt; rename dir\\f.TXT Dir\\g.txt; "
                    "setmode dir\\g.txt +h; allinfo dir\\G.TXT; put f.txt Dir\\g.txt:alt; allinfo dir\\g.txt; "
                    "ls Dir\\*", tmp_path)
    assert "attributes: HA" in out  # hidden + archive, kept in the user.sofs.dosattrib xattr on CephFS
    assert "stream: [:alt:$DATA], 10 bytes" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()]
    assert "g.txt" in listed and "F.txt" not in listed, listed
    smbclient(server, "data", "get dir\\g.txt:alt alt.back; del dir\\g.txt; rmdir dir", tmp_path)
    assert (tmp_path / "alt.back").read_bytes() == b"hello ceph"
