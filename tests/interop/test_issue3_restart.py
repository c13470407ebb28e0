"""Issue 3 acceptance 4: what a client changes on disk survives a restart of ``sofs serve``.

Through real clients (smbprotocol for data, streams, EAs, times and attributes; Samba's smbcacls for the
security descriptor), then SIGTERM + a new server process on the same share, then read everything back.
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from conftest import USERS, start_sofs, tmpfs_dir

smbclient = pytest.importorskip("smbclient")
pytestmark = pytest.mark.interop

FILE_ATTRIBUTE_HIDDEN = 0x2
FILE_ATTRIBUTE_ARCHIVE = 0x20
ACE = "ACL:S-1-1-0:ALLOWED/0x0/READ"  # SIDs: sofs has no LSA pipe for name lookups


def smbcacls(srv, *args: str) -> str:
    if shutil.which("smbcacls") is None:
        pytest.fail("smbcacls is not installed: run scripts/setup.sh (package smbclient)")
    r = subprocess.run(["smbcacls", f"//{srv.host}/data", "--option=client min protocol=SMB2", "--numeric", "-U",
                        f"alice%{USERS['alice']}", *args], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def connect(srv) -> None:
    smbclient.reset_connection_cache()
    smbclient.register_session(srv.host, username="alice", password=USERS["alice"], port=srv.port)


# smbcacls has no port option: this test's server listens on 445 of an address of its own
HOST = "127.0.0.98"


def test_metadata_survives_restart() -> None:
    root = tmpfs_dir("sofs-restart-")
    srv = start_sofs(root, port=445, host=HOST, shares={"data": ""})
    unc = srv.unc("data", "keep.txt")
    times = (1_600_000_000.0, 1_500_000_000.0)  # atime, mtime: fixed past values
    try:
        connect(srv)
        with smbclient.open_file(unc, mode="wb", port=srv.port) as f:
            f.write(b"payload")
        with smbclient.open_file(unc + ":side", mode="wb", port=srv.port) as f:
            f.write(b"stream-data")
        smbclient.setxattr(unc, b"USER.NOTE", b"remember me", port=srv.port)
        smbclient.utime(unc, times=times, port=srv.port)
        with smbclient.open_file(unc, mode="rb", port=srv.port, buffering=0) as f:
            pass
        smbcacls(srv, "keep.txt", "--add", ACE)
        smbclient.mkdir(srv.unc("data", "hiddendir"), port=srv.port)
        subprocess.run(["smbclient", f"//{srv.host}/data", "-p", str(srv.port), "-U",
                        f"alice%{USERS['alice']}", "-c", "setmode hiddendir +h"],
                       check=True, capture_output=True, timeout=60)
        before = smbclient.stat(unc, port=srv.port)
        acl_before = smbcacls(srv, "keep.txt")
        smbclient.reset_connection_cache()
        srv.stop()

        srv = start_sofs(root, port=445, host=HOST, shares={"data": ""})
        connect(srv)
        with smbclient.open_file(unc, mode="rb", port=srv.port) as f:
            assert f.read() == b"payload"
        with smbclient.open_file(unc + ":side", mode="rb", port=srv.port) as f:
            assert f.read() == b"stream-data"
        streams = {s[0] for s in smbclient.liststreams(unc, port=srv.port)}
        assert ":side:$DATA" in streams
        assert smbclient.getxattr(unc, b"USER.NOTE", port=srv.port) == b"remember me"
        after = smbclient.stat(unc, port=srv.port)
        assert after.st_mtime == pytest.approx(times[1], abs=1)
        assert after.st_ctime == pytest.approx(before.st_ctime, abs=1e-6), "creation time kept"
        assert "ACL:S-1-1-0:0/0x0/0x001200a9" in acl_before, acl_before
        assert smbcacls(srv, "keep.txt") == acl_before
        attrs = smbclient.stat(srv.unc("data", "hiddendir"), port=srv.port, follow_symlinks=False)
        assert attrs.st_file_attributes & FILE_ATTRIBUTE_HIDDEN
    finally:
        smbclient.reset_connection_cache()
        srv.stop()
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
