"""Domain membership of a cluster: Add-Computer, Remove-Computer, Reset-ComputerMachinePassword,
Get-ComputerDomain (issue 18).

``Add-Computer`` joins every node (a computer account ``NODE$`` each) and creates the **cluster name
object** (``CLUSTER$``) carrying the SPNs of the cluster name and of every Scale-Out File Server role
(``cifs/SOFS``, ``cifs/SOFS.corp.example``), as Windows failover clustering does. Each node's
membership (domain, its account and the cluster name object's, passwords and kvnos) is one secret in the
cluster store (``<prefix>secrets/domain/<node>``); the node writes its keytab from it (mode 0600) and
serves Kerberos and domain names in share ACLs (:mod:`sofs.server.node_smb`). A role added after the
join gets its SPNs at the next ``Add-Computer`` (which reuses the accounts).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sofs.domain.join import (
    Domain,
    DomainError,
    MachineAccount,
    connect,
    join_computer,
    remove_computer,
    rotate_password,
)
from sofs.domain.membership import Membership
from sofs.management.errors import ManagementError


@dataclass(frozen=True, slots=True)
class ComputerDomainInfo:
    """What Get-ComputerDomain shows for one node (no secret)."""

    ComputerName: str
    Domain: str
    Account: str
    KeyVersion: int
    ClusterNameObject: str
    ServicePrincipalNames: str


def _role_spns(names: Sequence[str], dns: str) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        out += [f"cifs/{n.upper()}", f"cifs/{n.lower()}.{dns}", f"HOST/{n.upper()}", f"HOST/{n.lower()}.{dns}"]
    return tuple(out)


class DomainService:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def close(self) -> None:
        await self.client.close()

    def _key(self, node: str) -> str:
        return f"{self.client.keys.prefix}secrets/domain/{node}"

    async def _names(self) -> tuple[str, list[str], list[str]]:
        cluster = await self.client.get_cluster()
        nodes = [n.name for n in await self.client.get_nodes()]
        roles = [g.name for g in await self.client.get_groups() if "scaleout" in str(g.group_type).lower()]
        return cluster.name, nodes, roles

    async def add_computer(self, domain: Domain, user: str, password: str) -> list[ComputerDomainInfo]:
        cluster, nodes, roles = await self._names()
        dns = domain.dns_name.lower()

        def work() -> list[Membership]:
            conn = connect(domain, user, password)
            try:
                cno = join_computer(conn, domain, cluster, f"{cluster.lower()}.{dns}", _role_spns(roles, dns))
                return [Membership(domain, join_computer(conn, domain, n, f"{n.lower()}.{dns}"), cno=cno,
                                   changed_at=time.time()) for n in nodes]
            finally:
                conn.unbind()

        members = await self._run(work)
        for node, m in zip(nodes, members, strict=True):
            await self.client.store.put(self._key(node), m.to_json().encode())
        return [self._info(node, m) for node, m in zip(nodes, members, strict=True)]

    async def reset_machine_password(self, user: str, password: str) -> list[ComputerDomainInfo]:
        """New passwords for every node and the cluster name object; the previous keys stay in the
        keytabs for tickets issued before the change."""
        _cluster, nodes, _roles = await self._names()
        current = {n: await self._load(n) for n in nodes}
        members = [m for m in current.values() if m is not None]
        if not members:
            raise ManagementError("The cluster is not joined to a domain (Add-Computer).", "ObjectNotFound")
        domain = members[0].domain

        def work() -> dict[str, Membership]:
            conn = connect(domain, user, password)
            try:
                cno_old = members[0].cno
                cno = rotate_password(conn, domain, cno_old) if cno_old is not None else None
                out = {}
                for n, m in current.items():
                    if m is not None:
                        out[n] = Membership(domain, rotate_password(conn, domain, m.machine), previous=m.machine,
                                            cno=cno, cno_previous=cno_old, changed_at=time.time())
                return out
            finally:
                conn.unbind()

        new = await self._run(work)
        for n, m in new.items():
            await self.client.store.put(self._key(n), m.to_json().encode())
        return [self._info(n, m) for n, m in new.items()]

    async def remove_computer(self, user: str, password: str) -> list[ComputerDomainInfo]:
        _cluster, nodes, _roles = await self._names()
        current = {n: await self._load(n) for n in nodes}
        members = {n: m for n, m in current.items() if m is not None}
        if not members:
            raise ManagementError("The cluster is not joined to a domain.", "ObjectNotFound")
        first = next(iter(members.values()))

        def work() -> None:
            conn = connect(first.domain, user, password)
            try:
                for m in members.values():
                    remove_computer(conn, first.domain, m.machine.name)
                if first.cno is not None:
                    remove_computer(conn, first.domain, first.cno.name)
            finally:
                conn.unbind()

        await self._run(work)
        for n in members:
            await self.client.store.delete(self._key(n))
        return [self._info(n, m) for n, m in members.items()]

    async def get_computer_domain(self) -> list[ComputerDomainInfo]:
        _cluster, nodes, _roles = await self._names()
        return [self._info(n, m) for n in nodes if (m := await self._load(n)) is not None]

    async def _load(self, node: str) -> Membership | None:
        kv = await self.client.store.get(self._key(node))
        return None if kv is None else Membership.from_json(kv.value.decode())

    @staticmethod
    async def _run(fn: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, fn)
        except DomainError as e:
            raise ManagementError(str(e), "DomainError") from None

    @staticmethod
    def _info(node: str, m: Membership) -> ComputerDomainInfo:
        return ComputerDomainInfo(node, m.domain.dns_name, f"{m.domain.netbios_name}\\{m.machine.account}",
                                  m.machine.kvno, m.cno.account if m.cno else "",
                                  ", ".join(m.machine.spns + (m.cno.spns if m.cno else ())))


__all__ = ["ComputerDomainInfo", "DomainService", "MachineAccount"]
