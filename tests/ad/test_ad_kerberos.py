"""Kerberos against a real Samba 4.22 AD DC (issue 18, acceptance 1, 2 and 3 (smbtorture with Kerberos), on one node).

The DC is provisioned and started by the module fixture (~25 s; the module is marked ``interop``).
A node's keys come from the machine account's keytab; users log on with ``kinit`` +
``smbclient --use-kerberos=required``, identities come from the ticket's PAC.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from addc import ADMIN_PASSWORD, DNS_DOMAIN, NODE, USERS, Dc, dc, root_conftest  # noqa: F401  (dc: fixture)

start_sofs = root_conftest.start_sofs

pytestmark = pytest.mark.interop



@pytest.fixture(scope="module")
def node(dc: Dc):
    grant = [dc.sid_of("HyperV-Servers"), dc.sid_of("HOST1$")]
    srv = start_sofs(server_extra=f'kerberos_keytab = "{dc.state / "node.keytab"}"\ndomain = "CORP"',
                     shares={"vms": f"full_access = {grant!r}".replace("'", '"'), "data": ""})
    yield srv
    srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


def smbclient_krb(dc: Dc, srv, ccache: Path, share: str, commands: str, *opts: str,  # type: ignore[no-untyped-def]
                  name: str = f"{NODE}.{DNS_DOMAIN}", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["smbclient", f"//{name}/{share}", "-I", srv.host, "-p", str(srv.port), "--use-kerberos=required",
           "--option=client min protocol=SMB3", *opts, "-c", commands]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dc.env(ccache), cwd=cwd,
                          check=False)


def test_domain_user_in_group_gets_in_with_kerberos(dc: Dc, node, tmp_path: Path) -> None:
    cc = tmp_path / "cc-dave"
    dc.kinit("dave", cc, password=USERS["dave"])
    (tmp_path / "in.txt").write_text("from dave\n")
    r = smbclient_krb(dc, node, cc, "vms", "put in.txt a.txt; ls", cwd=tmp_path)
    assert r.returncode == 0 and "a.txt" in r.stdout, r.stdout + r.stderr
    assert (node.shares["vms"] / "a.txt").read_text() == "from dave\n"
    assert "user CORP\\dave (authenticated" in node.log_text()


def test_domain_user_outside_the_group_is_refused(dc: Dc, node, tmp_path: Path) -> None:
    cc = tmp_path / "cc-eve"
    dc.kinit("eve", cc, password=USERS["eve"])
    r = smbclient_krb(dc, node, cc, "vms", "ls")
    assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr, r.stdout + r.stderr
    r = smbclient_krb(dc, node, cc, "data", "ls")  # logged on fine: only the share refuses her
    assert r.returncode == 0, r.stdout + r.stderr


def test_machine_account_with_its_keytab(dc: Dc, node, tmp_path: Path) -> None:
    cc = tmp_path / "cc-host1"
    dc.kinit("HOST1$", cc, keytab=dc.state / "host1.keytab")
    r = smbclient_krb(dc, node, cc, "vms", "ls")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "user CORP\\HOST1$ (authenticated" in node.log_text()


@pytest.mark.parametrize("mode,opt", [("signed", "--client-protection=sign"),
                                      ("encrypted", "--client-protection=encrypt")])
def test_kerberos_with_signing_and_encryption(dc: Dc, node, tmp_path: Path, mode: str, opt: str) -> None:
    cc = tmp_path / "cc"
    dc.kinit("dave", cc, password=USERS["dave"])
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 4096)
    r = smbclient_krb(dc, node, cc, "vms", f"put big.bin {mode}.bin; get {mode}.bin back.bin", opt, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()


def test_ticket_for_another_spn_is_refused(dc: Dc, node, tmp_path: Path) -> None:
    """A ticket for cifs/other (HOST1$'s key) sent to the node: it cannot decrypt it."""
    cc = tmp_path / "cc"
    dc.kinit("dave", cc, password=USERS["dave"])
    r = smbclient_krb(dc, node, cc, "vms", "ls", name=f"other.{DNS_DOMAIN}")
    assert "NT_STATUS_LOGON_FAILURE" in r.stdout + r.stderr, r.stdout + r.stderr


_IMPACKET_LOGIN = """
import sys
from impacket.smbconnection import SMBConnection, SessionError
c = SMBConnection(sys.argv[1], sys.argv[2], sess_port=int(sys.argv[3]))
try:
    c.kerberosLogin("dave", "", "CORP.SOFS.TEST", useCache=True)
    print("OK", sorted(s["shi1_netname"][:-1] for s in c.listShares()))
except SessionError as e:
    print("STATUS 0x%08x" % e.getErrorCode())
"""


def _impacket_kerberos(dc: Dc, srv, ccache: Path, wrapper: tuple[str, ...] = ()) -> str:  # type: ignore[no-untyped-def]
    env = dict(dc.env(), KRB5CCNAME=str(ccache), FAKETIME_DONT_FAKE_MONOTONIC="1")
    r = subprocess.run([*wrapper, sys.executable, "-c", _IMPACKET_LOGIN, f"{NODE}.{DNS_DOMAIN}", srv.host,
                        str(srv.port)], capture_output=True, text=True, timeout=60, env=env, check=False)
    return r.stdout.strip() or r.stderr[-2000:]


def test_impacket_kerberos_login(dc: Dc, node, tmp_path: Path) -> None:
    pytest.importorskip("impacket")
    cc = tmp_path / "cc"
    dc.kinit("dave", cc, password=USERS["dave"])
    subprocess.run(["kvno", f"cifs/{NODE}.{DNS_DOMAIN}"], env=dc.env(cc), check=True, capture_output=True)
    assert _impacket_kerberos(dc, node, cc) == "OK ['IPC$', 'data', 'vms']"


def test_expired_ticket_is_refused(dc: Dc, tmp_path: Path) -> None:
    """A 5-minute ticket shown to a node whose clock (and the client's) runs 11 minutes ahead: expired
    beyond the 5-minute skew. Samba's acceptor answers STATUS_INVALID_PARAMETER; so does sofs."""
    pytest.importorskip("impacket")
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime missing: run scripts/setup.sh")
    cc = tmp_path / "cc"
    dc.kinit("dave", cc, password=USERS["dave"], lifetime="5m")
    subprocess.run(["kvno", f"cifs/{NODE}.{DNS_DOMAIN}"], env=dc.env(cc), check=True, capture_output=True)
    ahead = (faketime, "-f", "+11m")
    srv = start_sofs(server_extra=f'kerberos_keytab = "{dc.state / "node.keytab"}"', shares={"data": ""},
                     wrapper=ahead, env_extra={"FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    try:
        assert _impacket_kerberos(dc, srv, cc, ahead) == "STATUS 0xc000000d"  # STATUS_INVALID_PARAMETER
        assert "Ticket expired" in srv.log_text()
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


def test_standalone_join_names_in_share_acl(dc: Dc, tmp_path: Path) -> None:
    """A standalone server joined with the library (as Add-Computer does per node): its keytab is
    derived from the password it set, share ACL names resolve through LDAP as the machine account."""
    from sofs.domain.join import Domain, connect, join_computer
    from sofs.domain.membership import Membership, write_secret

    domain = Domain(DNS_DOMAIN, "CORP", dc.addr, f"dc1.{DNS_DOMAIN}", str(dc.state / "private" / "tls" / "ca.pem"))
    conn = connect(domain, "Administrator", ADMIN_PASSWORD)
    machine = join_computer(conn, domain, "SOFSSA", f"sofssa.{DNS_DOMAIN}")
    conn.unbind()
    member = tmp_path / "member"
    member.mkdir()
    write_secret(member / "membership.json", Membership(domain, machine).to_json().encode())
    srv = start_sofs(server_extra=f'domain_membership = "{member / "membership.json"}"',
                     shares={"vms": 'full_access = ["CORP\\\\HyperV-Servers"]'})
    try:
        cc = tmp_path / "cc"
        dc.kinit("dave", cc, password=USERS["dave"])
        r = smbclient_krb(dc, srv, cc, "vms", "ls", name=f"sofssa.{DNS_DOMAIN}")
        assert r.returncode == 0, r.stdout + r.stderr + srv.log_text()[-2000:]
        dc.kinit("eve", cc, password=USERS["eve"])
        r = smbclient_krb(dc, srv, cc, "vms", "ls", name=f"sofssa.{DNS_DOMAIN}")
        assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr
        assert (member / "krb5.keytab").stat().st_mode & 0o777 == 0o600
        assert "hyperv-servers" in (member / "directory-cache.json").read_text()
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


KERBEROS_TORTURE = ["smb2.session.reauth1", "smb2.session.reauth2", "smb2.session.reauth3", "smb2.session.reauth4",
                    "smb2.session.expire1e", "smb2.session.expire2s"]


def test_smbtorture_with_kerberos(dc: Dc, tmp_path: Path) -> None:
    """smbtorture logs on with Kerberos (``--use-kerberos=required``; the node's SPN through
    ``gensec:target_hostname``): re-authentication, and sessions that expire with their ticket.
    smb2.session.expire* ask the KDC for a 5-second ticket; past its end every request but LOGOFF,
    CLOSE, unlock, CANCEL and ECHO gets STATUS_NETWORK_SESSION_EXPIRED (signed or encrypted) until the
    client authenticates again, and a lock is refused. MIT krb5 reports an accepted context's lifetime
    with its allowed clock skew added, so the session expires at the ticket's end + the skew: the node's
    krb5.conf sets ``clockskew = 5``, the skew smbtorture's waits assume (KRB5_CLOCKSKEW)."""
    torture = shutil.which("smbtorture")
    if torture is None:
        pytest.fail("smbtorture missing: run scripts/setup.sh")
    conf = tmp_path / "krb5.conf"
    conf.write_text(dc.krb5_conf.read_text().replace("[libdefaults]\n", "[libdefaults]\n\tclockskew = 5\n"))
    srv = start_sofs(server_extra=f'kerberos_keytab = "{dc.state / "node.keytab"}"\ndomain = "CORP"',
                     shares={"data": ""}, env_extra={"KRB5_CONFIG": str(conf)})
    try:
        r = subprocess.run([torture, f"//{srv.host}/data", "-p", str(srv.port), "--use-kerberos=required",
                            f"-Udave@{DNS_DOMAIN.upper()}%{USERS['dave']}",
                            f"--option=gensec:target_hostname={NODE}.{DNS_DOMAIN}", *KERBEROS_TORTURE],
                           capture_output=True, text=True, timeout=600, env=dc.env(tmp_path / "cc"), check=False)
        got = {name: res for res, name in re.findall(r"^(success|failure|error|skip): (\S+)", r.stdout,
                                                     re.MULTILINE)}
        want = {t.rsplit(".", 1)[1]: "success" for t in KERBEROS_TORTURE}
        assert got == want, r.stdout[-4000:] + r.stderr[-2000:]
        log = srv.log_text()
        assert "user CORP\\dave (authenticated" in log and "expired (its Kerberos ticket ended)" in log
        assert "re-authenticated as CORP\\dave" in log
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)


def test_machine_changes_its_own_password(dc: Dc, tmp_path: Path) -> None:
    """What a member node does every 30 days (sofs.server.domain_member): bound as itself with its
    current password, it sets a new one (no administrator); the kvno moves, a keytab from the new
    password gets tickets (``kinit -k``); a change with a stale password is refused."""
    from sofs.domain.join import (
        Domain,
        DomainError,
        change_own_password,
        connect,
        join_computer,
        keytab_entries,
    )
    from sofs.wire.keytab import encode_keytab

    domain = Domain(DNS_DOMAIN, "CORP", dc.addr, f"dc1.{DNS_DOMAIN}", str(dc.state / "private" / "tls" / "ca.pem"))
    conn = connect(domain, "Administrator", ADMIN_PASSWORD)
    old = join_computer(conn, domain, "SOFSROT", f"sofsrot.{DNS_DOMAIN}")
    conn.unbind()
    new = change_own_password(domain, old)
    assert new.kvno == old.kvno + 1 and new.password != old.password
    keytab = tmp_path / "krb5.keytab"
    keytab.write_bytes(encode_keytab(keytab_entries(domain, new, previous=old)))
    dc.kinit("SOFSROT$", tmp_path / "cc", keytab=keytab)
    connect(domain, f"SOFSROT$@{DNS_DOMAIN}", new.password).unbind()  # (the old one still binds for an
    # hour: Samba's "old password allowed period", as AD's OldPasswordAllowedPeriod)
    with pytest.raises(DomainError, match="changing its own password"):  # a change with a wrong password
        change_own_password(domain, old)


def test_file_dacl_and_abe_with_domain_sids(dc: Dc, tmp_path: Path) -> None:
    """File security descriptors and access-based enumeration enforce the PAC's groups: a file whose
    DACL grants only CORP\\HyperV-Servers is listed and read by dave (a member, by Kerberos)
    and neither listed nor opened for eve."""
    import os

    from sofs.wire.dtyp import SecurityDescriptor

    group = dc.sid_of("HyperV-Servers")
    srv = start_sofs(server_extra=f'kerberos_keytab = "{dc.state / "node.keytab"}"\ndomain = "CORP"',
                     shares={"abe": 'folder_enumeration_mode = "AccessBased"'})
    try:
        root = srv.shares["abe"]
        (root / "public.txt").write_bytes(b"p")
        (root / "vm.vhdx").write_bytes(b"disk")
        sd = SecurityDescriptor.from_sddl(f"O:{group}D:(A;;FA;;;{group})")
        os.setxattr(root / "vm.vhdx", "user.sofs.sd", sd.encode())
        for user, sees in (("dave", True), ("eve", False)):
            cc = tmp_path / user
            dc.kinit(user, cc, password=USERS[user])
            r = smbclient_krb(dc, srv, cc, "abe", "ls")
            assert r.returncode == 0 and "public.txt" in r.stdout, r.stdout + r.stderr
            assert ("vm.vhdx" in r.stdout) is sees, (user, r.stdout)
            r = smbclient_krb(dc, srv, cc, "abe", "get vm.vhdx", cwd=tmp_path)
            if sees:
                assert r.returncode == 0 and (tmp_path / "vm.vhdx").read_bytes() == b"disk", r.stdout + r.stderr
            else:
                assert "NT_STATUS_ACCESS_DENIED" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        srv.stop()
        shutil.rmtree(srv.root, ignore_errors=True)
