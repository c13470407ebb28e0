"""Domain membership over LDAP: computer accounts, SPNs, machine passwords and keytabs ([MS-ADTS]
3.1.1.3, 6.1.1.2.7; [MS-KILE] 3.1.1.2).

What ``Add-Computer`` does on Windows, done with an LDAP connection to a domain controller (ldap3,
LDAPS: setting ``unicodePwd`` needs an encrypted connection, [MS-ADTS] 3.1.1.3.1.5):

- create the computer object ``CN=NAME,CN=Computers,<domain>`` (or reuse it when it exists:
  re-joining a node), ``sAMAccountName`` ``NAME$``, ``userAccountControl`` WORKSTATION_TRUST_ACCOUNT,
  ``dNSHostName`` and the SPNs (``HOST/`` and ``cifs/`` for the short and the DNS name, plus any
  extra — the cluster and role names on the cluster name object);
- set a random 120-character machine password and read the new ``msDS-KeyVersionNumber``;
- derive the keys from the password as the KDC does (:mod:`sofs.crypto.krb5keys`) and build the
  keytab entries (the account principal and every SPN, AES256/AES128/RC4), so no key ever has to be
  exported from the DC;
- rotate the password (Windows: every 30 days) keeping the previous kvno's keys in the keytab for
  tickets issued before the change: by an administrator (``Reset-ComputerMachinePassword``) or by the
  machine itself (:func:`change_own_password`); remove the account (``Remove-Computer``).

The caller keeps the password and keytab (the cluster store's secrets); this module does no file I/O.
"""
from __future__ import annotations

import secrets
import ssl
import string
import time
from dataclasses import dataclass, field
from typing import Any

from sofs.crypto.krb5keys import account_keys, machine_salt
from sofs.wire.keytab import NT_PRINCIPAL, NT_SRV_HST, KeytabEntry

UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_DONT_EXPIRE_PASSWD = 0x10000
_PASSWORD_CHARS = string.ascii_letters + string.digits + "!#%+-.:=@^_~"


class DomainError(Exception):
    """A domain operation failed; the message names the account and the directory's answer."""


@dataclass(frozen=True, slots=True)
class Domain:
    """The domain to join: its DNS name (= realm, upper-cased), NetBIOS name, a DC address."""

    dns_name: str
    netbios_name: str
    dc_address: str
    dc_name: str = ""  # the DC's DNS name, checked against its TLS certificate
    ca_file: str | None = None  # the CA that signed the DC's certificate (None: system CAs)

    @property
    def realm(self) -> str:
        return self.dns_name.upper()

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={p}" for p in self.dns_name.split("."))


@dataclass(frozen=True, slots=True)
class MachineAccount:
    """A joined computer: its account, password, kvno and SPNs (what the keytab is made from)."""

    name: str  # NetBIOS name without $
    dns_host: str
    password: str = field(repr=False)
    kvno: int
    spns: tuple[str, ...]
    sid: str = ""

    @property
    def account(self) -> str:
        return f"{self.name.upper()}$"


def new_machine_password(length: int = 120) -> str:
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(length))


def default_spns(name: str, dns_host: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """HOST/ and cifs/ for the NetBIOS and DNS names, then ``extra`` (e.g. cifs/ of the role name)."""
    out: list[str] = []
    for svc in ("HOST", "cifs"):
        for host in (name.upper(), dns_host.lower()):
            out.append(f"{svc}/{host}")
    for s in extra:
        if s.lower() not in {x.lower() for x in out}:
            out.append(s)
    return tuple(out)


def keytab_entries(domain: Domain, machine: MachineAccount, *, previous: MachineAccount | None = None,
                   now: int | None = None) -> list[KeytabEntry]:
    """Keytab entries for the account principal and every SPN at the machine's kvno (and, after a
    rotation, the previous password's at its kvno)."""
    ts = int(time.time()) if now is None else now
    out: list[KeytabEntry] = []
    for m in (machine, previous) if previous is not None else (machine,):
        keys = account_keys(m.password, machine_salt(domain.realm, m.account))
        principals = [((m.account,), NT_PRINCIPAL)] + [(tuple(s.split("/", 1)), NT_SRV_HST) for s in m.spns]
        for comps, ntype in principals:
            for enctype, key in keys:
                out.append(KeytabEntry(domain.realm, comps, ntype, ts, m.kvno, enctype, key))
    return out


def connect(domain: Domain, user: str, password: str) -> Any:
    """An LDAPS connection to the DC, bound as ``user`` (``DOMAIN\\name`` or ``name@realm``)."""
    import ldap3

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=domain.ca_file,
                    valid_names=[domain.dc_name] if domain.dc_name else None)
    server = ldap3.Server(domain.dc_address, port=636, use_ssl=True, tls=tls, connect_timeout=3)
    bind_user = user if ("\\" in user or "@" in user) else f"{user}@{domain.dns_name}"
    try:
        conn = ldap3.Connection(server, user=bind_user, password=password, raise_exceptions=True,
                                receive_timeout=10)
        conn.bind()
    except ldap3.core.exceptions.LDAPException as e:
        raise DomainError(f"LDAP bind to {domain.dc_address} as {bind_user}: {e}") from None
    return conn


def _computer_dn(domain: Domain, name: str) -> str:
    return f"CN={name.upper()},CN=Computers,{domain.base_dn}"


def _find(conn: Any, domain: Domain, account: str) -> dict[str, Any] | None:
    from ldap3.utils.conv import escape_filter_chars

    conn.search(domain.base_dn, f"(sAMAccountName={escape_filter_chars(account)})",
                attributes=["distinguishedName", "msDS-KeyVersionNumber", "objectSid", "servicePrincipalName"])
    for e in conn.entries:
        return {k: e[k].value for k in e.entry_attributes}
    return None


def join_computer(conn: Any, domain: Domain, name: str, dns_host: str,
                  extra_spns: tuple[str, ...] = (), password: str | None = None) -> MachineAccount:
    """Create (or reuse) the computer account ``name$``, set its SPNs and a new password."""
    import ldap3

    if not name or len(name) > 15 or not name.replace("-", "").isalnum():
        raise DomainError(f"computer name {name!r} is not a NetBIOS name (1-15 letters, digits, '-')")
    account = f"{name.upper()}$"
    spns = default_spns(name, dns_host, extra_spns)
    password = password or new_machine_password()
    pwd = f'"{password}"'.encode("utf-16-le")
    try:
        found = _find(conn, domain, account)
        if found is None:
            conn.add(_computer_dn(domain, name), ["top", "person", "organizationalPerson", "user", "computer"],
                     {"sAMAccountName": account, "userAccountControl": UF_WORKSTATION_TRUST_ACCOUNT,
                      "dNSHostName": dns_host.lower(), "servicePrincipalName": list(spns), "unicodePwd": pwd})
        else:
            conn.modify(found["distinguishedName"],
                        {"dNSHostName": [(ldap3.MODIFY_REPLACE, [dns_host.lower()])],
                         "servicePrincipalName": [(ldap3.MODIFY_REPLACE, list(spns))],
                         "unicodePwd": [(ldap3.MODIFY_REPLACE, [pwd])]})
        found = _find(conn, domain, account)
    except ldap3.core.exceptions.LDAPException as e:
        raise DomainError(f"joining {account} to {domain.dns_name}: {e}") from None
    if found is None or found.get("msDS-KeyVersionNumber") is None:
        raise DomainError(f"{account}: the directory shows no key version after the join")
    return MachineAccount(name.upper(), dns_host.lower(), password, int(found["msDS-KeyVersionNumber"]), spns,
                          str(found.get("objectSid") or ""))


def rotate_password(conn: Any, domain: Domain, machine: MachineAccount) -> MachineAccount:
    """A new machine password (what Windows does every 30 days); the caller keeps the previous one's
    keys in the keytab (:func:`keytab_entries` with ``previous``)."""
    import ldap3

    password = new_machine_password()
    found = _find(conn, domain, machine.account)
    if found is None:
        raise DomainError(f"{machine.account} is not in {domain.dns_name} (removed?)")
    try:
        conn.modify(found["distinguishedName"],
                    {"unicodePwd": [(ldap3.MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]})
        found = _find(conn, domain, machine.account)
    except ldap3.core.exceptions.LDAPException as e:
        raise DomainError(f"rotating the password of {machine.account}: {e}") from None
    assert found is not None
    return MachineAccount(machine.name, machine.dns_host, password, int(found["msDS-KeyVersionNumber"]),
                          machine.spns, machine.sid)


def change_own_password(domain: Domain, machine: MachineAccount) -> MachineAccount:
    """The machine changes its own password, bound as itself with the current one (what a member's
    Netlogon does every MaximumPasswordAge days): an LDAP password *change*, the old value deleted and
    the new one added in one modify ([MS-ADTS] 3.1.1.3.1.5.2), which needs no administrator."""
    import ldap3

    password = new_machine_password()
    conn = connect(domain, f"{machine.account}@{domain.dns_name}", machine.password)
    try:
        found = _find(conn, domain, machine.account)
        if found is None:
            raise DomainError(f"{machine.account} is not in {domain.dns_name} (removed?)")
        conn.modify(found["distinguishedName"],
                    {"unicodePwd": [(ldap3.MODIFY_DELETE, [f'"{machine.password}"'.encode("utf-16-le")]),
                                    (ldap3.MODIFY_ADD, [f'"{password}"'.encode("utf-16-le")])]})
        found = _find(conn, domain, machine.account)
    except ldap3.core.exceptions.LDAPException as e:
        raise DomainError(f"{machine.account} changing its own password: {e}") from None
    finally:
        conn.unbind()
    if found is None or found.get("msDS-KeyVersionNumber") is None:
        raise DomainError(f"{machine.account}: the directory shows no key version after the change")
    return MachineAccount(machine.name, machine.dns_host, password, int(found["msDS-KeyVersionNumber"]),
                          machine.spns, machine.sid)


def remove_computer(conn: Any, domain: Domain, name: str) -> bool:
    """``Remove-Computer``: delete the account ``name$``; False when it was not there."""
    import ldap3

    found = _find(conn, domain, f"{name.upper()}$")
    if found is None:
        return False
    try:
        conn.delete(found["distinguishedName"])
    except ldap3.core.exceptions.LDAPException as e:
        raise DomainError(f"removing {name.upper()}$ from {domain.dns_name}: {e}") from None
    return True
