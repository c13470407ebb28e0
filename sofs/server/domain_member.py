"""A cluster node's domain membership, applied from the cluster store's secret (issue 18).

``Add-Computer`` leaves each node's :class:`~sofs.domain.membership.Membership` under
``<prefix>secrets/domain/<node>``. :class:`DomainMember` reads it when the node starts and whenever it
changes (password rotation, re-join, Remove-Computer): it writes the keytab (0600) into the node's state
directory, gives the SMB server its Kerberos acceptor and the directory that resolves domain names in
share ACLs (pre-resolving the names of the current shares off the event loop).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sofs.auth.kerberos import KerberosAcceptor
from sofs.domain.membership import Membership, install

log = logging.getLogger("sofs.domain")


class DomainMember:
    def __init__(self, server: Any, store: Any, key: str, state_dir: Path, node: str) -> None:
        # the state directory may be the cluster's (embedded mode: every node on one machine)
        self.server, self.store, self.key, self.dir = server, store, key, state_dir / "domain" / node
        self.revision: int | None = None
        self.directory: Any = None

    async def refresh(self) -> None:
        """Apply the stored membership if it changed since the last call; resolve new share names."""
        kv = await self.store.get(self.key)
        rev = None if kv is None else kv.mod_revision
        if rev != self.revision:
            self.revision = rev
            await self._apply(kv)
        directory = self.directory
        if directory is not None:
            self.server.users.directory = directory  # the user database may have been rebuilt meanwhile
            shares = [s.config for s in self.server.shares.values() if getattr(s, "config", None) is not None]
            names = [n for c in shares for n in (*c.full_access, *c.change_access, *c.read_access, *c.no_access)]
            if any(not directory.knows(n) for n in names):
                await asyncio.to_thread(directory.prefetch, names)

    async def _apply(self, kv: Any) -> None:
        acceptor = self.server.acceptor
        if kv is None:
            acceptor.kerberos, self.server.users.directory, self.directory = None, None, None
            acceptor._init_token = b""
            log.info("no domain membership: Kerberos off")
            return
        m = Membership.from_json(kv.value.decode())
        keytab, directory = await asyncio.to_thread(install, m, self.dir)
        acceptor.kerberos = KerberosAcceptor(str(keytab))
        acceptor._init_token = b""  # the NEGOTIATE hint now lists Kerberos
        self.server.users.directory = self.directory = directory
        log.info("domain member of %s as %s (kvno %d)", m.domain.dns_name, m.machine.account, m.machine.kvno)
