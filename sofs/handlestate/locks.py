"""Byte-range locks of one volume: the pure state, as Windows behaves ([MS-FSA] 2.1.5.7, [MS-SMB2] 3.3.5.14).

Model: ``ByteRangeLocks`` keeps, per file (any hashable key; the handlers use the open table's
per-stream node key), the list of granted locks ``(owner, offset, length, exclusive)``, where the
owner is the Open that took it (SMB2 locks belong to the handle, not to a process).

Invariants (``check_invariants``):

L1  No two granted locks of one file conflict (``locks_conflict`` below is false for every pair taken
    in grant order).
L2  A file key is present iff it has at least one lock; an owner's locks vanish when it closes
    (``release_owner``).
L3  ``length`` is 0..2**64-1 and ``offset + length`` never exceeds 2**64 (INVALID_LOCK_RANGE).

Conflict rules (Samba's Windows flavour, ``brl_conflict`` / ``brl_conflict_other``):

- ranges overlap when they share a byte; a zero-length range at X overlaps a range that strictly
  contains X (``a < X < a+len``), and two identical non-empty ranges always overlap;
- two shared locks never conflict; an owner may stack a shared lock on its own exclusive lock, but
  not an exclusive on anything overlapping (locks are not re-entrant);
- I/O: a READ conflicts with another owner's exclusive lock; a WRITE conflicts with any other
  owner's lock and with the writer's own shared lock.

Waiters (blocking locks) are not state here: the async glue re-runs ``try_lock`` for each waiter of a
file whenever that file loses a lock (``unlock``/``release_owner`` return whether anything changed).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

MAX_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class RangeLock:
    """One granted lock ([MS-SMB2] 2.2.26.1)."""

    owner: Hashable
    offset: int
    length: int
    exclusive: bool

    @property
    def end(self) -> int:
        return self.offset + self.length


def ranges_overlap(a_off: int, a_len: int, b_off: int, b_len: int) -> bool:
    """Samba ``brl_overlap``: zero-length ranges only overlap ranges strictly containing them."""
    if a_len != 0 and a_off == b_off and a_len == b_len:
        return True
    return not (a_off >= b_off + b_len or b_off >= a_off + a_len)


def locks_conflict(held: RangeLock, want: RangeLock) -> bool:
    """Whether ``want`` may not be granted while ``held`` is ([MS-FSA] 2.1.5.7)."""
    if not held.exclusive and not want.exclusive:
        return False
    if held.exclusive and not want.exclusive and held.owner == want.owner:
        return False  # a shared lock stacks on the owner's own exclusive lock
    return ranges_overlap(held.offset, held.length, want.offset, want.length)


def io_conflicts(held: RangeLock, owner: Hashable, offset: int, length: int, write: bool) -> bool:
    """Whether I/O by ``owner`` on [offset, offset+length) is refused by ``held`` (FILE_LOCK_CONFLICT)."""
    if not held.exclusive and not write:
        return False
    if held.owner == owner and (not write or held.exclusive):
        return False
    return ranges_overlap(held.offset, held.length, offset, length)


def valid_range(offset: int, length: int) -> bool:
    """[MS-FSA] 2.1.5.7: a lock may not wrap past 2**64 (INVALID_LOCK_RANGE)."""
    return 0 <= offset <= MAX_U64 and 0 <= length <= MAX_U64 and (length == 0 or offset + length - 1 <= MAX_U64)


@dataclass(slots=True)
class ByteRangeLocks:
    """Every granted byte-range lock of a volume, by file key."""

    files: dict[Hashable, list[RangeLock]] = field(default_factory=dict)

    def locks_of(self, key: Hashable) -> Sequence[RangeLock]:
        return self.files.get(key, ())

    def conflict(self, key: Hashable, want: RangeLock) -> RangeLock | None:
        for held in self.files.get(key, ()):
            if locks_conflict(held, want):
                return held
        return None

    def try_lock(self, key: Hashable, want: RangeLock) -> RangeLock | None:
        """Grant ``want`` (returns None) or return the lock that blocks it."""
        blocker = self.conflict(key, want)
        if blocker is None:
            self.files.setdefault(key, []).append(want)
        return blocker

    def try_lock_all(self, key: Hashable, wants: Iterable[RangeLock]) -> tuple[int, RangeLock | None]:
        """All or nothing ([MS-SMB2] 3.3.5.14.2): grant each in order; on the first conflict undo the
        ones granted by this call and return (its index, the blocker); (-1, None) when all granted."""
        done: list[RangeLock] = []
        for i, want in enumerate(wants):
            blocker = self.try_lock(key, want)
            if blocker is not None:
                for g in reversed(done):
                    self.unlock(key, g.owner, g.offset, g.length)
                return i, blocker
            done.append(want)
        return -1, None

    def unlock(self, key: Hashable, owner: Hashable, offset: int, length: int) -> bool:
        """Remove one lock of ``owner`` with exactly this range; False (RANGE_NOT_LOCKED) if none.

        With an exclusive and a shared lock stacked on the same range, the exclusive one goes first
        (Windows; smbtorture smb2.lock.unlock)."""
        locks = self.files.get(key)
        if not locks:
            return False
        match = [i for i, lk in enumerate(locks) if lk.owner == owner and lk.offset == offset and lk.length == length]
        if not match:
            return False
        excl = [i for i in match if locks[i].exclusive]
        del locks[excl[0] if excl else match[0]]
        if not locks:
            del self.files[key]
        return True

    def release_owner(self, key: Hashable, owner: Hashable) -> bool:
        """Drop every lock of ``owner`` on ``key`` (close, [MS-FSA] 2.1.5.4); True if any was held."""
        locks = self.files.get(key)
        if not locks:
            return False
        kept = [lk for lk in locks if lk.owner != owner]
        if len(kept) == len(locks):
            return False
        if kept:
            self.files[key] = kept
        else:
            del self.files[key]
        return True

    def check_io(self, key: Hashable, owner: Hashable, offset: int, length: int, write: bool) -> RangeLock | None:
        """The lock that refuses this READ/WRITE, or None ([MS-SMB2] 3.3.5.12/3.3.5.13)."""
        locks = self.files.get(key)
        if not locks or length == 0:  # zero-byte I/O never conflicts (smb2.lock.zerobyteread)
            return None
        for held in locks:
            if io_conflicts(held, owner, offset, length, write):
                return held
        return None

    def check_invariants(self) -> None:
        for key, locks in self.files.items():
            assert locks, f"L2: empty lock list kept for {key!r}"
            for i, a in enumerate(locks):
                assert valid_range(a.offset, a.length), f"L3: {a}"
                for b in locks[i + 1:]:
                    assert not locks_conflict(a, b), f"L1: {a} and {b} conflict on {key!r}"


# --- lock sequence replay ([MS-SMB2] 3.3.5.14, Open.LockSequenceArray) ---------------------------

LOCK_SEQUENCE_SLOTS = 64


@dataclass(slots=True)
class LockSequences:
    """Open.LockSequenceArray: index 1..64 → last successful 4-bit LockSequenceNumber.

    Use: ``is_replay(index, number)`` before the request (True → answer SUCCESS without doing it);
    ``begin(index)`` invalidates the slot before processing; ``done(index, number)`` after success.
    Index 0 or above 64 means "no replay detection" (the request is processed normally).
    """

    slots: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def in_range(index: int) -> bool:
        return 1 <= index <= LOCK_SEQUENCE_SLOTS

    def is_replay(self, index: int, number: int) -> bool:
        return self.in_range(index) and self.slots.get(index) == number

    def begin(self, index: int) -> None:
        if self.in_range(index):
            self.slots.pop(index, None)

    def done(self, index: int, number: int) -> None:
        if self.in_range(index):
            self.slots[index] = number & 0xF
