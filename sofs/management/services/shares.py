"""SMB share definitions kept in the cluster store (New-SmbShare, Get-SmbShare, Grant-SmbShareAccess...).

Storage layout (the contract the SMB server reads):

- key ``<cluster prefix>shares/<name lowercased>`` (default ``/sofs/shares/<name>``), value UTF-8 JSON of one share whose field names are those of
  :class:`sofs.config.ShareConfig` (``name, path, continuously_available, encrypt_data, read_only,
  ca_timeout, folder_enumeration_mode, full_access, change_access, read_access, no_access, comment,
  guest_ok``) plus ``scope_name`` (``"*"`` or the Scale-Out File Server name). So a server builds its
  share with ``ShareConfig(**{k: v for k, v in doc.items() if k in ShareConfig fields})``.
- ``path`` is stored as the admin typed it (``C:\\ClusterStorage\\Volume1\\Shares\\VMS`` or a POSIX
  path); each node maps ``C:\\ClusterStorage\\<Volume>\\...`` onto its own mount of that volume.
- Access lists hold account names. All four lists empty means "Everyone: Full" (the server's rule in
  ``sofs/config.py``); Get-SmbShareAccess shows that as one ``Everyone Allow Full`` entry.
- Writes are compare-and-set on the key's ``mod_revision`` (create-if-absent for New-SmbShare), retried
  on a lost race, so concurrent admins never lose each other's grants. Watch ``/sofs/shares/`` to
  follow changes.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sofs.management.errors import ManagementError
from sofs.management.services import close_quietly

PREFIX = "/sofs/shares/"
SOFS_GROUP_TYPE = "ScaleOutFileServer"  # sofs.cluster.model.GroupType.SOFS
RIGHTS = {"Full": "full_access", "Change": "change_access", "Read": "read_access"}
EVERYONE = "Everyone"


@dataclass(frozen=True, slots=True)
class ShareInfo:
    """``Get-SmbShare`` (MSFT_SmbShare properties we support)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "scope_name", "path", "description")
    name: str
    scope_name: str
    path: str
    description: str = ""
    continuously_available: bool = False
    encrypt_data: bool = False
    folder_enumeration_mode: str = "Unrestricted"
    ca_timeout: int = field(default=60, metadata={"ps": "CATimeout"})  # MSFT_SmbShare spells it so
    read_only: bool = False
    full_access: tuple[str, ...] = field(default=(), metadata={"hidden": True})
    change_access: tuple[str, ...] = field(default=(), metadata={"hidden": True})
    read_access: tuple[str, ...] = field(default=(), metadata={"hidden": True})
    no_access: tuple[str, ...] = field(default=(), metadata={"hidden": True})


@dataclass(frozen=True, slots=True)
class ShareAccessInfo:
    """``Get-SmbShareAccess`` (MSFT_SmbShareAccessControlEntry)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "scope_name", "account_name", "access_control_type",
                                           "access_right")
    name: str
    scope_name: str
    account_name: str
    access_control_type: str  # Allow | Deny
    access_right: str  # Full | Change | Read


def _doc_to_info(doc: dict[str, Any]) -> ShareInfo:
    return ShareInfo(
        name=doc["name"], scope_name=doc.get("scope_name", "*"), path=doc["path"],
        description=doc.get("comment", ""), continuously_available=bool(doc.get("continuously_available")),
        encrypt_data=bool(doc.get("encrypt_data")),
        folder_enumeration_mode=doc.get("folder_enumeration_mode", "Unrestricted"),
        ca_timeout=int(doc.get("ca_timeout", 60)), read_only=bool(doc.get("read_only")),
        full_access=tuple(doc.get("full_access", ())), change_access=tuple(doc.get("change_access", ())),
        read_access=tuple(doc.get("read_access", ())), no_access=tuple(doc.get("no_access", ())),
    )


def access_entries(doc: dict[str, Any]) -> list[ShareAccessInfo]:
    name, scope = doc["name"], doc.get("scope_name", "*")
    out: list[ShareAccessInfo] = []
    for right, key in RIGHTS.items():
        out += [ShareAccessInfo(name, scope, a, "Allow", right) for a in doc.get(key, ())]
    out += [ShareAccessInfo(name, scope, a, "Deny", "Full") for a in doc.get("no_access", ())]
    if not out:
        out.append(ShareAccessInfo(name, scope, EVERYONE, "Allow", "Full"))
    return out


def resolve_scope(scope_name: str | None, path: str, roles: Sequence[str]) -> str:
    """The ScopeName a new share gets.

    - Given: ``*`` (every name of the server) or an existing Scale-Out File Server role (any case; the
      role's spelling is stored); anything else is refused, as Windows refuses an unknown scope.
    - Not given: a share on a cluster volume (``C:\\ClusterStorage\\...``) belongs to the role when the
      cluster has exactly one (Windows scopes a CSV share to the file server that owns the volume); with
      several roles the admin must say which; otherwise ``*``.
    """
    if scope_name is not None and scope_name != "":
        if scope_name == "*":
            return "*"
        hit = next((r for r in roles if r.lower() == scope_name.lower()), None)
        if hit is None:
            raise ManagementError(f"The scope '{scope_name}' is not a Scale-Out File Server role of this cluster "
                                  f"(roles: {', '.join(roles) or 'none'}).", "ObjectNotFound", scope_name)
        return hit
    on_csv = re.match(r"^[A-Za-z]:[\\/]ClusterStorage[\\/]", path, re.IGNORECASE) is not None
    if on_csv and len(roles) == 1:
        return roles[0]
    if on_csv and len(roles) > 1:
        raise ManagementError(f"The path is on a cluster volume and the cluster has several Scale-Out File Server "
                              f"roles ({', '.join(roles)}); say which with -ScopeName.", "InvalidArgument", path)
    return "*"


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


class ShareService:
    """Share definitions in a ``sofs.cluster.store.ClusterStore`` (see the module docstring)."""

    def __init__(self, store: Any, *, prefix: str = "/sofs/", check_local_paths: bool = True,
                 state_dir: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self.prefix = (prefix if prefix.endswith("/") else prefix + "/") + "shares/"
        self.check_local_paths = check_local_paths
        self.state_dir = Path(state_dir) if state_dir is not None else None
        """Where this machine mounts the cluster volumes (``<state dir>/ClusterStorage``); None: unknown."""

    async def close(self) -> None:
        """Close the underlying store (the CLI opens one per command)."""
        await close_quietly(self.store)

    def key(self, name: str) -> str:
        return self.prefix + name.lower()

    async def _load(self, name: str) -> tuple[dict[str, Any], int]:
        kv = await self.store.get(self.key(name))
        if kv is None:
            raise ManagementError(f"No MSFT_SmbShare objects found with property 'Name' equal to '{name}'. "
                                  "Verify the value of the property and retry.", "ObjectNotFound", name)
        return json.loads(kv.value), kv.mod_revision

    async def new_share(self, name: str, path: str, *, full_access: Sequence[str] = (),
                        change_access: Sequence[str] = (), read_access: Sequence[str] = (),
                        no_access: Sequence[str] = (), continuously_available: bool = False,
                        encrypt_data: bool = False, folder_enumeration_mode: str = "Unrestricted",
                        ca_timeout: int = 60, description: str = "", scope_name: str | None = None,
                        read_only: bool = False, create_path: bool = False) -> ShareInfo:
        """``New-SmbShare``. ``scope_name`` None: :func:`resolve_scope` picks it; ``create_path``: create a
        missing folder (-CreatePath)."""
        if not name or any(c in name for c in '\\/:*?"<>|') or len(name) > 80:
            raise ManagementError(f"The share name '{name}' contains invalid characters.", "InvalidArgument", name)
        if not path:
            raise ManagementError("The path cannot be empty.", "InvalidArgument")
        if self.check_local_paths:
            self.check_path(path, create_path)
        scope = resolve_scope(scope_name, path, await self.roles())
        doc = {"name": name, "scope_name": scope, "path": path, "comment": description,
               "continuously_available": continuously_available, "encrypt_data": encrypt_data,
               "read_only": read_only, "ca_timeout": ca_timeout, "folder_enumeration_mode": folder_enumeration_mode,
               "full_access": list(full_access), "change_access": list(change_access),
               "read_access": list(read_access), "no_access": list(no_access), "guest_ok": False}
        if not await self.store.create(self.key(name), json.dumps(doc, sort_keys=True).encode()):
            raise ManagementError("The name has already been shared.", "ResourceExists", name)
        return _doc_to_info(doc)

    def local_path(self, path: str) -> str:
        """Where ``path`` is on this machine: ``C:\\ClusterStorage\\<Volume>\\...`` maps onto the volume
        mounts under the state directory (as every node maps it); a POSIX path is itself."""
        from sofs.config import ConfigError, map_cluster_path
        if path.startswith("/"):
            return path
        try:
            local = map_cluster_path(path, self.state_dir or Path("/"))
        except ConfigError as e:
            raise ManagementError(f"The path '{path}' is not valid: {e}.", "InvalidArgument", path) from None
        if self.state_dir is None or local == path:
            raise ManagementError(f"The path '{path}' is not on a cluster volume: use "
                                  "C:\\ClusterStorage\\<Volume>\\<folder> or an absolute POSIX path.",
                                  "InvalidArgument", path)
        return local

    def check_path(self, path: str, create: bool) -> None:
        """New-SmbShare on a missing folder: created with ``create`` (-CreatePath), else refused naming
        the folder this machine looked for."""
        local = self.local_path(path)
        if os.path.isdir(local):
            return
        if os.path.exists(local):
            raise ManagementError(f"The path '{path}' ({local} on this machine) is not a folder.",
                                  "InvalidArgument", path)
        where = "" if local == path else f" (on this machine: {local})"
        if not create:
            raise ManagementError(f"The folder '{path}' does not exist{where}. Create it first, or add "
                                  "-CreatePath to let New-SmbShare create it.", "ObjectNotFound", path)
        try:
            os.makedirs(local)
            os.chmod(local, 0o777)  # as the demo's share: access is decided by the share and file ACLs
        except OSError as e:
            raise ManagementError(f"Cannot create the folder '{path}'{where}: {e.strerror}.",
                                  "PermissionDenied", path) from None

    async def roles(self) -> list[str]:
        """Names of the cluster's Scale-Out File Server roles (group records under ``<prefix>groups/``)."""
        listing = await self.store.list(self.prefix[: -len("shares/")] + "groups/")
        out = []
        for kv in listing.kvs:
            try:
                rec = json.loads(kv.value)
            except ValueError:
                continue
            if rec.get("group_type") == SOFS_GROUP_TYPE:
                out.append(str(rec.get("name")))
        return sorted(out)

    async def get_shares(self, names: Sequence[str] | None = None) -> list[ShareInfo]:
        import fnmatch
        listing = await self.store.list(self.prefix)
        docs = [json.loads(kv.value) for kv in listing.kvs]
        shares = sorted((_doc_to_info(d) for d in docs), key=lambda s: s.name.lower())
        if not names:
            return shares
        out: list[ShareInfo] = []
        for n in names:
            hits = [s for s in shares if fnmatch.fnmatchcase(s.name.lower(), n.lower())]
            if not hits and not any(c in n for c in "*?["):
                await self._load(n)  # raises the ObjectNotFound error
            out += [h for h in hits if h not in out]
        return out

    async def remove_share(self, name: str) -> None:
        _doc, rev = await self._load(name)
        if not await self.store.cas_delete(self.key(name), rev):
            raise ManagementError("The share changed while it was being removed; retry.", "InvalidOperation", name)

    async def _update(self, name: str, change: Any) -> dict[str, Any]:
        for _ in range(20):
            doc, rev = await self._load(name)
            change(doc)
            if await self.store.cas(self.key(name), json.dumps(doc, sort_keys=True).encode(), rev):
                return doc
        raise ManagementError("The share kept changing; retry.", "InvalidOperation", name)

    async def grant_access(self, name: str, accounts: Sequence[str], right: str) -> list[ShareAccessInfo]:
        """Grant-SmbShareAccess: the account gets exactly ``right`` (replacing an earlier allow entry)."""
        if right not in RIGHTS:
            raise ManagementError(f"Access right '{right}' is not supported.", "InvalidArgument", right)

        def change(doc: dict[str, Any]) -> None:
            for key in RIGHTS.values():
                doc[key] = [a for a in doc.get(key, []) if not any(_same(a, x) for x in accounts)]
            doc[RIGHTS[right]] += list(accounts)
        return access_entries(await self._update(name, change))

    async def revoke_access(self, name: str, accounts: Sequence[str]) -> list[ShareAccessInfo]:
        """Revoke-SmbShareAccess: remove every allow entry of the accounts."""
        def change(doc: dict[str, Any]) -> None:
            if not any(doc.get(k) for k in (*RIGHTS.values(), "no_access")) and \
                    any(_same(a, EVERYONE) for a in accounts):
                raise ManagementError("The share has no explicit entries (Everyone: Full is implied); grant "
                                      "another account before revoking Everyone.", "InvalidOperation", name)
            for key in RIGHTS.values():
                doc[key] = [a for a in doc.get(key, []) if not any(_same(a, x) for x in accounts)]
        return access_entries(await self._update(name, change))

    async def block_access(self, name: str, accounts: Sequence[str], block: bool = True) -> list[ShareAccessInfo]:
        """Block-SmbShareAccess (``block``) / Unblock-SmbShareAccess: the deny list."""
        def change(doc: dict[str, Any]) -> None:
            deny = [a for a in doc.get("no_access", []) if not any(_same(a, x) for x in accounts)]
            doc["no_access"] = deny + (list(accounts) if block else [])
        return access_entries(await self._update(name, change))

    async def get_access(self, name: str) -> list[ShareAccessInfo]:
        doc, _ = await self._load(name)
        return access_entries(doc)
