"""``sofs cluster down`` finds every node process of its cluster, also one restarted by hand."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sofs.cluster.processes import node_processes


def test_node_processes_of_a_state_dir(tmp_path: Path) -> None:
    mine, other = tmp_path / "c1", tmp_path / "c2"
    mine.mkdir()
    other.mkdir()
    sleep = "import time; time.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", sleep, "sofs", "node", "--name", name, "--state-dir", str(d)])
             for name, d in (("n3", mine), ("n1", other))]
    procs.append(subprocess.Popen([sys.executable, "-c", sleep, "sofs", "serve", "--state-dir", str(mine)]))
    try:
        found = node_processes(mine)
        assert found == {procs[0].pid: "n3"}
        assert node_processes(other) == {procs[1].pid: "n1"}
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert node_processes(mine) == {}
