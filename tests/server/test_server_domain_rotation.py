"""A member node changes its own machine password when it is 30 days old (issue 18: "rotates machine
passwords as Windows does"): the decision, the retry after a failure, the store update that keeps a
concurrent change (injected clock and password change; a real cluster store; the LDAP change itself runs
against the Samba DC in tests/ad)."""
from __future__ import annotations

import asyncio
import dataclasses
import types
from pathlib import Path

import pytest

from sofs.cluster.store_embedded import EmbeddedStore
from sofs.domain.join import Domain, DomainError, MachineAccount
from sofs.domain.membership import MAX_PASSWORD_AGE_S, Membership, password_change_due
from sofs.server.domain_member import DomainMember
from sofs.wire.keytab import decode_keytab

DOMAIN = Domain("corp.example", "CORP", "127.0.0.9", "dc1.corp.example", None)
DAY = 86400.0
KEY = "/c/secrets/domain/n1"


def machine(kvno: int, password: str) -> MachineAccount:
    return MachineAccount("N1", "n1.corp.example", password, kvno, ("cifs/n1.corp.example",), "S-1-5-21-1-2-3-1000")


CNO = MachineAccount("SOFSC", "sofsc.corp.example", "cno password", 1, ("cifs/SOFS",))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Change:
    """The directory's side of the change: a new password and kvno, or an error."""

    def __init__(self) -> None:
        self.calls: list[MachineAccount] = []
        self.fail: str | None = None

    def __call__(self, domain: Domain, m: MachineAccount) -> MachineAccount:
        self.calls.append(m)
        if self.fail:
            raise DomainError(self.fail)
        return dataclasses.replace(m, password=f"pw{m.kvno + 1}", kvno=m.kvno + 1)


def fake_server() -> types.SimpleNamespace:
    return types.SimpleNamespace(acceptor=types.SimpleNamespace(kerberos=None, _init_token=b"x"),
                                 users=types.SimpleNamespace(directory=None), shares={})


def test_due_only_after_the_maximum_age_and_never_without_a_date() -> None:
    m = Membership(DOMAIN, machine(1, "pw1"), changed_at=1000.0)
    assert not password_change_due(m, 1000.0 + 30 * DAY - 1)
    assert password_change_due(m, 1000.0 + 30 * DAY)
    assert MAX_PASSWORD_AGE_S == 30 * DAY
    assert not password_change_due(dataclasses.replace(m, changed_at=0.0), 1e12)
    assert Membership.from_json(m.to_json()) == m
    old = m.to_json().replace(', "changed_at": 1000.0', "")  # written before the field existed
    assert Membership.from_json(old).changed_at == 0.0


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def refresh(member: DomainMember) -> None:
    """One turn of the node's loop, and the password change it may have started."""
    await member.refresh()
    if member.task is not None:
        await member.task


async def _member(tmp: Path, clock: Clock, change: Change, doc: Membership) -> tuple[EmbeddedStore, DomainMember]:
    store = await EmbeddedStore.open(tmp / "store")
    await store.put(KEY, doc.to_json().encode())
    member = DomainMember(fake_server(), store, KEY, tmp, "n1", clock=clock, change=change)
    return store, member


def test_the_node_changes_its_password_at_30_days_and_keeps_the_old_keys(tmp_path: Path) -> None:
    async def go() -> None:
        clock, change = Clock(1000.0 + 29 * DAY), Change()
        doc = Membership(DOMAIN, machine(1, "pw1"), cno=CNO, changed_at=1000.0)
        store, member = await _member(tmp_path, clock, change, doc)
        try:
            await refresh(member)
            assert change.calls == [] and member.server.acceptor.kerberos is not None
            clock.t = 1000.0 + 30 * DAY
            await refresh(member)
            assert [c.kvno for c in change.calls] == [1]
            kv = await store.get(KEY)
            assert kv is not None
            now = Membership.from_json(kv.value.decode())
            assert (now.machine.kvno, now.machine.password, now.previous, now.cno, now.changed_at) == \
                (2, "pw2", doc.machine, CNO, clock.t)
            await refresh(member)  # the new secret applies: the keytab holds both key versions
            keytab = decode_keytab((tmp_path / "domain" / "n1" / "krb5.keytab").read_bytes())
            assert {e.kvno for e in keytab if e.components == ("N1$",)} == {1, 2}
            assert len(change.calls) == 1  # not due again for 30 days
        finally:
            await store.close()

    run(go())


def test_a_failed_change_is_tried_again_after_15_minutes(tmp_path: Path) -> None:
    async def go() -> None:
        clock, change = Clock(1000.0 + 31 * DAY), Change()
        change.fail = "LDAP bind to 127.0.0.9: connection refused"
        doc = Membership(DOMAIN, machine(1, "pw1"), changed_at=1000.0)
        store, member = await _member(tmp_path, clock, change, doc)
        try:
            await refresh(member)
            assert len(change.calls) == 1 and (await store.get(KEY)).value == doc.to_json().encode()
            clock.t += 899
            await refresh(member)
            assert len(change.calls) == 1
            change.fail = None
            clock.t += 1
            await refresh(member)
            assert len(change.calls) == 2
            assert Membership.from_json((await store.get(KEY)).value.decode()).machine.kvno == 2
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("meanwhile", ["cno rotated", "password reset"])
def test_a_concurrent_change_of_the_membership(tmp_path: Path, meanwhile: str) -> None:
    """The membership document changes while the node talks to the DC: a change that leaves the
    node's password alone (another field) is kept beside the new password; a Reset-ComputerMachinePassword
    (another password) wins and the node stores nothing."""
    async def go() -> None:
        clock = Clock(1000.0 + 30 * DAY)
        doc = Membership(DOMAIN, machine(1, "pw1"), cno=CNO, changed_at=1000.0)
        other = (dataclasses.replace(doc, cno=dataclasses.replace(CNO, kvno=2, password="cno2"))
                 if meanwhile == "cno rotated" else
                 dataclasses.replace(doc, machine=machine(2, "reset"), previous=doc.machine, changed_at=clock.t))
        loop = asyncio.get_running_loop()
        store = await EmbeddedStore.open(tmp_path / "store")

        class Racing(Change):
            def __call__(self, domain: Domain, m: MachineAccount) -> MachineAccount:
                asyncio.run_coroutine_threadsafe(store.put(KEY, other.to_json().encode()), loop).result(10)
                return super().__call__(domain, m)

        try:
            await store.put(KEY, doc.to_json().encode())
            member = DomainMember(fake_server(), store, KEY, tmp_path, "n1", clock=clock, change=Racing())
            kv = await store.get(KEY)
            stored = await member.change_password_if_due(kv)
            got = Membership.from_json((await store.get(KEY)).value.decode())
            if meanwhile == "cno rotated":
                assert stored and (got.machine.password, got.cno, got.previous) == ("pw2", other.cno, doc.machine)
            else:
                assert not stored and got == other
        finally:
            await store.close()

    run(go())
