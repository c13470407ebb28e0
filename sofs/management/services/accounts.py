"""Cluster-local accounts: the users of every node's SMB server and of the management API.

What Windows keeps in the local SAM of each node (``New-LocalUser``) and grants with
``Grant-ClusterAccess``, sofs keeps once for the whole cluster, in the cluster store, so every node
sees the same accounts and a change reaches every node at once (each node watches the prefix).

Storage layout (the contract the node servers read, ``sofs.server.node_accounts``):

- key ``<cluster prefix>accounts/<name lowercased>``, value UTF-8 JSON ``{"name", "nt_hash" (32 hex
  digits: [MS-NLMP] 3.3.1 NTOWFv1, the only form a password is kept in), "rid", "enabled",
  "description", "cluster_access"}``;
- ``rid``: relative id of the account's SID in the cluster's machine domain, allocated once (2000 and
  up, above the ids ``smb.toml`` users get) so file ACLs keep naming the same account;
- ``cluster_access``: what the account may do through the management API: ``None`` (SMB only),
  ``Read`` (read-only role: every GET) or ``Full`` (admin role: every route) — ``Grant-ClusterAccess
  -ReadOnly | -Full``, ``Remove-ClusterAccess``.

Writes are create-if-absent / compare-and-set on the key's revision, retried on a lost race.
"""
from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from spnego._ntlm_raw.crypto import ntowfv1  # pure-Python MD4 (hashlib's is disabled by OpenSSL 3)

from sofs.management.errors import ManagementError
from sofs.management.services import close_quietly

FIRST_RID = 2000
ACCESS = ("None", "Read", "Full")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class LocalUserInfo:
    """``Get-LocalUser`` (Name, Enabled, Description) plus the cluster access it has."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "enabled", "cluster_access", "description")
    name: str
    enabled: bool
    description: str
    cluster_access: str
    sid: str = ""


@dataclass(frozen=True, slots=True)
class AccountRecord:
    name: str
    nt_hash: str
    rid: int
    enabled: bool = True
    description: str = ""
    cluster_access: str = "None"

    @classmethod
    def from_json(cls, data: bytes) -> AccountRecord:
        raw = json.loads(data)
        missing = [f for f in ("name", "nt_hash", "rid", "enabled", "description", "cluster_access") if f not in raw]
        if missing:
            raise ValueError(f"account record without {', '.join(missing)}")
        return cls(str(raw["name"]), str(raw["nt_hash"]), int(raw["rid"]), bool(raw["enabled"]),
                   str(raw["description"]), str(raw["cluster_access"]))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def nt_hash_hex(password: str) -> str:
    return bytes(ntowfv1(password)).hex()


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ManagementError(f"The password does not meet the password policy requirements: at least "
                              f"{MIN_PASSWORD} characters.", "InvalidArgument")
    return password


class AccountService:
    """The accounts of one cluster (see the module docstring)."""

    def __init__(self, store: Any, *, prefix: str = "/sofs/", domain_sid: str = "") -> None:
        self.store = store
        self.prefix = (prefix if prefix.endswith("/") else prefix + "/") + "accounts/"
        self.domain_sid = domain_sid

    async def close(self) -> None:
        await close_quietly(self.store)

    def _key(self, name: str) -> str:
        return self.prefix + name.lower()

    def _info(self, r: AccountRecord) -> LocalUserInfo:
        sid = f"{self.domain_sid}-{r.rid}" if self.domain_sid else ""
        return LocalUserInfo(r.name, r.enabled, r.description, r.cluster_access, sid)

    async def records(self) -> list[AccountRecord]:
        out = []
        for kv in (await self.store.list(self.prefix)).kvs:
            try:
                out.append(AccountRecord.from_json(kv.value))
            except (ValueError, TypeError) as e:
                raise ManagementError(f"The account record {kv.key} is damaged: {e}.", "InvalidData") from None
        return sorted(out, key=lambda r: r.name.lower())

    async def _load(self, name: str) -> tuple[AccountRecord, int]:
        kv = await self.store.get(self._key(name))
        if kv is None:
            raise ManagementError(f"User {name} was not found.", "ObjectNotFound", name)
        return AccountRecord.from_json(kv.value), kv.mod_revision

    async def new_user(self, name: str, password: str, description: str = "", disabled: bool = False
                       ) -> LocalUserInfo:
        """``New-LocalUser``."""
        if not NAME_RE.match(name or ""):
            raise ManagementError(f"The name '{name}' is not a valid account name: 1-20 letters, digits, "
                                  "'.', '_' or '-', starting with a letter or digit.", "InvalidArgument", name)
        hashed = nt_hash_hex(check_password(password))
        for _ in range(20):
            existing = await self.records()
            if any(r.name.lower() == name.lower() for r in existing):
                raise ManagementError(f"User {name} already exists.", "ResourceExists", name)
            rid = max([FIRST_RID - 1, *(r.rid for r in existing)]) + 1
            rec = AccountRecord(name, hashed, rid, not disabled, description)
            if await self.store.create(self._key(name), rec.to_json()):
                return self._info(rec)
        raise ManagementError("The accounts kept changing; retry.", "InvalidOperation", name)

    async def get_users(self, names: Sequence[str] | None = None) -> list[LocalUserInfo]:
        """``Get-LocalUser [-Name]`` (wildcards; a missing literal name is an error)."""
        import fnmatch
        recs = await self.records()
        if not names:
            return [self._info(r) for r in recs]
        out: list[LocalUserInfo] = []
        for n in names:
            hits = [r for r in recs if fnmatch.fnmatchcase(r.name.lower(), n.lower())]
            if not hits and not any(c in n for c in "*?["):
                raise ManagementError(f"User {n} was not found.", "ObjectNotFound", n)
            out += [self._info(h) for h in hits if self._info(h) not in out]
        return out

    async def _update(self, name: str, **changes: Any) -> LocalUserInfo:
        from dataclasses import replace
        for _ in range(20):
            rec, rev = await self._load(name)
            new = replace(rec, **changes)
            if await self.store.cas(self._key(name), new.to_json(), rev):
                return self._info(new)
        raise ManagementError("The account kept changing; retry.", "InvalidOperation", name)

    async def set_user(self, name: str, password: str | None = None, description: str | None = None
                       ) -> LocalUserInfo:
        """``Set-LocalUser``: a new password and/or description."""
        changes: dict[str, Any] = {}
        if password is not None:
            changes["nt_hash"] = nt_hash_hex(check_password(password))
        if description is not None:
            changes["description"] = description
        if not changes:
            raise ManagementError("Nothing to change: give -Password or -Description.", "InvalidArgument", name)
        return await self._update(name, **changes)

    async def enable_user(self, name: str, enabled: bool) -> LocalUserInfo:
        return await self._update(name, enabled=enabled)

    async def remove_user(self, name: str) -> None:
        _rec, rev = await self._load(name)
        if not await self.store.cas_delete(self._key(name), rev):
            raise ManagementError("The account changed while it was being removed; retry.", "InvalidOperation",
                                  name)

    async def set_access(self, name: str, access: str) -> LocalUserInfo:
        """``Grant-ClusterAccess -ReadOnly|-Full`` (``Read``/``Full``), ``Remove-ClusterAccess`` (``None``)."""
        if access not in ACCESS:
            raise ManagementError(f"Unknown cluster access '{access}' (use {', '.join(ACCESS)}).",
                                  "InvalidArgument", access)
        return await self._update(name, cluster_access=access)

    async def authenticate(self, name: str, password: str) -> AccountRecord | None:
        """The enabled account ``name`` whose password is ``password``, else None (constant-time compare)."""
        try:
            rec, _ = await self._load(name)
        except ManagementError:
            return None
        ok = hmac.compare_digest(bytes.fromhex(rec.nt_hash), bytes(ntowfv1(password)))
        return rec if ok and rec.enabled else None
