"""Tables for the durable grant / reconnect rules, replay rules and app instance versions."""
from __future__ import annotations

import asyncio

import pytest

from sofs.handlestate.appinstance import is_stale, version_allows_close
from sofs.handlestate.durable import (
    DurableGrant,
    DurableRequest,
    ReconnectFacts,
    check_reconnect,
    decide_grant,
    should_purge,
    survives_disconnect,
)
from sofs.handlestate.replay import check_channel_sequence, create_replay_status, lock_sequence_is_replay
from sofs.handlestate.scavenger import run_scavenger
from sofs.wire.status import NtStatus as S

V1 = DurableRequest(1)
V2 = DurableRequest(2, 0, False, b"c" * 16)
V2P = DurableRequest(2, 0, True, b"c" * 16)
BATCH, LEASE, NONE, LEVEL2 = 0x09, 0xFF, 0x00, 0x01


@pytest.mark.parametrize(("req", "kw", "want"), [
    (None, {}, None),
    (V1, {"oplock_level": BATCH}, DurableGrant(1, False, 60000)),
    (V1, {"oplock_level": LEVEL2}, None),
    (V1, {"oplock_level": LEASE, "lease_state": 0x1 | 0x2}, DurableGrant(1, False, 60000)),
    (V1, {"oplock_level": LEASE, "lease_state": 0x1 | 0x4}, None),
    (V1, {"oplock_level": BATCH, "is_directory": True}, None),
    (V2, {"oplock_level": NONE}, None),
    (V2, {"oplock_level": BATCH}, DurableGrant(2, False, 60000)),
    (DurableRequest(2, 900000, False, b"c" * 16), {"oplock_level": BATCH}, DurableGrant(2, False, 300000)),
    (DurableRequest(2, 5000, False, b"c" * 16), {"oplock_level": BATCH}, DurableGrant(2, False, 5000)),
    (V2P, {"is_ca": True}, DurableGrant(2, True, 60000)),
    (V2P, {"is_ca": True, "ca_timeout_s": 10}, DurableGrant(2, True, 10000)),
    (V2P, {"is_ca": False}, None),  # not CA, no oplock: nothing
    (V2P, {"is_ca": False, "oplock_level": BATCH}, DurableGrant(2, False, 60000)),  # durable, not persistent
    (V2P, {"is_ca": True, "dialect": 0x0210, "oplock_level": BATCH}, DurableGrant(2, False, 60000)),
    (V2P, {"is_ca": True, "server_persistent": False}, None),
])
def test_decide_grant(req: DurableRequest | None, kw: dict[str, object], want: DurableGrant | None) -> None:
    args: dict[str, object] = {"dialect": 0x0311, "is_ca": False, "server_persistent": True, "oplock_level": NONE,
                               "lease_state": 0, "is_directory": False, "ca_timeout_s": 60}
    args.update(kw)
    assert decide_grant(req, **args) == want  # type: ignore[arg-type]


FACTS = ReconnectFacts(2, b"c" * 16, b"g" * 16, "S-1-5-21-1", b"k" * 16, False)


@pytest.mark.parametrize(("facts", "kw", "want"), [
    (FACTS, {}, S.SUCCESS),
    (None, {}, S.OBJECT_NAME_NOT_FOUND),
    (FACTS, {"create_guid": b"x" * 16}, S.OBJECT_NAME_NOT_FOUND),
    (FACTS, {"client_guid": b"h" * 16}, S.OBJECT_NAME_NOT_FOUND),
    (FACTS, {"lease_key": None}, S.OBJECT_NAME_NOT_FOUND),
    (FACTS, {"lease_key": b"j" * 16}, S.OBJECT_NAME_NOT_FOUND),
    (FACTS, {"user": "S-1-5-21-2"}, S.ACCESS_DENIED),
    (FACTS, {"name_matches": False}, S.INVALID_PARAMETER),
    (ReconnectFacts(2, b"c" * 16, b"g" * 16, "S-1-5-21-1", None, False),
     {"lease_key": None, "name_matches": False}, S.SUCCESS),  # the name counts only with a lease
    (FACTS, {"version": 1}, S.SUCCESS),  # smbtorture durable-v2-open.reopen2b
    (ReconnectFacts(1, None, b"g" * 16, "S-1-5-21-1", None, False), {"lease_key": None},
     S.OBJECT_NAME_NOT_FOUND),  # DH2C of a v1 open
    (ReconnectFacts(1, None, b"g" * 16, "S-1-5-21-1", None, False),
     {"lease_key": None, "create_guid": bytes(16)}, S.SUCCESS),  # DH2C with a zero CreateGuid
    (ReconnectFacts(2, b"c" * 16, b"g" * 16, "S-1-5-21-1", b"k" * 16, True), {}, S.OBJECT_NAME_NOT_FOUND),
    (ReconnectFacts(1, None, b"other", "S-1-5-21-1", None, False),
     {"version": 1, "create_guid": None, "lease_key": None}, S.SUCCESS),  # v1 ignores the client guid
    (ReconnectFacts(2, b"c" * 16, b"other", "S-1-5-21-1", None, False),
     {"lease_key": None}, S.SUCCESS),  # an oplock open may come back from another client guid
])
def test_check_reconnect(facts: ReconnectFacts | None, kw: dict[str, object], want: S) -> None:
    args: dict[str, object] = {"version": 2, "create_guid": b"c" * 16, "client_guid": b"g" * 16,
                               "user": "S-1-5-21-1", "lease_key": b"k" * 16}
    args.update(kw)
    assert check_reconnect(facts, **args) == want  # type: ignore[arg-type]


def test_purge_only_disconnected_durable() -> None:
    assert should_purge(persistent=False, disconnected=True)
    assert not should_purge(persistent=True, disconnected=True)
    assert not should_purge(persistent=False, disconnected=False)


@pytest.mark.parametrize(("open_seq", "req_seq", "status", "new"), [
    (5, 5, S.SUCCESS, 5),
    (5, 6, S.SUCCESS, 6),
    (5, 4, S.FILE_NOT_AVAILABLE, 5),
    (0xFFFF, 0, S.SUCCESS, 0),  # wraps forward
    (0, 0xFFFF, S.FILE_NOT_AVAILABLE, 0),  # wraps backward
    (0, 0x7FFF, S.SUCCESS, 0x7FFF),
    (0, 0x8000, S.FILE_NOT_AVAILABLE, 0),
])
def test_channel_sequence(open_seq: int, req_seq: int, status: S, new: int) -> None:
    d = check_channel_sequence(open_seq, req_seq, dialect=0x0311, is_replay=False)
    assert (d.status, d.new_sequence) == (status, new)


def test_stale_channel_sequence_only_fails_modifying_requests() -> None:
    d = check_channel_sequence(5, 4, dialect=0x0311, is_replay=False, modifies=False)
    assert (d.status, d.new_sequence) == (S.SUCCESS, 5)
    d = check_channel_sequence(5, 6, dialect=0x0311, is_replay=False, modifies=False)
    assert (d.status, d.new_sequence) == (S.SUCCESS, 6)


def test_channel_sequence_ignored_before_smb3() -> None:
    assert check_channel_sequence(5, 1, dialect=0x0210, is_replay=False).status == S.SUCCESS


def test_create_replay_status() -> None:
    assert create_replay_status(False, True, True, True) == S.SUCCESS
    assert create_replay_status(True, True, True, True) is None
    assert create_replay_status(True, True, False, True) == S.ACCESS_DENIED
    assert create_replay_status(True, True, True, False) == S.DUPLICATE_OBJECTID
    assert create_replay_status(True, False, True, True) == S.SUCCESS


def test_lock_sequence_replay() -> None:
    stored = {3: 9}
    assert lock_sequence_is_replay(stored, (3 << 4) | 9, dialect=0x0311, resilient_or_durable=True)
    assert not lock_sequence_is_replay(stored, (3 << 4) | 8, dialect=0x0311, resilient_or_durable=True)
    assert not lock_sequence_is_replay(stored, (3 << 4) | 9, dialect=0x0311, resilient_or_durable=False)
    assert not lock_sequence_is_replay(stored, (0 << 4) | 9, dialect=0x0311, resilient_or_durable=True)
    assert not lock_sequence_is_replay({65: 1}, (65 << 4) | 1, dialect=0x0311, resilient_or_durable=True)


@pytest.mark.parametrize(("old", "new", "want"), [
    (None, None, S.SUCCESS), ((1, 0), None, S.SUCCESS), (None, (1, 0), S.SUCCESS),
    ((1, 5), (2, 0), S.SUCCESS), ((1, 5), (1, 6), S.SUCCESS),
    ((1, 5), (1, 5), S.FILE_NOT_AVAILABLE), ((2, 0), (1, 9), S.FILE_NOT_AVAILABLE),
    ((1, 5), (1, 4), S.FILE_NOT_AVAILABLE),
])
def test_app_instance_version(old: tuple[int, int] | None, new: tuple[int, int] | None, want: S) -> None:
    assert version_allows_close(old, new) == want


def test_app_instance_stale() -> None:
    a, g1, g2 = b"a" * 16, b"1" * 16, b"2" * 16
    assert is_stale(a, g1, 7, other_app_id=a, other_client_guid=g2, other_file_id=7)
    assert not is_stale(a, g1, 7, other_app_id=a, other_client_guid=g1, other_file_id=7)  # same client
    assert not is_stale(a, g1, 7, other_app_id=b"b" * 16, other_client_guid=g2, other_file_id=7)
    assert not is_stale(a, g1, 7, other_app_id=a, other_client_guid=g2, other_file_id=8)
    assert is_stale(a, g1, None, other_app_id=a, other_client_guid=g2, other_file_id=8)


def test_scavenger_ticks_until_stopped() -> None:
    async def main() -> list[int]:
        stop = asyncio.Event()
        seen: list[int] = []

        async def tick() -> int:
            seen.append(len(seen))
            if len(seen) == 3:
                stop.set()
            if len(seen) == 2:
                raise RuntimeError("one bad tick must not stop the scavenger")
            return 1

        async def no_sleep(_s: float) -> None:
            await asyncio.sleep(0)

        await run_scavenger(tick, sleep=no_sleep, stop=stop)
        return seen

    assert asyncio.run(main()) == [0, 1, 2]


@pytest.mark.parametrize(("kw", "want"), [
    ({"persistent": False, "has_locks": True, "lease_state": 0x3}, False),  # RH + lock
    ({"persistent": False, "has_locks": True, "lease_state": 0x7}, True),
    ({"persistent": False, "has_locks": True, "lease_state": None}, True),  # batch oplock
    ({"persistent": False, "has_locks": False, "lease_state": 0x3}, True),
    ({"persistent": True, "has_locks": True, "lease_state": 0x1}, True),
])
def test_survives_disconnect(kw: dict[str, object], want: bool) -> None:
    assert survives_disconnect(**kw) is want  # type: ignore[arg-type]
