"""Which cluster a cmdlet acts on (-Cluster, the environment), and `sofs ... | head` without a traceback."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sofs.cluster.client import ClusterClient
from sofs.cluster.config import ClusterConfig, write_cluster_config
from sofs.cluster.store_embedded import EmbeddedStore

REPO = Path(__file__).resolve().parents[2]


def make_cluster(state: Path, name: str) -> Path:
    async def body() -> None:
        store = await EmbeddedStore.open(state)
        try:
            await ClusterClient(store).create_cluster(name, ["n1"])
        finally:
            await store.close()
    state.mkdir(parents=True)
    asyncio.run(body())
    write_cluster_config(ClusterConfig(state, name=name))
    return state


def sofs(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOFS_CLUSTER")}
    base["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "sofs", *args], capture_output=True, text=True, cwd=cwd,
                          env={**base, **(env or {})}, timeout=60, check=False)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    return make_cluster(tmp_path / "a", "alpha"), make_cluster(tmp_path / "b", "beta")


def test_cluster_parameter_picks_the_state_dir(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two
    r = sofs("Get-Cluster", "-Cluster", str(b), cwd=tmp_path)
    assert r.returncode == 0 and "beta" in r.stdout, r.stderr
    r = sofs("Get-ClusterNode", "-Cluster", str(a / "cluster.json"), cwd=tmp_path)
    assert r.returncode == 0 and "n1" in r.stdout, r.stderr
    # by name: the cluster the environment points at
    r = sofs("Get-Cluster", "-Cluster", "alpha", cwd=tmp_path, env={"SOFS_CLUSTER_DIR": str(a)})
    assert r.returncode == 0 and "alpha" in r.stdout, r.stderr
    r = sofs("Get-Cluster", "-Cluster", "gamma", cwd=tmp_path, env={"SOFS_CLUSTER_DIR": str(a)})
    assert r.returncode == 1 and "'gamma' was not found" in r.stderr and "alpha" in r.stderr, r.stderr
    r = sofs("Get-Cluster", "-Cluster", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 1 and "cluster.json is missing" in r.stderr, r.stderr


def test_environment_variables(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two
    assert "beta" in sofs("Get-Cluster", cwd=tmp_path, env={"SOFS_CLUSTER_DIR": str(b)}).stdout
    r = sofs("Get-Cluster", cwd=tmp_path, env={"SOFS_CLUSTER_CONFIG": str(a / "cluster.json"),
                                               "SOFS_CLUSTER_DIR": str(b)})
    assert "alpha" in r.stdout, r.stderr
    r = sofs("Get-Cluster", cwd=tmp_path)
    assert r.returncode == 1 and "No cluster was found" in r.stderr and "-Cluster" in r.stderr, r.stderr
    assert "SOFS_CLUSTER_DIR" in sofs("--help", cwd=tmp_path).stdout


def test_pipe_into_head_prints_no_traceback(tmp_path: Path) -> None:
    """The reader (``true``) is gone long before sofs writes (it starts in ~0.3 s): EPIPE on every run."""
    cmd = f"{sys.executable} -m sofs Get-Command | true; echo rc=${{PIPESTATUS[0]}}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.stdout == "rc=141\n" and r.stderr == "", r.stderr
