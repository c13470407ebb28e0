"""Domain names → SIDs through LDAP, with a cache that outlives a DC outage.

Share ACLs name domain accounts and groups (``CORP\\HyperV-Servers``, ``CORP\\HOST1$``); a tree
connect needs their SIDs. :class:`Directory` asks the DC (``sAMAccountName`` search, bound as the
machine account over LDAPS) and remembers every answer with the time it got it. An answer younger
than ``ttl`` is used without asking; an older one is used while it is refreshed in the background, and
**kept** when the DC cannot be reached, so share access goes on through a DC outage (logged-on sessions carry their own
SIDs from the PAC and need no lookup at all). The cache is written to ``cache_path`` (JSON) when an
answer changes, so a node restarted during an outage still resolves the names it knew.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sofs.domain.join import Domain, DomainError, connect

log = logging.getLogger("sofs.domain")

Lookup = Callable[[str], "str | None"]


class Directory:
    """Resolves ``DOMAIN\\name`` for one domain (NetBIOS or DNS name as the prefix)."""

    def __init__(self, domain: Domain, lookup: Lookup, cache_path: str | None = None, ttl: float = 900.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.domain = domain
        self._lookup = lookup
        self._path = Path(cache_path) if cache_path else None
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()
        if self._path is not None and self._path.exists():
            try:
                self._cache = {k: (v[0], float(v[1])) for k, v in json.loads(self._path.read_text()).items()}
            except (ValueError, TypeError, IndexError, KeyError):
                log.warning("directory cache %s unreadable: starting empty", self._path)

    def handles(self, prefix: str) -> bool:
        p = prefix.strip().lower()
        return p in (self.domain.netbios_name.lower(), self.domain.dns_name.lower())

    def sid_of(self, name: str) -> str | None:
        """The SID of account or group ``name`` (None: the directory has no such name).

        A cached answer is returned at once; one older than ``ttl`` is refreshed in a background
        thread (the caller may be the event loop: a tree connect). Only a name never seen asks the DC
        inline — :meth:`prefetch` the names of the share ACLs to avoid that."""
        key = name.strip().lower()
        hit = self._cache.get(key)
        if hit is not None:
            if self._clock() - hit[1] >= self._ttl and key not in self._refreshing:
                self._refreshing.add(key)
                threading.Thread(target=self._refresh, args=(name.strip(),), daemon=True).start()
            return hit[0]
        return self._refresh(name.strip())

    def knows(self, qualified: str) -> bool:
        """Whether ``DOMAIN\\name`` is cached (True as well for names of other domains: nothing to do)."""
        if "\\" not in qualified or not self.handles(qualified.rsplit("\\", 1)[0]):
            return True
        return qualified.rsplit("\\", 1)[1].strip().lower() in self._cache

    def prefetch(self, names: list[str]) -> None:
        """Resolve the ``names`` of this domain not cached yet (blocking: call it off the loop)."""
        for n in names:
            if not self.knows(n):
                self._refresh(n.rsplit("\\", 1)[1].strip())

    def _refresh(self, name: str) -> str | None:
        key = name.lower()
        try:
            sid = self._lookup(name)
        except DomainError as e:
            hit = self._cache.get(key)
            log.warning("directory unreachable (%s): %s %s", e, name,
                        "keeps its cached SID" if hit is not None else "unresolved")
            return hit[0] if hit is not None else None
        finally:
            self._refreshing.discard(key)
        with self._lock:
            self._cache[key] = (sid, self._clock())
            self._save()
        return sid

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: [v[0], v[1]] for k, v in self._cache.items()}))
        os.replace(tmp, self._path)


def ldap_lookup(domain: Domain, user: str, password: str) -> Lookup:
    """A lookup that binds to the DC (LDAPS) per call as ``user``; DomainError when it cannot."""

    def lookup(name: str) -> str | None:
        import ldap3
        from ldap3.utils.conv import escape_filter_chars

        try:
            conn: Any = connect(domain, user, password)
            try:
                conn.search(domain.base_dn, f"(sAMAccountName={escape_filter_chars(name)})",
                            attributes=["objectSid"])
                for e in conn.entries:
                    return str(e["objectSid"].value)
                return None
            finally:
                conn.unbind()
        except ldap3.core.exceptions.LDAPException as e:
            raise DomainError(f"LDAP search for {name}: {e}") from None

    return lookup
