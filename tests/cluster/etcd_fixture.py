"""A real etcd cluster on loopback for tests: N members of Debian's ``/usr/bin/etcd``.

Members listen on 127.0.0.1 with free ports (client + peer each), data dirs under a temp dir, fast
raft timers (heartbeat 50 ms, election 500 ms: the minimum lease TTL is then 1 s). Members can be
killed (SIGKILL) and restarted with their data to simulate node failures.

    with EtcdCluster(tmp_path, 3) as cluster:
        EtcdStore(cluster.endpoints)
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def etcd_available() -> bool:
    return os.path.exists(ETCD)


def free_ports(n: int) -> list[int]:
    """Ports the kernel hands out now (bound together so they are distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class EtcdCluster:
    def __init__(self, base: Path, size: int = 3, token: str = "sofs-test") -> None:
        self.base = Path(base)
        self.size = size
        self.token = token
        ports = free_ports(2 * size)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size:]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.names = [f"m{i}" for i in range(size)]

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.client_ports]

    def _initial_cluster(self) -> str:
        return ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))

    def start_member(self, i: int, state: str = "new") -> None:
        data = self.base / f"{self.names[i]}.etcd"
        log = open(self.base / f"{self.names[i]}.log", "ab")  # noqa: SIM115 - owned by the process
        client = f"http://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        args = [
            ETCD, "--name", self.names[i], "--data-dir", str(data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self._initial_cluster(), "--initial-cluster-state", state,
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
        ]
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def start(self, timeout: float = 30.0) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        for i in range(self.size):
            self.start_member(i)
        self.wait_healthy(range(self.size), timeout)

    def healthy(self, i: int) -> bool:
        url = f"http://127.0.0.1:{self.client_ports[i]}/health"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return b'"health":"true"' in r.read().replace(b" ", b"")
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, members: range | list[int], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(members)
        while pending:
            for i in list(pending):
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"etcd member {i} exited: see {self.base}/{self.names[i]}.log")
                if self.healthy(i):
                    pending.remove(i)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"etcd members {pending} not healthy; logs in {self.base}")
            if pending:
                time.sleep(0.1)

    def kill(self, i: int) -> None:
        """SIGKILL member ``i`` (a node failure); its data dir stays for :meth:`restart`."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.procs[i] = None

    def restart(self, i: int, timeout: float = 30.0) -> None:
        self.kill(i)
        self.start_member(i, state="existing")
        self.wait_healthy([i], timeout)

    def stop(self) -> None:
        for i in range(self.size):
            self.kill(i)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
