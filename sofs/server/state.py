"""Server-wide state: configuration, users, shares, the global session table and connections.

[MS-SMB2] 3.3.1.5 (Server), 3.3.1.6 (Share). One instance per ``sofs serve`` process (or per cluster
node). Handlers reach it through ``ctx.server``.
"""
from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from sofs.config import ServerConfig, ShareConfig
from sofs.engine.state import ConnectionState, Session
from sofs.handlers.opens import HandleMap
from sofs.handlers.peers import ChannelHolders, Peers
from sofs.handlestate.barrier import OutputBarrier
from sofs.server.stats import RequestStats

log = logging.getLogger("sofs.server")


@dataclass(eq=False)
class Share:
    """A share at run time: its configuration, the file-system backend, and the volume it is on
    (``volume``: a :class:`~sofs.handlers.volume.VolumeClient`, the way to the volume's handle state)."""

    config: ShareConfig
    vfs: Any = None
    volume: Any = None

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(eq=False)
class ServerState:
    config: ServerConfig
    users: Any = None  # sofs.auth.users.UserDb
    acceptor: Any = None  # sofs.auth.ntlm.NtlmAcceptor
    shares: dict[str, Share] = field(default_factory=dict)
    sessions: dict[int, Session] = field(default_factory=dict)
    connections: dict[int, Any] = field(default_factory=dict)
    start_filetime: int = 0
    extensions: dict[str, Any] = field(default_factory=dict)
    handles: HandleMap = field(default_factory=HandleMap)
    volumes: dict[str, Any] = field(default_factory=dict)  # volume name -> VolumeClient
    coordinators: dict[str, Any] = field(default_factory=dict)  # volumes coordinated in this process
    node_name: str = ""  # the cluster node this server is (empty: a standalone server)
    persistent_handles: bool = True  # NEGOTIATE advertises SMB2_GLOBAL_CAP_PERSISTENT_HANDLES on 3.x
    directory_leasing: bool = True  # ... SMB2_GLOBAL_CAP_DIRECTORY_LEASING
    multichannel: bool = True  # ... SMB2_GLOBAL_CAP_MULTI_CHANNEL
    barrier: OutputBarrier = field(default_factory=OutputBarrier)
    """Journal commits owed before the next response leaves (sofs.handlestate.barrier)."""
    stats: RequestStats = field(default_factory=RequestStats)
    """Per-request counters (``/metrics``)."""
    workers: Peers | None = None
    """The other SMB worker processes of this server (:mod:`sofs.server.workers`); None: one process."""
    channels: ChannelHolders | None = None
    """A cluster node's relay of binding connections to the node holding the session
    (:class:`sofs.server.channel_relay.NodeChannels`); None: a standalone server."""
    _session_ids: Any = None
    _conn_ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        # Session ids: random high bits so ids are not guessable across restarts, low bits counted.
        base = int.from_bytes(os.urandom(4), "little") << 32
        self._session_ids = itertools.count(base | 1)
        self.start_filetime = int(time.time() * 10_000_000) + 116444736000000000

    def new_session_id(self) -> int:
        return next(self._session_ids)

    def number_sessions(self, ids: Any) -> None:
        """Take session ids from ``ids`` (a worker process: ids that name their worker)."""
        self._session_ids = ids

    def new_conn_id(self) -> int:
        return int(next(self._conn_ids))

    def lookup_session(self, session_id: int) -> Session | None:
        return self.sessions.get(session_id)

    def share(self, name: str) -> Share | None:
        return self.shares.get(name.lower())

    def add_share(self, share: Share) -> None:
        self.shares[share.name.lower()] = share

    def volume_clients(self) -> list[Any]:
        return list(self.volumes.values())

    def new_connection_state(self, client: str, server: str) -> ConnectionState:
        c = ConnectionState(conn_id=self.new_conn_id(), client_address=client, server_address=server)
        c.window.max_credits = self.config.max_credits
        return c
