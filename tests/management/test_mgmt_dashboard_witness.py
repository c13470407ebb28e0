"""Issue 15 items 2 and 4: witness registrations in the dashboard, the API and the event log, against a
real 3-node cluster with its Witness service and a real [MS-SWN] client (Samba's own DCE/RPC code,
``tests/cluster/swn_client.py``, run with the system Python). The client registers through n1 to watch
n3; the page's table holds what ``Get-SmbWitnessClient`` prints; an admin's Move through the page sends
the client CLIENT_MOVE; the event log has the registration and the notification. Screenshot:
``artifacts/dashboard/witness.png``."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_mgmt_dashboard import (
    ARTIFACTS,
    CHROMIUM,
    DRIVER,
    browser,
    click,
    cmdlet,
    sign_in,
    table,
    text,
    until,
)
from test_mgmt_rest import USERS, Api

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_proc import free_port_on, sofs

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SYSTEM_PYTHON = "/usr/bin/python3"


def samba_python() -> bool:
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import samba.dcerpc.witness"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium / chromedriver not installed (scripts/setup.sh installs them)")
    if not samba_python():
        pytest.skip("python3-samba (Samba's client bindings) is not installed")
    pytest.importorskip("selenium")
    state = tmp_path / "c"
    state.mkdir()
    both = [*ADDR.values(), *(a.replace("127.0.0.", "127.0.1.") for a in ADDR.values())]
    api_port, smb_port, wport = free_port_on(both), free_port_on(both), free_port_on(both)
    r = sofs("cluster", "up", "3", "--name", "swnd", "--state-dir", str(state), "--delay-ms", "200", "--threshold",
             "5", "--smb-port", str(smb_port), "--api-port", str(api_port), "--witness-port", str(wport))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        for user, access in (("admin", "-Full"), ("viewer", "-ReadOnly")):
            assert sofs("New-LocalUser", user, "-Password", USERS[user], state=state).returncode == 0
            assert sofs("Grant-ClusterAccess", user, access, state=state).returncode == 0
        assert sofs("Add-ClusterScaleOutFileServerRole", "SOFS", state=state).returncode == 0
        yield state, api_port, wport
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


class SwnClient:
    def __init__(self, wport: int, name: str) -> None:
        args = [SYSTEM_PYTHON, str(ROOT / "tests" / "cluster" / "swn_client.py"), ADDR["n1"], str(wport), "SOFS",
                ADDR["n3"], name]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, timeout: float = 30) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no witness event within {timeout} s") from None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_witness_registrations_in_dashboard_api_and_events(cluster: tuple[Path, int, int], tmp_path: Path) -> None:
    state, api_port, wport = cluster
    client = SwnClient(wport, "HOST1")
    drv = None
    try:
        assert client.next()["event"] == "registered"
        (reg,) = cmdlet(state, "Get-SmbWitnessClient")
        assert (reg["ClientName"], reg["FileServerNodeName"], reg["WitnessNodeName"]) == ("HOST1", "N3", "N1")
        assert cmdlet(state, "Get-SmbWitnessClient", "-ClientName", "host1") == [reg]
        assert cmdlet(state, "Get-SmbWitnessClient", "-ClientName", "HOST2") == []
        api = Api(state, api_port)
        until(lambda: api.call("GET", "/api/v1/whoami")[0] == 200, 30, "the API up")
        assert api.call("GET", "/api/v1/witness")[1] == [reg]

        drv = browser(tmp_path / "chrome")
        sign_in(drv, f"https://{ADDR['n1']}:{api_port}/", "admin")
        rows = until(lambda: table(drv, "witness"), 10, "the registration shown")
        assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == \
            [(reg["ClientName"], reg["IpAddress"], reg["FileServerNodeName"], reg["WitnessNodeName"], reg["ShareName"])]
        until(lambda: any(r[2] == "WitnessClientRegistered" and "HOST1" in r[3] for r in table(drv, "events")), 15,
              "the registration in the recent events")

        # Move-SmbWitnessClient through the page: the client is told to move to n2
        row = '#witness tr[data-client="HOST1"]'
        click(drv, row + " button.move-client", row + " select.target", "n2")
        ev = client.next()
        assert ev["event"] == "client_move" and ADDR["n2"] in ev["addresses"], ev
        until(lambda: "done" in text(drv, "#action-result"), 10, "the page to say so")
        until(lambda: cmdlet(state, "Get-SmbWitnessClient")[0]["FileServerNodeName"] == "N2", 10, "the move recorded")
        until(lambda: any(r[2] == "WitnessClientNotified" and "told to move to n2" in r[3]
                          for r in table(drv, "events")), 15, "the notification in the recent events")
        until(lambda: table(drv, "witness")[0][2] == "N2", 10, "the page to show the new node")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        drv.execute_script("document.querySelector('#witness').scrollIntoView()")
        drv.save_screenshot(str(ARTIFACTS / "witness.png"))

        # the same events in Get-ClusterLog, from every node's log
        out = tmp_path / "log"
        out.mkdir()
        assert sofs("Get-ClusterLog", "-Destination", str(out), "-TimeSpan", "10", state=state).returncode == 0
        n1 = (out / "n1_cluster.log").read_text()
        assert "[WitnessClientRegistered] witness client HOST1 registered with n1" in n1, n1[-2000:]
        assert "[WitnessClientNotified] witness client HOST1 told to move to n2" in n1

        # the move route: refused without Full access, bad bodies and unknown clients change nothing
        for user, want in ((None, 401), ("viewer", 403)):
            assert api.call("POST", "/api/v1/witness/HOST1/move", user, {"node": "n1"})[0] == want
        for raw in (b'{"nod": "n1"}', b"{}", b'{"node": 1}'):
            assert api.call("POST", "/api/v1/witness/HOST1/move", raw=raw)[0] == 400
        assert api.call("POST", "/api/v1/witness/NOBODY/move", body={"node": "n1"})[0] == 404
        assert api.call("POST", "/api/v1/witness/HOST1/move", body={"node": "n9"})[0] == 404
        assert cmdlet(state, "Get-SmbWitnessClient")[0]["FileServerNodeName"] == "N2"
    finally:
        if drv is not None:
            drv.quit()
        client.stop()
