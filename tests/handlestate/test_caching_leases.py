"""Lease break machine, grants and the lease table as tables ([MS-SMB2] 3.3.4.7, 3.3.5.9.8, 3.3.5.22.2)."""
from __future__ import annotations

import pytest

from sofs.handlestate.leases import (
    LEASE_TABLE,
    LeaseError,
    LeaseTable,
    lease_step,
    normalize_request,
)
from sofs.handlestate.oplocks import RH, RW, RWH, Caching

R, H, W, N = Caching.R, Caching.H, Caching.W, Caching.NONE
TIMEOUT = 35_000_000_000

ROWS = [
    # (state, notified, required), event -> new machine state, actions
    ((RWH, None, None), f"break:{int(RH)}", (RWH, RH, RH), (f"notify:{int(RWH)}:{int(RH)}:1",)),
    ((RH, None, None), "break:1", (RH, R, R), ("notify:3:1:1",)),  # losing H needs an ack
    ((R, None, None), "break:0", (N, None, None), ("notify:1:0:0",)),  # R -> none: no ack
    ((RH, None, None), "break:3", (RH, None, None), ()),
    ((RWH, RH, RH), "break:1", (RWH, RH, R), ()),  # second break lowers 'required' silently
    ((RWH, RH, RH), f"ack:{int(RH)}", (RH, None, None), ("release",)),
    ((RWH, RH, R), f"ack:{int(RH)}", (RH, R, R), ("release", "notify:3:1:1")),  # follow-up break
    ((RWH, RH, N), "ack:1", (N, None, None), ("release", "notify:1:0:0")),
    # an ack that is not enough: H/W go to R first, then none (smb2.lease.breaking3)
    ((RWH, RH, N), f"ack:{int(RH)}", (RH, R, N), ("release", "notify:3:1:1")),
    ((RH, R, N), "ack:1", (N, None, None), ("release", "notify:1:0:0")),
    ((RWH, RH, RH), f"ack:{int(RWH)}", (RWH, RH, RH), ("error:REQUEST_NOT_ACCEPTED",)),
    ((RWH, RH, RH), "ack:0", (N, None, None), ("release",)),  # less than asked is fine
    ((RH, None, None), "ack:1", (RH, None, None), ("error:UNSUCCESSFUL",)),  # not breaking
    ((RWH, RH, R), "timeout", (N, None, None), ("release",)),  # unanswered: lease lost (Samba)
    ((RWH, RH, R), "lost", (R, None, None), ("release",)),  # client unreachable: as if acked
    ((RH, None, None), "timeout", (RH, None, None), ()),
]


@pytest.mark.parametrize(("state", "event", "new", "actions"), ROWS)
def test_lease_table(state, event, new, actions) -> None:
    assert lease_step(state, event) == (new, actions)
    assert LEASE_TABLE[(state, event)] == (new, actions)


def test_lease_table_closed_under_events() -> None:
    """E2 over the whole table: every reachable state is valid and 'required ⊆ notified ⊊ state'."""
    states = {s for (s, _e) in LEASE_TABLE}
    for new, _a in LEASE_TABLE.values():
        assert new in states, new
        st, n, r = new
        if n is not None:
            assert r is not None and not r & ~n and not n & ~st and n != st


@pytest.mark.parametrize(("req", "is_dir", "want"), [
    (int(RWH), False, RWH), (int(RH), False, RH), (int(RW), False, RW), (int(R), False, R),
    (int(H), False, N), (int(W), False, N), (int(H | W), False, N), (int(RWH), True, RH),
    (int(RW), True, R), (0xFF, False, RWH),
])
def test_normalize_request(req, is_dir, want) -> None:
    assert normalize_request(req, is_dir) == want


GUID, GUID2 = b"g" * 16, b"h" * 16
KEY = b"k" * 16


def test_lease_key_shared_across_opens_and_bound_to_one_file() -> None:
    t = LeaseTable()
    a = t.lookup_for_open(GUID, KEY, "f1", False, 2, None, 0x4711)
    t.attach(a, "open1")
    b = t.lookup_for_open(GUID, KEY, "f1", False, 2, None, 0)
    assert a is b
    t.attach(b, "open2")
    with pytest.raises(LeaseError) as ei:
        t.lookup_for_open(GUID, KEY, "f2", False, 2, None, 0)
    assert ei.value.status == "INVALID_PARAMETER"
    other = t.lookup_for_open(GUID2, KEY, "f2", False, 1, None, 0)  # same key, other client: fine
    t.attach(other, "open3")
    t.check_invariants()
    assert not t.detach(a, "open1")
    assert t.detach(a, "open2")  # last open gone: lease gone (E3)
    assert t.get(GUID, KEY) is None
    t.check_invariants()


GRANTS = [
    # current, breaking, requested, allowed -> state, break_in_progress, epoch delta (v2)
    (N, False, int(RWH), RWH, RWH, False, 1),
    (N, False, int(RWH), RH, RH, False, 1),  # W not allowed (other opens)
    (RH, False, int(RWH), RWH, RWH, False, 1),  # upgrade
    (RWH, False, int(RH), RWH, RWH, False, 0),  # not a superset: unchanged
    (RH, False, int(RH), RWH, RH, False, 0),
    (RH, True, int(RWH), RWH, RH, True, 0),  # breaking: no upgrade, BREAK_IN_PROGRESS
    (R, False, int(RWH), RH, R, False, 0),  # upgrade not grantable in full: none (upgrade3)
    (R, False, int(RH), RH, RH, False, 1),
    (R, False, int(RW), RH, R, False, 0),
]


def test_followup_break_keeps_epoch() -> None:
    t = LeaseTable()
    lease = t.lookup_for_open(GUID, KEY, "f", False, 2, None, 0)
    LeaseTable.grant(lease, int(RWH), RWH)
    lease.apply(f"break:{int(RH)}", now=0, timeout_ns=TIMEOUT)
    lease.apply("break:0", now=0, timeout_ns=TIMEOUT)
    e = lease.epoch
    acts = lease.apply(f"ack:{int(RH)}", now=0, timeout_ns=TIMEOUT)
    assert acts == ("release", "notify:3:1:1") and lease.epoch == e


@pytest.mark.parametrize(("cur", "brk", "req", "allowed", "state", "bip", "de"), GRANTS)
def test_grant(cur, brk, req, allowed, state, bip, de) -> None:
    t = LeaseTable()
    lease = t.lookup_for_open(GUID, KEY, "f", False, 2, None, 10)
    lease.state = cur
    lease.fresh = cur == N
    if brk:
        lease.notified = lease.required = R
    g = LeaseTable.grant(lease, req, allowed)
    assert (g.state, g.break_in_progress, g.epoch - 10) == (state, bip, de)


def test_epoch_v2_counts_notifications_and_deadline_uses_clock() -> None:
    t = LeaseTable()
    lease = t.lookup_for_open(GUID, KEY, "f", False, 2, None, 5)
    LeaseTable.grant(lease, int(RWH), RWH)
    assert lease.epoch == 6
    acts = lease.apply(f"break:{int(RH)}", now=1000, timeout_ns=TIMEOUT)
    assert acts == (f"notify:{int(RWH)}:{int(RH)}:1",)
    assert lease.epoch == 7 and lease.deadline == 1000 + TIMEOUT and lease.breaking
    lease.apply(f"ack:{int(RH)}", now=2000, timeout_ns=TIMEOUT)
    assert lease.state == RH and not lease.breaking and lease.deadline is None
    v1 = t.lookup_for_open(GUID2, KEY, "g", False, 1, None, 99)
    LeaseTable.grant(v1, int(RWH), RWH)
    v1.apply("break:1", now=0, timeout_ns=TIMEOUT)
    assert v1.epoch == 0  # v1 leases carry no epoch


def test_rebind_moves_leases() -> None:
    t = LeaseTable()
    lease = t.lookup_for_open(GUID, KEY, "old", False, 1, None, 0)
    t.attach(lease, "o")
    t.rebind("old", "new")
    assert lease.file_key == "new" and t.of_file("new") == [lease] and t.of_file("old") == []
    t.check_invariants()
