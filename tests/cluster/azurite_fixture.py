"""The Azurite blob emulator for tests, installed from the npm registry into ``.cache/azurite``.

:func:`ensure_azurite` runs ``npm install azurite@3`` there if the package is missing (needs npm;
:func:`azurite_skip_reason` says when it cannot). :class:`Azurite` starts ``azurite-blob`` on
127.0.0.1 with a free port, in-memory persistence, ``--skipApiVersionCheck --loose`` (the Python SDK
is newer than the emulator's API list) and ``--disableTelemetry`` (no traffic beyond loopback).
Account: the well-known ``devstoreaccount1`` and its public key.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from etcd_fixture import free_ports

from sofs.cluster.witness_cloud import DEVSTORE_ACCOUNT, DEVSTORE_KEY

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "azurite"
BIN = PREFIX / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT, KEY = DEVSTORE_ACCOUNT, DEVSTORE_KEY


def azurite_skip_reason() -> str | None:
    if BIN.exists():
        return None if shutil.which("node") else "node not installed"
    if shutil.which("npm") is None:
        return "npm not installed: cannot install the Azurite emulator"
    return None


def ensure_azurite() -> Path:
    if not BIN.exists():
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PREFIX), "azurite@3"],
                       check=True, capture_output=True, timeout=600)
    return BIN


class Azurite:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def start(self, timeout: float = 30.0) -> None:
        binary = ensure_azurite()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "azurite.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence",
             "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited; see {self.workdir}/azurite.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"azurite did not listen on {self.port}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
