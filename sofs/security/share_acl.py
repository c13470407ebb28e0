"""Share permissions (New-SmbShare -FullAccess / -ChangeAccess / -ReadAccess / -NoAccess) as a
security descriptor checked by the same access check as files ([MS-SRVS] 2.2.4.29 share
permissions; Windows stores them as an SD in the registry).

The lists hold user or group names from the sofs configuration, well-known names ("Everyone",
"Authenticated Users", "Administrators"), ``DOMAIN\\name`` / ``name$`` forms, or SIDs. Denies (NoAccess)
come first, so they win; empty Full/Change/Read lists mean Everyone full control (an unrestricted
share). A read-only share caps the result at read. Names that resolve to no SID are ignored (and
reported by :func:`unknown_names` so configuration checks can warn).
"""
from __future__ import annotations

from typing import Any

from sofs.security.access import maximal_access
from sofs.security.token import Token, sid_for_name
from sofs.wire.dtyp import SID_EVERYONE, Ace, AceType, Acl, SecurityDescriptor, Sid

FULL_ACCESS = 0x001F01FF
CHANGE_ACCESS = 0x001301BF
READ_ACCESS = 0x001200A9


def _sids(names: list[str], userdb: Any) -> list[Sid]:
    out = []
    for n in names:
        sid = sid_for_name(n, userdb)
        if sid is not None:
            out.append(sid)
    return out


def share_sd(cfg: Any, userdb: Any = None) -> SecurityDescriptor:
    """The share's permission descriptor built from its configuration lists."""
    aces: list[Ace] = [Ace(AceType.ACCESS_DENIED, 0, FULL_ACCESS, s) for s in _sids(cfg.no_access, userdb)]
    if not (cfg.full_access or cfg.change_access or cfg.read_access):
        aces.append(Ace(AceType.ACCESS_ALLOWED, 0, FULL_ACCESS, SID_EVERYONE))
    for names, mask in ((cfg.full_access, FULL_ACCESS), (cfg.change_access, CHANGE_ACCESS),
                        (cfg.read_access, READ_ACCESS)):
        aces += [Ace(AceType.ACCESS_ALLOWED, 0, mask, s) for s in _sids(names, userdb)]
    return SecurityDescriptor.build(None, None, Acl(tuple(aces)))


def share_maximal_access(cfg: Any, token: Token, userdb: Any = None) -> int:
    """The maximal access the share grants ``token`` (0 = TREE_CONNECT refused with ACCESS_DENIED)."""
    access = maximal_access(share_sd(cfg, userdb), token) & FULL_ACCESS
    if getattr(cfg, "read_only", False):
        access &= READ_ACCESS
    return access


def unknown_names(cfg: Any, userdb: Any = None) -> list[str]:
    """Names in the share's lists that resolve to no SID."""
    names = [*cfg.full_access, *cfg.change_access, *cfg.read_access, *cfg.no_access]
    return [n for n in names if sid_for_name(n, userdb) is None]
