"""Which worker process serves a new connection: the pure part of :mod:`sofs.server.workers`.

A server with several SMB worker processes accepts every connection in its main process and hands
it to one worker (the socket travels with SCM_RIGHTS). The choice:

- **Same ClientGuid, same worker.** The main process peeks at the connection's first message before
  anyone answers it; an SMB 2/3 NEGOTIATE request carries the client's ClientGuid ([MS-SMB2] 2.2.3).
  A connection whose ClientGuid already has a live connection on a worker goes to that worker: a
  session's channels (multichannel binding, [MS-SMB2] 3.3.5.5.2) must share the worker that holds the
  session, and Windows uses one ClientGuid for all its connections to a server. Samba does the same
  (``smb2srv_client_connection_pass``: the smbd process already serving that ClientGuid gets the
  socket, with the NEGOTIATE it read).
- **Otherwise the least loaded worker** (fewest live connections, lowest index on a tie): four
  connections on two workers are always two and two, where the kernel's SO_REUSEPORT hash of the
  4-tuple splits them 2-2 only 3 times in 8.

Session ids carry the index of the worker that made them (bits 32-39), so a PreviousSessionId
([MS-SMB2] 3.3.5.5.3) names the worker holding the session it replaces; on a cluster node they also
carry the node's id (bits 40-47, :class:`~sofs.cluster.model.NodeRecord` ``id``), so a binding
SESSION_SETUP that reaches another node names the node holding the session
(:mod:`sofs.server.channel_relay`).
"""
from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

_NEGOTIATE_GUID_AT = 4 + 64 + 12  # NetBIOS length, SMB2 header, NEGOTIATE fields before ClientGuid
PEEK_BYTES = _NEGOTIATE_GUID_AT + 16
MAX_WORKERS = 256
MAX_NODES = 256  # node ids a session id can carry (Windows clusters: at most 64 nodes)


def negotiate_client_guid(data: bytes) -> bytes | None:
    """The ClientGuid of a direct-TCP SMB 2/3 NEGOTIATE request at the start of ``data``, or None
    (an SMB1 negotiate, another command, a frame shorter than the field, anything else).

    [MS-SMB2] 2.1 (4-byte transport header: 0x00 and a 24-bit length), 2.2.1 (64-byte header:
    ProtocolId 0xFE 'SMB', Command at offset 12), 2.2.3 (StructureSize 36, DialectCount,
    SecurityMode, Reserved, Capabilities, ClientGuid)."""
    if len(data) < PEEK_BYTES or data[0] != 0:
        return None
    length = int.from_bytes(data[1:4], "big")
    if length < 64 + 36 or data[4:8] != b"\xfeSMB":
        return None
    command, = struct.unpack_from("<H", data, 4 + 12)
    size, = struct.unpack_from("<H", data, 4 + 64)
    if command != 0 or size != 36:
        return None
    return bytes(data[_NEGOTIATE_GUID_AT:PEEK_BYTES])


def session_id_base(worker: int, rand: bytes | None = None, node: int = 0) -> int:
    """The first session id of worker ``worker``'s counter: random high bits (not guessable, and new
    for each start of the worker), the worker's index in bits 32-39, then a 32-bit count. A cluster
    node (``node``: its id, 1-255) puts its id in bits 40-47 (16 random bits are left); a standalone
    server (``node`` 0) keeps 24 random bits there."""
    if not 0 <= worker < MAX_WORKERS:
        raise ValueError(f"worker index {worker} out of range")
    if not 0 <= node < MAX_NODES:
        raise ValueError(f"node id {node} out of range (1-{MAX_NODES - 1})")
    r = int.from_bytes(rand if rand is not None else os.urandom(3), "little") & 0xFFFFFF
    if node:
        r = (r & 0xFFFF00) | node
    return (r << 40) | (worker << 32) | 1


def session_worker(session_id: int) -> int:
    """The worker index a session id of :func:`session_id_base` carries."""
    return (session_id >> 32) & 0xFF


def session_node(session_id: int) -> int:
    """The cluster node id a session id of a cluster node carries (meaningless for a standalone
    server's ids, which hold random bits there)."""
    return (session_id >> 40) & 0xFF


def session_ids(worker: int, node: int = 0) -> Iterator[int]:
    return itertools.count(session_id_base(worker, node=node))


@dataclass
class Placement:
    """The main process's book of live connections per worker (see the module docstring)."""

    workers: int
    up: set[int] = field(default_factory=set)
    load: dict[int, int] = field(default_factory=dict)
    clients: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # ClientGuid -> (worker, live conns)
    conns: dict[int, tuple[int, bytes | None]] = field(default_factory=dict)  # token -> (worker, ClientGuid)
    _tokens: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def worker_up(self, worker: int) -> None:
        self.up.add(worker)
        self.load.setdefault(worker, 0)

    def worker_gone(self, worker: int) -> list[int]:
        """Worker ``worker`` died: its connections are gone with it. Returns their tokens."""
        self.up.discard(worker)
        gone = [t for t, (w, _) in self.conns.items() if w == worker]
        for t in gone:
            self.closed(t)
        self.load[worker] = 0
        return gone

    def choose(self, client_guid: bytes | None) -> int | None:
        """The worker for a new connection (None: no worker is up)."""
        if client_guid is not None and client_guid != bytes(16):
            held = self.clients.get(client_guid)
            if held is not None and held[0] in self.up:
                return held[0]
        if not self.up:
            return None
        return min(sorted(self.up), key=lambda w: self.load.get(w, 0))

    def opened(self, worker: int, client_guid: bytes | None) -> int:
        """A connection was given to ``worker``; returns its token (for :meth:`closed`)."""
        token = next(self._tokens)
        self._add(token, worker, None if client_guid == bytes(16) else client_guid)
        return token

    def moved(self, token: int, worker: int) -> None:
        """Connection ``token`` went on to ``worker`` (a binding to a session held there)."""
        got = self.conns.get(token)
        if got is None:
            return
        self.closed(token)
        self._add(token, worker, got[1])

    def _add(self, token: int, worker: int, client_guid: bytes | None) -> None:
        self.conns[token] = (worker, client_guid)
        self.load[worker] = self.load.get(worker, 0) + 1
        if client_guid is not None:
            w, n = self.clients.get(client_guid, (worker, 0))
            self.clients[client_guid] = (worker, n + 1) if w == worker else (worker, 1)

    def closed(self, token: int) -> None:
        """The connection ``token`` ended (and its worker handed back its opens)."""
        got = self.conns.pop(token, None)
        if got is None:
            return
        worker, guid = got
        self.load[worker] = max(0, self.load.get(worker, 0) - 1)
        if guid is not None:
            held = self.clients.get(guid)
            if held is not None and held[0] == worker:
                if held[1] <= 1:
                    del self.clients[guid]
                else:
                    self.clients[guid] = (worker, held[1] - 1)
