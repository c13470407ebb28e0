"""The control channel between a server's main process and one of its SMB worker processes.

One ``AF_UNIX`` ``SOCK_SEQPACKET`` socket pair per worker (the worker inherits its end): message
boundaries are kept by the kernel, and a message may carry file descriptors (SCM_RIGHTS) — how an
accepted client connection travels to the worker that serves it. A message is a msgpack array whose
first element names it (:mod:`sofs.server.workers` lists them); one longer than a datagram travels
in parts (a flag byte before each part: 1 = more parts follow). The socket is non-blocking and driven
by the event loop's reader/writer callbacks; what cannot be written at once waits in order.

A closed channel (the peer process exited or was killed: the kernel closes its end) ends in
``on_closed``: a worker whose main process is gone stops; the main process restarts a worker whose
channel closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack

log = logging.getLogger("sofs.workers")
PART = 60 * 1024  # below the default SO_SNDBUF of a unix socket
_MORE, _LAST = b"\x01", b"\x00"


class ChannelClosed(Exception):
    """The peer's end of the control channel is gone."""


def encode(msg: tuple[Any, ...]) -> list[bytes]:
    """The datagrams of one message."""
    data = msgpack.packb(list(msg), use_bin_type=True)
    parts = [data[i:i + PART] for i in range(0, len(data), PART)] or [b""]
    return [(_MORE if i < len(parts) - 1 else _LAST) + p for i, p in enumerate(parts)]


class Reassembly:
    """Datagrams in, whole messages out (pure; see :func:`encode`)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, datagram: bytes) -> tuple[Any, ...] | None:
        if not datagram:
            raise ValueError("empty datagram")
        self._parts.append(datagram[1:])
        if datagram[:1] == _MORE:
            return None
        data, self._parts = b"".join(self._parts), []
        msg = msgpack.unpackb(data, raw=False)
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            raise ValueError("not a control message")
        return tuple(msg)


class Channel:
    """One end of a control channel on the running loop.

    ``on_message(msg, fds)`` gets each message (``fds``: descriptors that came with it, now owned by
    the callee); ``on_closed(why)`` once, when the peer is gone or :meth:`close` was called."""

    def __init__(self, sock: socket.socket, on_message: Callable[[tuple[Any, ...], list[int]], None],
                 on_closed: Callable[[str], None]) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.on_closed = on_closed
        self.closed = False
        self._out: deque[tuple[bytes, list[int]]] = deque()
        self._rx = Reassembly()
        self._fds: list[int] = []
        self.loop.add_reader(sock.fileno(), self._readable)

    def send(self, msg: tuple[Any, ...], fds: tuple[int, ...] = ()) -> None:
        """Queue ``msg`` (with ``fds``, duplicated into the message: the caller keeps its own).
        Raises ChannelClosed when the channel is closed."""
        if self.closed:
            raise ChannelClosed("the control channel is closed")
        datagrams = encode(msg)
        if fds and len(datagrams) > 1:
            raise ValueError("descriptors travel with short messages only")
        dup = [os.dup(fd) for fd in fds]
        for i, d in enumerate(datagrams):
            self._out.append((d, dup if i == 0 else []))
        self._flush()

    def _flush(self) -> None:
        while self._out:
            data, fds = self._out[0]
            try:
                if fds:
                    socket.send_fds(self.sock, [data], fds)
                else:
                    self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.sock.fileno(), self._writable)
                return
            except OSError as e:
                self._close(f"send failed: {e}")
                return
            self._out.popleft()
            for fd in fds:
                os.close(fd)

    def _writable(self) -> None:
        self.loop.remove_writer(self.sock.fileno())
        self._flush()

    def _readable(self) -> None:
        while not self.closed:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, PART + 1, 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._close(f"receive failed: {e}")
                return
            if not data:
                for fd in fds:
                    os.close(fd)
                self._close("the peer closed the channel")
                return
            self._fds.extend(fds)
            try:
                msg = self._rx.feed(data)
            except (ValueError, msgpack.UnpackException) as e:
                self._close(f"bad message: {e}")
                return
            if msg is None:
                continue
            fds, self._fds = self._fds, []
            try:
                self.on_message(msg, fds)
            except Exception:  # our bug: keep the channel, drop the message
                log.exception("control message %r failed", msg[0])
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def close(self) -> None:
        self._close("closed")

    def _close(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
            self.loop.remove_writer(self.sock.fileno())
        for _data, fds in self._out:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._out.clear()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.sock.close()
        self.on_closed(why)
