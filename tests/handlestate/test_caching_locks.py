"""Byte-range lock rules as tables ([MS-FSA] 2.1.5.7, [MS-SMB2] 3.3.5.14), Windows flavour."""
from __future__ import annotations

import random

import pytest

from sofs.handlestate.locks import (
    MAX_U64,
    ByteRangeLocks,
    LockSequences,
    RangeLock,
    io_conflicts,
    locks_conflict,
    ranges_overlap,
    valid_range,
)

A, B = "openA", "openB"

OVERLAP = [
    ((0, 10), (5, 10), True), ((0, 10), (10, 5), False), ((10, 0), (5, 10), True),  # 0-byte strictly inside
    ((10, 0), (10, 5), False), ((10, 0), (0, 10), False), ((10, 0), (10, 0), False),
    ((5, 1), (5, 1), True), ((MAX_U64, 1), (MAX_U64, 1), True), ((0, 1), (1, 1), False),
]


@pytest.mark.parametrize(("a", "b", "want"), OVERLAP)
def test_overlap(a, b, want) -> None:
    assert ranges_overlap(*a, *b) is want
    assert ranges_overlap(*b, *a) is want


CONFLICT = [
    # held, want -> conflict
    (RangeLock(A, 0, 10, False), RangeLock(B, 0, 10, False), False),  # shared + shared
    (RangeLock(A, 0, 10, True), RangeLock(A, 0, 10, False), False),  # stack shared on own excl
    (RangeLock(A, 0, 10, True), RangeLock(A, 0, 10, True), True),  # not re-entrant
    (RangeLock(A, 0, 10, False), RangeLock(A, 0, 10, True), True),
    (RangeLock(A, 0, 10, True), RangeLock(B, 0, 10, False), True),
    (RangeLock(A, 0, 10, True), RangeLock(B, 10, 10, True), False),
    (RangeLock(A, 10, 0, True), RangeLock(B, 5, 10, True), True),
]


@pytest.mark.parametrize(("held", "want", "c"), CONFLICT)
def test_locks_conflict(held, want, c) -> None:
    assert locks_conflict(held, want) is c


IO = [
    # held, io owner, offset, length, write -> conflict
    (RangeLock(A, 0, 10, True), A, 0, 10, True, False),  # own exclusive lock: own I/O passes
    (RangeLock(A, 0, 10, False), A, 0, 10, False, False),
    (RangeLock(A, 0, 10, False), A, 0, 10, True, True),  # own shared lock refuses own write
    (RangeLock(A, 0, 10, False), B, 0, 10, False, False),
    (RangeLock(A, 0, 10, False), B, 5, 1, True, True),
    (RangeLock(A, 0, 10, True), B, 9, 1, False, True),
    (RangeLock(A, 0, 10, True), B, 10, 1, False, False),
]


@pytest.mark.parametrize(("held", "owner", "off", "ln", "write", "c"), IO)
def test_io_conflicts(held, owner, off, ln, write, c) -> None:
    assert io_conflicts(held, owner, off, ln, write) is c


def test_zero_byte_io_never_conflicts() -> None:
    t = ByteRangeLocks()
    assert t.try_lock("f", RangeLock(A, 0, 10, True)) is None
    assert t.check_io("f", B, 5, 0, False) is None
    assert t.check_io("f", B, 5, 1, False) is not None


@pytest.mark.parametrize(("off", "ln", "ok"), [(0, MAX_U64, True), (1, MAX_U64, True), (2, MAX_U64, False), (MAX_U64, 1, True),
                                               (MAX_U64, 2, False), (MAX_U64, 0, True)])
def test_valid_range(off, ln, ok) -> None:
    assert valid_range(off, ln) is ok


def test_all_or_nothing_and_unlock_order() -> None:
    t = ByteRangeLocks()
    assert t.try_lock("f", RangeLock(B, 10, 10, True)) is None
    idx, blocker = t.try_lock_all("f", [RangeLock(A, 0, 10, True), RangeLock(A, 10, 10, True)])
    assert idx == 1 and blocker == RangeLock(B, 10, 10, True)
    assert t.locks_of("f") == [RangeLock(B, 10, 10, True)]  # the first one was undone
    # stacked exclusive + shared on one range: unlock takes the exclusive first
    assert t.try_lock("f", RangeLock(A, 0, 10, True)) is None
    assert t.try_lock("f", RangeLock(A, 0, 10, False)) is None
    assert t.unlock("f", A, 0, 10)
    assert t.conflict("f", RangeLock(B, 0, 10, False)) is None  # only the shared one is left
    assert not t.unlock("f", A, 0, 5)  # RANGE_NOT_LOCKED: ranges must match exactly
    assert not t.unlock("f", B, 0, 10)  # another owner's lock
    t.check_invariants()


def test_release_owner_drops_file_key() -> None:
    t = ByteRangeLocks()
    t.try_lock("f", RangeLock(A, 0, 1, True))
    assert t.release_owner("f", A) and "f" not in t.files
    assert not t.release_owner("f", A)


def test_random_ops_keep_invariants() -> None:
    rnd = random.Random(4)
    t = ByteRangeLocks()
    owners = ["o1", "o2", "o3"]
    for _ in range(3000):
        op = rnd.random()
        o = rnd.choice(owners)
        off, ln = rnd.randrange(0, 50), rnd.choice([0, 1, 5, 10])
        if op < 0.5:
            t.try_lock("f", RangeLock(o, off, ln, rnd.random() < 0.5))
        elif op < 0.9:
            t.unlock("f", o, off, ln)
        else:
            t.release_owner("f", o)
        t.check_invariants()


def test_lock_sequences() -> None:
    s = LockSequences()
    assert not s.is_replay(1, 3)
    s.begin(1)
    s.done(1, 3)
    assert s.is_replay(1, 3) and not s.is_replay(1, 4)
    s.begin(1)  # a new request with that index invalidates the slot first
    assert not s.is_replay(1, 3)
    s.done(0, 3)
    s.done(65, 3)
    assert not s.is_replay(0, 3) and not s.is_replay(65, 3)  # out of range: no replay detection
