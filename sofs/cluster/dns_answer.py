"""Answer a DNS query for the cluster's network names ([RFC 1035] 4.1, authoritative only) — pure.

Messages are parsed and rendered by dnspython (``dns.message``); this module only decides what to put
in them. ``answer(query_wire, names, ok, max_size)``:

- a name of a role (``SOFS.`` or ``SOFS.<DnsZone>.``, any case) → authoritative answer (AA) with one
  A record per IPv4 address (AAAA per IPv6) of every Up node, TTL = the DNN's ``HostRecordTTL``;
  another type (MX, TXT…) of such a name → NOERROR with no records (NODATA); ANY → A and AAAA;
- a name we do not serve → REFUSED (this is not a resolver and does no recursion);
- ``ok`` False (this node has no quorum, so its view of who is Up may be stale) → SERVFAIL;
- not a query, several questions, or bytes that do not parse → FORMERR when the header is readable,
  otherwise no answer at all (``None``: drop the datagram);
- an answer larger than ``max_size`` (512 over UDP, the EDNS size if the query has one) is sent empty
  with TC set, so the client asks again over TCP.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass(frozen=True, slots=True)
class Records:
    """What one absolute name (lower case, trailing dot) resolves to."""

    addresses: tuple[str, ...]
    ttl: int


Zone = Mapping[str, Records]


def _error(wire: bytes, rcode: int) -> bytes | None:
    """A header-only error response for a message dnspython could not fully parse."""
    if len(wire) < 12:
        return None
    qid = int.from_bytes(wire[:2], "big")
    if wire[2] & 0x80:  # a response: never answer one (no loops between servers)
        return None
    resp = dns.message.Message(id=qid)
    resp.flags = dns.flags.QR | (int.from_bytes(wire[2:4], "big") & dns.flags.RD)
    resp.set_rcode(rcode)
    return bytes(resp.to_wire())


def answer(wire: bytes, zone: Zone, ok: bool = True, max_size: int = 512) -> bytes | None:
    """The response to ``wire`` (see the module docstring); ``max_size``: 512 over UDP without EDNS,
    65535 over TCP. A response that does not fit is truncated (TC) by dnspython."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return _error(wire, dns.rcode.FORMERR)
    if query.flags & dns.flags.QR:
        return None
    resp = dns.message.make_response(query)
    if query.opcode() != dns.opcode.QUERY:
        resp.set_rcode(dns.rcode.NOTIMP)
        return bytes(resp.to_wire(max_size=max_size))
    if len(query.question) != 1:
        resp.set_rcode(dns.rcode.FORMERR)
        return bytes(resp.to_wire(max_size=max_size))
    if query.edns >= 0:
        max_size = max(max_size, min(query.payload, 4096))
    q = query.question[0]
    records = zone.get(q.name.to_text().lower())
    if not ok:
        resp.set_rcode(dns.rcode.SERVFAIL)
    elif records is None or q.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
        resp.set_rcode(dns.rcode.REFUSED)
    else:
        resp.flags |= dns.flags.AA
        for rtype in _types(q.rdtype):
            addrs = [a for a in records.addresses if _family(a) == rtype]
            if addrs:
                resp.answer.append(dns.rrset.from_text_list(q.name, records.ttl, dns.rdataclass.IN, rtype, addrs))
    try:
        return bytes(resp.to_wire(max_size=max_size))
    except dns.exception.TooBig:  # [RFC 2181] 9: no partial RRset; TC tells the client to ask over TCP
        resp.answer.clear()
        resp.flags |= dns.flags.TC
        return bytes(resp.to_wire(max_size=max_size))


def _types(qtype: int) -> Sequence[int]:
    if qtype == dns.rdatatype.ANY:
        return (dns.rdatatype.A, dns.rdatatype.AAAA)
    return (qtype,) if qtype in (dns.rdatatype.A, dns.rdatatype.AAAA) else ()


def _family(addr: str) -> int:
    return dns.rdatatype.A if ipaddress.ip_address(addr).version == 4 else dns.rdatatype.AAAA


def zone_of(names: Sequence[tuple[Sequence[str], Sequence[str], int]]) -> dict[str, Records]:
    """``[(fqdns, addresses, ttl), ...]`` (one entry per network name) → the lookup table."""
    out: dict[str, Records] = {}
    for fqdns, addrs, ttl in names:
        for n in fqdns:
            out[dns.name.from_text(n).to_text().lower()] = Records(tuple(addrs), int(ttl))
    return out
