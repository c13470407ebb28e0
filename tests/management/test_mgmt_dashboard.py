"""Issue 15 acceptance 1: the dashboard in headless Chromium (Debian's chromium + chromium-driver,
driven through selenium) against a real 3-node cluster: the page loads over HTTPS, its tables hold
what the cmdlets print, an admin's Move through the page takes effect (the cmdlet sees it), a
read-only account gets no action buttons. Screenshots of the views go to ``artifacts/dashboard/``
(``$SOFS_ARTIFACTS`` to change it)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_proc import free_port_on, sofs

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("SOFS_ARTIFACTS", ROOT / "artifacts")) / "dashboard"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, int]]:
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium / chromedriver not installed (scripts/setup.sh installs them)")
    pytest.importorskip("selenium")
    state = tmp_path_factory.mktemp("dash") / "c"
    state.mkdir()
    api_port, smb_port = free_port_on(list(ADDR.values())), free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "dash", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(smb_port), "--api-port", str(api_port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        for user, access in (("admin", "-Full"), ("viewer", "-ReadOnly")):
            assert sofs("New-LocalUser", user, "-Password", f"{user} password", state=state).returncode == 0
            assert sofs("Grant-ClusterAccess", user, access, state=state).returncode == 0
        r = sofs("New-SmbShare", "VMS", r"C:\ClusterStorage\Volume1\Shares\VMS", "-FullAccess", "admin",
                 "-ContinuouslyAvailable", "$true", "-CreatePath", state=state)
        assert r.returncode == 0, r.stderr
        yield state, api_port, smb_port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def browser(tmp: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1500", f"--user-data-dir={tmp}",
                 "--ignore-certificate-errors"):  # the cluster's self-signed certificate
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(DRIVER))


def sign_in(drv: Any, url: str, user: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    drv.get(url)
    WebDriverWait(drv, 20).until(lambda d: d.find_element(By.ID, "user").is_displayed())
    drv.find_element(By.ID, "user").send_keys(user)
    drv.find_element(By.ID, "password").send_keys(f"{user} password")
    drv.find_element(By.ID, "signin").click()
    WebDriverWait(drv, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "1")


def table(drv: Any, section: str) -> list[list[str]]:
    """The rows of a table as the page shows them now (read in one script: the page re-renders every 2 s)."""
    return list(drv.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
        ".map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))", f"#{section}"))


def text(drv: Any, css: str) -> str:
    return str(drv.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css))


def click(drv: Any, css: str, select: str | None = None, value: str | None = None) -> None:
    """A user's click (after choosing ``value`` in the ``select`` list), done in one script so a refresh
    cannot replace the row in between."""
    ok = drv.execute_script(
        "const b = document.querySelector(arguments[0]); if (!b) return false;"
        "if (arguments[1]) { const s = document.querySelector(arguments[1]); s.value = arguments[2];"
        " s.dispatchEvent(new Event('change')); }"
        "b.click(); return true;", css, select, value)
    assert ok, f"no {css} on the page"


def cmdlet(state: Path, *args: str) -> list[dict[str, Any]]:
    r = sofs(*args, "-AsJson", state=state)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    return data if isinstance(data, list) else [data]


def until(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_dashboard_views_data_and_actions(cluster: tuple[Path, int, int], tmp_path: Path) -> None:
    from smbprotocol.connection import Connection, Dialects
    from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    state, api_port, smb_port = cluster
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    conn = Connection(uuid.uuid4(), ADDR["n2"], smb_port, require_signing=False)
    conn.connect(Dialects.SMB_3_1_1, timeout=5)
    session = Session(conn, "admin", "admin password", require_encryption=False)
    session.connect()
    tree = TreeConnect(session, rf"\\{ADDR['n2']}\VMS")
    tree.connect()
    op = Open(tree, "vm1.vhdx")
    op.create(ImpersonationLevel.Impersonation, 0x3, 0x80, 0, CreateDisposition.FILE_OVERWRITE_IF, 0x40)
    drv = browser(tmp_path / "chrome")
    try:
        sign_in(drv, f"https://{ADDR['n1']}:{api_port}/", "admin")
        nodes = table(drv, "nodes")
        assert [(r[0], r[1]) for r in nodes] == [(n["Name"], n["State"]) for n in cmdlet(state, "Get-ClusterNode")]
        groups = {r[0]: r[1] for r in table(drv, "groups")}
        assert groups == {g["Name"]: g["OwnerNode"] for g in cmdlet(state, "Get-ClusterGroup")}
        assert [r[0] for r in table(drv, "shares")] == [s["Name"] for s in cmdlet(state, "Get-SmbShare")]
        vols = until(lambda: table(drv, "volumes"), 10, "the volumes shown")
        assert [(r[0], r[2], r[3]) for r in vols] == [(v["Name"], v["Node"], v["State"])
                                                     for v in cmdlet(state, "Get-ClusterSharedVolume")]
        assert "Direct" in vols[0][5], vols  # how each node reaches it (Get-ClusterSharedVolumeState)
        q = cmdlet(state, "Get-ClusterQuorum")[0]
        assert text(drv, "#q-QuorumType") == q["QuorumType"]
        files = until(lambda: [r for r in table(drv, "openfiles") if r[2] == "vm1.vhdx"], 15, "the open file shown")
        assert files[0][5] == "n2" and files[0][4]
        assert until(lambda: table(drv, "events"), 10, "events shown")
        drv.save_screenshot(str(ARTIFACTS / "overview.png"))

        # an action through the page: move the cluster group to another node
        owner = groups["Cluster Group"]
        target = next(n for n in ADDR if n != owner)
        row = '#groups tr[data-group="Cluster Group"]'
        click(drv, row + " button.move", row + " select.target", target)
        until(lambda: cmdlet(state, "Get-ClusterGroup", "Cluster Group")[0]["OwnerNode"] == target, 10,
              "the move to take effect")
        until(lambda: "done" in text(drv, "#action-result"), 10, "the page to say so")
        until(lambda: {r[0]: r[1] for r in table(drv, "groups")}["Cluster Group"] == target, 10, "the page to show it")
        # move the volume's coordinator through the page
        vol = cmdlet(state, "Get-ClusterSharedVolume")[0]
        vtarget = next(n for n in ADDR if n != vol["Node"])
        vrow = f'#volumes tr[data-volume="{vol["Name"]}"]'
        click(drv, vrow + " button.move-volume", vrow + " select.target", vtarget)
        until(lambda: cmdlet(state, "Get-ClusterSharedVolume")[0]["Node"] == vtarget, 15, "the volume move")
        until(lambda: [r[2] for r in table(drv, "volumes")] == [vtarget], 10, "the page to show the new coordinator")
        drv.save_screenshot(str(ARTIFACTS / "after-move.png"))
        # drain and resume a node through the page
        click(drv, '#nodes tr[data-node="n3"] button.drain')
        until(lambda: cmdlet(state, "Get-ClusterNode", "n3")[0]["State"] == "Paused", 10, "n3 paused")
        click(drv, '#nodes tr[data-node="n3"] button.resume')
        until(lambda: cmdlet(state, "Get-ClusterNode", "n3")[0]["State"] == "Up", 10, "n3 resumed")
        # close the open file through the page
        fid = files[0][0]
        assert fid == str(cmdlet(state, "Get-SmbOpenFile")[0]["FileId"])  # all 64 bits, not a rounded Number
        click(drv, '#openfiles tbody tr button.close')
        until(lambda: not [r for r in table(drv, "openfiles") if r[2] == "vm1.vhdx"], 20,
              "the open file closed: " + text(drv, "#action-result"))
        assert not [f for f in cmdlet(state, "Get-SmbOpenFile") if f["ShareRelativePath"] == "vm1.vhdx"]
        # the SMB session, as Get-SmbSession shows it (all 64 bits of its id), closed through the page
        cmd = [s for s in cmdlet(state, "Get-SmbSession", "-ClusterNodeName", "n2")
               if s["ClientUserName"].endswith("\\admin")]
        assert len(cmd) == 1, cmd
        sid = str(cmd[0]["SessionId"])
        shown = until(lambda: [r for r in table(drv, "sessions") if r[0] == sid], 15, "the session shown")
        assert (shown[0][2], shown[0][3], shown[0][4]) == (cmd[0]["ClientUserName"], "n2", cmd[0]["Dialect"])
        click(drv, f'#sessions tr[data-session="{sid}"] button.close')
        until(lambda: not [s for s in cmdlet(state, "Get-SmbSession") if str(s["SessionId"]) == sid], 20,
              "the session closed: " + text(drv, "#action-result"))
        until(lambda: not [r for r in table(drv, "sessions") if r[0] == sid], 10, "the page to show it")
        drv.save_screenshot(str(ARTIFACTS / "events.png"))
    finally:
        drv.quit()
        with contextlib.suppress(Exception):  # the session was closed by the server
            conn.disconnect()

    drv = browser(tmp_path / "chrome2")
    try:  # a read-only account sees everything and gets no action buttons
        sign_in(drv, f"https://{ADDR['n3']}:{api_port}/", "viewer")
        assert drv.execute_script("return document.querySelectorAll('button.move, button.drain, button.close, "
                                  "button.move-volume')"
                                  ".length") == 0
        assert "read-only" in text(drv, "#who")
        drv.save_screenshot(str(ARTIFACTS / "read-only.png"))
    finally:
        drv.quit()
