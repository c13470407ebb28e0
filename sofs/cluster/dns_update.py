"""Register a Distributed Network Name with a site DNS server by dynamic update ([RFC 2136]), as a
domain-joined Windows cluster registers its network names; optionally signed with TSIG ([RFC 8945]).

The owner node of a Scale-Out File Server role keeps ``<DnsName>.<DnsZone>.`` equal to the addresses of
the Up nodes: whenever that set changes (and every :data:`REFRESH_S` in case someone edited the zone),
it sends one update that replaces the name's A and AAAA record sets. When the role is removed
(``Remove-ClusterGroup``), the node that registered it deletes them (retried until the server takes it). The message is built by dnspython
(``dns.update``) and sent over TCP. Parameters come from the DNN resource (``sofs.cluster.role``).
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from sofs.cluster.role import NetworkName

log = logging.getLogger("sofs.cluster.dns_update")
REFRESH_S = 300.0
TIMEOUT_S = 5.0
DEFAULT_PORT = 53


@dataclass(frozen=True, slots=True)
class Registration:
    """What one update makes true at one server (compared to skip needless updates)."""

    server: str
    port: int
    zone: str
    name: str
    addresses: tuple[str, ...]
    ttl: int
    key_name: str = ""
    secret: str = ""
    algorithm: str = "hmac-sha256"


def registration_of(nn: NetworkName) -> Registration | None:
    """The registration a DNN asks for, or None without ``DnsServer``/``DnsZone``."""
    p = nn.parameters
    server, zone = str(p.get("DnsServer") or ""), str(p.get("DnsZone") or "").strip(".")
    if not server or not zone:
        return None
    host, port = server, DEFAULT_PORT
    if server.count(":") == 1:
        host, _, sport = server.partition(":")
        port = int(sport)
    return Registration(host, port, zone, nn.dns_name, tuple(sorted(nn.addresses, key=_sort_key)), nn.ttl,
                        str(p.get("TsigKeyName") or ""), str(p.get("TsigSecret") or ""),
                        str(p.get("TsigAlgorithm") or "hmac-sha256"))


def _sort_key(addr: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(addr)
    return ip.version, int(ip)


def update_message(reg: Registration) -> dns.update.UpdateMessage:
    """[RFC 2136] 2.5: delete the name's A and AAAA RRsets, then add one record per address (pure)."""
    keyring = None
    if reg.key_name:
        keyring = dns.tsigkeyring.from_text({reg.key_name: reg.secret})
    zone = dns.name.from_text(reg.zone)
    upd = dns.update.UpdateMessage(zone, keyring=keyring,
                                   keyalgorithm=dns.name.from_text(reg.algorithm) if keyring else None)
    rel = dns.name.from_text(reg.name, origin=None)
    upd.delete(rel, dns.rdatatype.A)
    upd.delete(rel, dns.rdatatype.AAAA)
    for a in reg.addresses:
        upd.add(rel, reg.ttl, "A" if ipaddress.ip_address(a).version == 4 else "AAAA", a)
    return upd


async def send_update(reg: Registration, timeout: float = TIMEOUT_S) -> None:
    """Send the update; raises :class:`UpdateFailed` naming the server's answer."""
    msg = update_message(reg)
    try:
        resp = await dns.asyncquery.tcp(msg, reg.server, port=reg.port, timeout=timeout)
    except (OSError, dns.exception.DNSException) as e:
        raise UpdateFailed(f"{reg.server}:{reg.port}: {type(e).__name__}: {e}") from e
    if resp.rcode() != dns.rcode.NOERROR:
        raise UpdateFailed(f"{reg.server}:{reg.port} answered {dns.rcode.to_text(resp.rcode())} for "
                           f"{reg.name}.{reg.zone}")


class UpdateFailed(Exception):
    """The site DNS server refused the update or could not be reached."""


class Registrar:
    """Keeps the registrations of the DNNs this node owns current (call :meth:`step` each agent cycle)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sender: Callable[[Registration], object] = send_update) -> None:
        self._clock = clock
        self._send = sender
        self._done: dict[str, tuple[Registration, float]] = {}
        self._removed: dict[str, Registration] = {}  # roles removed, their records still to delete
        self.last_error: dict[str, str] = {}

    async def step(self, owned: Sequence[NetworkName], existing: Collection[str] | None = None) -> list[str]:
        """Register what changed; returns the roles updated now. ``existing``: the roles the cluster
        still has (None: unknown): a registered role not among them has been removed, and its records
        are deleted. Never raises."""
        now = self._clock()
        updated = []
        for nn in owned:
            reg = registration_of(nn)
            if reg is None:
                continue
            prev = self._done.get(nn.role)
            if prev is not None and prev[0] == reg and now - prev[1] < REFRESH_S:
                continue
            if not await self._try(nn.role, reg):
                continue
            self._done[nn.role] = (reg, now)
            updated.append(nn.role)
            log.info("registered %s.%s -> %s (TTL %d) at %s:%d", reg.name, reg.zone, ", ".join(reg.addresses) or
                     "(no address)", reg.ttl, reg.server, reg.port)
        for role in set(self._done) - {n.role for n in owned}:
            reg = self._done.pop(role)[0]  # no longer ours: the new owner registers it ...
            if existing is not None and role not in existing:
                self._removed[role] = dataclasses.replace(reg, addresses=())  # ... or the role is gone
        for role, reg in list(self._removed.items()):
            if existing is not None and role in existing:
                del self._removed[role]  # created again meanwhile: its owner registers it
                continue
            if await self._try(role, reg):
                del self._removed[role]
                updated.append(role)
                log.info("deleted %s.%s from %s:%d (role removed)", reg.name, reg.zone, reg.server, reg.port)
        return updated

    async def _try(self, role: str, reg: Registration) -> bool:
        try:
            res = self._send(reg)
            if asyncio.iscoroutine(res):
                await res
        except UpdateFailed as e:
            if self.last_error.get(role) != str(e):
                log.warning("DNS update for %s failed: %s", role, e)
            self.last_error[role] = str(e)
            return False
        self.last_error.pop(role, None)
        return True


def tsig_secret(raw: bytes) -> str:
    """Base64 text of a TSIG secret (for ``TsigSecret``)."""
    return base64.b64encode(raw).decode()
