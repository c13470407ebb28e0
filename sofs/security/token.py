"""The caller's security token: SIDs and privileges ([MS-DTYP] 2.5.2 Token/Authorization Context).

A token is derived from a configured sofs user (``sofs.auth.users.User``): the user SID, its primary
group (Domain Users of the machine domain), the configured groups (e.g. HyperVHosts), and the
well-known SIDs every network logon holds (Everyone, NETWORK, Authenticated Users, BUILTIN\\Users).
Members of a configured group called "Administrators" also get BUILTIN\\Administrators and the
backup/restore/security/take-ownership privileges, as an administrator on a Windows file server.

Names → SIDs (:func:`sid_for_name`) resolves user and group names of the configuration, well-known
names ("Everyone", "Authenticated Users", "Administrators", "SYSTEM", ...), ``DOMAIN\\name`` and
``name$`` (machine-account style, as in ``'DOMAIN\\HyperVHosts$'``) and SID strings.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sofs.wire.dtyp import (
    SID_ANONYMOUS,
    SID_AUTHENTICATED_USERS,
    SID_BUILTIN_ADMINISTRATORS,
    SID_BUILTIN_GUESTS,
    SID_BUILTIN_USERS,
    SID_CREATOR_GROUP,
    SID_CREATOR_OWNER,
    SID_EVERYONE,
    SID_NETWORK,
    SID_SYSTEM,
    Sid,
)

# Privileges the access check looks at ([MS-DTYP] 2.5.3.2 / [MS-LSAD] 3.1.1.2.1).
SE_SECURITY = "SeSecurityPrivilege"
SE_TAKE_OWNERSHIP = "SeTakeOwnershipPrivilege"
SE_BACKUP = "SeBackupPrivilege"
SE_RESTORE = "SeRestorePrivilege"
ADMIN_PRIVILEGES = frozenset({SE_SECURITY, SE_TAKE_OWNERSHIP, SE_BACKUP, SE_RESTORE})
ADMIN_GROUP_NAMES = frozenset({"administrators", "domain admins"})

WELL_KNOWN_NAMES: dict[str, Sid] = {
    "everyone": SID_EVERYONE,
    "authenticated users": SID_AUTHENTICATED_USERS,
    "network": SID_NETWORK,
    "anonymous logon": SID_ANONYMOUS,
    "system": SID_SYSTEM,
    "administrators": SID_BUILTIN_ADMINISTRATORS,
    "users": SID_BUILTIN_USERS,
    "guests": SID_BUILTIN_GUESTS,
    "creator owner": SID_CREATOR_OWNER,
    "creator group": SID_CREATOR_GROUP,
}


@dataclass(frozen=True, slots=True)
class Token:
    """What an access check needs about the caller.

    ``sids`` holds every SID of the token (user first); ``owner`` is the default owner of objects the
    caller creates (the user), ``primary_group`` the default group.
    """

    user: Sid
    primary_group: Sid
    sids: frozenset[Sid]
    privileges: frozenset[str] = frozenset()
    name: str = ""

    def has(self, sid: Sid | None) -> bool:
        return sid is not None and sid in self.sids

    def has_privilege(self, name: str) -> bool:
        return name in self.privileges

    @property
    def cache_key(self) -> tuple[Sid, frozenset[Sid], frozenset[str]]:
        return (self.user, self.sids, self.privileges)


def make_token(user_sid: str | Sid, group_sids: Iterable[str | Sid] = (), extra: Iterable[str | Sid] = (),
               privileges: Iterable[str] = (), name: str = "") -> Token:
    """A token from SID strings/objects: ``group_sids[0]`` is the primary group."""
    user = _sid(user_sid)
    groups = [_sid(g) for g in group_sids]
    primary = groups[0] if groups else user
    sids = frozenset([user, *groups, *(_sid(s) for s in extra)])
    return Token(user, primary, sids, frozenset(privileges), name)


def token_for_user(user: Any) -> Token:
    """The token of a logged-on ``sofs.auth.users.User`` (or anything with ``sid``, ``group_sids``,
    ``token_sids()`` and ``groups``)."""
    sids = list(user.token_sids()) if hasattr(user, "token_sids") else [user.sid, *user.group_sids]
    group_names = {g.name.lower() for g in getattr(user, "groups", ())}
    privileges: frozenset[str] = frozenset()
    extra: list[str | Sid] = list(sids[1:])
    if group_names & ADMIN_GROUP_NAMES:
        extra.append(SID_BUILTIN_ADMINISTRATORS)
        privileges = ADMIN_PRIVILEGES
    if getattr(user, "rid", 0) == 501 or str(user.sid) == str(SID_ANONYMOUS):
        extra = [s for s in extra if _sid(s) != SID_AUTHENTICATED_USERS]
    return make_token(user.sid, list(user.group_sids), extra, privileges, getattr(user, "name", ""))


def token_of_session(session: Any) -> Token:
    """The token of an SMB session (cached on the session object when it allows attributes).

    A session without a user (anonymous) gets ANONYMOUS LOGON + Everyone + NETWORK.
    """
    user = getattr(session, "user", None)
    cached = getattr(session, "_sofs_token", None) if session is not None else None
    if cached is not None and cached[0] is user:
        return cached[1]  # type: ignore[no-any-return]
    if user is None:
        tok = make_token(SID_ANONYMOUS, (), (SID_EVERYONE, SID_NETWORK), name="")
    else:
        tok = token_for_user(user)
    try:
        session._sofs_token = (user, tok)
    except (AttributeError, TypeError):
        pass  # slotted session: recomputed per call (cheap)
    return tok


def sid_for_name(name: str, userdb: Any = None) -> Sid | None:
    """The SID a configured/well-known name stands for; None when unknown.

    Accepts ``S-1-...`` strings, ``DOMAIN\\name``, ``name@realm``, ``BUILTIN\\Administrators``,
    ``NT AUTHORITY\\SYSTEM`` and a trailing ``$`` (group-of-computers style names).
    """
    text = name.strip()
    if text.upper().startswith("S-1-"):
        try:
            return Sid.parse(text)
        except ValueError:
            return None
    builtin = False
    if "\\" in text:
        prefix, text = text.rsplit("\\", 1)
        builtin = prefix.strip().upper() in ("BUILTIN", "NT AUTHORITY")
        directory = getattr(userdb, "directory", None)
        if directory is not None and directory.handles(prefix):
            found = directory.sid_of(text)  # a domain name (issue 18): LDAP, cached
            return Sid.parse(found) if found else None
    if "@" in text:
        text = text.split("@", 1)[0]
    low = text.lower()
    candidates = [low, low.rstrip("$")] if low.endswith("$") else [low]
    for cand in candidates:
        if userdb is not None and not builtin:
            user = userdb.lookup(cand)
            if user is not None:
                return _sid(user.sid)
            group = userdb.group(cand)
            if group is not None:
                return _sid(group.sid)
        if cand in WELL_KNOWN_NAMES:
            return WELL_KNOWN_NAMES[cand]
    return None


def _sid(value: str | Sid) -> Sid:
    return value if isinstance(value, Sid) else Sid.parse(value)
