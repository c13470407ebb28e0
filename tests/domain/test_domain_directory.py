"""Directory: LDAP answers cached, refreshed in the background, kept through a DC outage and a restart
(injected lookup and clock; the LDAP side runs against a real DC in tests/ad)."""
from __future__ import annotations

import time
from pathlib import Path

from sofs.domain.directory import Directory
from sofs.domain.join import Domain, DomainError, MachineAccount, default_spns, keytab_entries
from sofs.domain.membership import Membership
from sofs.wire.keytab import decode_keytab

DOMAIN = Domain("corp.example", "CORP", "127.0.0.9", "dc1.corp.example", "/ca.pem")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeDc:
    def __init__(self) -> None:
        self.up = True
        self.calls: list[str] = []
        self.sids = {"hyperv-servers": "S-1-5-21-1-2-3-1104", "host1$": "S-1-5-21-1-2-3-1105"}

    def __call__(self, name: str) -> str | None:
        self.calls.append(name)
        if not self.up:
            raise DomainError("connection refused")
        return self.sids.get(name.lower())


def _wait(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_cache_survives_outage_and_restart(tmp_path: Path) -> None:
    dc, clock, cache = FakeDc(), Clock(), tmp_path / "cache.json"
    d = Directory(DOMAIN, dc, str(cache), ttl=60, clock=clock)
    assert d.handles("CORP") and d.handles("corp.example") and not d.handles("OTHER")
    assert d.sid_of("HyperV-Servers") == "S-1-5-21-1-2-3-1104"
    assert d.sid_of("HYPERV-SERVERS") == "S-1-5-21-1-2-3-1104" and dc.calls == ["HyperV-Servers"]
    assert d.sid_of("nobody") is None  # absent names are cached too
    dc.up = False
    clock.t += 3600  # stale: refreshed in the background, the cached answer is used meanwhile
    assert d.sid_of("HyperV-Servers") == "S-1-5-21-1-2-3-1104"
    _wait(lambda: len(dc.calls) == 3)
    assert d.sid_of("host1$") is None  # never seen and the DC is down: unresolved
    restarted = Directory(DOMAIN, dc, str(cache), ttl=60, clock=clock)  # a node restarted in the outage
    assert restarted.sid_of("HyperV-Servers") == "S-1-5-21-1-2-3-1104"
    dc.up = True
    assert restarted.knows("CORP\\hyperv-servers") and not restarted.knows("CORP\\host1$")
    restarted.prefetch(["CORP\\HOST1$", "OTHER\\x", "BUILTIN\\Users"])
    assert restarted.sid_of("HOST1$") == "S-1-5-21-1-2-3-1105" and "x" not in dc.calls


def test_membership_round_trip_and_keytab() -> None:
    m1 = MachineAccount("N1", "n1.corp.example", "pw1", 1, default_spns("N1", "n1.corp.example"), "S-1-5-21-9")
    cno = MachineAccount("SOFSC", "sofsc.corp.example", "pw2", 3, ("cifs/SOFS", "cifs/sofs.corp.example"))
    m = Membership(DOMAIN, m1, cno=cno)
    assert Membership.from_json(m.to_json()) == m
    assert m1.spns == ("HOST/N1", "HOST/n1.corp.example", "cifs/N1", "cifs/n1.corp.example")
    entries = decode_keytab(m.keytab(now=5))
    principals = {e.principal for e in entries}
    assert principals == {"N1$@CORP.EXAMPLE", "HOST/N1@CORP.EXAMPLE", "HOST/n1.corp.example@CORP.EXAMPLE",
                          "cifs/N1@CORP.EXAMPLE", "cifs/n1.corp.example@CORP.EXAMPLE", "SOFSC$@CORP.EXAMPLE",
                          "cifs/SOFS@CORP.EXAMPLE", "cifs/sofs.corp.example@CORP.EXAMPLE"}
    assert len(entries) == 3 * len(principals)  # AES256, AES128, RC4 each
    rotated = MachineAccount("N1", "n1.corp.example", "pw9", 2, m1.spns)
    both = keytab_entries(DOMAIN, rotated, previous=m1, now=5)
    assert {e.kvno for e in both} == {1, 2}
