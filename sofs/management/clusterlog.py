"""``Get-ClusterLog``: each node's log of a time window written to ``<Destination>/<node>_cluster.log``.

As WSFC's ``Get-ClusterLog`` gathers each node's ``cluster.log``, this merges, per node and by time,
the node's structured events (:mod:`sofs.management.events`) and its process log (``<state dir>/
<node>.log``; lines start with the local time ``YYYY-MM-DD HH:MM:SS,mmm``, and continuation lines such
as tracebacks stay with the line before them). Times are written in UTC unless ``local``. The nodes
send their own logs through the cluster store (:mod:`sofs.management.logs_gather`).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sofs.management.errors import ManagementError
from sofs.management.events import ClusterEvent
from sofs.management.logs_gather import NodeLog, collect, local_log


@dataclass(frozen=True, slots=True)
class ClusterLogFile:
    """One file written (``Get-ClusterLog`` returns FileInfo objects)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("name", "length", "full_name")
    name: str
    length: int
    full_name: str
    node: str
    lines: int


def _stamp(t: float, local: bool) -> str:
    st = time.localtime(t) if local else time.gmtime(t)
    return time.strftime("%Y/%m/%d-%H:%M:%S", st) + f".{int(t * 1000) % 1000:03d}"


def check_window(destination: str, minutes: int | None, now: float | None = None) -> tuple[Path, float, float]:
    """The destination folder and the ``[since, until]`` window of ``-TimeSpan`` minutes."""
    if minutes is not None and minutes <= 0:
        raise ManagementError("-TimeSpan must be a positive number of minutes.", "InvalidArgument")
    dest = Path(destination)
    if not dest.is_dir():
        raise ManagementError(f"The destination folder '{destination}' does not exist.", "ObjectNotFound",
                              destination)
    until = now if now is not None else time.time()
    return dest, until - minutes * 60 if minutes is not None else 0.0, until


def write_node_log(dest: Path, nl: NodeLog, since: float, until: float, local: bool) -> ClusterLogFile:
    """``<dest>/<node>_cluster.log``: the node's events and process log lines merged by time."""
    rows = [(e.time, f"{_stamp(e.time, local)} {e.severity.upper():<11} [{e.kind}] {e.message}") for e in nl.events]
    rows += [(t, f"{_stamp(t, local)} LOG         {line}") for t, line in nl.lines]
    rows.sort(key=lambda r: r[0])
    path = dest / f"{nl.node}_cluster.log"
    zone = "local time" if local else "UTC"
    how = {"node": "sent by the node", "local": "read from this machine's state directory (the node did not "
           "answer)", "none": "the node did not answer and its logs are not on this machine"}[nl.source]
    head = (f"sofs cluster log of node {nl.node}: events and process log, {zone}, "
            f"{_stamp(since, local) if since else 'start'} .. {_stamp(until, local)}; {how}"
            f"{'; older lines left out (size limit)' if nl.truncated else ''}\n")
    path.write_text(head + "".join(r[1] + "\n" for r in rows), encoding="utf-8")
    return ClusterLogFile(path.name, path.stat().st_size, str(path.absolute()), nl.node, len(rows))


def write_cluster_log(state_dir: Path, nodes: list[str], destination: str, minutes: int | None = None,
                      local: bool = False, now: float | None = None) -> list[ClusterLogFile]:
    """From this machine's state directory only (tests; the service asks the nodes)."""
    dest, since, until = check_window(destination, minutes, now)
    return [write_node_log(dest, local_log(state_dir, n, since, until), since, until, local) for n in nodes]


class ClusterLogService:
    """``Get-ClusterLog`` and the API's events: every node's logs, asked of the nodes through the store
    (:mod:`sofs.management.logs_gather`), read locally for the nodes that cannot answer."""

    def __init__(self, state_dir: str | os.PathLike[str], client: Any, timeout: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.client = client
        """a ``ClusterClient`` (its ``store``, ``keys.prefix`` and ``get_nodes()``)"""
        self.timeout = timeout

    async def _nodes(self, names: list[str] | None) -> tuple[list[str], list[str]]:
        members = await self.client.get_nodes()
        known = {n.name.lower(): n.name for n in members}
        chosen = []
        for n in names or [m.name for m in members]:
            if n.lower() not in known:
                raise ManagementError(f"The cluster node '{n}' was not found.", "ObjectNotFound", n)
            chosen.append(known[n.lower()])
        up = [m.name for m in members if str(getattr(m.state, "value", m.state)) in ("Up", "Paused")]
        return chosen, up

    async def write(self, names: list[str] | None, destination: str, minutes: int | None, local: bool
                    ) -> list[ClusterLogFile]:
        dest, since, until = check_window(destination, minutes)
        chosen, up = await self._nodes(names)
        logs = await collect(self.client.store, self.client.keys.prefix, self.state_dir, chosen, up, since, until,
                             timeout=self.timeout)
        return [write_node_log(dest, nl, since, until, local) for nl in logs]

    async def events(self, since: float = 0.0, nodes: list[str] | None = None, limit: int | None = None
                     ) -> list[ClusterEvent]:
        """Every node's events since ``since`` (``limit``: the newest), oldest first."""
        chosen, up = await self._nodes(nodes)
        logs = await collect(self.client.store, self.client.keys.prefix, self.state_dir, chosen, up, since,
                             float("inf"), ("events",), self.timeout, limit or 0)  # the newest of each node suffice
        out = sorted((e for nl in logs for e in nl.events), key=lambda e: (e.time, e.node))
        return out[-limit:] if limit else out

    async def close(self) -> None:
        await self.client.close()
