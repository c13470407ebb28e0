"""Helpers for tests that run real ``sofs`` node processes on loopback (cluster up/down, ports, waiting)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sofs.cluster.config import load_cluster_config

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def sofs_env(state: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env.pop("SOFS_CLUSTER_CONFIG", None)
    if state is not None:
        env["SOFS_CLUSTER_DIR"] = str(state)
    return env


def sofs(*args: str, state: Path | None = None, timeout: float = 60, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sofs ARGS`` (the cluster found through ``state``) and capture its output."""
    return subprocess.run([sys.executable, "-m", "sofs", *args], capture_output=True, text=True,
                          env=env or sofs_env(state), timeout=timeout, check=False, cwd=cwd)


def free_port_on(addresses: Sequence[str]) -> int:
    """A TCP port that is free on every one of ``addresses`` (loopback aliases 127.0.0.x)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = int(s.getsockname()[1])
        ok = True
        for a in addresses:
            with socket.socket() as s:
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError(f"no common free port on {addresses}")


def node_pids(state: Path) -> dict[str, int]:
    cfg = load_cluster_config(state)
    assert cfg is not None
    return {n: p.pid for n, p in cfg.nodes.items()}


def csv_coordinator(state: Path, timeout: float | None = None) -> str:
    """The node coordinating the cluster's volume (``Get-ClusterSharedVolume``), once it is Online;
    with ``timeout``, an AssertionError when none is within that many seconds (else it waits on)."""
    import json

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        r = sofs("Get-ClusterSharedVolume", "-AsJson", state=state)
        if r.returncode == 0:
            d = json.loads(r.stdout)
            if d.get("State") == "Online" and d.get("Node"):
                return str(d["Node"])
        assert deadline is None or time.monotonic() < deadline, \
            f"no Online coordinator for Volume1: {r.stdout} {r.stderr}"
        time.sleep(0.1)


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def wait_for(pred: Callable[[], Awaitable[T | None]], timeout: float, what: str,
                   interval: float = 0.02) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = await pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Does ``host:port`` accept a TCP connection right now?"""
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    w.close()
    with contextlib.suppress(OSError):
        await w.wait_closed()
    return True
