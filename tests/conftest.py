"""Shared pytest setup: make the repo importable without installing, and real-server fixtures.

``sofs_server`` starts a real ``sofs serve`` process on 127.0.0.1 (a free port) with a share on tmpfs
and two users (alice in HyperVHosts, bob), and stops it after the test module. Use
``start_sofs(tmp, **options)`` for a server with other options.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Clusters started by tests run no management API unless the test asks for one on a port it picked
# (`sofs cluster up` would otherwise bind 8443 on 127.0.0.11-13, shared by every test run here).
os.environ.setdefault("SOFS_API_PORT", "0")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

USERS = {"alice": "Secret1!", "bob": "Secret2!"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def loopback_with_free_port(port: int) -> str:
    """A 127.x.y.z address whose ``port`` nobody holds (other servers may hold it on other addresses):
    for clients that only talk to port 445 (impacket's smbclient.py, smbclient's DirEntry.stat)."""
    rng = random.Random()
    for _ in range(200):
        host = f"127.{rng.randint(20, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        return host
    raise RuntimeError(f"no loopback address with port {port} free")


def tmpfs_dir(prefix: str) -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    d.chmod(0o755)
    return d


@dataclass
class SofsServer:
    host: str
    port: int
    root: Path
    config: Path
    proc: subprocess.Popen[bytes]
    log: Path
    shares: dict[str, Path] = field(default_factory=dict)
    group: bool = False  # the server runs under a wrapper in a process group of its own (see stop)

    @property
    def share(self) -> Path:
        return self.shares["data"]

    def unc(self, share: str = "data", path: str = "") -> str:
        p = f"\\\\{self.host}\\{share}"
        return p + ("\\" + path if path else "")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.group:
            # a wrapper (faketime) forks the server and does not pass signals on: signal the group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def write_config(root: Path, port: int, host: str = "127.0.0.1", server_extra: str = "",
                 shares: dict[str, str] | None = None) -> tuple[Path, dict[str, Path]]:
    """A TOML config with shares ``data`` (plain), ``ca`` (continuously available), ``enc``
    (encrypted), ``ro`` (read-only) unless ``shares`` gives {name: extra toml lines}."""
    shares = shares if shares is not None else {
        "data": "", "ca": "continuously_available = true", "enc": "encrypt_data = true",
        "ro": "read_only = true",
    }
    paths: dict[str, Path] = {}
    lines = ["[server]", f'listen = ["{host}:{port}"]', 'server_name = "SOFSTEST"', server_extra, ""]
    for name, extra in shares.items():
        p = root / "shares" / name
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(0o777)
        paths[name] = p
        lines += ["[[share]]", f'name = "{name}"', f'path = "{p}"', extra, ""]
    for i, (u, pw) in enumerate(USERS.items()):
        groups = '["HyperVHosts"]' if u == "alice" else "[]"
        lines += ["[[user]]", f'name = "{u}"', f'password = "{pw}"', f"groups = {groups}", ""]
    cfg = root / "sofs.toml"
    cfg.write_text("\n".join(lines))
    return cfg, paths


def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sofs serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sofs serve did not listen on {host}:{port}:\n{log.read_text()}")


def start_sofs(root: Path | None = None, port: int | None = None, host: str = "127.0.0.1",
               server_extra: str = "", shares: dict[str, str] | None = None,
               args: tuple[str, ...] = (), wrapper: tuple[str, ...] = (),
               env_extra: dict[str, str] | None = None) -> SofsServer:
    """``wrapper`` runs the server through another command (e.g. ``faketime -f +11m``)."""
    root = root or tmpfs_dir("sofs-test-")
    port = port or free_port(host)
    cfg, paths = write_config(root, port, host, server_extra, shares)
    log = root / "server.log"
    env = dict(os.environ, PYTHONPATH=ROOT, **(env_extra or {}))
    with open(log, "ab") as out:
        proc = subprocess.Popen([*wrapper, sys.executable, "-m", "sofs", "serve", "--config", str(cfg), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=bool(wrapper))
    srv = SofsServer(host, port, root, cfg, proc, log, paths, group=bool(wrapper))
    try:
        wait_listening(host, port, proc, log)
    except BaseException:
        srv.stop(signal.SIGKILL)  # with its worker processes (they stop when the main process is gone)
        raise
    return srv


@pytest.fixture(scope="module")
def sofs_server():
    srv = start_sofs()
    yield srv
    srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


@pytest.fixture(scope="module")
def srv445():
    """A sofs server on port 445 of a free loopback address."""
    srv = start_sofs(host=loopback_with_free_port(445), port=445)
    yield srv
    srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


@pytest.fixture
def smb_session(sofs_server):
    """An smbprotocol high-level session registered for alice; yields the server."""
    smbclient = pytest.importorskip("smbclient")
    smbclient.register_session(sofs_server.host, username="alice", password=USERS["alice"],
                               port=sofs_server.port)
    yield sofs_server
    smbclient.reset_connection_cache()
