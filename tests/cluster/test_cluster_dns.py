"""DNS for the roles' network names: the pure answer table (dnspython builds the queries), the node's
server queried by the real ``dig``, and RFC 2136 updates applied by a real BIND 9 on loopback."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from bind_fixture import dig, private_bind
from cluster_proc import free_port_on

from sofs.cluster.dns_answer import answer, zone_of
from sofs.cluster.dns_server import DnsServer
from sofs.cluster.dns_update import Registrar, Registration, UpdateFailed, send_update, update_message
from sofs.cluster.role import NetworkName

ZONE = zone_of([(("sofs.", "sofs.example.test."), ("127.0.0.11", "127.0.0.12", "::1"), 5)])


def ask(name: str, rtype: str = "A", zone: dict = ZONE, ok: bool = True) -> dns.message.Message:  # type: ignore[type-arg]
    q = dns.message.make_query(name, rtype)
    out = answer(q.to_wire(), zone, ok)
    assert out is not None
    resp = dns.message.from_wire(out)
    assert resp.id == q.id and resp.flags & dns.flags.QR
    return resp


def addrs(resp: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rr in resp.answer for r in rr)


def test_answer_table() -> None:
    r = ask("SOFS.")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert addrs(r) == ["127.0.0.11", "127.0.0.12"] and r.answer[0].ttl == 5
    assert addrs(ask("sofs.EXAMPLE.test.")) == ["127.0.0.11", "127.0.0.12"]
    assert addrs(ask("sofs.", "AAAA")) == ["::1"]
    assert addrs(ask("sofs.", "ANY")) == ["127.0.0.11", "127.0.0.12", "::1"]
    nodata = ask("sofs.", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert ask("other.example.test.").rcode() == dns.rcode.REFUSED
    assert ask("sofs.", ok=False).rcode() == dns.rcode.SERVFAIL


def test_answer_bad_input() -> None:
    assert answer(b"", ZONE) is None and answer(b"\x00" * 5, ZONE) is None
    garbage = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff"
    out = answer(garbage, ZONE)
    assert out is not None and dns.message.from_wire(out).rcode() == dns.rcode.FORMERR
    resp = dns.message.make_response(dns.message.make_query("sofs.", "A"))
    assert answer(resp.to_wire(), ZONE) is None  # never answer a response
    upd = dns.message.make_query("sofs.", "A")
    upd.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(answer(upd.to_wire(), ZONE) or b"").rcode() == dns.rcode.NOTIMP


def test_answer_truncates_over_udp() -> None:
    many = zone_of([(("big.",), tuple(f"10.0.{i // 256}.{i % 256}" for i in range(100)), 5)])
    q = dns.message.make_query("big.", "A", use_edns=False)
    out = answer(q.to_wire(), many, max_size=512)
    assert out is not None and len(out) <= 512
    assert dns.message.from_wire(out, ignore_trailing=True, raise_on_truncation=False).flags & dns.flags.TC


@pytest.fixture
def server() -> Iterator[tuple[str, int, dict]]:  # type: ignore[type-arg]
    """Our DnsServer in a background loop; the test mutates the returned zone dict."""
    addr = "127.0.2.11"
    port = free_port_on([addr])
    zone: dict = dict(ZONE)  # type: ignore[type-arg]
    loop = asyncio.new_event_loop()
    srv = DnsServer([addr], port, lambda: (zone, True))
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield addr, port, zone
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)


def test_dig_queries_the_node_server(server: tuple[str, int, dict]) -> None:  # type: ignore[type-arg]
    addr, port, zone = server
    assert dig(addr, port, "SOFS") == ["127.0.0.11", "127.0.0.12"]
    assert dig(addr, port, "sofs.example.test", tcp=True) == ["127.0.0.11", "127.0.0.12"]
    assert dig(addr, port, "SOFS", "AAAA") == ["::1"]
    zone.update(zone_of([(("sofs.",), ("127.0.0.12",), 5)]))
    assert dig(addr, port, "sofs") == ["127.0.0.12"]


def test_update_message_contents() -> None:
    reg = Registration("127.0.2.53", 53, "example.test", "SOFS", ("127.0.0.11", "::1"), 5, "k", "c2VjcmV0")
    msg = update_message(reg)
    text = msg.to_text()
    assert "SOFS ANY A\n" in text and "SOFS ANY AAAA\n" in text
    assert "SOFS 5 IN A 127.0.0.11" in text and "SOFS 5 IN AAAA ::1" in text
    assert msg.keyring is not None


def test_rfc2136_update_reaches_bind(tmp_path: Path) -> None:
    with private_bind(tmp_path) as bind:
        fqdn = f"sofs.{bind.zone}"
        params = {"DnsServer": bind.server, "DnsZone": bind.zone, "TsigKeyName": bind.key_name,
                  "TsigSecret": bind.secret}
        nn = NetworkName("SOFS", "n1", "SOFS", bind.zone, 7, ("127.0.0.11", "127.0.0.12", "127.0.0.13"), params)
        reg = Registrar()
        assert asyncio.run(reg.step([nn])) == ["SOFS"]
        assert dig(bind.address, bind.port, fqdn) == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
        assert asyncio.run(reg.step([nn])) == []  # nothing changed: no update
        nn2 = NetworkName("SOFS", "n1", "SOFS", bind.zone, 7, ("127.0.0.11", "127.0.0.13"), params)
        assert asyncio.run(reg.step([nn2])) == ["SOFS"]
        assert dig(bind.address, bind.port, fqdn) == ["127.0.0.11", "127.0.0.13"]
        # a wrong key is refused by BIND and reported, never raised
        bad = NetworkName("SOFS", "n1", "SOFS", bind.zone, 7, ("127.0.0.12",),
                          {**params, "TsigSecret": "d3Jvbmc="})
        assert asyncio.run(Registrar().step([bad])) == []
        with pytest.raises(UpdateFailed, match="BadSignature|NOTAUTH|REFUSED"):
            from sofs.cluster.dns_update import registration_of
            r = registration_of(bad)
            assert r is not None
            asyncio.run(send_update(r))
        assert dig(bind.address, bind.port, fqdn) == ["127.0.0.11", "127.0.0.13"]
        # the role moves to another node: the records are the new owner's to keep
        moved = Registrar()
        assert asyncio.run(moved.step([nn2], existing={"SOFS"})) == ["SOFS"]
        assert asyncio.run(moved.step([], existing={"SOFS"})) == []
        assert dig(bind.address, bind.port, fqdn) == ["127.0.0.11", "127.0.0.13"]
        # Remove-ClusterGroup: the node that registered the name deletes it
        assert asyncio.run(reg.step([], existing=set())) == ["SOFS"]
        assert dig(bind.address, bind.port, fqdn) == []


def test_a_removed_roles_records_are_deleted_until_the_server_takes_it() -> None:
    sent: list[tuple[str, ...]] = []
    fail = [True]

    def sender(r: Registration) -> None:
        if fail[0] and not r.addresses:
            raise UpdateFailed("127.0.2.53:53: TimeoutError")
        sent.append(r.addresses)

    params = {"DnsServer": "127.0.2.53", "DnsZone": "example.test"}
    nn = NetworkName("SOFS", "n1", "SOFS", "example.test", 5, ("127.0.0.11",), params)
    reg = Registrar(sender=sender)
    assert asyncio.run(reg.step([nn], existing={"SOFS"})) == ["SOFS"]
    assert asyncio.run(reg.step([], existing=set())) == []  # the server does not answer: kept
    assert "TimeoutError" in reg.last_error["SOFS"]
    fail[0] = False
    assert asyncio.run(reg.step([], existing=set())) == ["SOFS"]
    assert sent == [("127.0.0.11",), ()] and not reg.last_error
    assert asyncio.run(reg.step([], existing=set())) == []  # done once
