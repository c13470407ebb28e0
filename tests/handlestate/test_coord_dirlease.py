"""Directory leases at the coordinator: which changes break them, which lease a change spares, when
the break goes out ([MS-SMB2] 3.3.4.7; what smbtorture smb2.dirlease checks, and Samba does).

Two serving processes (fake sinks) stand for two nodes: the coordinator decides the same whichever
process the changing open and the lease holder are on.
"""
from __future__ import annotations

import asyncio

import pytest

from sofs.handlestate.api import AdmitRequest, Caller, Change, HandleStateError, LeaseRequest, RenameCheck
from sofs.handlestate.coord_notify import removal_exemption
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.handlestate.oplocks import LEASE
from sofs.wire.status import NtStatus as S
from tests.handlestate.test_coordinator import Hook, Sink, run

RD, WR, DEL = 0x1, 0x2, 0x10000
R, RH, RWH = 0x1, 0x3, 0x7
SHARE_ALL = 7
DIR_ID = 5
DK1, DK2, DK3 = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16
FK1, FK2 = b"\x11" * 16, b"\x12" * 16
CLIENT_A, CLIENT_B = b"a" * 16, b"b" * 16
ADDED, REMOVED, MODIFIED = 1, 2, 3
DELETE_ON_CLOSE = 0x1000


def who(ep: int, client: bytes = CLIENT_A) -> Caller:
    return Caller(ep, client, 1, 1, "S-1-5-21-1-2-3-1000", 0x0311, True)


def two() -> tuple[VolumeCoordinator, Sink, Sink, int, int]:
    c = VolumeCoordinator("vol", timeout_ns=10**12)
    a, b = Sink("n1"), Sink("n2")
    return c, a, b, c.attach(a, "n1"), c.attach(b, "n2")


async def open_dir(c: VolumeCoordinator, ep: int, key: bytes, client: bytes = CLIENT_A, access: int = RD,
                   path: str = "dir", file_id: int = DIR_ID) -> int:
    res = await c.admit(AdmitRequest(who(ep, client), file_id, None, path, True, True, 1, 1, access, access,
                                     SHARE_ALL, LEASE, LeaseRequest(key, RH, 2)), None)
    assert res.lease is not None and res.lease.state == RH
    return res.persistent_id


async def open_file(c: VolumeCoordinator, ep: int, key: bytes, parent: bytes | None, client: bytes = CLIENT_A,
                    access: int = RD | WR | DEL, options: int = 0, state: int = RWH, file_id: int = 10,
                    path: str = "dir\\f.txt") -> int:
    res = await c.admit(AdmitRequest(who(ep, client), file_id, None, path, False, True, 1, options, access,
                                     access, SHARE_ALL, LEASE, LeaseRequest(key, state, 2, parent)), None)
    return res.persistent_id


async def settle() -> None:
    """Let the breaks scheduled after the current request go out."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def broken(sink: Sink) -> list[bytes]:
    return [k for k, *_ in sink.lease_breaks]


def test_the_parent_lease_key_spares_its_directory_lease_whoever_holds_it() -> None:
    async def body() -> None:
        c, a, b, ep1, ep2 = two()
        await open_dir(c, ep1, DK1)
        f = await open_file(c, ep2, FK1, DK1, client=CLIENT_B)  # another client on another node
        c.report_now((Change("dir\\f.txt", MODIFIED, 0x4, f),))
        await settle()
        assert a.lease_breaks == [] and b.lease_breaks == []
        g = await open_file(c, ep2, FK2, DK3, client=CLIENT_B, file_id=11, path="dir\\g.txt")
        c.report_now((Change("dir\\g.txt", MODIFIED, 0x4, g),))
        assert a.lease_breaks == []  # not yet: the break follows the answer of the request
        await settle()
        assert a.lease_breaks == [(DK1, RH, 0, True)]
    run(body)


def test_a_rename_between_directories_spares_only_the_named_parent() -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        await open_dir(c, ep1, DK1, path="src", file_id=5)
        await open_dir(c, ep1, DK2, path="dst", file_id=6)
        f = await open_file(c, ep2, FK1, DK2, path="src\\f.txt")
        await c.report((Change("src\\f.txt", 4, 0x1, f),))  # RENAMED_OLD_NAME
        await c.report((Change("dst\\f.txt", 5, 0x1, f),))  # RENAMED_NEW_NAME
        await settle()
        assert broken(a) == [DK1]
    run(body)


def test_a_written_file_breaks_its_directory_lease_when_it_closes() -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        await open_dir(c, ep1, DK1)
        spared = await open_file(c, ep2, FK1, DK1)
        other = await open_file(c, ep2, FK2, None, file_id=11, path="dir\\g.txt")
        await c.close(spared, modified=True)
        await settle()
        assert a.lease_breaks == []
        await c.close(other, modified=False)
        await settle()
        assert a.lease_breaks == []
        other = await open_file(c, ep2, FK2, None, file_id=11, path="dir\\g.txt")
        await c.close(other, modified=True)
        await settle()
        assert broken(a) == [DK1]
    run(body)


@pytest.mark.parametrize(("setter", "closer", "expect"), [
    ("h2", "h2", [DK1]),  # smb2.dirlease.unlink_same_set_and_close
    ("h1", "h2", [DK1, DK2]),  # unlink_different_set_and_close
])
def test_a_delete_spares_the_lease_of_the_last_closer_only_if_it_set_the_delete(
        setter: str, closer: str, expect: list[bytes]) -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        await open_dir(c, ep1, DK1)
        await open_dir(c, ep1, DK2)
        h = {"h1": await open_file(c, ep2, FK1, DK1, state=R), "h2": await open_file(c, ep2, FK2, DK2, state=R)}
        await c.set_delete_pending(h[setter], True, None)
        first = h["h1" if closer == "h2" else "h2"]
        assert not (await c.close(first)).delete
        res = await c.close(h[closer])
        assert res.delete
        await c.deleted(10, None, Change("dir\\f.txt", REMOVED, 0x1, h[closer]))
        await settle()
        assert sorted(broken(a)) == expect
    run(body)


@pytest.mark.parametrize(("first", "expect"), [
    ("h2", [DK2]),  # smb2.dirlease.unlink_same_initial_and_close
    ("h1", [DK1, DK2]),  # unlink_different_initial_and_close
])
def test_an_initial_delete_on_close_sets_the_token_when_its_open_closes(first: str, expect: list[bytes]) -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        await open_dir(c, ep1, DK1)
        await open_dir(c, ep1, DK2)
        h = {"h1": await open_file(c, ep2, FK1, DK1, state=R, options=DELETE_ON_CLOSE),
             "h2": await open_file(c, ep2, FK2, DK2, state=R)}
        assert not (await c.close(h[first])).delete
        await settle()
        assert a.lease_breaks == []
        last = h["h2" if first == "h1" else "h1"]
        assert (await c.close(last)).delete
        await c.deleted(10, None, Change("dir\\f.txt", REMOVED, 0x1, last))
        await settle()
        assert sorted(broken(a)) == expect
    run(body)


def test_removal_exemption() -> None:
    assert removal_exemption(DK1, DK1) == DK1
    assert removal_exemption(DK1, DK2) is None
    assert removal_exemption(None, None) is None
    assert removal_exemption(DK1, None) is None


def test_a_rename_into_a_directory_held_open_for_delete_breaks_its_handle_lease_first() -> None:
    async def body() -> None:
        c, a, _b, ep1, ep2 = two()
        dst = await open_dir(c, ep1, DK1, access=DEL, path="dst", file_id=6)
        f = await open_file(c, ep2, FK1, None, path="src\\f.txt")
        hook = Hook()
        check = asyncio.create_task(c.check_rename(RenameCheck(f, "dst\\f.txt", None, False), hook))
        await hook.waiting()
        assert a.lease_breaks == [(DK1, RH, R, True)] and not check.done()
        await c.lease_ack(CLIENT_A, DK1, R)  # acknowledged, the handle stays open: refused
        with pytest.raises(HandleStateError) as e:
            await check
        assert e.value.status == S.SHARING_VIOLATION
        await open_dir(c, ep1, DK1, access=DEL, path="dst", file_id=6)  # back to RH (a second open)
        hook = Hook()
        check = asyncio.create_task(c.check_rename(RenameCheck(f, "dst\\f.txt", None, False), hook))
        await hook.waiting()
        for pid in [o.persistent_id for o in c.table.opens_by_persistent.values() if o.is_directory]:
            await c.close(pid)  # the client closes its cached handles instead of acknowledging
        await check
        assert dst not in c.table.opens_by_persistent
    run(body)
