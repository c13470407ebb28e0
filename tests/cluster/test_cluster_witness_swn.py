"""The Witness service ([MS-SWN]) on real node processes, with Samba's own client code as the client.

Three ``sofs node`` processes (SameSubnetDelay 200 ms × Threshold 5), the Scale-Out File Server role, the
Witness service on every node. Three clients (python3-samba, system Python) RegisterEx through n1 to watch
n3; kill -9 n3 → each gets RESOURCE_CHANGE unavailable (the delay after the cluster marks n3 Down is
printed; the issue asks for < 2 s); ``Move-SmbWitnessClient`` → CLIENT_MOVE to the client it names;
n3 back → the others get "available". One client asks for its second notification on n2 (a new
association): registrations live in the cluster store, not in the node that took them.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_proc import free_port_on, kill_quietly, node_pids, sofs, sofs_env

from tests.conftest import USERS

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def _samba_python() -> bool:
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import samba.dcerpc.witness"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    if not _samba_python():
        pytest.skip("python3-samba (Samba's client bindings) is not installed")
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text(f'[[user]]\nname = "alice"\npassword = "{USERS["alice"]}"\n')
    both = [*ADDR.values(), *(a.replace("127.0.0.", "127.0.1.") for a in ADDR.values())]
    port, wport = free_port_on(both), free_port_on(both)
    r = sofs("cluster", "up", "3", "--name", "swnc", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port), "--witness-port", str(wport))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert sofs("Add-ClusterScaleOutFileServerRole", "SOFS", state=state).returncode == 0
        yield state, wport
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


class Client:
    def __init__(self, wport: int, name: str, second: str | None = None) -> None:
        args = [SYSTEM_PYTHON, str(HERE / "swn_client.py"), ADDR["n1"], str(wport), "SOFS", ADDR["n3"], name]
        self.proc = subprocess.Popen([*args, *([second] if second else [])], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict] = queue.Queue()  # type: ignore[type-arg]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, timeout: float = 20) -> dict:  # type: ignore[type-arg]
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"no witness event within {timeout} s {err}") from None


def _down_at(state: Path, node: str, timeout: float = 20) -> float:
    """Wall time at which the cluster store no longer has the node's heartbeat (the cluster marks it Down)."""
    import asyncio

    from sofs.cluster.config import load_cluster_config
    from sofs.cluster.model import Keys

    async def poll() -> float:
        cfg = load_cluster_config(str(state))
        assert cfg is not None
        store = await cfg.open_store()
        try:
            deadline = time.monotonic() + timeout
            while await store.get(Keys(cfg.prefix).heartbeat(node)) is not None:
                assert time.monotonic() < deadline, f"{node} never marked Down"
                await asyncio.sleep(0.01)
            return time.time()
        finally:
            await store.close()
    return asyncio.run(poll())


def test_witness_timeline(cluster: tuple[Path, int]) -> None:
    state, wport = cluster
    clients = [Client(wport, "CLIENT1"), Client(wport, "CLIENT2"), Client(wport, "CLIENT3", ADDR["n2"])]
    try:
        for c in clients:
            assert c.next()["event"] == "registered"
        out = sofs("Get-SmbWitnessClient", state=state).stdout
        print(out)
        assert all(f"CLIENT{i}" in out for i in (1, 2, 3)) and "N3" in out and "N1" in out

        t_kill = time.time()
        kill_quietly(node_pids(state)["n3"])
        t_down = _down_at(state, "n3")
        for c in clients:
            ev = c.next()
            assert (ev["event"], ev["name"], ev["state"]) == ("resource_change", ADDR["n3"], "unavailable"), ev
            print(f"{ev['client']}: RESOURCE_CHANGE unavailable {ev['t'] - t_down:.2f} s after the cluster marked "
                  f"n3 Down ({t_down - t_kill:.2f} s after kill -9)")
            assert ev["t"] - t_down < 10

        r = sofs("Move-SmbWitnessClient", "-ClientName", "CLIENT1", "-DestinationNode", "n2", state=state)
        assert r.returncode == 0, r.stdout + r.stderr
        ev = clients[0].next()
        assert (ev["event"], ev["addresses"]) == ("client_move", [ADDR["n2"], "127.0.1.12"]), ev
        print(f"CLIENT1: CLIENT_MOVE -> {ev['addresses']}")

        subprocess.Popen([sys.executable, "-m", "sofs", "node", "--name", "n3", "--state-dir", str(state)],
                         env=sofs_env(state), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        t_back = time.time()
        for c in clients[1:]:
            ev = c.next(30)
            assert (ev["event"], ev["state"]) == ("resource_change", "available"), ev
            print(f"{ev['client']}: RESOURCE_CHANGE available {ev['t'] - t_back:.2f} s after n3 restarted")
        assert clients[0].events.empty()  # CLIENT1 now watches n2: nothing to say
        if shutil.which("rpcclient"):  # Samba's rpcclient finds the port through the endpoint mapper (135)
            r2 = subprocess.run(["rpcclient", f"ncacn_ip_tcp:{ADDR['n2']}", "-U", "%", "-c", "GetInterfaceList"],
                                capture_output=True, text=True, timeout=30, check=False)
            print(r2.stdout)
            assert r2.returncode == 0 and all(a in r2.stdout for a in ADDR.values()), r2.stdout + r2.stderr
            _rpcclient_authenticated(wport)
    finally:
        for c in clients:
            c.proc.kill()
            c.proc.wait(5)


def _rpcclient_authenticated(wport: int) -> None:
    """rpcclient with the node's accounts: signed and sealed (SPNEGO/NTLM, and raw NTLMSSP), the witness
    commands a client uses; a wrong password is refused."""
    for opts in ("sign", "seal", "seal,ntlm", "connect"):
        binding = f"ncacn_ip_tcp:{ADDR['n2']}[{wport},{opts}]"
        r = subprocess.run(["rpcclient", binding, "-U", f"alice%{USERS['alice']}", "-c", "GetInterfaceList"],
                           capture_output=True, text=True, timeout=30, check=False)
        assert r.returncode == 0 and ADDR["n3"] in r.stdout, f"{opts}: {r.stdout}{r.stderr}"
        r = subprocess.run(["rpcclient", binding, "-U", f"alice%{USERS['alice']}", "-c",
                            f"Register --V1 --net=SOFS --ip={ADDR['n3']} --client=SEALED{opts.upper()}"],
                           capture_output=True, text=True, timeout=30, check=False)
        handle = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        assert r.returncode == 0 and handle.startswith("0:"), f"{opts}: {r.stdout}{r.stderr}"
        r = subprocess.run(["rpcclient", binding, "-U", f"alice%{USERS['alice']}", "-c", f"UnRegister {handle}"],
                           capture_output=True, text=True, timeout=30, check=False)
        assert r.returncode == 0, f"{opts}: {r.stdout}{r.stderr}"
    print(f"rpcclient ncacn_ip_tcp:{ADDR['n2']}[PORT,sign|seal|seal,ntlm|connect] -U alice%...: "
          "GetInterfaceList, Register, UnRegister OK")
    r = subprocess.run(["rpcclient", f"ncacn_ip_tcp:{ADDR['n2']}[{wport},seal]", "-U", "alice%wrong",
                        "-c", "GetInterfaceList"], capture_output=True, text=True, timeout=30, check=False)
    # rpcclient binds with NTLMSSP: the AUTH3 has no answer, its first call is refused
    assert r.returncode != 0 and "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr, r.stdout + r.stderr
