"""The node's Witness service: the [MS-SWN] RPC service (``sofs.rpc.swn``) over the cluster's registrations
(``sofs.cluster.swn``), served on ncacn_ip_tcp at the node's ``witness_port`` (``sofs.server.rpc_tcp``).

This module only joins the layers (the node process is the composition root): interface list and
checks from the agent's snapshot, registrations in the cluster store, notifications from
:func:`sofs.cluster.swn.next_notice` encoded as [MS-SWN] messages.

Finding the port ([MS-SWN] 2.1: dynamic endpoint, found through the endpoint mapper): every node also
answers ept_map on TCP port 135 of its addresses (``sofs.rpc.epm``; ``$SOFS_EPM_PORT`` moves it, 0 turns
it off), so ``rpcclient ncacn_ip_tcp:127.0.0.11`` finds the witness port as a Windows client would;
clients may also be given the port (``ncacn_ip_tcp:127.0.0.11[PORT]``).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from sofs.auth.ntlm import NtlmAcceptor
from sofs.cluster import swn as reg
from sofs.cluster.agent import NodeAgent
from sofs.cluster.role import network_names
from sofs.rpc import swn_ndr as n
from sofs.rpc.epm import EndpointMapper
from sofs.rpc.swn import WitnessService
from sofs.rpc.swn_ndr import SWN_SYNTAX
from sofs.server.rpc_tcp import start_rpc_tcp, stop_rpc_tcp

log = logging.getLogger("sofs.witness")
POLL_S = 0.05
EPM_PORT = 135


class ClusterWitnessBackend:
    """:class:`sofs.rpc.swn.WitnessBackend` over one node's agent and the cluster store."""

    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent
        self.store = agent.store
        self.keys = agent.keys
        self._role_shares: set[str] = set()

    def _snap(self) -> Any:
        snap = self.agent.snapshot
        if snap is None:
            raise KeyError("no cluster snapshot yet")
        return snap

    def interfaces(self) -> list[n.InterfaceInfo]:
        snap = self.agent.snapshot
        if snap is None:
            return []
        out = []
        for name, v in sorted(snap.nodes.items(), key=lambda kv: kv[1].record.id):
            up = reg.node_available(snap, name)
            # INTERFACE_WITNESS marks the interfaces a client may register (monitor) through this
            # service: every interface but this node's own ([MS-SWN] 3.1.4.1; a client watches its
            # file server from another node)
            flags = n.INTERFACE_WITNESS if name != self.agent.name else 0
            for a in v.record.addresses:
                out.append(n.InterfaceInfo(name.upper(), n.STATE_AVAILABLE if up else n.STATE_UNAVAILABLE, a,
                                           flags))
        return out

    def check_target(self, args: n.RegisterArgs) -> int:
        snap = self.agent.snapshot
        if snap is None or not self.agent.has_quorum:
            return n.ERROR_INVALID_STATE
        names = {f.rstrip(".") for nn in network_names(snap) for f in nn.fqdns}
        if (args.net_name or "").lower().rstrip(".") not in names:
            return n.ERROR_INVALID_PARAMETER
        if reg.node_of_address(snap, args.ip_address or "") is None:
            return n.ERROR_INVALID_STATE
        if args.share_name is not None and args.share_name.lower() not in self._role_shares:
            return n.ERROR_INVALID_STATE
        return n.ERROR_SUCCESS

    async def refresh_shares(self) -> None:
        """Names of the shares scoped to a role (RegisterEx ShareName must be one of them)."""
        listing = await self.store.list(self.keys.prefix + "shares/")
        names = set()
        for kv in listing.kvs:
            with contextlib.suppress(ValueError):
                doc = json.loads(kv.value)
                if doc.get("scope_name", "*") != "*":
                    names.add(str(doc.get("name")))
        self._role_shares = {x.lower() for x in names}

    async def register(self, args: n.RegisterArgs) -> uuid.UUID:
        r = reg.new_registration(self._snap(), self.agent.name, version=args.version, net_name=args.net_name or "",
                                 ip_address=args.ip_address or "", client=args.client_computer_name or "",
                                 share_name=args.share_name or "", flags=args.flags, timeout=args.timeout)
        await self.store.put(reg.key(self.keys, r.id), reg.encode_registration(r))
        log.info("witness: %s registered for %s (%s on %s) with %s", r.client_computer_name, r.ip_address,
                 r.net_name, r.file_server_node, r.witness_node)
        return uuid.UUID(r.id)

    async def unregister(self, ident: uuid.UUID) -> bool:
        return await self.store.delete(reg.key(self.keys, str(ident)))

    async def next_notification(self, ident: uuid.UUID) -> tuple[int, list[bytes]] | None:
        k = reg.key(self.keys, str(ident))
        kv = await self.store.get(k)
        if kv is None:
            raise KeyError(str(ident))
        first = reg.decode_registration(kv.value)
        # RegisterEx's Timeout (seconds) bounds the wait; a Register (v1) registration waits for ever
        deadline = time.monotonic() + first.timeout if first.version == n.WITNESS_V2 else None
        seen = -1
        touched = -reg.TOUCH_S
        while True:
            if time.monotonic() - touched >= reg.TOUCH_S:  # the client is here: not abandoned
                touched = time.monotonic()
                await self._touch(k, ident)
                seen = -1
            snap = self.agent.snapshot
            if snap is not None and snap.revision != seen:
                seen = snap.revision
                kv = await self.store.get(k)
                if kv is None:
                    raise KeyError(str(ident))
                cur = reg.decode_registration(kv.value)
                notice, told = reg.next_notice(cur, snap)
                if notice is not None:
                    if await self.store.cas(k, reg.encode_registration(told), kv.mod_revision):
                        log.info("witness: notify %s: %s", cur.client_computer_name, notice)
                        return encode_notice(notice)
                    seen = -1  # the record changed meanwhile: look again
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_S)

    async def _touch(self, k: str, ident: uuid.UUID) -> None:
        for _ in range(5):
            kv = await self.store.get(k)
            if kv is None:
                raise KeyError(str(ident))
            cur = reg.decode_registration(kv.value)
            new = dataclasses.replace(cur, last_seen=time.time())
            if await self.store.cas(k, reg.encode_registration(new), kv.mod_revision):
                return


def encode_notice(notice: reg.Notice) -> tuple[int, list[bytes]]:
    if notice.kind == reg.RESOURCE_CHANGE:
        state = n.RESOURCE_AVAILABLE if notice.state == reg.AVAILABLE else n.RESOURCE_UNAVAILABLE
        return n.RESOURCE_CHANGE, [n.resource_change(notice.name, state)]
    entries = [(a, n.IPADDR_ONLINE if online else n.IPADDR_OFFLINE) for a, online in notice.addresses]
    return notice.kind, [n.ipaddr_info_list(entries)]


def rpc_acceptor(smb_server: Any) -> Callable[[], NtlmAcceptor | None]:
    """Authenticated binds are checked against the node's SMB accounts (the same user database as
    SESSION_SETUP, kept current by the node); NTLM only on DCE/RPC (see sofs.rpc.dcerpc_security)."""
    def make() -> NtlmAcceptor | None:
        acceptor = getattr(smb_server, "acceptor", None) if smb_server is not None else None
        return NtlmAcceptor(acceptor.userdb) if acceptor is not None else None
    return make


async def run_witness(agent: NodeAgent, addresses: list[str], port: int, smb_server: Any = None) -> None:
    """Serve the Witness service until cancelled (authenticated binds need ``smb_server``'s accounts)."""
    backend = ClusterWitnessBackend(agent)
    auth = rpc_acceptor(smb_server)
    servers = await start_rpc_tcp(lambda: WitnessService(backend), addresses, port, auth)
    epm_port = int(os.environ.get("SOFS_EPM_PORT", EPM_PORT))
    if epm_port:
        for a in addresses:
            servers += await start_rpc_tcp(lambda a=a: EndpointMapper({SWN_SYNTAX: port}, a), [a],  # type: ignore[misc]
                                           epm_port, auth)
    log.info("%s: Witness service (MS-SWN) on %s port %d (endpoint mapper on %d)", agent.name,
             ", ".join(addresses), port, epm_port)
    swept = time.monotonic()
    try:
        while True:
            with contextlib.suppress(Exception):
                await backend.refresh_shares()
            if time.monotonic() - swept >= reg.TOUCH_S:
                swept = time.monotonic()
                with contextlib.suppress(Exception):
                    for client in await reg.sweep(agent.store, agent.keys, time.time()):
                        log.info("witness: registration of %s expired (no AsyncNotify for %.0f s)", client,
                                 reg.MAX_IDLE_S)
            await asyncio.sleep(max(1.0, agent.delay_s))
    finally:
        await stop_rpc_tcp(servers)
