"""DCE/RPC authentication on the ncacn_ip_tcp server (``sofs.server.rpc_tcp``) with clients written by others:
impacket (NTLMSSP, its own signing and sealing code) and Samba (python3-samba's witness client: SPNEGO
and NTLMSSP), at CONNECT, PKT_INTEGRITY and PKT_PRIVACY, with fragmented requests and responses, and
a wrong password refused. The server runs in this process on 127.0.0.1 (a free port)."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from sofs.auth.ntlm import NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry
from sofs.rpc import swn_ndr as n
from sofs.rpc.dcerpc import SyntaxId
from sofs.rpc.swn import WitnessService
from sofs.server.rpc_tcp import start_rpc_tcp, stop_rpc_tcp
from tests.conftest import USERS, free_port

ECHO = SyntaxId(uuid.UUID("12345678-1234-abcd-ef00-0123456789ab"), 1)
SYSTEM_PYTHON = "/usr/bin/python3"
INTERFACES = 300  # GetInterfaceList's answer: ~20 kB, several response fragments


class Echo:
    """opnum 0: the stub reversed; opnum 1: N octets of 'x' (N = the stub's first 4 octets)."""

    syntax = ECHO

    async def call(self, opnum: int, stub: bytes) -> bytes:
        return stub[::-1] if opnum == 0 else b"x" * int.from_bytes(stub[:4], "little")


class Interfaces:
    def interfaces(self) -> list[n.InterfaceInfo]:
        return [n.InterfaceInfo(f"N{i}", n.STATE_AVAILABLE, f"127.0.{i // 250}.{i % 250 + 1}", n.INTERFACE_WITNESS)
                for i in range(INTERFACES)]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    db = UserDb("S-1-5-21-1-2-3", [UserEntry("alice", password=USERS["alice"])])
    loop = asyncio.new_event_loop()
    ports = (free_port(), free_port())
    started = threading.Event()
    holder: list[object] = []

    async def start() -> None:
        holder.append(await start_rpc_tcp(Echo, ["127.0.0.1"], ports[0], lambda: NtlmAcceptor(db)))
        holder.append(await start_rpc_tcp(lambda: WitnessService(Interfaces()), ["127.0.0.1"], ports[1],  # type: ignore[arg-type]
                                          lambda: NtlmAcceptor(db)))
        started.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    t.start()
    assert started.wait(10)
    yield ports
    for s in holder:
        asyncio.run_coroutine_threadsafe(stop_rpc_tcp(s), loop).result(10)  # type: ignore[arg-type]
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


def _impacket(port: int, level: int, password: str):  # type: ignore[no-untyped-def]
    transport = pytest.importorskip("impacket.dcerpc.v5.transport")
    from impacket.dcerpc.v5 import rpcrt
    from impacket.uuid import uuidtup_to_bin

    t = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:127.0.0.1[{port}]")
    t.set_credentials("alice", password, "", "", "")
    dce = t.get_dce_rpc()
    dce.set_auth_level(level)
    dce.set_auth_type(rpcrt.RPC_C_AUTHN_WINNT)
    dce.connect()
    dce.bind(uuidtup_to_bin((str(ECHO.uuid), "1.0")))
    return dce


@pytest.mark.parametrize("level", [2, 5, 6])  # RPC_C_AUTHN_LEVEL_CONNECT, PKT_INTEGRITY, PKT_PRIVACY
def test_impacket_ntlmssp(servers: tuple[int, int], level: int) -> None:
    dce = _impacket(servers[0], level, USERS["alice"])
    try:
        dce.call(0, b"hello world!")
        assert dce.recv() == b"!dlrow olleh"
        dce.call(1, (20000).to_bytes(4, "little"))  # a response in several fragments
        assert dce.recv() == b"x" * 20000
        big = os.urandom(30000)  # a request impacket splits into fragments, each with its verifier
        dce.call(0, big)
        assert dce.recv() == big[::-1]
    finally:
        dce.disconnect()


def test_impacket_wrong_password_is_refused(servers: tuple[int, int]) -> None:
    from impacket.dcerpc.v5.rpcrt import DCERPCException

    dce = _impacket(servers[0], 6, "wrong password")  # AUTH3 has no answer: the first call is refused
    try:
        with pytest.raises(DCERPCException) as ei:
            dce.call(0, b"hello")
            dce.recv()
        assert "access_denied" in str(ei.value).lower() or "0x5" in str(ei.value), ei.value
    finally:
        dce.disconnect()


SAMBA_CLIENT = r"""
import sys
from samba import param
from samba.credentials import Credentials
from samba.dcerpc import witness
lp = param.LoadParm(); lp.load_default()
creds = Credentials(); creds.guess(lp)
creds.set_username("alice"); creds.set_password(sys.argv[3]); creds.set_domain("WORKGROUP")
try:
    c = witness.witness(f"ncacn_ip_tcp:127.0.0.1[{sys.argv[1]},{sys.argv[2]}]", lp, creds)
    r = c.GetInterfaceList()
    print("OK", c.auth_info(), r.num_interfaces, r.interfaces[299].ipv4)
except Exception as e:
    print("ERR", e.args[0] if e.args else e)
"""


def _samba(port: int, options: str, password: str = USERS["alice"]) -> str:
    if not os.path.exists(SYSTEM_PYTHON) or subprocess.run([SYSTEM_PYTHON, "-c", "import samba.dcerpc.witness"],
                                                           capture_output=True, check=False).returncode:
        pytest.skip("python3-samba not installed")
    r = subprocess.run([SYSTEM_PYTHON, "-c", SAMBA_CLIENT, str(port), options, password], capture_output=True,
                       text=True, timeout=60, check=False)
    return r.stdout.strip() + "\n" + r.stderr[-500:]


@pytest.mark.parametrize("options,auth", [
    ("seal", (9, 6)), ("sign", (9, 5)), ("connect", (9, 2)),  # SPNEGO, Samba's default
    ("ntlm,seal", (10, 6)), ("ntlm,sign", (10, 5)), ("spnego,seal", (9, 6)),
])
def test_samba_witness_client(servers: tuple[int, int], options: str, auth: tuple[int, int]) -> None:
    out = _samba(servers[1], options)
    assert out.startswith(f"OK {auth} {INTERFACES} 127.0.1.50"), out


@pytest.mark.parametrize("options", ["seal", "ntlm,sign"])
def test_samba_wrong_password_is_refused(servers: tuple[int, int], options: str) -> None:
    out = _samba(servers[1], options, "wrong password")
    # SPNEGO: the alter_context is faulted (Samba reports a logon failure); NTLMSSP: the first call
    assert out.split("\n")[0] in ("ERR 3221225581", "ERR 3221225506"), out  # LOGON_FAILURE / ACCESS_DENIED


@pytest.mark.parametrize("options", ["sign", "seal", "seal,ntlm", "connect"])
def test_rpcclient_named_pipe_with_rpc_auth(sofs_server, options: str) -> None:  # type: ignore[no-untyped-def]
    """srvsvc over \\pipe\\srvsvc of IPC$ with DCE/RPC-level signing / sealing inside the SMB session."""
    if not shutil.which("rpcclient"):
        pytest.skip("rpcclient not installed")
    r = subprocess.run(["rpcclient", f"ncacn_np:{sofs_server.host}[{options}]", "-p", str(sofs_server.port), "-U",
                        f"alice%{USERS['alice']}", "-c", "netshareenumall"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "netname: data" in r.stdout, r.stdout + r.stderr
