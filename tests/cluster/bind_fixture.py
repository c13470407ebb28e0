"""A private BIND 9 (``named``) on a loopback address for RFC 2136 tests: one zone, updates allowed with
one TSIG key. Skips when named is not installed (scripts/setup.sh installs bind9). named only listens
on addresses configured on an interface, so it takes 127.0.0.1 (with a free port), not another 127/8."""
from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_proc import free_port_on

NAMED = shutil.which("named") or ("/usr/sbin/named" if os.path.exists("/usr/sbin/named") else None)
ZONE = "example.test"
KEY_NAME = "sofs-update"
SECRET = base64.b64encode(b"sofs-test-secret-0123456789abcdef").decode()


@dataclass(frozen=True)
class Bind:
    address: str
    port: int
    zone: str = ZONE
    key_name: str = KEY_NAME
    secret: str = SECRET

    @property
    def server(self) -> str:
        return f"{self.address}:{self.port}"


def dig(server: str, port: int, name: str, rtype: str = "A", tcp: bool = False) -> list[str]:
    """``dig +short`` answers (sorted)."""
    out = subprocess.run(["dig", f"@{server}", "-p", str(port), name, rtype, "+short", "+time=2", "+tries=1",
                          *(["+tcp"] if tcp else [])], capture_output=True, text=True, timeout=15, check=False)
    return sorted(line for line in out.stdout.split() if line)


@contextlib.contextmanager
def private_bind(tmp: Path, address: str = "127.0.0.1") -> Iterator[Bind]:
    if NAMED is None or shutil.which("dig") is None:
        pytest.skip("BIND 9 (named) and dig are not installed (bash scripts/setup.sh installs bind9 dnsutils)")
    port = free_port_on([address])
    d = tmp / "bind"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"db.{ZONE}").write_text(
        f"$TTL 60\n@ IN SOA ns.{ZONE}. admin.{ZONE}. 1 60 60 600 60\n@ IN NS ns.{ZONE}.\nns IN A {address}\n")
    (d / "named.conf").write_text(f"""
options {{ directory "{d}"; pid-file "{d}/named.pid"; listen-on port {port} {{ {address}; }};
  listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; notify no; }};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{ZONE}" {{ type primary; file "db.{ZONE}"; allow-update {{ key "{KEY_NAME}"; }}; }};
""")
    log = open(d / "named.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([NAMED, "-g", "-c", str(d / "named.conf")], stdout=log, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while dig(address, port, f"ns.{ZONE}") != [address]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("named did not start: " + (d / "named.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Bind(address, port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
