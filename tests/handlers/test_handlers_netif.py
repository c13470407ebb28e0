"""FSCTL_QUERY_NETWORK_INTERFACE_INFO entries from the OS interfaces (sofs.handlers.netif)."""
from __future__ import annotations

import ipaddress

from sofs.handlers.netif import RSS_CAPABLE, OsInterface, interface_entries, os_interfaces


def test_entries_table() -> None:
    lo = OsInterface(1, "lo", ipaddress.IPv4Network("127.0.0.0/8"), 0, 1)
    eth = OsInterface(2, "eth0", ipaddress.IPv4Network("10.1.0.0/16"), 25_000_000_000, 8)
    down = OsInterface(3, "eth1", None, 1_000_000_000, 1)
    got = interface_entries(["127.0.0.11", "127.0.1.11", "10.1.2.3", "192.168.9.9", "::1"], [lo, eth, down])
    assert got == [(1, 0, 0, "127.0.0.11"), (1, 0, 0, "127.0.1.11"), (2, RSS_CAPABLE, 25_000_000_000, "10.1.2.3")]


def test_this_machine_has_loopback() -> None:
    lo = [i for i in os_interfaces() if i.network is not None and ipaddress.ip_address("127.0.0.11") in i.network]
    assert lo and lo[0].name == "lo" and lo[0].speed_bps == 0  # the kernel reports no speed for lo
