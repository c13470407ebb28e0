"""Samba's smbclient against a real sofs server: every dialect, plain / signed / encrypted.

Issue 2 acceptance 1: ls, mkdir, put, get, rename, rm, rmdir, and a large file that round-trips with an
identical sha256 (16 MiB here; the 100 MiB run is marked slow).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import USERS

pytestmark = pytest.mark.interop

DIALECTS = ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"]
MODES = {"plain": [], "signed": ["--option=client signing=required"],
         "encrypted": ["--option=client smb encrypt=required"]}


def smbclient(srv, commands: str, *opts: str, share: str = "data", user: str = "alice",
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("smbclient") is None:
        pytest.fail("smbclient is not installed: run scripts/setup.sh")
    cmd = ["smbclient", f"//{srv.host}/{share}", "-p", str(srv.port), "-U", f"{user}%{USERS[user]}",
           "--option=client min protocol=SMB2_02", *opts, "-c", commands]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120, cwd=cwd)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def roundtrip(srv, tmp_path: Path, dialect: str, mode: str, size: int) -> None:
    opts = [f"--option=client max protocol={dialect}", *MODES[mode]]
    if mode == "encrypted" and dialect in ("SMB2_02", "SMB2_10"):
        r = smbclient(srv, "ls", *opts)
        assert r.returncode != 0, "encryption cannot be required below SMB 3.0"
        return
    src = tmp_path / "src.bin"
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    d = f"d_{dialect}_{mode}"
    script = (f"mkdir {d}; cd {d}; put src.bin a.bin; rename a.bin b.bin; get b.bin back.bin; ls; "
              f"rm b.bin; cd ..; rmdir {d}; ls")
    r = smbclient(srv, script, *opts, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NT_STATUS" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "b.bin" in r.stdout
    assert sha256(tmp_path / "back.bin") == sha256(src)
    assert not (srv.share / d).exists()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_smbclient_operations(sofs_server, tmp_path, dialect, mode) -> None:
    roundtrip(sofs_server, tmp_path, dialect, mode, 3 * 1024 * 1024 + 12345)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_smbclient_100mib(sofs_server, tmp_path, mode) -> None:
    roundtrip(sofs_server, tmp_path, "SMB3_11", mode, 100 * 1024 * 1024)


def test_share_list(sofs_server) -> None:
    r = subprocess.run(["smbclient", "-L", f"//{sofs_server.host}", "-p", str(sofs_server.port),
                        "-U", f"alice%{USERS['alice']}"], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("data", "ca", "enc", "IPC$"):
        assert name in r.stdout


def test_wrong_password(sofs_server) -> None:
    r = subprocess.run(["smbclient", f"//{sofs_server.host}/data", "-p", str(sofs_server.port),
                        "-U", "alice%nope", "-c", "ls"], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "NT_STATUS_LOGON_FAILURE" in r.stdout + r.stderr


def test_encrypted_share_refuses_unencrypted_client(sofs_server) -> None:
    r = smbclient(sofs_server, "ls", "--option=client max protocol=SMB2_10", share="enc")
    assert r.returncode != 0
    assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
    r = smbclient(sofs_server, "ls", "--option=client max protocol=SMB3_11", share="enc")
    assert r.returncode == 0, r.stdout + r.stderr
