"""Get-ClusterLog and the API's events gather every node's logs through the cluster store: three
``sofs node`` processes on a real 3-member etcd cluster, each with a state directory of its own (three
machines), and the reader on "machine" 1 gets node 2's process log and node 3's events.

A node killed with SIGKILL cannot answer: its file says so (its logs are not on this machine)."""
from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.cluster.client import ClusterClient
from sofs.cluster.config import ClusterConfig, NodeProcess, load_cluster_config, write_cluster_config
from sofs.cluster.processes import start_node
from sofs.cluster.store_etcd import open_etcd_store
from sofs.management.clusterlog import ClusterLogService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from etcd_fixture import EtcdCluster, etcd_available

pytestmark = [pytest.mark.etcd, pytest.mark.interop,
              pytest.mark.skipif(not etcd_available(), reason="etcd not installed (Debian package etcd-server)")]
NODES = ("n1", "n2", "n3")


def ps(state: Path, *argv: str, cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "-Cluster", str(state)], stdout=out, stderr=err, cwd=str(cwd))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[dict[str, Path], dict[str, subprocess.Popen[bytes]]]]:
    etcd = EtcdCluster(tmp_path / "etcd", 3)
    etcd.start()
    prefix = f"/log{uuid.uuid4().hex[:6]}/"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        async def create() -> None:
            store = await open_etcd_store(etcd.endpoints)
            try:
                await ClusterClient(store, prefix).create_cluster(
                    "logs", list(NODES), properties={"SameSubnetDelay": 200, "SameSubnetThreshold": 5})
            finally:
                await store.close()
        asyncio.run(create())
        dirs = {}
        for i, n in enumerate(NODES):
            d = tmp_path / f"machine{i + 1}"
            d.mkdir()
            write_cluster_config(ClusterConfig(d, name="logs", backend="etcd", prefix=prefix,
                                               etcd_endpoints=tuple(etcd.endpoints),
                                               nodes={m: NodeProcess(f"127.0.0.{11 + j}") for j, m in enumerate(NODES)}))
            dirs[n] = d
            procs[n] = start_node(d, n, no_smb=True, detach=False)
        deadline = time.monotonic() + 60
        while True:
            code, out, err = ps(dirs["n1"], "Get-ClusterNode", cwd=tmp_path)
            if code == 0 and out.count(" Up ") == 3:
                break
            assert time.monotonic() < deadline, out + err
            time.sleep(0.3)
        yield dirs, procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        etcd.stop()


def stamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f",{int(t * 1000) % 1000:03d}"


def test_cluster_log_gathers_every_machines_logs(machines: tuple[dict[str, Path], dict[str, subprocess.Popen[bytes]]],
                                                 tmp_path: Path) -> None:
    dirs, procs = machines
    marker = f"marker-{uuid.uuid4().hex}"
    with open(dirs["n2"] / "n2.log", "a") as f:  # a line only machine 2 has
        f.write(f"{stamp()} INFO test: {marker}\n")
    assert ps(dirs["n1"], "Suspend-ClusterNode", "n3", cwd=tmp_path)[0] == 0
    time.sleep(1.5)  # every node's recorder sees n3 Paused (it wakes on the change)
    assert ps(dirs["n1"], "Resume-ClusterNode", "n3", cwd=tmp_path)[0] == 0
    assert not (dirs["n1"] / "n2.log").exists() and not (dirs["n1"] / "events" / "n3.jsonl").exists()

    out = tmp_path / "logs"
    out.mkdir()
    code, text, err = ps(dirs["n1"], "Get-ClusterLog", "-Destination", str(out), "-TimeSpan", "10", cwd=tmp_path)
    assert code == 0, err
    print(text)
    logs = {n: (out / f"{n}_cluster.log").read_text() for n in NODES}
    for n in NODES:
        assert "sent by the node" in logs[n].splitlines()[0], logs[n][:300]
    assert marker in logs["n2"] and marker not in logs["n1"]
    assert "[NodePaused]" in logs["n3"], logs["n3"]  # recorded by n3 itself, on machine 3

    async def events() -> set[tuple[str, str]]:  # what GET /api/v1/events serves (the same service)
        cfg = load_cluster_config(dirs["n1"])
        assert cfg is not None
        store = await open_etcd_store(list(cfg.etcd_endpoints))
        svc = ClusterLogService(dirs["n1"], ClusterClient(store, cfg.prefix))
        try:
            return {(e.node, e.kind) for e in await svc.events()}
        finally:
            await svc.close()
    got = asyncio.run(events())
    assert {("n1", "NodePaused"), ("n2", "NodePaused"), ("n3", "NodePaused")} <= got, got

    # a node killed: it cannot answer, and its logs are on its own machine only
    procs["n2"].send_signal(signal.SIGKILL)
    procs["n2"].wait()
    deadline = time.monotonic() + 30
    while "Down" not in ps(dirs["n1"], "Get-ClusterNode", "n2", cwd=tmp_path)[1]:
        assert time.monotonic() < deadline, "n2 marked Down"
        time.sleep(0.3)
    code, _, err = ps(dirs["n1"], "Get-ClusterLog", "-Node", "n2,n3", "-Destination", str(out), cwd=tmp_path)
    assert code == 0, err
    head = (out / "n2_cluster.log").read_text().splitlines()[0]
    assert "did not answer and its logs are not on this machine" in head, head
    assert "sent by the node" in (out / "n3_cluster.log").read_text().splitlines()[0]

