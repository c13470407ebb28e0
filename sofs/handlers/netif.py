"""The server's network interfaces as FSCTL_QUERY_NETWORK_INTERFACE_INFO reports them ([MS-SMB2] 2.2.32.5,
3.3.5.15.11): one entry per address the server listens on, carrying the OS interface that holds it.

- IfIndex: the kernel's interface index (``socket.if_nameindex``);
- LinkSpeed: what the kernel reports in ``/sys/class/net/<if>/speed`` (Mb/s, converted to bit/s); an
  interface without a speed there (loopback, many virtual NICs) is reported as 0 — unknown, never a
  made-up figure;
- Capability: RSS_CAPABLE when the interface has more than one receive queue
  (``/sys/class/net/<if>/queues/rx-*``); never RDMA_CAPABLE (sofs has no SMB Direct transport).

The interface holding an address is the one whose IPv4 network contains it (``SIOCGIFADDR`` /
``SIOCGIFNETMASK``), so 127.0.0.11 belongs to ``lo`` (127.0.0.0/8). :func:`interface_entries` is the
pure part (addresses + interface facts → entries), tested with tables.
"""
from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
RSS_CAPABLE = 0x1
SYS_NET = "/sys/class/net"


@dataclass(frozen=True, slots=True)
class OsInterface:
    index: int
    name: str
    network: ipaddress.IPv4Network | None
    speed_bps: int
    rx_queues: int


def interface_entries(addresses: Sequence[str], interfaces: Sequence[OsInterface]) -> list[tuple[int, int, int, str]]:
    """(IfIndex, Capability, LinkSpeed, address) per listening address (pure). An address no interface
    holds (nothing configured for it) is left out: a client could not use it anyway."""
    out = []
    for a in addresses:
        ip = ipaddress.ip_address(a)
        hit = next((i for i in interfaces if i.network is not None and ip.version == 4 and ip in i.network), None)
        if hit is None:
            continue
        out.append((hit.index, RSS_CAPABLE if hit.rx_queues > 1 else 0, hit.speed_bps, a))
    return out


def _ioctl_addr(sock: socket.socket, name: str, request: int) -> str | None:
    try:
        raw = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None
    return socket.inet_ntoa(raw[20:24])


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def os_interfaces() -> list[OsInterface]:
    """The kernel's interfaces with their IPv4 network, speed and receive queue count (I/O)."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for index, name in socket.if_nameindex():
            addr, mask = _ioctl_addr(s, name, SIOCGIFADDR), _ioctl_addr(s, name, SIOCGIFNETMASK)
            net = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False) if addr and mask else None
            mbps = _read_int(os.path.join(SYS_NET, name, "speed"))
            try:
                rx = sum(1 for q in os.listdir(os.path.join(SYS_NET, name, "queues")) if q.startswith("rx-"))
            except OSError:
                rx = 0
            out.append(OsInterface(index, name, net, mbps * 1_000_000 if mbps and mbps > 0 else 0, rx))
    return out
