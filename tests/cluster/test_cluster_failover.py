"""Failure tests with real node processes on loopback (issue 6, acceptance 3).

3 embedded nodes started by ``sofs cluster up`` with SameSubnetDelay 100 ms and SameSubnetThreshold
5 (heartbeat TTL 0.5 s) so the tests run in seconds. Node failure = SIGKILL; a hang = SIGSTOP.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sofs.cluster.client import ClusterClient, GroupInfo
from sofs.cluster.config import load_cluster_config
from sofs.cluster.store_embedded import EmbeddedStore

pytestmark = pytest.mark.interop
DELAY_MS, THRESHOLD = 100, 5
TTL = DELAY_MS / 1000 * THRESHOLD
REPO = Path(__file__).resolve().parents[2]


def sofs(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "sofs", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "cluster"
    r = sofs("cluster", "up", "3", "--name", "ft", "--state-dir", str(state), "--no-smb",
             "--delay-ms", str(DELAY_MS), "--threshold", str(THRESHOLD))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield state
    finally:
        cfg = load_cluster_config(state)
        for p in (cfg.nodes.values() if cfg else ()):
            if p.pid:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def pids(state: Path) -> dict[str, int]:
    cfg = load_cluster_config(state)
    assert cfg is not None
    return {n: p.pid for n, p in cfg.nodes.items()}


async def group(client: ClusterClient, name: str) -> GroupInfo:
    return next(g for g in await client.get_groups() if g.name == name)


async def wait_for(pred, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = await pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def owned_volume(client: ClusterClient) -> GroupInfo:
    await client.create_group("Volume1")

    async def owned() -> GroupInfo | None:
        g = await group(client, "Volume1")
        return g if g.owner_node and g.state == "Online" else None
    return await wait_for(owned, 5, "Volume1 to get an owner")


def test_sigkill_owner_fails_over_within_threshold(cluster: Path) -> None:
    async def body() -> None:
        store = await EmbeddedStore.open(cluster)
        client = ClusterClient(store)
        try:
            g = await owned_volume(client)
            killed = time.monotonic()
            os.kill(pids(cluster)[g.owner_node], signal.SIGKILL)

            async def moved() -> GroupInfo | None:
                h = await group(client, "Volume1")
                return h if h.owner_node not in ("", g.owner_node) else None
            h = await wait_for(moved, TTL * 4 + 2, "another owner")
            elapsed = time.monotonic() - killed
            assert h.epoch == g.epoch + 1
            print(f"\nFAILOVER SIGKILL: Volume1 {g.owner_node} -> {h.owner_node} epoch {h.epoch} after "
                  f"{elapsed:.2f} s (heartbeat TTL {TTL} s)")
            assert elapsed < TTL + 1.0, f"failover took {elapsed:.2f} s (TTL {TTL} s)"
            nodes = {n.name: n.state for n in await client.get_nodes()}
            assert nodes[g.owner_node] == "Down"
            assert sorted(s for n, s in nodes.items() if n != g.owner_node) == ["Up", "Up"]
        finally:
            await store.close()
    asyncio.run(body())


def test_sigstop_owner_is_down_and_resumes_without_old_epoch(cluster: Path) -> None:
    async def body() -> None:
        store = await EmbeddedStore.open(cluster)
        client = ClusterClient(store)
        try:
            g = await owned_volume(client)
            victim, pid = g.owner_node, pids(cluster)[g.owner_node]
            stopped = time.monotonic()
            os.kill(pid, signal.SIGSTOP)

            async def down_and_moved() -> bool:
                nodes = {n.name: n.state for n in await client.get_nodes()}
                h = await group(client, "Volume1")
                return nodes[victim] == "Down" and h.owner_node not in ("", victim)
            await wait_for(down_and_moved, TTL * 4 + 2, "the stopped node to be Down and lose Volume1")
            takeover = time.monotonic() - stopped
            new = await group(client, "Volume1")
            assert new.epoch == g.epoch + 1
            log = cluster / f"{victim}.log"
            mark = log.stat().st_size
            resumed = time.monotonic()
            os.kill(pid, signal.SIGCONT)

            async def back_up() -> bool:
                return {n.name: n.state for n in await client.get_nodes()}[victim] == "Up"
            await wait_for(back_up, 10, "the resumed node to rejoin")
            rejoined = time.monotonic() - resumed
            await asyncio.sleep(TTL)  # a few more cycles of the resumed node
            after = log.read_bytes()[mark:].decode()
            assert "fence" in after, after
            print(f"\nFAILOVER SIGSTOP: {victim} Down and Volume1 taken over (epoch {new.epoch}) {takeover:.2f} s "
                  f"after SIGSTOP (TTL {TTL} s; the stopped node stops serving by its own clock "
                  f"{DELAY_MS / 1000:.1f} s before its lease deadline); after SIGCONT it fenced at once and was "
                  f"Up again in {rejoined:.2f} s")
            assert f"activate Volume1 epoch {g.epoch} " not in after and "claimed Volume1" not in after, after
            final = await group(client, "Volume1")
            assert (final.owner_node, final.epoch) == (new.owner_node, new.epoch)
        finally:
            await store.close()
    asyncio.run(body())


def test_cluster_status_and_clean_down(cluster: Path) -> None:
    r = sofs("cluster", "status", "--state-dir", str(cluster))
    assert r.returncode == 0 and r.stdout.count(" Up ") == 3, r.stdout + r.stderr
    r = sofs("cluster", "down", "--state-dir", str(cluster))
    assert r.returncode == 0 and "stopped 3" in r.stdout
    assert all(n.startswith("n") for n in pids(cluster))
    assert all(p == 0 for p in pids(cluster).values())
