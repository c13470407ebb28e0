"""Oplocks ([MS-SMB2] 3.3.4.6, 3.3.5.22.1; [MS-FSA] 2.1.5.17) and the contention rules shared with leases.

One vocabulary for both: a holder's *caching state* is a set of R/H/W bits. An oplock is the
special case where the bits come in fixed bundles: NONE = {}, LEVEL_II = {R}, EXCLUSIVE = {R, W},
BATCH = {R, W, H}; a lease ([MS-SMB2] 2.2.13.2.8) is any of {}, R, RH, RW, RWH. This is how Samba
implements both (``map_oplock_to_lease_type``), and it lets one function decide what a new open,
a write or a namespace change breaks (:func:`plan_breaks`).

The oplock break machine is the table :data:`OPLOCK_TABLE`: (level, breaking_to or None) × event →
(level, breaking_to or None) + actions. Events: ``break:<to>``, ``ack:<level>``, ``timeout``.
Actions: ``notify:<level>`` (send an Oplock Break Notification), ``release`` (wake what waited),
``error:<status name>`` (the acknowledgment's error).

Invariants of an oplock: breaking_to is None or a level strictly below ``level`` that drops W
(batch/exclusive → II/none); a LEVEL_II oplock never waits for an acknowledgment (II → none is
notified and done at once, [MS-SMB2] 3.3.4.6).

Time: deadlines are monotonic nanoseconds given by the caller; OPLOCK_BREAK_TIMEOUT_NS is Windows'
35 s (``OplockBreakAckTimeout``, [MS-SMB2] 3.3.2.1); when it expires the break completes as if the
client had acknowledged the level it was asked for (Windows and Samba do this).
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import IntFlag

OPLOCK_BREAK_TIMEOUT_NS = 35 * 1_000_000_000

NONE, LEVEL_II, EXCLUSIVE, BATCH, LEASE = 0x00, 0x01, 0x08, 0x09, 0xFF  # [MS-SMB2] 2.2.13


class Caching(IntFlag):
    """Caching state bits (= [MS-SMB2] 2.2.13.2.8 LeaseState)."""

    NONE = 0
    R = 0x01
    H = 0x02
    W = 0x04


RH = Caching.R | Caching.H
RW = Caching.R | Caching.W
RWH = Caching.R | Caching.W | Caching.H

_LEVEL_CACHING = {NONE: Caching.NONE, LEVEL_II: Caching.R, EXCLUSIVE: RW, BATCH: RWH}


_CACHING = tuple(Caching(i) for i in range(8))


def oplock_caching(level: int) -> Caching:
    return _LEVEL_CACHING.get(level, Caching.NONE)


def oplock_level(c: Caching) -> int:
    """The oplock level a caching state amounts to (an oplock holder has no H without W)."""
    if c & Caching.W:
        return BATCH if c & Caching.H else EXCLUSIVE
    return LEVEL_II if c & Caching.R else NONE


# --- the oplock break machine ---------------------------------------------------------------------

OplockState = tuple[int, int | None]  # (level, breaking_to)

_LEVELS = (NONE, LEVEL_II, EXCLUSIVE, BATCH)


def _build_table() -> dict[tuple[OplockState, str], tuple[OplockState, tuple[str, ...]]]:
    t: dict[tuple[OplockState, str], tuple[OplockState, tuple[str, ...]]] = {}
    for lvl in _LEVELS:
        for to in (NONE, LEVEL_II):
            ev = f"break:{to}"
            if lvl in (EXCLUSIVE, BATCH):
                t[((lvl, None), ev)] = ((lvl, to), (f"notify:{to}",))
            elif lvl == LEVEL_II and to == NONE:
                t[((lvl, None), ev)] = ((NONE, None), ("notify:0",))  # no ack expected
            else:
                t[((lvl, None), ev)] = ((lvl, None), ())
        for ack in (NONE, LEVEL_II, EXCLUSIVE, BATCH, LEASE):
            t[((lvl, None), f"ack:{ack}")] = ((lvl, None), ("error:INVALID_OPLOCK_PROTOCOL",))
        t[((lvl, None), "timeout")] = ((lvl, None), ())
    for lvl in (EXCLUSIVE, BATCH):
        for to in (NONE, LEVEL_II):
            s = (lvl, to)
            # a second break while one is outstanding only lowers the target ([MS-FSA] 2.1.5.17.2)
            t[(s, "break:0")] = ((lvl, NONE), ())
            t[(s, "break:1")] = (s, ())
            t[(s, "timeout")] = ((to, None), ("release",))
            t[(s, f"ack:{LEASE}")] = (s, ("error:INVALID_PARAMETER",))
            t[(s, f"ack:{NONE}")] = ((NONE, None), ("release",))
            if to == LEVEL_II:
                t[(s, f"ack:{LEVEL_II}")] = ((LEVEL_II, None), ("release",))
            else:
                # II acknowledged for a break to none: Windows keeps none and reports the protocol error
                t[(s, f"ack:{LEVEL_II}")] = ((NONE, None), ("release", "error:INVALID_OPLOCK_PROTOCOL"))
            for bad in (EXCLUSIVE, BATCH):
                t[(s, f"ack:{bad}")] = ((NONE, None), ("release", "error:INVALID_OPLOCK_PROTOCOL"))
    return t


OPLOCK_TABLE = _build_table()


def oplock_step(state: OplockState, event: str) -> tuple[OplockState, tuple[str, ...]]:
    """One transition of the oplock break machine (KeyError = an event the table does not know)."""
    return OPLOCK_TABLE[(state, event)]


def grant_oplock(requested: int, others: Sequence[Caching], others_have_handle_lease: bool,
                 stat_open: bool, is_directory: bool) -> int:
    """The oplock level a new open gets ([MS-FSA] 2.1.5.17.1, Samba ``grant_fsp_oplock_type``).

    ``others``: caching states of the other opens of the stream *after* the breaks this open
    caused (one entry per open, NONE included). Batch/exclusive need to be alone; otherwise level II,
    unless someone still caches writes or holds a handle lease. Directories get none; stat opens are
    granted like others (smb2.oplock.exclusive5 expects level II for an attribute-only open).
    """
    if requested in (NONE, LEASE) or is_directory:
        return NONE
    if requested in (EXCLUSIVE, BATCH) and not others:
        return requested
    if others_have_handle_lease or any(c & Caching.W for c in others):
        return NONE
    return LEVEL_II


# --- contention: what an open / write / namespace change breaks ---------------------------------

@dataclass(frozen=True, slots=True)
class Holder:
    """One caching holder of a file as the planner sees it: an oplock'ed open or a lease."""

    ident: Hashable
    caching: Caching
    is_lease: bool
    breaking_to: Caching | None = None  # set while a break is outstanding


@dataclass(frozen=True, slots=True)
class BreakOrder:
    """Break ``ident`` down to ``to``; ``wait`` = the operation must wait for the ack (or timeout)."""

    ident: Hashable
    to: Caching
    wait: bool


def plan_breaks(holders: Sequence[Holder], sharing_violation: bool, overwrite: bool,
                first_attempt: bool = True) -> list[BreakOrder]:
    """Breaks a new open causes (Samba ``delay_for_oplock_fn``, [MS-FSA] 2.1.5.17.2).

    The caller leaves out the opener's own lease and returns early for stat opens. Without a sharing
    violation W is what must go (and be flushed) before the open proceeds; with one, H (cached
    handles, which the client may close so that the open succeeds). Overwrite/supersede (without a
    sharing violation) breaks to none. Oplocks lose W as a block: batch/exclusive → II (or none).

    The target is computed from the holder's *current* state; a break while one is outstanding only
    lowers what is required (the break machines do that). The open waits when the holder caches
    the contended bit, and for a lease that is still breaking: always when nothing more is to be
    broken, and on every attempt after the first (Windows breaks in steps and keeps the CREATE
    pending until the lease has settled: smb2.lease.breaking3).
    """
    # plain ints inside (IntFlag operators cost ~1 µs each; this runs for every contended CREATE)
    delay = 2 if sharing_violation else 4  # H or W
    drop_all = overwrite and not sharing_violation
    out: list[BreakOrder] = []
    for h in holders:
        cur = int(h.caching)
        breaking = h.breaking_to is not None
        to = 0 if drop_all else cur & ~delay
        if not cur & ~to:
            if breaking and h.is_lease:
                out.append(BreakOrder(h.ident, _CACHING[cur], True))  # nothing to add: wait to settle
            continue
        if not h.is_lease:
            to &= 1  # oplocks only break to level II (R) or none
        wait = bool(cur & delay) or (breaking and h.is_lease and not first_attempt)
        out.append(BreakOrder(h.ident, _CACHING[to], wait))
    return out


def plan_write_breaks(holders: Sequence[Holder], writer: Hashable = None) -> list[BreakOrder]:
    """A write, truncation or lock by one open breaks every other holder's read caching to none,
    without waiting (Samba ``contend_level2_oplocks_begin``; [MS-FSA] 2.1.4.12). The caller leaves
    out the writer's own lease. The writer's own oplock counts at the level it holds, not the one a
    break in progress goes to (Samba: the fsp's ``oplock_type`` until the acknowledgment): a batch
    holder's write while its break to level II is outstanding — or whose message reaches a remote
    coordinator after that break began — does not deepen its own break to none."""
    out: list[BreakOrder] = []
    for h in holders:
        cur = h.breaking_to if h.breaking_to is not None and h.ident != writer else h.caching
        if cur & Caching.R and not cur & Caching.W:
            out.append(BreakOrder(h.ident, Caching.NONE, False))
    return out


def is_stat_open(access: int, lease: bool = False) -> bool:
    """Opens asking only for FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES and SYNCHRONIZE break no
    oplock (Samba ``is_oplock_stat_open``; READ_CONTROL is *not* one: smb2.oplock.statopen1); for
    leases READ_CONTROL is one too (``is_lease_stat_open``, smb2.lease.statopen4)."""
    allowed = 0x80 | 0x100 | 0x100000 | (0x20000 if lease else 0)
    return not access & ~allowed
