"""SMB sessions of the whole cluster: ``Get-SmbSession``, ``Close-SmbSession``, ``Get-SmbConnection``,
``Get-SmbMultichannelConnection``.

Every node publishes its sessions in the cluster store (:mod:`sofs.handlestate.session_listing`,
rows of :mod:`sofs.handlers.sessions_status`, at most a second stale); this service reads the
listings of the nodes that are Up (a killed node's listing stays in the store until it runs again,
and its sessions are gone with it). ``Close-SmbSession`` leaves a close request for the node holding
each session and waits until the session is gone from that node's listing.

Windows' ``Get-SmbConnection`` and ``Get-SmbMultichannelConnection`` run on the *client* and describe
its connections to servers; here they describe the same objects from the server's side: one
SmbConnection per tree connect of a session (the client's connection to a share), one
SmbMultichannelConnection per channel of a session (a client address / server address pair). The
client-side properties a server cannot know (the client's interface index, speed, RSS/RDMA
capability) are not shown.
"""
from __future__ import annotations

import asyncio
import fnmatch
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sofs.handlestate.session_listing import close_key, sessions_prefix
from sofs.management.errors import ManagementError


@dataclass(frozen=True, slots=True)
class SmbSessionInfo:
    """``Get-SmbSession`` (MSFT_SmbSession)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("session_id", "client_computer_name", "client_user_name", "num_opens")
    session_id: int
    client_computer_name: str
    client_user_name: str
    num_opens: int
    cluster_node_name: str
    scope_name: str
    dialect: str
    seconds_exists: int
    seconds_idle: int
    encrypted: bool = False  # sofs: the session encrypts its traffic (SMB 3 encryption)
    signed: bool = False  # sofs: the session requires signing
    channels: int = 1  # sofs: connections bound to the session (multichannel)


@dataclass(frozen=True, slots=True)
class SmbConnectionInfo:
    """``Get-SmbConnection`` (MSFT_SmbConnection) as the server sees it: one per tree connect."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("server_name", "share_name", "user_name", "credential", "dialect",
                                           "num_opens")
    server_name: str
    share_name: str
    user_name: str
    credential: str
    dialect: str
    num_opens: int
    continuously_available: bool
    encrypted: bool
    signed: bool
    redirected: bool = False
    client_computer_name: str = ""  # sofs: who holds the connection
    session_id: int = 0  # sofs
    cluster_node_name: str = ""  # sofs


@dataclass(frozen=True, slots=True)
class SmbMultichannelConnectionInfo:
    """``Get-SmbMultichannelConnection`` (MSFT_SmbMultichannelConnection, the server-side properties)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("server_name", "selected", "client_ip_address", "server_ip_address",
                                           "server_interface_index", "server_rss_capable", "server_rdma_capable")
    server_name: str
    selected: bool
    client_ip_address: str = field(metadata={"ps": "ClientIpAddress"})
    server_ip_address: str = field(metadata={"ps": "ServerIpAddress"})
    server_interface_index: int
    server_rss_capable: bool = field(metadata={"ps": "ServerRSSCapable"})
    server_rdma_capable: bool = field(metadata={"ps": "ServerRdmaCapable"})
    server_link_speed: int
    current_channels: int
    max_channels: int
    session_id: int = 0  # sofs
    client_computer_name: str = ""  # sofs
    cluster_node_name: str = ""  # sofs


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0] if ":" in address else address


def _match(value: str, patterns: Sequence[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


class SmbSessionService:
    """Over a :class:`sofs.cluster.client.ClusterClient` (its store and key prefix)."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    async def close(self) -> None:
        await self.client.close()

    async def _rows(self) -> list[tuple[str, dict[str, Any]]]:
        """(node, session row) for every session of every Up node."""
        up = {n.name for n in await self.client.get_nodes() if n.state in ("Up", "Paused")}
        listing = await self.client.store.list(sessions_prefix(self.client.keys.prefix))
        out = []
        for kv in listing.kvs:
            try:
                doc = json.loads(kv.value)
            except ValueError:
                continue
            node = str(doc.get("node", ""))
            if node in up:
                out.extend((node, r) for r in doc.get("sessions", ()))
        return out

    async def get_sessions(self, session_ids: Sequence[int] | None = None,
                           client_computer_names: Sequence[str] | None = None,
                           client_user_names: Sequence[str] | None = None,
                           cluster_node_names: Sequence[str] | None = None,
                           scope_names: Sequence[str] | None = None) -> list[SmbSessionInfo]:
        now = self.clock()
        out = []
        for node, r in await self._rows():
            scopes = sorted({t.get("scope", "*") for t in r.get("trees", ()) if t.get("share") != "IPC$"}) or ["*"]
            info = SmbSessionInfo(
                session_id=int(r["session_id"]), client_computer_name=_host(str(r.get("client", ""))),
                client_user_name=str(r.get("user", "")), num_opens=int(r.get("num_opens", 0)),
                cluster_node_name=node, scope_name=scopes[0] if len(scopes) == 1 else ",".join(scopes),
                dialect=str(r.get("dialect", "")), seconds_exists=max(0, int(now - float(r.get("created", now)))),
                seconds_idle=max(0, int(now - float(r.get("last_active", now)))),
                encrypted=bool(r.get("encrypted")), signed=bool(r.get("signed")),
                channels=len(r.get("channels", ())) or 1)
            if session_ids and info.session_id not in session_ids:
                continue
            if not (_match(info.client_computer_name, client_computer_names)
                    and _match(info.client_user_name, client_user_names)
                    and _match(info.cluster_node_name, cluster_node_names)
                    and (not scope_names or any(_match(s, scope_names) for s in scopes))):
                continue
            out.append(info)
        return sorted(out, key=lambda s: (s.cluster_node_name, s.session_id))

    async def get_connections(self, server_names: Sequence[str] | None = None,
                              share_names: Sequence[str] | None = None,
                              user_names: Sequence[str] | None = None) -> list[SmbConnectionInfo]:
        out = []
        for node, r in await self._rows():
            user = str(r.get("user", ""))
            for t in r.get("trees", ()):
                c = SmbConnectionInfo(
                    server_name=str(t.get("server_name", "")), share_name=str(t.get("share", "")), user_name=user,
                    credential=user, dialect=str(r.get("dialect", "")), num_opens=int(t.get("num_opens", 0)),
                    continuously_available=bool(t.get("ca")), encrypted=bool(t.get("encrypted")),
                    signed=bool(r.get("signed")), client_computer_name=_host(str(r.get("client", ""))),
                    session_id=int(r["session_id"]), cluster_node_name=node)
                if _match(c.server_name, server_names) and _match(c.share_name, share_names) \
                        and _match(c.user_name, user_names):
                    out.append(c)
        return sorted(out, key=lambda c: (c.cluster_node_name, c.session_id, c.share_name.lower()))

    async def get_multichannel_connections(self, server_names: Sequence[str] | None = None,
                                           ) -> list[SmbMultichannelConnectionInfo]:
        out = []
        for node, r in await self._rows():
            chans = r.get("channels", ())
            names = sorted({str(t.get("server_name", "")) for t in r.get("trees", ()) if t.get("server_name")})
            server = names[0] if names else node.upper()
            for ch in chans:
                m = SmbMultichannelConnectionInfo(
                    server_name=server, selected=True, client_ip_address=_host(str(ch.get("client", ""))),
                    server_ip_address=_host(str(ch.get("server", ""))),
                    server_interface_index=int(ch.get("if_index", 0)), server_rss_capable=bool(ch.get("rss")),
                    server_rdma_capable=False, server_link_speed=int(ch.get("link_speed", 0)),
                    current_channels=len(chans), max_channels=int(r.get("max_channels", 0)), session_id=int(r["session_id"]),
                    client_computer_name=_host(str(r.get("client", ""))), cluster_node_name=node)
                if _match(m.server_name, server_names):
                    out.append(m)
        return sorted(out, key=lambda m: (m.cluster_node_name, m.session_id, m.client_ip_address))

    async def close_sessions(self, session_ids: Sequence[int] | None = None,
                             client_computer_names: Sequence[str] | None = None,
                             client_user_names: Sequence[str] | None = None,
                             cluster_node_names: Sequence[str] | None = None,
                             scope_names: Sequence[str] | None = None, wait_s: float = 10.0) -> list[SmbSessionInfo]:
        """``Close-SmbSession``: ask the node holding each matching session to end it; wait until it is
        gone from that node's listing. At least one selector is required (Windows: so a bare call
        cannot end every session)."""
        if not (session_ids or client_computer_names or client_user_names or cluster_node_names or scope_names):
            raise ManagementError("Close-SmbSession needs -SessionId, -ClientComputerName, -ClientUserName, "
                                  "-ScopeName or -ClusterNodeName.", "InvalidArgument")
        found = await self.get_sessions(session_ids, client_computer_names, client_user_names, cluster_node_names,
                                        scope_names)
        if not found:
            raise ManagementError("No matching SMB session was found.", "ObjectNotFound")
        prefix = self.client.keys.prefix
        for s in found:
            await self.client.store.put(close_key(prefix, s.cluster_node_name, s.session_id), b"{}")
        deadline = time.monotonic() + wait_s
        wanted = {(s.cluster_node_name, s.session_id) for s in found}
        while True:
            left = wanted & {(s.cluster_node_name, s.session_id) for s in await self.get_sessions()}
            if not left:
                return found
            if time.monotonic() > deadline:
                ids = ", ".join(f"{sid} on {node}" for node, sid in sorted(left))
                raise ManagementError(f"Session(s) {ids} still open after {wait_s:.0f} s: the node did not act on "
                                      "the request (is it running?).", "OperationTimeout")
            await asyncio.sleep(0.2)
