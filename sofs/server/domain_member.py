"""A cluster node's domain membership, applied from the cluster store's secret (issue 18).

``Add-Computer`` leaves each node's :class:`~sofs.domain.membership.Membership` under
``<prefix>secrets/domain/<node>``. :class:`DomainMember` reads it when the node starts and whenever it
changes (password rotation, re-join, Remove-Computer): it writes the keytab (0600) into the node's state
directory, gives the SMB server its Kerberos acceptor and the directory that resolves domain names in
share ACLs (pre-resolving the names of the current shares off the event loop).

Like a Windows member's Netlogon, the node changes its own machine password when it is older than
MaximumPasswordAge (30 days; :func:`~sofs.domain.membership.password_change_due`), bound as itself, and
keeps the previous keys for tickets issued before; a failed change is tried again 15 minutes later.
The cluster name object's password changes only with ``Reset-ComputerMachinePassword``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sofs.auth.kerberos import KerberosAcceptor
from sofs.domain.join import DomainError, MachineAccount, change_own_password
from sofs.domain.membership import MAX_PASSWORD_AGE_S, RETRY_S, Membership, install, password_change_due

log = logging.getLogger("sofs.domain")


async def apply_membership(server: Any, value: bytes | None, where: Path) -> Any:
    """Give ``server`` the Kerberos acceptor and directory of the stored membership ``value`` (None:
    not a member), its keytab written in ``where``. Returns the directory (None without membership)."""
    acceptor = server.acceptor
    if value is None:
        acceptor.kerberos, server.users.directory = None, None
        acceptor._init_token = b""
        log.info("no domain membership: Kerberos off")
        return None
    m = Membership.from_json(value.decode())
    keytab, directory = await asyncio.to_thread(install, m, where)
    acceptor.kerberos = KerberosAcceptor(str(keytab))
    acceptor._init_token = b""  # the NEGOTIATE hint now lists Kerberos
    server.users.directory = directory
    log.info("domain member of %s as %s (kvno %d)", m.domain.dns_name, m.machine.account, m.machine.kvno)
    return directory


class DomainMember:
    def __init__(self, server: Any, store: Any, key: str, state_dir: Path, node: str, *,
                 clock: Callable[[], float] = time.time,
                 change: Callable[[Any, MachineAccount], MachineAccount] = change_own_password,
                 max_age_s: float = MAX_PASSWORD_AGE_S) -> None:
        # the state directory may be the cluster's (embedded mode: every node on one machine)
        self.server, self.store, self.key, self.dir = server, store, key, state_dir / "domain" / node
        self.revision: int | None = None
        self.directory: Any = None
        self.clock, self.change, self.max_age_s = clock, change, max_age_s
        self.retry_at = 0.0
        self.task: asyncio.Task[bool] | None = None  # a password change under way
        self.on_change: Callable[[bytes | None], None] | None = None  # the node's worker processes apply it too

    async def refresh(self) -> None:
        """Apply the stored membership if it changed since the last call; resolve new share names."""
        kv = await self.store.get(self.key)
        rev = None if kv is None else kv.mod_revision
        if rev != self.revision:
            self.revision = rev
            await self._apply(kv)
        if kv is not None and (self.task is None or self.task.done()):
            # in the background: a DC that does not answer must not hold up the node's loop
            self.task = asyncio.create_task(self.change_password_if_due(kv))
        directory = self.directory
        if directory is not None:
            self.server.users.directory = directory  # the user database may have been rebuilt meanwhile
            shares = [s.config for s in self.server.shares.values() if getattr(s, "config", None) is not None]
            names = [n for c in shares for n in (*c.full_access, *c.change_access, *c.read_access, *c.no_access)]
            if any(not directory.knows(n) for n in names):
                await asyncio.to_thread(directory.prefetch, names)

    async def _apply(self, kv: Any) -> None:
        value = None if kv is None else bytes(kv.value)
        self.directory = await apply_membership(self.server, value, self.dir)
        if self.on_change is not None:
            self.on_change(value)

    async def change_password_if_due(self, kv: Any) -> bool:
        """Change the node's machine password when it is due; the new membership goes to the store
        only if nobody changed it meanwhile (else, if the stored password is still the old one, into
        the fresh document). True when a change was stored."""
        m = Membership.from_json(kv.value.decode())
        now = self.clock()
        if not password_change_due(m, now, self.max_age_s) or now < self.retry_at:
            return False
        try:
            machine = await asyncio.to_thread(self.change, m.domain, m.machine)
        except DomainError as e:
            self.retry_at = now + RETRY_S
            log.warning("machine password of %s not changed (next try in %.0f s): %s", m.machine.account,
                        RETRY_S, e)
            return False
        old = m.machine
        for _ in range(5):
            new = dataclasses.replace(m, machine=machine, previous=old, changed_at=now)
            if await self.store.cas(self.key, new.to_json().encode(), kv.mod_revision):
                log.info("machine password of %s changed (kvno %d)", machine.account, machine.kvno)
                return True
            kv = await self.store.get(self.key)
            if kv is None:
                break
            m = Membership.from_json(kv.value.decode())
            if m.machine.password != old.password:
                break
        log.error("machine password of %s changed in the directory (kvno %d) but the membership changed "
                  "meanwhile; run Reset-ComputerMachinePassword", machine.account, machine.kvno)
        return False
