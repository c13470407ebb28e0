"""Cluster-local accounts: the cmdlets over a real embedded store, and a real node that accepts them."""
from __future__ import annotations

import asyncio
import io
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.cluster.store_embedded import open_embedded
from sofs.config import ServerConfig, UserConfig
from sofs.management.services.accounts import AccountService
from sofs.server.node_accounts import user_db

ROOT = Path(__file__).resolve().parents[2]


def run(state: Path, *argv: str) -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        assert kind == "accounts"
        return AccountService(await open_embedded(state), domain_sid="S-1-5-21-1-2-3")

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_account_cmdlets(tmp_path: Path) -> None:
    st = tmp_path / "s"
    code, out, err = run(st, "New-LocalUser", "-Name", "carol", "-Password", "correct horse", "-Description", "ops")
    assert code == 0 and "carol" in out and "True" in out, err
    assert b"correct horse" not in b"".join(p.read_bytes() for p in st.iterdir() if p.is_file())
    assert run(st, "New-LocalUser", "carol", "-Password", "another one")[2].count("already exists") == 1
    code, _, err = run(st, "New-LocalUser", "dave", "-Password", "short")
    assert code == 1 and "at least 8" in err
    code, _, err = run(st, "New-LocalUser", "bad/name", "-Password", "long enough")
    assert code == 1 and "not a valid account name" in err
    code, out, _ = run(st, "Get-LocalUser", "-AsJson")
    assert '"Sid": "S-1-5-21-1-2-3-2000"' in out and '"ClusterAccess": "None"' in out
    assert run(st, "Get-LocalUser", "nobody")[2].count("was not found") == 1
    assert run(st, "Grant-ClusterAccess", "carol", "-ReadOnly")[0] == 0
    assert "Read" in run(st, "Get-ClusterAccess")[1]
    code, _, err = run(st, "Grant-ClusterAccess", "carol", "-ReadOnly", "-Full")
    assert code == 1 and "exactly one" in err
    assert run(st, "Grant-ClusterAccess", "carol", "-Full")[0] == 0
    assert "Full" in run(st, "Get-ClusterAccess", "carol")[1]
    assert run(st, "Remove-ClusterAccess", "carol")[0] == 0
    assert run(st, "Get-ClusterAccess")[1] == ""
    code, _, err = run(st, "Set-LocalUser", "carol")
    assert code == 1 and "Nothing to change" in err
    assert run(st, "Set-LocalUser", "carol", "-Password", "battery staple")[0] == 0
    assert run(st, "Disable-LocalUser", "carol")[0] == 0
    assert "False" in run(st, "Get-LocalUser", "carol")[1]

    async def auth() -> tuple[Any, Any, Any]:
        svc = AccountService(await open_embedded(st))
        try:
            disabled = await svc.authenticate("carol", "battery staple")
            await svc.enable_user("carol", True)
            return disabled, await svc.authenticate("carol", "battery staple"), await svc.authenticate(
                "carol", "correct horse")
        finally:
            await svc.close()
    disabled, ok, old = asyncio.run(auth())
    assert disabled is None and ok is not None and old is None
    assert run(st, "Remove-LocalUser", "carol")[0] == 0
    assert run(st, "Get-LocalUser")[1] == ""


def test_user_db_merges_smb_toml_and_cluster_accounts() -> None:
    cfg = ServerConfig(users=[UserConfig("alice", password="x"), UserConfig("carol", password="y")])
    recs = [{"name": "Carol", "nt_hash": "00" * 16, "rid": 2000, "enabled": True},
            {"name": "eve", "nt_hash": "11" * 16, "rid": 2001, "enabled": False}]
    db = user_db(cfg, recs)
    carol = db.lookup("carol")
    assert carol is not None and carol.rid == 2000 and carol.nt_hash == bytes(16)
    assert db.lookup("alice") is not None and db.lookup("eve") is None


@pytest.mark.interop
def test_a_new_account_logs_on_to_every_node(tmp_path: Path) -> None:
    """New-LocalUser on a running 2-node cluster: both nodes accept the account within a second or
    two; Disable-LocalUser refuses its next logon."""
    pytest.importorskip("smbprotocol")
    sys.path.insert(0, str(ROOT / "tests" / "cluster"))
    from cluster_proc import free_port_on, sofs
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.exceptions import SMBException
    from smbprotocol.session import Session

    state = tmp_path / "c"
    addrs = ["127.0.0.11", "127.0.0.12"]
    port = free_port_on(addrs)
    r = sofs("cluster", "up", "2", "--state-dir", str(state), "--delay-ms", "200", "--threshold", "5",
             "--smb-port", str(port))
    assert r.returncode == 0, r.stdout + r.stderr

    def logon(addr: str, password: str) -> bool:
        conn = Connection(uuid.uuid4(), addr, port, require_signing=False)
        conn.connect(Dialects.SMB_3_1_1, timeout=5)
        try:
            Session(conn, "carol", password, require_encryption=False).connect()
            return True
        except SMBException:
            return False
        finally:
            conn.disconnect()

    def eventually(want: bool, addr: str, password: str) -> None:
        deadline = time.monotonic() + 10
        while logon(addr, password) is not want:
            assert time.monotonic() < deadline, f"logon on {addr} never became {want}"
            time.sleep(0.2)
    try:
        assert not logon(addrs[0], "correct horse")
        r = sofs("New-LocalUser", "carol", "-Password", "correct horse", state=state)
        assert r.returncode == 0, r.stderr
        for a in addrs:
            eventually(True, a, "correct horse")
        assert not logon(addrs[1], "wrong password")
        assert sofs("Disable-LocalUser", "carol", state=state).returncode == 0
        for a in addrs:
            eventually(False, a, "correct horse")
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")
