"""The node's DNS server for the cluster's network names: UDP and TCP ([RFC 1035] 4.2, [RFC 7766]) on
each of the node's addresses, answering from the node agent's current cluster snapshot.

The answers are :func:`sofs.cluster.dns_answer.answer`'s; this module is only the asyncio transport.
A node's view is refreshed by its agent every SameSubnetDelay and at once on a heartbeat's expiry, so
a node that goes Down leaves the answer within the failure-detection time (SameSubnetDelay ×
SameSubnetThreshold) plus one agent cycle; a caching resolver may keep the old answer for the
record's TTL (``HostRecordTTL``) on top of that.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Sequence

from sofs.cluster.dns_answer import Zone, answer

log = logging.getLogger("sofs.cluster.dns")
ZoneSource = Callable[[], tuple[Zone, bool]]
"""Returns (the names this node answers for, whether it has quorum) at the time of each query."""
TCP_IDLE_S = 10.0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, source: ZoneSource) -> None:
        self.source = source
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        zone, ok = self.source()
        out = answer(data, zone, ok, max_size=512)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


class DnsServer:
    """``await DnsServer(addresses, port, source).start()``; ``await .stop()``."""

    def __init__(self, addresses: Sequence[str], port: int, source: ZoneSource) -> None:
        self.addresses = list(addresses)
        self.port = port
        self.source = source
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.base_events.Server] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for a in self.addresses:
            try:
                t, _ = await loop.create_datagram_endpoint(lambda: _Udp(self.source), local_addr=(a, self.port))
                self._udp.append(t)
                self._tcp.append(await asyncio.start_server(self._tcp_client, a, self.port, reuse_address=True))
            except OSError as e:
                log.warning("DNS server cannot listen on %s:%d: %s (names not served there)", a, self.port, e)
                continue
            log.info("DNS server for the cluster's network names on %s:%d (udp, tcp)", a, self.port)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_S)
                data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE_S)
                zone, ok = self.source()
                out = answer(data, zone, ok, max_size=65535)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def stop(self) -> None:
        for t in self._udp:
            t.close()
        for s in self._tcp:
            s.close()
            with contextlib.suppress(Exception):
                await s.wait_closed()
        self._udp, self._tcp = [], []
