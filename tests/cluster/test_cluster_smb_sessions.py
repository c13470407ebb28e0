"""Get-SmbSession, Get-SmbConnection, Get-SmbMultichannelConnection and Close-SmbSession across a real
3-node cluster (``sofs cluster up 3``, loopback; each node has two addresses, 127.0.0.1x and 127.0.1.1x).

alice holds a session on n1 (smbprotocol: a plain open and a persistent handle on a CA share), bob one
on n2, and alice a second session on n1 with two channels (a raw client binding a connection through
n1's second address). The cmdlets list them from every node's published listing, with the
properties Windows shows; Close-SmbSession ends alice's session: her next request gets
STATUS_USER_SESSION_DELETED and her persistent handle is gone (not kept for a reconnect).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_proc import free_port_on, sofs

from tests.conftest import USERS

pytest.importorskip("smbprotocol")
from smbprotocol.connection import Connection, Dialects
from smbprotocol.create_contexts import CreateContextName, SMB2CreateDurableHandleRequestV2
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, RequestedOplockLevel
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.interop.test_ca_durable import RW, _ctx, _lease

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from smbraw import RawClient

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SECOND = {n: a.replace("127.0.0.", "127.0.1.") for n, a in ADDR.items()}
USER_SESSION_DELETED = 0xC0000203


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text("".join(f'[[user]]\nname = "{u}"\npassword = "{p}"\n' for u, p in USERS.items()))
    port = free_port_on([*ADDR.values(), *SECOND.values()])
    r = sofs("cluster", "up", "3", "--name", "sess", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = sofs("New-SmbShare", "CA", r"C:\ClusterStorage\Volume1\Shares\CA", "-FullAccess", "alice,bob",
                 "-ContinuouslyAvailable", "$true", "-CreatePath", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        yield state, port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def _smb(addr: str, port: int, user: str) -> tuple[Connection, TreeConnect]:
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = Connection(uuid.uuid4(), addr, port, require_signing=False)
            conn.connect(Dialects.SMB_3_1_1, timeout=5)
            s = Session(conn, user, USERS[user], require_encryption=False)
            s.connect()
            tree = TreeConnect(s, rf"\\{addr}\CA")
            tree.connect()
            return conn, tree
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _json(state: Path, *cmd: str) -> list[dict[str, Any]]:
    r = sofs(*cmd, "-AsJson", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout) if r.stdout.strip() else []
    return data if isinstance(data, list) else [data]


async def _until(fn: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await asyncio.to_thread(fn)
        if got:
            return got
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)


def test_sessions_connections_channels_and_close(cluster: tuple[Path, int]) -> None:
    state, port = cluster
    a_conn, a_tree = _smb(ADDR["n1"], port, "alice")
    b_conn, b_tree = _smb(ADDR["n2"], port, "bob")
    plain = Open(a_tree, "a.txt")
    plain.create(ImpersonationLevel.Impersonation, RW, 0x80, 7, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()
    vm = Open(a_tree, "vm.vhdx")
    vm.create(ImpersonationLevel.Impersonation, RW, 0x80, 1, CreateDisposition.FILE_OVERWRITE_IF, 0x40,
              [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh), _lease(uuid.uuid4().bytes)],
              oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    Open(b_tree, "b.txt").create(ImpersonationLevel.Impersonation, RW, 0x80, 7, CreateDisposition.FILE_OVERWRITE_IF,
                                 0x40)
    try:
        asyncio.run(_check(state, port, a_conn, plain))
    finally:
        for c in (a_conn, b_conn):
            with contextlib.suppress(Exception):  # alice's session was closed under her
                c.disconnect()


async def _check(state: Path, port: int, a_conn: Connection, plain: Open) -> None:
    raw = await RawClient.open(ADDR["n1"], port, "alice", USERS["alice"], "CA")
    chan = await RawClient.open_channel(raw, SECOND["n1"], port, "alice", USERS["alice"])
    try:
        def three() -> list[dict[str, Any]] | None:
            s = _json(state, "Get-SmbSession")
            return s if len(s) == 3 else None

        sessions = await _until(three, "three sessions listed")
        print(sofs("Get-SmbSession", state=state).stdout)
        by_user = {(s["ClientUserName"], s["Channels"]): s for s in sessions}
        alice = by_user[("SESS\\alice", 1)]
        bob = by_user[("SESS\\bob", 1)]
        multi = by_user[("SESS\\alice", 2)]
        assert (alice["ClusterNodeName"], alice["NumOpens"], alice["Dialect"]) == ("n1", 2, "3.1.1")
        assert (bob["ClusterNodeName"], bob["NumOpens"], multi["ClusterNodeName"]) == ("n2", 1, "n1")
        assert alice["ClientComputerName"] == "127.0.0.1" and alice["ScopeName"] == "*"
        assert 0 <= alice["SecondsIdle"] <= alice["SecondsExists"] < 300
        assert [s["SessionId"] for s in _json(state, "Get-SmbSession", "-ClusterNodeName", "n2")] == [bob["SessionId"]]
        assert [s["SessionId"] for s in _json(state, "Get-SmbSession", "-ClientUserName", "*\\bob")] == [bob["SessionId"]]
        assert _json(state, "Get-SmbSession", str(alice["SessionId"]))[0]["ClientUserName"] == "SESS\\alice"

        conns = _json(state, "Get-SmbConnection")
        print(sofs("Get-SmbConnection", state=state).stdout)
        mine = [c for c in conns if c["SessionId"] == alice["SessionId"]]
        assert [(c["ServerName"], c["ShareName"], c["UserName"], c["NumOpens"], c["ContinuouslyAvailable"])
                for c in mine] == [(ADDR["n1"], "CA", "SESS\\alice", 2, True)]
        assert {c["ShareName"] for c in _json(state, "Get-SmbConnection", "-ShareName", "CA")} == {"CA"}

        chans = [m for m in _json(state, "Get-SmbMultichannelConnection") if m["SessionId"] == multi["SessionId"]]
        print(sofs("Get-SmbMultichannelConnection", state=state).stdout)
        assert sorted(m["ServerIpAddress"] for m in chans) == [ADDR["n1"], SECOND["n1"]]
        assert {(m["CurrentChannels"], m["Selected"], m["ServerRdmaCapable"], m["ServerInterfaceIndex"])
                for m in chans} == {(2, True, False, socket.if_nametoindex("lo"))}

        # Close-SmbSession: refused without a selector or for an unknown session; takes effect otherwise
        r = sofs("Close-SmbSession", "-Force", state=state)
        assert r.returncode != 0 and "needs -SessionId" in r.stderr, r.stderr
        r = sofs("Close-SmbSession", "-SessionId", "12345", state=state)
        assert r.returncode != 0 and "No matching SMB session" in r.stderr, r.stderr
        r = sofs("Close-SmbSession", "-SessionId", str(alice["SessionId"]), "-ClusterNodeName", "n1", "-Force",
                 state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        with pytest.raises(SMBResponseException) as ei:
            await asyncio.to_thread(plain.read, 0, 10)
        assert ei.value.status == USER_SESSION_DELETED, hex(ei.value.status)
        left = {s["SessionId"] for s in _json(state, "Get-SmbSession")}
        assert alice["SessionId"] not in left and {bob["SessionId"], multi["SessionId"]} <= left
        opens = _json(state, "Get-SmbOpenFile")
        assert not [o for o in opens if o["ShareRelativePath"] in ("a.txt", "vm.vhdx")], opens  # persistent too
        assert [o["ClientUserName"] for o in opens if o["ShareRelativePath"] == "b.txt"] == ["bob"]
    finally:
        chan.close()
        raw.close()
