"""End to end: `sofs cluster up 3` (embedded, loopback), then the README cmdlets through the `sofs` CLI."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("sofs.cluster.client", "sofs.cli.cluster_cmd")


def sofs(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sofs", *args], env=env, cwd=env["SOFS_CLUSTER_DIR"],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    for mod in NEEDED:
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not available yet")
    sys.path.insert(0, str(ROOT / "tests" / "cluster"))
    from cluster_proc import free_port_on

    # SMB on a port free on 127.0.0.11-13, so a cluster already on 445 (sofs demo) does not collide
    port = free_port_on(["127.0.0.11", "127.0.0.12", "127.0.0.13"])
    env = {**os.environ, "SOFS_CLUSTER_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), "SOFS_SMB_PORT": str(port)}
    env.pop("SOFS_CLUSTER_CONFIG", None)
    up = subprocess.Popen([sys.executable, "-m", "sofs", "cluster", "up", "3"], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = sofs(env, "Get-ClusterNode")
            if r.returncode == 0 and r.stdout.count(" Up ") >= 3:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"cluster did not come up: {r.stdout}{r.stderr}")
        yield env
    finally:
        sofs(env, "cluster", "down", timeout=30)
        if up.poll() is None:
            up.terminate()
            try:
                up.wait(10)
            except subprocess.TimeoutExpired:
                up.kill()


class Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and "test" in (dict(attrs).get("class") or "").split():
            self._row = []
        elif tag == "td" and self._row is not None:
            self._in_td = True
            self._row.append("")

    def handle_data(self, data: str) -> None:
        if self._in_td and self._row is not None:
            self._row[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_td = False
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None


def test_readme_cmdlets(cluster: dict[str, str], tmp_path: Path) -> None:
    env = cluster
    r = sofs(env, "Get-Cluster")
    assert r.returncode == 0, r.stderr
    r = sofs(env, "Get-ClusterGroup")
    assert r.returncode == 0 and "OwnerNode" in r.stdout, r.stderr
    r = sofs(env, "Invoke-Expression", "(Get-Cluster).SameSubnetThreshold = 5")
    assert r.returncode == 0, r.stderr
    r = sofs(env, "Get-Cluster", "|", "Format-List", "SameSubnetThreshold")
    assert "SameSubnetThreshold : 5" in r.stdout, r.stdout + r.stderr
    r = sofs(env, "Set-ClusterQuorum", "-DiskWitness", str(tmp_path / "witness.lock"))
    assert r.returncode == 0 and "Disk Witness" in r.stdout, r.stderr
    nodes = [line.split()[0] for line in sofs(env, "Get-ClusterNode").stdout.splitlines()[3:] if line.strip()]
    r = sofs(env, "Suspend-ClusterNode", nodes[0], "-Drain")
    assert r.returncode == 0 and "Paused" in r.stdout, r.stderr
    r = sofs(env, "Resume-ClusterNode", nodes[0])
    assert r.returncode == 0, r.stderr
    report = tmp_path / "report.htm"
    r = sofs(env, "Test-Cluster", "-Node", ",".join(nodes), "-ReportName", str(report), timeout=120)
    assert r.returncode == 0, r.stderr
    p = Rows()
    p.feed(report.read_text())
    got = {row[1]: row[2] for row in p.rows}
    assert got["Validate cluster store"] == "Pass"
    assert got["Validate witness"] == "Pass"
    assert got["Validate clock skew"] == "Pass"
