"""Issue 15 item 7 / acceptance 3 (small CI size): Invoke-ClusterFailoverDrill against a real 3-node
cluster: 2 VMs per event on a CA share through a kill -9 of a node, a drain, a live migration through
the same node and through another node, and a move of the volume's coordinator
(Move-ClusterSharedVolume); the report shows 0 errors and 0 lost or corrupt blocks for each."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from cluster_proc import free_port_on, sofs

pytestmark = pytest.mark.interop
ADDR = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
ARTIFACTS = Path(os.environ.get("SOFS_ARTIFACTS", ROOT / "artifacts")) / "drill"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    pytest.importorskip("smbprotocol")
    state = tmp_path / "c"
    r = sofs("cluster", "up", "3", "--name", "drill", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(free_port_on(ADDR)))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert sofs("New-LocalUser", "hyperv", "-Password", "hyperv password", state=state).returncode == 0
        r = sofs("New-SmbShare", "VMS", r"C:\ClusterStorage\Volume1\Shares\VMS", "-FullAccess", "hyperv",
                 "-ContinuouslyAvailable", "$true", "-CreatePath", state=state)
        assert r.returncode == 0, r.stderr
        yield state
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def test_failover_drill_small(cluster: Path, tmp_path: Path) -> None:
    report = tmp_path / "drill.htm"
    r = sofs("Invoke-ClusterFailoverDrill", "VMS", "-Event", "Kill,LiveMigration,LiveMigrationOtherNode,Drain,VolumeMove", "-VMCount", "2",
             "-VMSize", "1MB", "-User", "hyperv", "-Password", "hyperv password", "-WarmupSeconds", "2",
             "-RunSeconds", "4", "-ReportName", str(report), "-AsJson", state=cluster, timeout=400)
    print(r.stderr)
    if report.exists():  # kept for a look at the handle timelines (as the dashboard's screenshots)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(report, ARTIFACTS / "drill.htm")
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    rows = json.loads(r.stdout[: r.stdout.rindex("]") + 1])
    print("\n".join(f"DRILL {x['Event']} {x['Vm']}: pause {x['PauseS']} s, errors {x['Errors']}, lost "
                    f"{x['LostBlocks']}, corrupt {x['CorruptBlocks']}, {x['Result']}: {x['Detail']}" for x in rows))
    by_event = {}
    for x in rows:
        by_event.setdefault(x["Event"], []).append(x)
    for event in ("Kill", "LiveMigration", "LiveMigrationOtherNode", "Drain", "VolumeMove"):
        assert [x["Result"] for x in by_event[event]] == ["Passed", "Passed"], by_event[event]
        assert all(x["LostBlocks"] == 0 and x["CorruptBlocks"] == 0 and x["Errors"] == 0 for x in by_event[event])
    move = by_event["VolumeMove"][0]["Detail"]
    assert "Move-ClusterSharedVolume Volume1" in move, move
    src, dst = move.split("Volume1 ", 1)[1].split(" (")[0].split(" -> ")
    assert src != dst, move  # the coordinator did move
    # the handle events of the coordinators: clients reclaimed their persistent handles (kill), the
    # nodes re-registered their opens with the volume's new coordinator (move), the migration closed
    # the old host's handle (App Instance ID)
    (tmp_path / "log").mkdir()
    r = sofs("Get-ClusterLog", "-Destination", str(tmp_path / "log"), "-TimeSpan", "30", state=cluster)
    assert r.returncode == 0, r.stderr
    log = "".join(p.read_text() for p in (tmp_path / "log").glob("*_cluster.log"))
    for kind in ("[HandleReclaimed]", "[HandlesReregistered]", "[HandleSuperseded]"):
        assert kind in log, kind
    text = report.read_text()
    assert "reclaimed" in text and "closed_by_new_host" in text and "class='Failed'" not in text
    r = sofs("cluster", "down", "--state-dir", str(cluster), state=cluster)
    assert "stopped 3 node process(es)" in r.stdout, r.stdout  # the restarted node is known to `cluster down`
