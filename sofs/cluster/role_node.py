"""What a node runs for the cluster's Scale-Out File Server roles, beside its agent: the DNS server for
the roles' network names (every node, when its ``dns_port`` is set) and the RFC 2136 registration of
each role at the site DNS server (the role's owner node only).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from sofs.cluster.agent import NodeAgent
from sofs.cluster.dns_answer import Zone, zone_of
from sofs.cluster.dns_server import DnsServer
from sofs.cluster.dns_update import Registrar
from sofs.cluster.role import network_names

log = logging.getLogger("sofs.cluster.role")


def current_zone(agent: NodeAgent) -> tuple[Zone, bool]:
    """(names → addresses from the agent's latest snapshot, whether this node may answer)."""
    snap = agent.snapshot
    if snap is None:
        return {}, False
    return zone_of([(n.fqdns, n.addresses, n.ttl) for n in network_names(snap)]), agent.has_quorum


async def run_role_services(agent: NodeAgent, addresses: list[str], dns_port: int) -> None:
    """Run until cancelled."""
    server = DnsServer(addresses, dns_port, lambda: current_zone(agent)) if dns_port else None
    if server is not None:
        await server.start()
    registrar = Registrar()
    try:
        while True:
            snap = agent.snapshot
            if snap is not None:
                names, owned = network_names(snap), agent.owned_groups()
                await registrar.step([n for n in names if n.role in owned], existing={n.role for n in names})
            await asyncio.sleep(agent.delay_s)
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                await server.stop()
