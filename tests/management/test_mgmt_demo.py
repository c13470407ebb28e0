"""Issue 6, acceptance 5: the README's cluster cmdlet lines, verbatim, against the demo cluster.

``sofs demo`` (3 nodes on 127.0.0.11-13, share VMS continuously available) runs in a temporary state
dir with ``SOFS_SMB_PORT`` set to a port free on all three addresses (the demo's default is 445, which
another cluster on this machine may hold). Then every ``sofs Verb-Noun ...`` line of the README's
"The cluster" section runs through the real CLI, plus ``Get-SmbShare``; ``Test-Cluster`` writes its
HTML report where the README line puts it (the current directory) and the test parses it.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]
ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
CMDLET = re.compile(r"^[A-Za-z]+-[A-Za-z]+$")


def readme_cmdlet_lines() -> list[list[str]]:
    """Argument lists of the ``sofs Verb-Noun ...`` lines in README.md's "The cluster" section."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## The cluster\n(.*?)(?=^## )", text, re.DOTALL | re.MULTILINE)
    assert m, "README.md has no '## The cluster' section"
    out = []
    for line in m.group(1).splitlines():
        if not line.lstrip().startswith((".venv/bin/sofs", "sofs ")):
            continue  # prose
        words = shlex.split(line, comments=True)
        if len(words) > 1 and words[0].endswith("sofs") and CMDLET.match(words[1]):
            out.append(words[1:])
    return out


@dataclass
class Demo:
    state: Path
    port: int
    cwd: Path
    dns_port: int = 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo cluster for the module (the tests only read it, except Move-ClusterGroup)."""
    from cluster_proc import free_port_on, sofs, sofs_env

    tmp_path = tmp_path_factory.mktemp("demo")
    state, cwd = tmp_path / "demo", tmp_path / "work"
    cwd.mkdir()
    port, dns_port = free_port_on(ADDRS), free_port_on(ADDRS)
    env = sofs_env(None, SOFS_SMB_PORT=str(port), SOFS_DNS_PORT=str(dns_port))
    env.pop("SOFS_CLUSTER_DIR", None)
    r = sofs("demo", "--state-dir", str(state), env=env, cwd=cwd, timeout=120)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        yield Demo(state, port, cwd, dns_port)
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "10")


def run(d: Demo, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    from cluster_proc import sofs
    return sofs(*args, state=d.state, cwd=d.cwd, timeout=timeout)


sys.path.insert(0, str(ROOT / "tests" / "cluster"))  # cluster_proc helpers


class ReportRows(HTMLParser):
    """The ``<tr class="test">`` rows of a Test-Cluster report: [category, name, status, ...]."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.title = ""
        self._row: list[str] | None = None
        self._in_td = self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and "test" in (dict(attrs).get("class") or "").split():
            self._row = []
        elif tag == "td" and self._row is not None:
            self._in_td = True
            self._row.append("")
        elif tag == "title":
            self._in_title = True

    def handle_data(self, data: str) -> None:
        if self._in_td and self._row is not None:
            self._row[-1] += data
        elif self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_td = False
        elif tag == "title":
            self._in_title = False
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None


def table_rows(out: str) -> list[list[str]]:
    """Data rows of a PowerShell table (after the ``----`` underline)."""
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("--"))
    return [line.split() for line in lines[i + 1:] if line.strip()]


def test_readme_cmdlets_against_the_demo(demo: Demo) -> None:
    lines = readme_cmdlet_lines()
    names = [w[0] for w in lines]
    for want in ("Get-ClusterNode", "Get-ClusterGroup", "Move-ClusterGroup", "Test-Cluster"):
        assert want in names, f"README no longer shows {want}: {names}"
    outputs: dict[str, str] = {}
    for words in lines:
        t0 = time.monotonic()
        r = run(demo, *words, timeout=120)
        assert r.returncode == 0, f"{shlex.join(words)}: {r.stdout}{r.stderr}"
        outputs[words[0]] = r.stdout
        print(f"README {shlex.join(words)}: {time.monotonic() - t0:.2f} s")

    nodes = {row[0]: row[1] for row in table_rows(run(demo, "Get-ClusterNode").stdout)}
    assert nodes == {"n1": "Up", "n2": "Up", "n3": "Up"}, nodes
    move = next(w for w in lines if w[0] == "Move-ClusterGroup")
    group, dest = move[move.index("-Name") + 1], move[move.index("-Node") + 1]
    r = run(demo, "Get-ClusterGroup")
    row = next(line for line in r.stdout.splitlines() if line.startswith(group))
    assert row.split()[len(group.split())] == dest and "Online" in row, r.stdout

    r = run(demo, "Get-SmbShare")
    assert r.returncode == 0 and "VMS" in r.stdout, r.stdout + r.stderr
    assert ["VMS", "SOFS"] == table_rows(r.stdout)[0][:2], r.stdout  # the seed's share is in the role
    assert any(row[0] == "SOFS" and "Distributed" in row for row in table_rows(run(demo, "Get-ClusterResource").stdout))
    if shutil.which("dig"):
        both = sorted([*ADDRS, *(a.replace("127.0.0.", "127.0.1.") for a in ADDRS)])  # two addresses per node
        deadline = time.monotonic() + 10
        while True:
            d = subprocess.run(["dig", "@127.0.0.11", "-p", str(demo.dns_port), "SOFS", "+short"],
                               capture_output=True, text=True, timeout=15, check=False)
            if sorted(d.stdout.split()) == both or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sorted(d.stdout.split()) == both, d.stdout + d.stderr
    r = run(demo, "Get-SmbShare", "-Name", "VMS", "|", "Format-List")
    assert re.search(r"ContinuouslyAvailable\s*:\s*True", r.stdout), r.stdout + r.stderr

    m = re.search(r"Test report file path: (.+\.htm)", outputs["Test-Cluster"])
    assert m, outputs["Test-Cluster"]
    report = Path(m.group(1))
    assert report.parent == demo.cwd and report.exists()
    p = ReportRows()
    p.feed(report.read_text())
    got = {row[1]: row[2] for row in p.rows}
    for check in ("List cluster nodes", "Validate node reachability", "Validate SMB port", "Validate clock skew",
                  "Validate cluster store", "Validate volume paths"):
        assert got.get(check) == "Pass", (check, got)
    assert got.get("Validate witness") in ("Skip", "Pass"), got  # 3 votes, no witness: not applicable
    assert all(n in report.read_text() for n in ("n1", "n2", "n3"))


def test_demo_share_serves_smb(demo: Demo) -> None:
    """The demo's share answers a real client on every node (the demo user from the demo's smb.toml)."""
    if shutil.which("smbclient") is None:
        pytest.skip("smbclient not installed")
    from sofs.cli.demo_cmd import DEMO_PASSWORD, DEMO_USER, SHARE
    for addr in ADDRS:
        # a node may need a second load of the share (see the report: CA journal race between nodes)
        deadline = time.monotonic() + 3
        while True:
            r = subprocess.run(["smbclient", f"//{addr}/{SHARE}", "-p", str(demo.port), "-U",
                                f"{DEMO_USER}%{DEMO_PASSWORD}", "-m", "SMB3", "-c", "ls"],
                               capture_output=True, text=True, timeout=30, check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.returncode == 0, f"{addr}: {r.stdout}{r.stderr}"
