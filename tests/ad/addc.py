"""A private Samba 4.22 Active Directory domain controller for the tests (issue 18).

``start_dc()`` provisions a domain (``samba-tool domain provision``, ~20 s) into a tmpfs state
directory and starts ``samba`` (KDC, LDAP, CLDAP, RPC) on a free loopback address; ``Dc`` holds the
paths, a ``krb5.conf`` for clients, and helpers that run ``samba-tool`` against its database and
``kinit`` into private credential caches. Nothing is installed system-wide; ``stop()`` ends the
process group it started.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def _root_conftest() -> Any:
    """tests/conftest.py under a name of its own: "conftest" in sys.modules may be another directory's."""
    name = "sofs_tests_root_conftest"
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


root_conftest = _root_conftest()
loopback_with_free_port, tmpfs_dir = root_conftest.loopback_with_free_port, root_conftest.tmpfs_dir

REALM = "CORP.SOFS.TEST"
DOMAIN = "CORP"
DNS_DOMAIN = REALM.lower()
ADMIN_PASSWORD = "Adm1n-Passw0rd!"
NODE = "sofsn1"  # a standalone node's account (its keytab exported by samba-tool)
USERS = {"dave": "Dave-Passw0rd1", "eve": "Eve-Passw0rd1"}


@dataclass
class Dc:
    addr: str
    state: Path
    proc: subprocess.Popen[bytes]
    krb5_conf: Path
    domain_sid: str = ""
    _env: dict[str, str] = field(default_factory=dict)

    @property
    def smb_conf(self) -> Path:
        return self.state / "etc" / "smb.conf"

    def env(self, ccache: Path | None = None) -> dict[str, str]:
        env = dict(os.environ, KRB5_CONFIG=str(self.krb5_conf))
        if ccache is not None:
            env["KRB5CCNAME"] = f"FILE:{ccache}"
        return env

    def tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``samba-tool`` on the DC's own database."""
        cmd = ["samba-tool", *args, "-s", str(self.smb_conf), "-H", str(self.state / "private" / "sam.ldb")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def kinit(self, principal: str, ccache: Path, *, password: str | None = None,
              keytab: Path | None = None, lifetime: str | None = None) -> None:
        cmd = ["kinit", *(["-l", lifetime] if lifetime else []),
               *(["-k", "-t", str(keytab)] if keytab else []), principal]
        r = subprocess.run(cmd, input=(password + "\n") if password else None, capture_output=True, text=True,
                           timeout=30, env=self.env(ccache), check=False)
        if r.returncode != 0:
            raise RuntimeError(f"kinit {principal}: {r.stdout}{r.stderr}")

    def sid_of(self, name: str) -> str:
        """objectSid of an account or group (samba-tool, on the DC's database)."""
        out = self.tool("user" if not name.endswith("$") else "computer", "show", name,
                        "--attributes=objectSid", check=False).stdout
        if "objectSid:" not in out:
            out = self.tool("group", "show", name, "--attributes=objectSid").stdout
        return out.split("objectSid:", 1)[1].split()[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def have_samba_ad() -> bool:
    return all(shutil.which(b) for b in ("samba", "samba-tool", "kinit", "klist", "smbclient"))


def _wait_port(addr: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"samba exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"samba did not open {addr}:{port}:\n{log.read_text(errors='replace')[-4000:]}")


def start_dc(state: Path, addr: str) -> Dc:
    """Provision and start a DC for ``CORP.SOFS.TEST`` on ``addr`` (a free 127.x address)."""
    if not addr.startswith("127."):
        raise ValueError("the test DC listens on loopback only")
    for d in ("etc", "private", "lock", "state", "cache", "pid", "binddns"):
        (state / d).mkdir(parents=True, exist_ok=True)
    opts = {"interfaces": f"{addr}/8", "bind interfaces only": "yes", "private dir": state / "private",
            "lock dir": state / "lock", "state directory": state / "state", "cache directory": state / "cache",
            "pid directory": state / "pid", "binddns dir": state / "binddns",
            "log file": state / "log.samba", "logging": "file"}
    cmd = ["samba-tool", "domain", "provision", f"--realm={REALM}", f"--domain={DOMAIN}",
           "--server-role=dc", "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}",
           f"--host-ip={addr}", "--host-name=dc1", f"--targetdir={state}",
           *(f"--option={k}={v}" for k, v in opts.items())]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"provision failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    conf = state / "etc" / "smb.conf"
    # only the KDC and LDAP: no smbd, no winbindd (a winbindd on the default socket would answer the
    # host's NSS lookups, winbind being in nsswitch.conf, and break every other Samba on the machine)
    lines = [l for l in conf.read_text().splitlines() if not l.strip().startswith("server services")]
    i = lines.index("[global]") + 1
    lines[i:i] = ["\tserver services = ldap, cldap, kdc", f"\twinbindd socket directory = {state / 'winbindd'}",
                  "\tkdc default domain supported enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"]
    conf.write_text("\n".join(lines) + "\n")
    krb5 = state / "krb5.conf"
    krb5.write_text(
        "[libdefaults]\n\tdefault_realm = CORP.SOFS.TEST\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n"
        "\trdns = false\n\tdns_canonicalize_hostname = false\n\tignore_acceptor_hostname = true\n"
        f"[realms]\n\tCORP.SOFS.TEST = {{\n\t\tkdc = {addr}\n\t\tadmin_server = {addr}\n\t}}\n"
        "[domain_realm]\n\t.corp.sofs.test = CORP.SOFS.TEST\n\tcorp.sofs.test = CORP.SOFS.TEST\n")
    log = state / "samba.out"
    with open(log, "ab") as out:
        proc = subprocess.Popen(["samba", "-F", "-s", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    dc = Dc(addr, state, proc, krb5)
    try:
        for port in (88, 389):
            _wait_port(addr, port, proc, log, 60)
        dc.domain_sid = dc.sid_of("Domain Users").rsplit("-", 1)[0]
    except BaseException:
        dc.stop()
        raise
    return dc


_SHARED: list[Dc] = []


def _stop_shared() -> None:
    for d in _SHARED:
        d.stop()
        shutil.rmtree(d.state, ignore_errors=True)


def shared_dc() -> Dc:
    """The run's one domain controller, started on first use and stopped when the test process ends
    (every module of tests/ad uses it; a conftest.py here would shadow tests/conftest.py for the
    modules that ``from conftest import``): users dave (in HyperV-Servers) and eve, the machine account
    HOST1$ with its keytab (a Hyper-V host), the standalone node's account SOFSN1$ with its keytab."""
    if _SHARED:
        return _SHARED[0]
    if not have_samba_ad():
        pytest.fail("samba-ad-dc / krb5-user missing: run scripts/setup.sh")
    state = tmpfs_dir("sofs-addc-")
    d = start_dc(state, loopback_with_free_port(88))
    try:
        for user, pw in USERS.items():
            d.tool("user", "create", user, pw)
        d.tool("group", "add", "HyperV-Servers")
        d.tool("group", "addmembers", "HyperV-Servers", "dave")
        d.tool("computer", "create", "HOST1", "--service-principal-name=cifs/other.corp.sofs.test")
        d.tool("user", "setpassword", "HOST1$", "--newpassword=Host1-Machine-Passw0rd")
        d.tool("domain", "exportkeytab", str(state / "host1.keytab"), "--principal=HOST1$")
        d.tool("computer", "create", NODE.upper(), f"--service-principal-name=cifs/{NODE}.{DNS_DOMAIN}")
        d.tool("user", "setpassword", f"{NODE.upper()}$", "--newpassword=Node1-Machine-Passw0rd")
        d.tool("domain", "exportkeytab", str(state / "node.keytab"), f"--principal={NODE.upper()}$")
    except BaseException:
        d.stop()
        shutil.rmtree(state, ignore_errors=True)
        raise
    _SHARED.append(d)
    atexit.register(_stop_shared)
    return d


@pytest.fixture(scope="session")
def dc() -> Dc:
    """Import this fixture into a test module (``from addc import dc``)."""
    return shared_dc()
