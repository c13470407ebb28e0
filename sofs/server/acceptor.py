"""The main process's listening sockets when several SMB worker processes serve one address
(:mod:`sofs.server.workers`): accept, peek at the first message without consuming it, and hand the
connection with the ClientGuid of its NEGOTIATE (None when it has none, or says nothing for
``PEEK_TIMEOUT_S``) to ``place``, which gives it to a worker."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from sofs.server.placement import PEEK_BYTES, negotiate_client_guid

log = logging.getLogger("sofs.workers")
PEEK_TIMEOUT_S = 2.0  # a client that says nothing for this long is placed by load alone
REPEEK_S = 0.002
REPEEK_TRIES = 20


class Acceptor:
    def __init__(self, place: Callable[[socket.socket, bytes | None], None]) -> None:
        self.place = place
        self.loop = asyncio.get_running_loop()
        self.listeners: list[socket.socket] = []
        self._peeking: dict[int, tuple[socket.socket, asyncio.TimerHandle, int]] = {}

    def listen(self, addresses: list[tuple[str, int]]) -> None:
        for host, port in addresses:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, _t, _p, _c, addr = infos[0]
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
                s.listen(512)
            except OSError:
                s.close()
                raise
            s.setblocking(False)
            self.loop.add_reader(s.fileno(), self._accept, s)
            self.listeners.append(s)
            log.info("listening on %s:%d", host, port)

    def close(self) -> None:
        """Stop listening; connections not placed yet are dropped."""
        for s in self.listeners:
            self.loop.remove_reader(s.fileno())
            s.close()
        self.listeners = []
        for conn, _timer, _n in list(self._peeking.values()):
            self._drop(conn)

    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(64):
            try:
                conn, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: try again on the next wake-up
                log.warning("accept failed: %s", e)
                return
            conn.setblocking(False)
            timer = self.loop.call_later(PEEK_TIMEOUT_S, self._hand, conn, None)
            self._peeking[conn.fileno()] = (conn, timer, 0)
            self.loop.add_reader(conn.fileno(), self._peek, conn)

    def _peek(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        try:
            data = conn.recv(PEEK_BYTES, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)  # the client left before it said anything
            return
        if len(data) < PEEK_BYTES and data[0] == 0 and len(data) < 4 + int.from_bytes(data[1:4].ljust(3, b"\0"), "big"):
            # the rest of the first message is on its way: look again shortly (level-triggered
            # readiness would spin meanwhile)
            _c, timer, tries = self._peeking[fd]
            if tries < REPEEK_TRIES:
                self.loop.remove_reader(fd)
                self._peeking[fd] = (conn, timer, tries + 1)
                self.loop.call_later(REPEEK_S, self._repeek, conn)
                return
        self._hand(conn, negotiate_client_guid(data))

    def _repeek(self, conn: socket.socket) -> None:
        if conn.fileno() in self._peeking:
            self.loop.add_reader(conn.fileno(), self._peek, conn)

    def _unpeek(self, conn: socket.socket) -> None:
        got = self._peeking.pop(conn.fileno(), None)
        if got is not None:
            got[1].cancel()
            self.loop.remove_reader(conn.fileno())

    def _drop(self, conn: socket.socket) -> None:
        self._unpeek(conn)
        conn.close()

    def _hand(self, conn: socket.socket, guid: bytes | None) -> None:
        if conn.fileno() < 0:
            return
        self._unpeek(conn)
        self.place(conn, guid)
