"""``Get-ClusterLog``: each node's log of a time window written to ``<Destination>/<node>_cluster.log``.

As WSFC's ``Get-ClusterLog`` gathers each node's ``cluster.log``, this merges, per node and by time,
the node's structured events (:mod:`sofs.management.events`) and its process log (``<state dir>/
<node>.log``; lines start with the local time ``YYYY-MM-DD HH:MM:SS,mmm``, and continuation lines such
as tracebacks stay with the line before them). Times are written in UTC unless ``local``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sofs.management.errors import ManagementError
from sofs.management.events import read_events


@dataclass(frozen=True, slots=True)
class ClusterLogFile:
    """One file written (``Get-ClusterLog`` returns FileInfo objects)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "length", "full_name")
    name: str
    length: int
    full_name: str
    node: str
    lines: int


def _log_time(line: str) -> float | None:
    try:
        return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
    except (ValueError, IndexError):
        return None


def process_log(path: Path, since: float, until: float) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    t: float | None = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                lt = _log_time(line)
                t = lt if lt is not None else t
                if t is not None and since <= t <= until:
                    out.append((t, line.rstrip("\n")))
    except FileNotFoundError:
        pass
    return out


def _stamp(t: float, local: bool) -> str:
    st = time.localtime(t) if local else time.gmtime(t)
    return time.strftime("%Y/%m/%d-%H:%M:%S", st) + f".{int(t * 1000) % 1000:03d}"


def write_cluster_log(state_dir: Path, nodes: list[str], destination: str, minutes: int | None = None,
                      local: bool = False, now: float | None = None) -> list[ClusterLogFile]:
    if minutes is not None and minutes <= 0:
        raise ManagementError("-TimeSpan must be a positive number of minutes.", "InvalidArgument")
    dest = Path(destination)
    if not dest.is_dir():
        raise ManagementError(f"The destination folder '{destination}' does not exist.", "ObjectNotFound",
                              destination)
    until = now if now is not None else time.time()
    since = until - minutes * 60 if minutes is not None else 0.0
    out = []
    for node in nodes:
        rows = [(e.time, f"{_stamp(e.time, local)} {e.severity.upper():<11} [{e.kind}] {e.message}")
                for e in read_events(state_dir, since, until, [node])]
        rows += [(t, f"{_stamp(t, local)} LOG         {line}") for t, line in
                 process_log(state_dir / f"{node}.log", since, until)]
        rows.sort(key=lambda r: r[0])
        path = dest / f"{node}_cluster.log"
        zone = "local time" if local else "UTC"
        head = (f"sofs cluster log of node {node}: events and process log, {zone}, "
                f"{_stamp(since, local) if since else 'start'} .. {_stamp(until, local)}\n")
        path.write_text(head + "".join(r[1] + "\n" for r in rows), encoding="utf-8")
        out.append(ClusterLogFile(path.name, path.stat().st_size, str(path.absolute()), node, len(rows)))
    return out


class ClusterLogService:
    def __init__(self, state_dir: str | os.PathLike[str], nodes: list[str]) -> None:
        self.state_dir = Path(state_dir)
        self.nodes = nodes

    def write(self, names: list[str] | None, destination: str, minutes: int | None, local: bool
              ) -> list[ClusterLogFile]:
        known = {n.lower(): n for n in self.nodes}
        chosen = []
        for n in names or self.nodes:
            if n.lower() not in known:
                raise ManagementError(f"The cluster node '{n}' was not found.", "ObjectNotFound", n)
            chosen.append(known[n.lower()])
        return write_cluster_log(self.state_dir, chosen, destination, minutes, local)
