"""A node's domain membership: what the join produced, kept as one secret document (JSON).

It holds the domain (DNS/NetBIOS names, a DC and its CA), the node's computer account with its
password and kvno (and the previous ones after a rotation), and, in a cluster, the cluster name
object's account (its keys decrypt tickets for the cluster and role names). :func:`install` turns it
into what a server needs: a keytab file (mode 0600) and a :class:`~sofs.domain.directory.Directory`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sofs.domain.directory import Directory, ldap_lookup
from sofs.domain.join import Domain, MachineAccount, keytab_entries
from sofs.wire.keytab import encode_keytab


@dataclass(frozen=True, slots=True)
class Membership:
    domain: Domain
    machine: MachineAccount
    previous: MachineAccount | None = None
    cno: MachineAccount | None = None  # the cluster name object (role SPNs)
    cno_previous: MachineAccount | None = None
    changed_at: float = 0.0
    """Wall time the node's machine password was last set (0: unknown, never changed automatically)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Membership:
        d: dict[str, Any] = json.loads(text)

        def acct(x: dict[str, Any] | None) -> MachineAccount | None:
            return None if x is None else MachineAccount(**{**x, "spns": tuple(x["spns"])})

        machine = acct(d["machine"])
        assert machine is not None
        return cls(Domain(**d["domain"]), machine, acct(d.get("previous")), acct(d.get("cno")),
                   acct(d.get("cno_previous")), float(d.get("changed_at") or 0.0))

    def keytab(self, now: int | None = None) -> bytes:
        entries = keytab_entries(self.domain, self.machine, previous=self.previous, now=now)
        if self.cno is not None:
            entries += keytab_entries(self.domain, self.cno, previous=self.cno_previous, now=now)
        return encode_keytab(entries)


MAX_PASSWORD_AGE_S = 30 * 86400
"""Netlogon's MaximumPasswordAge default (30 days): a member changes its machine password when older."""
RETRY_S = 900.0
"""After a failed change, the next try (Netlogon's ScavengeInterval default, 15 minutes)."""


def password_change_due(m: Membership, now: float, max_age_s: float = MAX_PASSWORD_AGE_S) -> bool:
    """Whether the node should change its machine password now (pure)."""
    return m.changed_at > 0 and now - m.changed_at >= max_age_s


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (atomic replace)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def install(m: Membership, directory_dir: Path) -> tuple[Path, Directory]:
    """Write the keytab next to the membership; a Directory bound as the machine account."""
    directory_dir.mkdir(parents=True, exist_ok=True)
    keytab = directory_dir / "krb5.keytab"
    write_secret(keytab, m.keytab())
    lookup = ldap_lookup(m.domain, f"{m.machine.account}@{m.domain.dns_name}", m.machine.password)
    return keytab, Directory(m.domain, lookup, str(directory_dir / "directory-cache.json"))


def load(path: str | Path) -> Membership:
    return Membership.from_json(Path(path).read_text())
