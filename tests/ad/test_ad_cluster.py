"""A 3-node cluster joined to a real Samba 4.22 AD domain (issue 18, acceptance 1).

Add-Computer creates the nodes' accounts and the cluster name object (SPNs of the cluster and of the
Scale-Out File Server role); each node writes its keytab from the cluster store's secret. The share
grants a domain group and a machine account by name (resolved through LDAP); a domain user in the
group gets in with Kerberos through every node and through the role's name, one outside is refused,
the Hyper-V host's machine account gets in with its keytab; Get-SmbSession and Get-SmbConnection show
their domain names; the machine passwords rotate and the accounts go with Remove-Computer.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from addc import ADMIN_PASSWORD, DNS_DOMAIN, USERS, Dc, dc  # noqa: F401  (dc: fixture)
from cluster_proc import free_port_on, sofs, sofs_env

pytestmark = pytest.mark.interop
ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}
SHARE = r"C:\ClusterStorage\Volume1\Shares\VMS"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state = tmp_path / "cluster"
    vol = state / "ClusterStorage" / "Volume1" / "Shares" / "VMS"
    vol.mkdir(parents=True)
    vol.chmod(0o777)
    port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", "sofsc", "--state-dir", str(state), "--delay-ms", "200",
             "--threshold", "5", "--smb-port", str(port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield state, port
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")


def ok(state: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = sofs(*args, state=state, env=env)
    assert r.returncode == 0, f"sofs {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def smb(dc: Dc, cc: Path, name: str, addr: str, port: int, cmd: str = "ls") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["smbclient", f"//{name}/VMS", "-I", addr, "-p", str(port), "--use-kerberos=required",
                           "--option=client min protocol=SMB3", "-c", cmd], capture_output=True, text=True,
                          timeout=60, env=dc.env(cc), check=False)


def as_json(state: Path, *args: str) -> list[dict[str, object]]:
    out = ok(state, *args, "-AsJson").strip()
    data = json.loads(out) if out else []
    return data if isinstance(data, list) else [data]


def hold(dc: Dc, cc: Path, name: str, addr: str, port: int) -> subprocess.Popen[str]:
    """An smbclient session that stays logged on until its standard input says ``quit``."""
    return subprocess.Popen(["smbclient", f"//{name}/VMS", "-I", addr, "-p", str(port), "--use-kerberos=required",
                             "--option=client min protocol=SMB3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dc.env(cc))


def until_ok(fn, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r.returncode == 0 or time.monotonic() > deadline:
            return r  # type: ignore[no-any-return]
        time.sleep(0.5)


def test_cluster_joins_the_domain(dc: Dc, cluster: tuple[Path, int], tmp_path: Path) -> None:
    state, port = cluster
    ok(state, "Add-ClusterScaleOutFileServerRole", "-Name", "SOFS")
    ok(state, "New-SmbShare", "-Name", "VMS", "-Path", SHARE, "-FullAccess", "CORP\\HyperV-Servers,CORP\\HOST1$",
       "-ContinuouslyAvailable", "$true")
    admin = dict(sofs_env(state), SOFS_CREDENTIAL_PASSWORD=ADMIN_PASSWORD)
    out = ok(state, "Add-Computer", "-DomainName", DNS_DOMAIN, "-DomainNetBIOSName", "CORP",
             "-Credential", "CORP\\Administrator",
             "-Server", dc.addr, "-ServerName", f"dc1.{DNS_DOMAIN}",
             "-CertificateAuthority", str(dc.state / "private" / "tls" / "ca.pem"), env=admin)
    print(out)
    for node in ADDR:
        assert f"CORP\\{node.upper()}$" in out
    assert "cifs/sofs.corp.sofs.test" in dc.tool("spn", "list", "SOFSC$").stdout
    print(ok(state, "Get-ComputerDomain"))

    cc = tmp_path / "dave"
    dc.kinit("dave", cc, password=USERS["dave"])
    for node, addr in ADDR.items():  # through every node, by its own name
        r = until_ok(lambda n=node, a=addr: smb(dc, cc, f"{n}.{DNS_DOMAIN}", a, port))
        assert r.returncode == 0, f"{node}: {r.stdout}{r.stderr}" + (state / f"{node}.log").read_text()[-3000:]
    r = smb(dc, cc, f"sofs.{DNS_DOMAIN}", ADDR["n2"], port)  # through the role's name (cluster name object)
    assert r.returncode == 0, r.stdout + r.stderr
    klist = subprocess.run(["klist"], capture_output=True, text=True, env=dc.env(cc), check=False).stdout
    assert "cifs/sofs.corp.sofs.test@" in klist and "cifs/n3.corp.sofs.test@" in klist

    cc_eve = tmp_path / "eve"
    dc.kinit("eve", cc_eve, password=USERS["eve"])
    r = smb(dc, cc_eve, f"n1.{DNS_DOMAIN}", ADDR["n1"], port)
    assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr, r.stdout + r.stderr

    cc_host = tmp_path / "host1"
    dc.kinit("HOST1$", cc_host, keytab=dc.state / "host1.keytab")
    r = smb(dc, cc_host, f"sofs.{DNS_DOMAIN}", ADDR["n3"], port)
    assert r.returncode == 0, r.stdout + r.stderr

    # Get-SmbSession shows the domain identities of live sessions (smbclient waiting for commands)
    held = [hold(dc, cc, f"sofs.{DNS_DOMAIN}", ADDR["n2"], port),
            hold(dc, cc_host, f"sofs.{DNS_DOMAIN}", ADDR["n3"], port)]
    try:
        want = {("CORP\\dave", "n2"), ("CORP\\HOST1$", "n3")}
        deadline = time.monotonic() + 30
        while not want <= (seen := {(s["ClientUserName"], s["ClusterNodeName"])
                                    for s in as_json(state, "Get-SmbSession")}):
            assert time.monotonic() < deadline, f"Get-SmbSession shows {seen}"
            time.sleep(0.5)
        print(ok(state, "Get-SmbSession", "-ClientUserName", "CORP\\*"))
        conns = as_json(state, "Get-SmbConnection", "-UserName", "CORP\\dave")
        assert {(c["ShareName"], c["UserName"]) for c in conns} == {("VMS", "CORP\\dave")}
    finally:
        for p in held:
            p.communicate("quit\n", timeout=30)

    # machine password rotation: new kvno; a ticket issued before the change still works
    out = ok(state, "Reset-ComputerMachinePassword", "-Credential", "CORP\\Administrator", env=admin)
    assert "2" in out
    time.sleep(2.5)  # the nodes pick the new secret up within a second
    r = smb(dc, cc, f"n1.{DNS_DOMAIN}", ADDR["n1"], port)  # old ticket (kvno 1)
    assert r.returncode == 0, r.stdout + r.stderr
    cc2 = tmp_path / "dave2"
    dc.kinit("dave", cc2, password=USERS["dave"])
    r = smb(dc, cc2, f"n1.{DNS_DOMAIN}", ADDR["n1"], port)  # new ticket (kvno 2)
    assert r.returncode == 0, r.stdout + r.stderr

    ok(state, "Remove-Computer", "-UnjoinDomainCredential", "CORP\\Administrator", env=admin)
    assert dc.tool("computer", "show", "N1", check=False).returncode != 0
    time.sleep(2.5)
    r = smb(dc, cc2, f"n1.{DNS_DOMAIN}", ADDR["n1"], port)  # the nodes no longer accept Kerberos
    assert r.returncode != 0, r.stdout + r.stderr
