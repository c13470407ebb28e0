"""The smbtorture ratchet across nodes: every test listed in ``tests/torture/passing_nodes.txt`` must
keep passing with each new connection of a test sent to the next node of a 3-node cluster.

Three real ``sofs node`` processes (embedded store, loopback), the fixture shares (``share`` plain,
``ca`` continuously available) on the cluster volume Volume1, and a round-robin relay
(:mod:`rr_proxy`) in front of the nodes: smbtorture's second connection of a test lands on another node
than its first, so share modes, oplock/lease breaks, locks, notify, replay and durable reconnects are
checked between nodes (each volume has one coordinator; the other nodes reach it over the link).

Run it by hand for a whole group and a comparison with one node::

    .venv/bin/python tests/cluster/test_cluster_torture.py smb2.lease smb2.oplock ...
"""
from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cluster_proc import free_port_on, sofs
from rr_proxy import RoundRobinProxy

from tests.conftest import USERS, tmpfs_dir
from tests.interop.test_torture_ratchet import run_torture

LIST = Path(__file__).resolve().parents[1] / "torture" / "passing_nodes.txt"
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARES = {"share": False, "ca": True}


async def _new_shares(state: Path) -> None:
    from sofs.cluster.config import load_cluster_config
    from sofs.management.services.shares import ShareService

    cfg = load_cluster_config(str(state))
    assert cfg is not None
    store = await cfg.open_store()
    try:
        svc = ShareService(store, prefix=cfg.prefix, check_local_paths=False)
        for name, ca in SHARES.items():
            await svc.new_share(name, rf"C:\ClusterStorage\Volume1\torture\{name}", full_access=["alice", "bob"],
                                continuously_available=ca)
    finally:
        await store.close()


class TortureCluster:
    """A 3-node cluster with the fixture shares and the relay in front of it."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or tmpfs_dir("sofs-nodes-torture-")
        self.state = self.root / "cluster"
        self.proxy: RoundRobinProxy | None = None

    def start(self) -> TortureCluster:
        state = self.state
        state.mkdir(parents=True)
        (state / "smb.toml").write_text(
            "".join(f'[[user]]\nname = "{u}"\npassword = "{p}"\n' for u, p in USERS.items()))
        for name in SHARES:
            d = state / "ClusterStorage" / "Volume1" / "torture" / name
            d.mkdir(parents=True)
            d.chmod(0o777)
        port = free_port_on(list(ADDR.values()))
        r = sofs("cluster", "up", "3", "--name", "tort", "--state-dir", str(state), "--smb-port", str(port),
                 timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        asyncio.run(_new_shares(state))
        self.proxy = RoundRobinProxy("127.0.0.1", [(a, port) for a in ADDR.values()]).start()
        return self

    def run(self, share: str, tests: list[str]) -> dict[str, tuple[str, str]]:
        assert self.proxy is not None
        return run_torture(self.proxy.port, share, tests, self.root / f"out-{share}")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        sofs("cluster", "down", "--state-dir", str(self.state), timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def read_list() -> dict[str, list[str]]:
    by_share: dict[str, list[str]] = {}
    for raw in LIST.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *opts = line.split()
        share = next((o.split("=", 1)[1] for o in opts if o.startswith("share=")), "share")
        by_share.setdefault(share, []).append(name)
    return by_share


@pytest.fixture(scope="module")
def torture_cluster() -> Iterator[TortureCluster]:
    if shutil.which("smbtorture") is None:
        pytest.fail("smbtorture is not installed: run scripts/setup.sh")
    c = TortureCluster().start()
    yield c
    c.stop()


@pytest.mark.interop
@pytest.mark.timeout(2400)
def test_smbtorture_ratchet_across_nodes(torture_cluster: TortureCluster) -> None:
    wanted = read_list()
    failures = []
    for share, tests in wanted.items():
        results = torture_cluster.run(share, tests)
        failures += [f"{t} [{share}]: {r[0]}: {r[1]}" for t in tests
                     if (r := results.get(t, ("missing", "no result")))[0] != "success"]
    assert torture_cluster.proxy is not None and torture_cluster.proxy.connections > 0
    assert not failures, "smbtorture regressions across nodes:\n" + "\n".join(sorted(failures))


def main(argv: list[str]) -> int:
    """Run whole groups across nodes and print one line per test (for the issue note)."""
    share = "share"
    groups = []
    for a in argv:
        if a.startswith("share="):
            share = a.split("=", 1)[1]
        else:
            groups.append(a)
    c = TortureCluster().start()
    try:
        res = c.run(share, groups)
    finally:
        c.stop()
    ok = sum(1 for r, _ in res.values() if r == "success")
    for n, (r, why) in sorted(res.items()):
        print(f"{n}\t{r}\t{why}")
    print(f"# {ok}/{len(res)} passed across nodes on share {share}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
