"""Oplock break machine and contention rules as tables ([MS-SMB2] 3.3.4.6, 3.3.5.22.1; [MS-FSA] 2.1.5.17)."""
from __future__ import annotations

import pytest

from sofs.handlestate.oplocks import (
    BATCH,
    EXCLUSIVE,
    LEASE,
    LEVEL_II,
    NONE,
    OPLOCK_TABLE,
    RH,
    RW,
    RWH,
    BreakOrder,
    Caching,
    Holder,
    grant_oplock,
    is_stat_open,
    oplock_caching,
    oplock_level,
    oplock_step,
    plan_breaks,
    plan_write_breaks,
)

R = Caching.R
N = Caching.NONE

# (state, event) -> (new state, actions)
OPLOCK_ROWS = [
    ((BATCH, None), "break:1", (BATCH, LEVEL_II), ("notify:1",)),
    ((BATCH, None), "break:0", (BATCH, NONE), ("notify:0",)),
    ((EXCLUSIVE, None), "break:1", (EXCLUSIVE, LEVEL_II), ("notify:1",)),
    ((LEVEL_II, None), "break:0", (NONE, None), ("notify:0",)),  # II -> none needs no ack
    ((LEVEL_II, None), "break:1", (LEVEL_II, None), ()),
    ((NONE, None), "break:0", (NONE, None), ()),
    ((BATCH, LEVEL_II), "break:0", (BATCH, NONE), ()),  # lowered, no second message
    ((BATCH, LEVEL_II), "break:1", (BATCH, LEVEL_II), ()),
    ((BATCH, LEVEL_II), "ack:1", (LEVEL_II, None), ("release",)),
    ((BATCH, LEVEL_II), "ack:0", (NONE, None), ("release",)),
    ((BATCH, NONE), "ack:1", (NONE, None), ("release", "error:INVALID_OPLOCK_PROTOCOL")),
    ((BATCH, LEVEL_II), "ack:9", (NONE, None), ("release", "error:INVALID_OPLOCK_PROTOCOL")),
    ((BATCH, LEVEL_II), f"ack:{LEASE}", (BATCH, LEVEL_II), ("error:INVALID_PARAMETER",)),
    ((LEVEL_II, None), "ack:0", (LEVEL_II, None), ("error:INVALID_OPLOCK_PROTOCOL",)),
    ((BATCH, LEVEL_II), "timeout", (LEVEL_II, None), ("release",)),  # Windows: acked to target
    ((EXCLUSIVE, NONE), "timeout", (NONE, None), ("release",)),
    ((BATCH, None), "timeout", (BATCH, None), ()),
]


@pytest.mark.parametrize(("state", "event", "new", "actions"), OPLOCK_ROWS)
def test_oplock_table(state, event, new, actions) -> None:
    assert oplock_step(state, event) == (new, actions)


def test_oplock_table_invariants() -> None:
    for (state, _event), ((level, breaking_to), _actions) in OPLOCK_TABLE.items():
        if breaking_to is not None:
            assert level in (EXCLUSIVE, BATCH) and breaking_to in (NONE, LEVEL_II)
        if state[0] == LEVEL_II:
            assert breaking_to is None  # level II never waits for an ack


@pytest.mark.parametrize(("level", "caching"), [(NONE, N), (LEVEL_II, R), (EXCLUSIVE, RW), (BATCH, RWH)])
def test_level_caching_roundtrip(level, caching) -> None:
    assert oplock_caching(level) == caching
    assert oplock_level(caching) == level


GRANT_ROWS = [
    # requested, others, handle lease, stat, dir -> granted
    (BATCH, [], False, False, False, BATCH),
    (EXCLUSIVE, [], False, False, False, EXCLUSIVE),
    (BATCH, [N], False, False, False, LEVEL_II),
    (BATCH, [R], False, False, False, LEVEL_II),
    (BATCH, [RW], False, False, False, NONE),  # someone still caches writes
    (LEVEL_II, [N], True, False, False, NONE),  # a handle lease blocks level II
    (BATCH, [], False, False, True, NONE),  # directories: no oplocks
    (LEVEL_II, [R], False, True, False, LEVEL_II),  # stat open granted like others
    (NONE, [], False, False, False, NONE),
    (LEASE, [], False, False, False, NONE),
]


@pytest.mark.parametrize(("req", "others", "hl", "stat", "is_dir", "want"), GRANT_ROWS)
def test_grant_oplock(req, others, hl, stat, is_dir, want) -> None:
    assert grant_oplock(req, others, hl, stat, is_dir) == want


PLAN_ROWS = [
    # holders, sharing violation, overwrite -> orders
    ([Holder("b", RWH, False)], False, False, [BreakOrder("b", R, True)]),  # batch -> II, wait
    ([Holder("b", RWH, False)], True, False, [BreakOrder("b", R, True)]),  # H contended, wait
    ([Holder("x", RW, False)], True, False, []),  # exclusive has no H: sharing violation, no break
    ([Holder("x", RW, False)], False, True, [BreakOrder("x", N, True)]),
    ([Holder("2", R, False)], False, False, []),  # level II stays
    ([Holder("2", R, False)], False, True, [BreakOrder("2", N, False)]),  # overwrite: none, no wait
    ([Holder("l", RWH, True)], False, False, [BreakOrder("l", RH, True)]),  # lease loses W only
    ([Holder("l", RH, True)], False, False, []),
    ([Holder("l", RH, True)], True, False, [BreakOrder("l", R, True)]),
    ([Holder("l", RWH, True, RH)], False, False, [BreakOrder("l", RH, True)]),  # already breaking: wait
    ([Holder("l", R, True)], True, True, []),  # sharing violation: overwrite does not apply (Samba)
    ([Holder("l", R, True)], False, True, [BreakOrder("l", N, False)]),
    ([Holder("l", RH, True, N)], False, False, [BreakOrder("l", RH, True)]),  # breaking: wait to settle
    ([Holder("o", RWH, False, R)], True, False, [BreakOrder("o", R, True)]),
]


@pytest.mark.parametrize(("holders", "sv", "ow", "orders"), PLAN_ROWS)
def test_plan_breaks(holders, sv, ow, orders) -> None:
    assert plan_breaks(holders, sv, ow) == orders


RETRY_ROWS = [
    # a retried open (after a wake-up) waits for every lease still breaking (smb2.lease.breaking3)
    ([Holder("l", RH, True, N)], False, True, [BreakOrder("l", N, True)]),
    ([Holder("l", RWH, True, RH)], True, False, [BreakOrder("l", RW, True)]),
    ([Holder("l", RH, True)], True, False, [BreakOrder("l", R, True)]),
    ([Holder("l", R, True)], False, True, [BreakOrder("l", N, False)]),  # not breaking: no wait
]


@pytest.mark.parametrize(("holders", "sv", "ow", "orders"), RETRY_ROWS)
def test_plan_breaks_retry(holders, sv, ow, orders) -> None:
    assert plan_breaks(holders, sv, ow, first_attempt=False) == orders


def test_plan_write_breaks() -> None:
    hs = [Holder("ii", R, False), Holder("rh", RH, True), Holder("rw", RW, True), Holder("n", N, False)]
    assert plan_write_breaks(hs) == [BreakOrder("ii", N, False), BreakOrder("rh", N, False)]



def test_a_writers_own_break_in_progress_is_not_deepened() -> None:
    """The writer's own batch oplock breaking to level II counts as batch (Samba: the fsp's oplock_type
    until the ack): its write breaks nothing of its own (smb2.oplock.brl1 when the write's message
    reaches a remote coordinator after the break began). Another open in the same state is broken."""
    RWH = R | Caching.W | Caching.H
    assert plan_write_breaks([Holder("me", RWH, False, R)], writer="me") == []
    assert plan_write_breaks([Holder("other", RWH, False, R)], writer="me") == [BreakOrder("other", N, False)]
    assert plan_write_breaks([Holder("me", R, False)], writer="me") == [BreakOrder("me", N, False)]  # batch1


@pytest.mark.parametrize(("access", "stat"), [(0x80, True), (0x100080, True), (0x20000, False), (0x1, False),
                                              (0x10000, False), (0x2, False)])
def test_stat_open(access, stat) -> None:
    assert is_stat_open(access) is stat


def test_lease_stat_open_includes_read_control() -> None:
    assert is_stat_open(0x20000 | 0x80, lease=True) and not is_stat_open(0x20000 | 0x80)
