"""Per-request counters of one SMB server (read by ``/metrics``; kept cheap: they run on every request).

``record(command, status, seconds)`` adds one request to the latency histogram of its command (fixed
bucket bounds :data:`BUCKETS_S`, cumulated only when read) and, when the status is not SUCCESS, to a
count per (command, status); the SUCCESS count is derived when read (histogram total minus the
errors). ``bench/icount.sh echo`` measured the cost (issue 15 note). READ and WRITE add the
bytes they moved (``bytes_read``/``bytes_written``, plain increments in ``handlers.readwrite``);
``handles`` is the node's :class:`~sofs.handlestate.stats.HandleStats` (breaks, journal commits).

A server with worker processes counts in each process: a worker sends :meth:`RequestStats.snapshot`
to its main process (the control channel, msgpack: lists, no int-keyed maps), which adds them up
with :meth:`RequestStats.add` when ``/metrics`` is read (the last snapshot of a worker that died is
kept, so the node's counters never go back).
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any

from sofs.handlestate.stats import BUCKETS_S, HandleStats
from sofs.wire.constants import Command
from sofs.wire.status import NtStatus


class RequestStats:
    __slots__ = ("bytes_read", "bytes_written", "errors", "handles", "hist", "sums")

    def __init__(self) -> None:
        self.bytes_read = 0
        self.bytes_written = 0
        self.handles = HandleStats()
        self.hist: dict[int, list[int]] = {}
        """command -> requests per latency bucket (the last one: above every bound), not cumulated"""
        self.sums: dict[int, float] = {}
        self.errors: dict[int, int] = {}
        """(command << 32) | NTSTATUS -> requests answered with that status (other than SUCCESS)"""

    def record(self, command: int, status: int, seconds: float) -> None:
        hist = self.hist.get(command)
        if hist is None:
            hist = self.hist[command] = [0] * (len(BUCKETS_S) + 1)
            self.sums[command] = 0.0
        hist[bisect_left(BUCKETS_S, seconds)] += 1
        self.sums[command] += seconds
        if status:
            key = command << 32 | status
            self.errors[key] = self.errors.get(key, 0) + 1

    def snapshot(self) -> list[Any]:
        """The counters as plain lists (what a worker process sends its main process)."""
        return [self.bytes_read, self.bytes_written, [[c, list(h), self.sums.get(c, 0.0)] for c, h in self.hist.items()],
                [[k, n] for k, n in self.errors.items()]]

    def add(self, snap: list[Any]) -> None:
        """Count the requests of ``snap`` (a :meth:`snapshot`) here too."""
        self.bytes_read += snap[0]
        self.bytes_written += snap[1]
        for c, h, total in snap[2]:
            mine = self.hist.get(c)
            if mine is None:
                mine = self.hist[c] = [0] * (len(BUCKETS_S) + 1)
                self.sums[c] = 0.0
            for i, n in enumerate(h[:len(mine)]):
                mine[i] += n
            self.sums[c] += total
        for k, n in snap[3]:
            self.errors[k] = self.errors.get(k, 0) + n

    def named_counts(self) -> dict[tuple[str, str], int]:
        """(command name, NTSTATUS name) -> requests (read at scrape time)."""
        out: dict[tuple[str, str], int] = {}
        for key, n in list(self.errors.items()):
            out[(command_name(key >> 32), status_name(key & 0xFFFFFFFF))] = n
        for c, h in list(self.hist.items()):
            ok = sum(h) - sum(n for key, n in list(self.errors.items()) if key >> 32 == c)
            if ok:
                out[(command_name(c), "SUCCESS")] = ok
        return out

    def named_latency(self) -> dict[str, tuple[list[int], float]]:
        """command name -> (requests per bucket of :data:`BUCKETS_S` + overflow, sum of seconds)."""
        return {command_name(c): (list(h), self.sums.get(c, 0.0)) for c, h in list(self.hist.items())}


def command_name(c: int) -> str:
    try:
        return Command(c).name
    except ValueError:
        return f"0x{c:04x}"


def status_name(s: int) -> str:
    try:
        return NtStatus(s).name
    except ValueError:
        return f"0x{s:08x}"
