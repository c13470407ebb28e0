"""The user database behind authentication and access checks.

Users come from the configuration (name, password or NT hash, optional RID, groups). Identities are
SIDs in the machine domain ``S-1-5-21-a-b-c`` ([MS-DTYP] 2.4.2), generated once per installation by the
caller and passed in. RIDs below 1000 are the well-known ones (500 Administrator, 501 Guest, 513
Domain Users); configured users and groups get 1000 and up in configuration order unless a RID is given.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from spnego._ntlm_raw.crypto import ntowfv1  # pure-Python MD4: hashlib's md4 is disabled by OpenSSL 3

from sofs.wire.pac import LogonInfo

SID_EVERYONE = "S-1-1-0"
SID_ANONYMOUS = "S-1-5-7"
SID_NETWORK = "S-1-5-2"
SID_AUTHENTICATED_USERS = "S-1-5-11"
SID_BUILTIN_USERS = "S-1-5-32-545"
SID_BUILTIN_GUESTS = "S-1-5-32-546"
RID_GUEST = 501
RID_DOMAIN_USERS = 513
RID_DOMAIN_GUESTS = 514
FIRST_RID = 1000

_DOMAIN_SID = re.compile(r"^S-1-5-21-\d{1,10}-\d{1,10}-\d{1,10}$")


def new_domain_sid(random_bytes: bytes) -> str:
    """A machine domain SID ``S-1-5-21-a-b-c`` from 12 random bytes (pass ``os.urandom(12)``)."""
    if len(random_bytes) < 12:
        raise ValueError("need 12 random bytes")
    a, b, c = (int.from_bytes(random_bytes[i : i + 4], "little") for i in (0, 4, 8))
    return f"S-1-5-21-{a}-{b}-{c}"


def nt_hash(password: str) -> bytes:
    """[MS-NLMP] 3.3.1 NTOWFv1: MD4(UTF-16LE(password))."""
    return ntowfv1(password)


@dataclass(frozen=True, slots=True)
class UserEntry:
    """One configured user: exactly one of ``password`` / ``nt_hash_hex``."""

    name: str
    password: str | None = None
    nt_hash_hex: str | None = None
    rid: int | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    rid: int
    sid: str


@dataclass(frozen=True, slots=True)
class User:
    """An account that can log on. ``nt_hash`` is empty for the built-in guest/anonymous identities."""

    name: str
    rid: int
    sid: str
    nt_hash: bytes = field(repr=False)
    groups: tuple[Group, ...] = ()
    group_sids: tuple[str, ...] = ()  # primary group (Domain Users) + configured groups

    def token_sids(self) -> tuple[str, ...]:
        """All SIDs of a logon token: user, groups, and the well-known ones every user holds."""
        return (self.sid, *self.group_sids, SID_EVERYONE, SID_NETWORK, SID_AUTHENTICATED_USERS, SID_BUILTIN_USERS)


class UserDb:
    """Users and groups of one server (or cluster); lookups are case-insensitive."""

    def __init__(self, domain_sid: str, users: Iterable[UserEntry], groups: Iterable[str] = ()) -> None:
        if not _DOMAIN_SID.match(domain_sid):
            raise ValueError(f"not a machine domain SID: {domain_sid!r}")
        self.domain_sid = domain_sid
        entries = list(users)
        taken = {e.rid for e in entries if e.rid is not None}
        next_rid = FIRST_RID

        def allocate() -> int:
            nonlocal next_rid
            while next_rid in taken:
                next_rid += 1
            taken.add(next_rid)
            return next_rid

        self._groups: dict[str, Group] = {}
        names = list(groups) + [g for e in entries for g in e.groups]
        for name in names:
            if name.lower() not in self._groups:
                self._groups[name.lower()] = Group(name, (rid := allocate()), f"{domain_sid}-{rid}")
        self._users: dict[str, User] = {}
        for e in entries:
            key = e.name.lower()
            if key in self._users:
                raise ValueError(f"duplicate user {e.name!r}")
            if (e.password is None) == (e.nt_hash_hex is None):
                raise ValueError(f"user {e.name!r}: give exactly one of password / nt_hash")
            hashed = nt_hash(e.password) if e.password is not None else bytes.fromhex(e.nt_hash_hex or "")
            if len(hashed) != 16:
                raise ValueError(f"user {e.name!r}: NT hash must be 16 bytes (32 hex digits)")
            rid = e.rid if e.rid is not None else allocate()
            member_of = tuple(self._groups[g.lower()] for g in e.groups)
            self._users[key] = User(
                name=e.name,
                rid=rid,
                sid=f"{domain_sid}-{rid}",
                nt_hash=hashed,
                groups=member_of,
                group_sids=(f"{domain_sid}-{RID_DOMAIN_USERS}", *(g.sid for g in member_of)),
            )
        self.guest = User(
            name="Guest",
            rid=RID_GUEST,
            sid=f"{domain_sid}-{RID_GUEST}",
            nt_hash=b"",
            group_sids=(f"{domain_sid}-{RID_DOMAIN_GUESTS}", SID_BUILTIN_GUESTS),
        )
        self.anonymous = User(name="", rid=0, sid=SID_ANONYMOUS, nt_hash=b"")
        self.directory: Any = None  # a domain member's name resolution (sofs.domain.directory)

    def lookup(self, name: str) -> User | None:
        """The user called ``name`` (case-insensitive; ``DOMAIN\\user`` and ``user@realm`` accepted)."""
        if "\\" in name:
            name = name.rsplit("\\", 1)[1]
        user = self._users.get(name.lower())
        if user is None and "@" in name:
            user = self._users.get(name.rsplit("@", 1)[0].lower())
        return user

    def group(self, name: str) -> Group | None:
        return self._groups.get(name.lower())

    def users(self) -> list[User]:
        return list(self._users.values())

    def groups(self) -> list[Group]:
        return list(self._groups.values())


def domain_user(logon: LogonInfo) -> User:
    """The logon identity of a domain account from its PAC: ``DOMAIN\\name``, its SID and group SIDs
    (primary group, domain groups, extra SIDs, resource groups). No password hash: Kerberos only."""
    rid = int(logon.user_sid.rsplit("-", 1)[1])
    return User(name=f"{logon.domain_name}\\{logon.user_name}", rid=rid, sid=logon.user_sid, nt_hash=b"",
                group_sids=logon.group_sids)
