"""Server configuration: a TOML file and/or command-line flags.

Example (``sofs serve --config sofs.toml``)::

    [server]
    listen = ["127.0.0.1:445"]
    server_name = "SOFS"          # NetBIOS-ish name reported in NTLM and srvsvc
    domain = "WORKGROUP"
    require_signing = false       # "server signing = mandatory"
    encrypt_data = false          # server-wide -EncryptData
    reject_unencrypted = true     # unencrypted requests to an encrypted share get ACCESS_DENIED
    guest_ok = false              # anonymous/guest sessions allowed at all
    kerberos_keytab = "/path/to/keytab"  # domain member: accept Kerberos with these keys
    domain_membership = "/path/membership.json"  # or: the join's result (keytab + LDAP names)

    [[share]]
    name = "data"
    path = "/srv/data"
    continuously_available = false  # New-SmbShare -ContinuouslyAvailable
    encrypt_data = false            # New-SmbShare -EncryptData
    read_only = false
    ca_timeout = 60                 # -CATimeout (seconds)
    folder_enumeration_mode = "Unrestricted"  # or "AccessBased"
    full_access = []                # user/group names; empty lists mean "everyone, full"
    change_access = []
    read_access = []
    no_access = []

    [[user]]
    name = "alice"
    password = "secret"           # or nt_hash = "hex"
    groups = ["HyperVHosts"]

Flags: ``--listen ADDR:PORT``, ``--share NAME=PATH[,ca][,encrypt][,ro]``, ``--user NAME:PASSWORD``
(repeatable) add to / override the file.
"""
from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration problem, with a message naming the setting at fault."""


@dataclass
class ShareConfig:
    name: str
    path: str
    continuously_available: bool = False
    encrypt_data: bool = False
    read_only: bool = False
    ca_timeout: int = 60
    folder_enumeration_mode: str = "Unrestricted"
    full_access: list[str] = field(default_factory=list)
    change_access: list[str] = field(default_factory=list)
    read_access: list[str] = field(default_factory=list)
    no_access: list[str] = field(default_factory=list)
    comment: str = ""
    guest_ok: bool = False
    scope_name: str = "*"
    """``*``, or the Scale-Out File Server role the share belongs to (cluster nodes only)."""

    @property
    def access_based_enumeration(self) -> bool:
        return self.folder_enumeration_mode.lower() == "accessbased"


@dataclass
class UserConfig:
    name: str
    password: str | None = None
    nt_hash: str | None = None
    groups: list[str] = field(default_factory=list)
    rid: int | None = None


@dataclass
class ServerConfig:
    listen: list[tuple[str, int]] = field(default_factory=lambda: [("127.0.0.1", 445)])
    server_name: str = "SOFS"
    domain: str = "WORKGROUP"
    require_signing: bool = False
    encrypt_data: bool = False
    reject_unencrypted: bool = True
    guest_ok: bool = False
    server_guid: bytes = field(default_factory=lambda: uuid.uuid4().bytes_le)
    domain_sid: str = "S-1-5-21-3623811015-3361044348-30300820"
    kerberos_keytab: str | None = None  # a domain member's keytab: Kerberos in SESSION_SETUP (issue 18)
    domain_membership: str | None = None  # Add-Computer's result (JSON, 0600): keytab + directory
    max_read_size: int = 8 * 1024 * 1024
    max_write_size: int = 8 * 1024 * 1024
    max_transact_size: int = 8 * 1024 * 1024
    max_credits: int = 8192
    state_dir: str | None = None
    workers: int = 0  # SMB worker processes (sofs.server.workers); 0: one per core
    dedicated_coordinator: bool = False  # the main process coordinates only; `workers` processes serve
    shares: list[ShareConfig] = field(default_factory=list)
    users: list[UserConfig] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)

    def share(self, name: str) -> ShareConfig | None:
        low = name.lower()
        for s in self.shares:
            if s.name.lower() == low:
                return s
        return None


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"listen address {value!r} must be ADDR:PORT")
    try:
        p = int(port)
    except ValueError:
        raise ConfigError(f"listen address {value!r}: port {port!r} is not a number") from None
    if not 0 < p < 65536:
        raise ConfigError(f"listen address {value!r}: port out of range")
    return host.strip("[]"), p


def parse_share_flag(value: str) -> ShareConfig:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--share {value!r} must be NAME=PATH[,ca][,encrypt][,ro]")
    path, *opts = rest.split(",")
    share = ShareConfig(name=name, path=path)
    for opt in opts:
        o = opt.strip().lower()
        if o in ("ca", "continuously_available"):
            share.continuously_available = True
        elif o in ("encrypt", "encrypt_data"):
            share.encrypt_data = True
        elif o in ("ro", "read_only"):
            share.read_only = True
        elif o in ("abe", "accessbased"):
            share.folder_enumeration_mode = "AccessBased"
        elif o in ("guest", "guest_ok"):
            share.guest_ok = True
        else:
            raise ConfigError(f"--share {value!r}: unknown option {opt!r}")
    return share


def parse_user_flag(value: str) -> UserConfig:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise ConfigError(f"--user {value!r} must be NAME:PASSWORD")
    return UserConfig(name=name, password=password)


_SHARE_KEYS = set(ShareConfig.__dataclass_fields__)
_USER_KEYS = set(UserConfig.__dataclass_fields__)
_SERVER_KEYS = set(ServerConfig.__dataclass_fields__) - {"shares", "users", "listen", "server_guid"}


def _check_keys(section: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"[{section}]: unknown setting(s) {', '.join(unknown)}")


def load_config(path: str | Path | None = None) -> ServerConfig:
    cfg = ServerConfig()
    if path is None:
        return cfg
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    server = dict(data.get("server", {}))
    listen = server.pop("listen", None)
    guid = server.pop("server_guid", None)
    _check_keys("server", server, _SERVER_KEYS)
    for k, v in server.items():
        setattr(cfg, k, v)
    if listen is not None:
        cfg.listen = [parse_listen(x) for x in ([listen] if isinstance(listen, str) else listen)]
    if guid:
        cfg.server_guid = uuid.UUID(guid).bytes_le
    for s in data.get("share", []):
        _check_keys("share", s, _SHARE_KEYS)
        cfg.shares.append(ShareConfig(**s))
    for u in data.get("user", []):
        _check_keys("user", u, _USER_KEYS)
        cfg.users.append(UserConfig(**u))
    validate(cfg)
    return cfg


MAX_WORKERS = 64


def validate(cfg: ServerConfig) -> None:
    if not isinstance(cfg.workers, int) or isinstance(cfg.workers, bool) or not 0 <= cfg.workers <= MAX_WORKERS:
        raise ConfigError(f"workers = {cfg.workers!r}: a number of worker processes from 1 to {MAX_WORKERS} "
                          "(0: one per core)")
    seen: set[str] = set()
    for s in cfg.shares:
        low = s.name.lower()
        if low in seen:
            raise ConfigError(f"share {s.name!r} is defined twice")
        if low == "ipc$":
            raise ConfigError("share name IPC$ is reserved")
        if not s.name or any(c in s.name for c in '\\/:*?"<>|'):
            raise ConfigError(f"share name {s.name!r} contains a character Windows forbids")
        seen.add(low)
        p = Path(s.path)
        if not p.is_dir():
            raise ConfigError(f"share {s.name!r}: path {s.path} is not an existing directory")
    users: set[str] = set()
    for u in cfg.users:
        if u.name.lower() in users:
            raise ConfigError(f"user {u.name!r} is defined twice")
        users.add(u.name.lower())
        if u.password is None and u.nt_hash is None:
            raise ConfigError(f"user {u.name!r} needs a password or an nt_hash")


_CSV = re.compile(r"^[A-Za-z]:\\ClusterStorage\\(?P<rest>.+)$", re.IGNORECASE)


def map_cluster_path(path: str, state_dir: Path) -> str:
    """Map a Windows cluster path onto the node's mount of the cluster volumes
    (``C:\\ClusterStorage\\Volume1\\X`` → ``<state dir>/ClusterStorage/Volume1/X``); POSIX paths stay."""
    m = _CSV.match(path)
    if m is None:
        return path
    parts = [p for p in m.group("rest").split("\\") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f"path {path!r} contains '.' or '..'")
    return str(Path(state_dir).joinpath("ClusterStorage", *parts))
