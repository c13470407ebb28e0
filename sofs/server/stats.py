"""Per-request counters of one SMB server (read by ``/metrics``; kept cheap: they run on every request).

``record(command, status, seconds)`` adds one request: a count per (command, status) and a latency
histogram per command with the fixed bucket bounds :data:`BUCKETS_S` (cumulated only when read, so the
hot path is two dict updates and one ``bisect``). ``bench/icount.sh echo`` measured the cost.
"""
from __future__ import annotations

from bisect import bisect_left

from sofs.wire.constants import Command
from sofs.wire.status import NtStatus

BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    __slots__ = ("counts", "latency", "latency_sum")

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}
        """(command, NTSTATUS) -> requests answered"""
        self.latency: dict[int, list[int]] = {}
        """command -> requests per bucket (the last one: above every bound), not cumulated"""
        self.latency_sum: dict[int, float] = {}

    def record(self, command: int, status: int, seconds: float) -> None:
        key = (command, status)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        hist = self.latency.get(command)
        if hist is None:
            hist = self.latency[command] = [0] * (len(BUCKETS_S) + 1)
            self.latency_sum[command] = 0.0
        hist[bisect_left(BUCKETS_S, seconds)] += 1
        self.latency_sum[command] += seconds

    def named_counts(self) -> dict[tuple[str, str], int]:
        """(command name, NTSTATUS name) -> requests (read at scrape time)."""
        return {(command_name(c), status_name(s)): n for (c, s), n in list(self.counts.items())}

    def named_latency(self) -> dict[str, tuple[list[int], float]]:
        """command name -> (requests per bucket of :data:`BUCKETS_S` + overflow, sum of seconds)."""
        return {command_name(c): (list(h), self.latency_sum.get(c, 0.0)) for c, h in list(self.latency.items())}


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
