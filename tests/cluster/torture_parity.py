"""Compare smbtorture on one node and across nodes (issue 13 acceptance 1), by hand::

    .venv/bin/python tests/cluster/torture_parity.py [--out DIR] [--only one|nodes] [share=ca] GROUP_OR_TEST...

Runs the groups on a standalone ``sofs serve`` (the fixture shares of the one-node ratchet) and on a
3-node cluster behind the round-robin relay (:mod:`test_cluster_torture`), both at once, then prints
per group the passes on one node and across nodes, and every test whose result differs. Results stay
in ``DIR/one/results.tsv`` and ``DIR/nodes/results.tsv`` (logs beside them; node logs in
``DIR/nodes/n*.log``).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_cluster_torture import TortureCluster

from tests.conftest import start_sofs, tmpfs_dir
from tests.interop.test_torture_ratchet import SHARES, run_torture

Results = dict[str, tuple[str, str]]


def run_one(share: str, tests: list[str], out: Path) -> Results:
    root = tmpfs_dir("sofs-parity-one-")
    srv = start_sofs(root, shares=SHARES)
    try:
        return run_torture(srv.port, share, tests, out)
    finally:
        srv.stop()
        shutil.copy(srv.log, out / "server.log")
        shutil.rmtree(root, ignore_errors=True)


def run_nodes(share: str, tests: list[str], out: Path) -> Results:
    c = TortureCluster().start()
    try:
        return run_torture(c.proxy.port if c.proxy else 0, share, tests, out)
    finally:
        for log in c.state.glob("n*.log"):
            shutil.copy(log, out / log.name)
        c.stop()


def group_of(test: str, groups: list[str]) -> str:
    return max((g for g in groups if test == g or test.startswith(g + ".")), key=len, default=test)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", choices=("one", "nodes"), default=None)
    ap.add_argument("names", nargs="+")
    a = ap.parse_args(argv)
    share = next((n.split("=", 1)[1] for n in a.names if n.startswith("share=")), "share")
    groups = [n for n in a.names if not n.startswith("share=")]
    out = a.out or Path(tempfile.mkdtemp(prefix="parity-"))
    results: dict[str, Results] = {}

    def run(kind: str) -> None:
        fn = run_one if kind == "one" else run_nodes
        results[kind] = fn(share, groups, out / kind)

    kinds = [a.only] if a.only else ["one", "nodes"]
    threads = [threading.Thread(target=run, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    one, nodes = results.get("one", {}), results.get("nodes", {})
    print(f"# share={share} out={out}")
    print("group\tone node\tacross nodes")
    def count(r: Results, g: str) -> str:
        mine = [v for t, v in r.items() if group_of(t, groups) == g]
        return f"{sum(v[0] == 'success' for v in mine)}/{len(mine)}" if r else "-"

    for g in groups:
        print(f"{g}\t{count(one, g)}\t{count(nodes, g)}")
    if one and nodes:
        for t in sorted(set(one) | set(nodes)):
            o, n = one.get(t, ("missing", "")), nodes.get(t, ("missing", ""))
            if o[0] != n[0]:
                print(f"DIFF {t}\tone={o[0]}\tnodes={n[0]}: {n[1] or o[1]}")
    else:
        for t, (r, why) in sorted((one or nodes).items()):
            print(f"{t}\t{r}\t{why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
