"""Counters and recent handle events of a node's handle-state service (every volume it coordinates),
read by ``/metrics`` and the node's event recorder.

One :class:`HandleStats` per serving process, given to each :class:`~sofs.handlestate.coordinator.
VolumeCoordinator` and :class:`~sofs.handlestate.journal.PersistentHandleJournal` it builds, so the
counts survive a coordinator moving away and back. Updated with plain attribute increments and one
call per journal commit or handle event (never per SMB READ/WRITE):

- breaks sent (oplock and lease, [MS-SMB2] 3.3.4.6 / 3.3.4.7) and breaks the client did not
  acknowledge within the break timeout (3.3.2.1);
- journal commits (one write + fdatasync each, a group commit counted once) in a latency histogram;
- handle events (:class:`HandleEvent`): a client reclaiming its durable or persistent handle (DHnC /
  DH2C, 3.3.5.9.7 / 3.3.5.9.12), a node re-registering its clients' opens with a new coordinator,
  an open closed because another instance of its application opened the file (App Instance ID,
  3.3.5.9.13). Kept in a bounded queue that the event recorder drains (:meth:`take_events`).
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Latency bucket bounds (seconds) of every histogram a node keeps (SMB requests, journal commits)."""
MAX_EVENTS = 4096
"""Handle events kept until the recorder takes them (the oldest are dropped past this)."""

HANDLE_RECLAIMED = "HandleReclaimed"
HANDLES_REREGISTERED = "HandlesReregistered"
HANDLE_SUPERSEDED = "HandleSuperseded"


@dataclass(frozen=True, slots=True)
class HandleEvent:
    time: float
    """unix time"""
    kind: str
    """:data:`HANDLE_RECLAIMED`, :data:`HANDLES_REREGISTERED` or :data:`HANDLE_SUPERSEDED`"""
    volume: str
    node: str
    """the serving node the client (or the re-registered opens) came through"""
    path: str = ""
    persistent_id: int = 0
    count: int = 0
    """re-registered opens (HandlesReregistered)"""
    refused: int = 0
    """opens the new coordinator did not take back (HandlesReregistered)"""
    persistent: bool = False


class HandleStats:
    __slots__ = ("breaks_sent", "breaks_timed_out", "clock", "commit_hist", "commit_seconds", "event_counts",
                 "events")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.breaks_sent = 0
        self.breaks_timed_out = 0
        self.commit_hist = [0] * (len(BUCKETS_S) + 1)
        """commits per latency bucket of :data:`BUCKETS_S` (the last one: above every bound), not cumulated"""
        self.commit_seconds = 0.0
        self.events: deque[HandleEvent] = deque(maxlen=MAX_EVENTS)
        self.event_counts: Counter[str] = Counter()
        """handle events by kind since the process started (HandlesReregistered counts opens)"""

    def commit(self, seconds: float) -> None:
        """One journal write + fdatasync that took ``seconds``."""
        self.commit_hist[bisect_left(BUCKETS_S, seconds)] += 1
        self.commit_seconds += seconds

    def reclaimed(self, volume: str, node: str, path: str, persistent_id: int, persistent: bool) -> None:
        """A client took its disconnected durable/persistent open back (DHnC/DH2C)."""
        self._add(HandleEvent(self.clock(), HANDLE_RECLAIMED, volume, node, path, persistent_id,
                              persistent=persistent), 1)

    def reregistered(self, volume: str, node: str, count: int, refused: int) -> None:
        """A serving node re-registered ``count`` opens with a new coordinator, ``refused`` not taken."""
        self._add(HandleEvent(self.clock(), HANDLES_REREGISTERED, volume, node, count=count, refused=refused),
                  count)

    def superseded(self, volume: str, node: str, path: str, persistent_id: int) -> None:
        """An open (held through ``node``) closed for a new open of the same application instance."""
        self._add(HandleEvent(self.clock(), HANDLE_SUPERSEDED, volume, node, path, persistent_id), 1)

    def _add(self, ev: HandleEvent, n: int) -> None:
        self.events.append(ev)
        self.event_counts[ev.kind] += n

    def take_events(self) -> list[HandleEvent]:
        out = list(self.events)
        self.events.clear()
        return out
