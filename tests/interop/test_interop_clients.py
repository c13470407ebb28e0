"""Everyday Python SMB clients against a real sofs server (issue 18, acceptance 3).

- impacket: its ``smbclient.py`` script (a real shell session: login, shares, put/get/ls/rm/mkdir/rmdir)
  and ``SMBConnection`` (login, listShares, putFile/getFile, rename, delete).
- pysmb: ``SMBConnection`` over direct TCP and over a NetBIOS session (RFC 1002 SESSION REQUEST on the
  SMB port): listShares, storeFile/retrieveFile, rename, deleteFiles, directories.

Both log on with NTLM in SPNEGO without a mechListMIC (see ``tests/auth/test_auth_mechlistmic.py``).
``smbclient.py`` only talks to port 139 or 445, so its server listens on port 445 of a free loopback
address.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import USERS

pytestmark = pytest.mark.interop

impacket_smbconnection = pytest.importorskip("impacket.smbconnection")
pysmb = pytest.importorskip("smb.SMBConnection")


def _impacket(srv):  # type: ignore[no-untyped-def]
    c = impacket_smbconnection.SMBConnection(srv.host, srv.host, sess_port=srv.port, timeout=30)
    c.login("alice", USERS["alice"], "")
    return c


def test_impacket_smbclient_script_session(srv445, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "smbclient.py"
    if not script.exists():
        pytest.fail("impacket's smbclient.py is missing: run scripts/setup.sh (test extras)")
    (tmp_path / "up.txt").write_bytes(b"hello from impacket\n")
    commands = tmp_path / "cmds.txt"
    commands.write_text("shares\nuse data\nmkdir d1\ncd d1\nput up.txt\nls\nget up.txt\nrm up.txt\n"
                        "cd ..\nrmdir d1\nls\nexit\n")
    down = tmp_path / "down"
    down.mkdir()
    shutil.copy(tmp_path / "up.txt", down / "up.txt")  # smbclient.py's put and get use the cwd
    r = subprocess.run([sys.executable, str(script), f"alice:{USERS['alice']}@{srv445.host}", "-port", "445",
                        "-inputfile", str(commands)], check=False, capture_output=True, text=True, timeout=120, cwd=down)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "STATUS_" not in out and "Traceback" not in out, out
    assert "data" in out and "IPC$" in out  # shares
    assert "up.txt" in out  # ls inside d1
    assert (down / "up.txt").read_bytes() == b"hello from impacket\n"
    assert not (srv445.share / "d1").exists()


def test_impacket_smbconnection(sofs_server) -> None:
    c = _impacket(sofs_server)
    try:
        assert {s["shi1_netname"][:-1] for s in c.listShares()} >= {"data", "IPC$"}
        c.createDirectory("data", "imp")
        payload = os.urandom(300_000)
        c.putFile("data", "imp\\a.bin", io.BytesIO(payload).read)
        assert (sofs_server.share / "imp" / "a.bin").read_bytes() == payload
        c.rename("data", "imp\\a.bin", "imp\\b.bin")
        got = io.BytesIO()
        c.getFile("data", "imp\\b.bin", got.write)
        assert got.getvalue() == payload
        assert [f.get_longname() for f in c.listPath("data", "imp\\*") if not f.is_directory()] == ["b.bin"]
        c.deleteFile("data", "imp\\b.bin")
        c.deleteDirectory("data", "imp")
        assert not (sofs_server.share / "imp").exists()
    finally:
        c.close()


def test_impacket_wrong_password_is_logon_failure(sofs_server) -> None:
    c = impacket_smbconnection.SMBConnection(sofs_server.host, sofs_server.host, sess_port=sofs_server.port)
    with pytest.raises(impacket_smbconnection.SessionError) as e:
        c.login("alice", "not-the-password", "")
    assert e.value.getErrorCode() == 0xC000006D  # STATUS_LOGON_FAILURE


@pytest.mark.parametrize("direct_tcp", [True, False], ids=["direct-tcp", "netbios-session"])
def test_pysmb(sofs_server, direct_tcp: bool) -> None:
    c = pysmb.SMBConnection("alice", USERS["alice"], "pyclient", "SOFSTEST", domain="WORKGROUP",
                            use_ntlm_v2=True, is_direct_tcp=direct_tcp)
    assert c.connect(sofs_server.host, sofs_server.port, timeout=30)
    d = "pysmb-tcp" if direct_tcp else "pysmb-nb"
    try:
        assert {s.name for s in c.listShares(timeout=30)} >= {"data", "IPC$"}
        c.createDirectory("data", d)
        payload = os.urandom(200_000)
        assert c.storeFile("data", f"{d}/x.bin", io.BytesIO(payload)) == len(payload)
        c.rename("data", f"{d}/x.bin", f"{d}/y.bin")
        got = io.BytesIO()
        c.retrieveFile("data", f"{d}/y.bin", got)
        assert got.getvalue() == payload
        assert sorted(f.filename for f in c.listPath("data", d)) == [".", "..", "y.bin"]
        c.deleteFiles("data", f"{d}/y.bin")
        c.deleteDirectory("data", d)
        assert not (sofs_server.share / d).exists()
    finally:
        c.close()
