"""Witness registrations as the admin sees them: ``Get-SmbWitnessClient``, ``Move-SmbWitnessClient``.

Reads and changes the registrations the nodes keep in the cluster store (:mod:`sofs.cluster.swn`); a
move is picked up by the node holding the client's AsyncNotify, which sends CLIENT_MOVE.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, ClassVar

from sofs.management.errors import ManagementError


@dataclass(frozen=True, slots=True)
class WitnessClientInfo:
    """``Get-SmbWitnessClient`` (MSFT_SmbWitnessClient properties we have)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("client_name", "file_server_node_name", "network_name", "share_name",
                                           "witness_node_name")
    client_name: str
    file_server_node_name: str
    network_name: str
    share_name: str
    witness_node_name: str
    ip_address: str = ""
    state: str = ""
    version: str = ""
    registered: str = ""
    notifications: int = 0


class WitnessClientService:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def close(self) -> None:
        await self.client.close()

    async def get_clients(self, client_name: str | None = None) -> list[WitnessClientInfo]:
        from sofs.cluster.swn import list_registrations

        regs = await list_registrations(self.client.store, self.client.keys)
        out = []
        for r in regs:
            if client_name and r.client_computer_name.lower() != client_name.lower():
                continue
            when = _dt.datetime.fromtimestamp(r.registered).isoformat(timespec="seconds") if r.registered else ""
            out.append(WitnessClientInfo(r.client_computer_name, r.file_server_node.upper(), r.net_name,
                                         r.share_name, r.witness_node.upper(), r.ip_address, r.last_state,
                                         "V2" if r.version == 0x00020000 else "V1", when, r.notices))
        return out

    async def move_client(self, client_name: str, node: str) -> list[WitnessClientInfo]:
        from sofs.cluster.model import NodeState
        from sofs.cluster.swn import move_client

        snap = await self.client.snapshot()
        target = next((n for n in snap.nodes if n.lower() == node.lower()), None)
        if target is None:
            raise ManagementError(f"The cluster node '{node}' was not found.", "ObjectNotFound", node)
        if snap.node_state(target) is not NodeState.UP:
            raise ManagementError(f"The cluster node '{target}' is {snap.node_state(target).value}; a client can "
                                  "only be moved to an Up node.", "InvalidOperation", target)
        if not await self.get_clients(client_name):
            raise ManagementError(f"No witness registration of client '{client_name}' was found.",
                                  "ObjectNotFound", client_name)
        await move_client(self.client.store, self.client.keys, snap, client_name, target)
        return await self.get_clients(client_name)
