"""Every node's event log and process log, gathered through the cluster store (``Get-ClusterLog``,
``GET /api/v1/events``, the dashboard's recent events).

Each node keeps its logs in its own state directory (``events/<node>.jsonl``, ``<node>.log``). With the
embedded store every node of a cluster runs on one machine and shares that directory; with etcd the
nodes are separate machines and a reader on one of them sees only its own files. So the reader asks
the nodes, as WSFC's ``Get-ClusterLog`` asks each node to produce its ``cluster.log``:

1. the reader grants a lease (:data:`TTL_S`) and puts ``<logs>req/<id>`` = the window and the nodes;
2. each node's :class:`LogResponder` (watching ``<logs>req/``) reads its own files for the window and
   puts its rows as JSON lines in chunks ``<logs>rep/<id>/<node>/<n>`` (at most :data:`CHUNK` bytes
   each, :data:`MAX_REPLY` in all, the newest rows kept when more), then ``.../<node>/done``, all
   under the request's lease;
3. the reader waits for every Up node's ``done`` (up to a timeout), reads the chunks and revokes the
   lease, which deletes the request and every reply at once. A node that does not answer (Down, or too
   slow) is read from this machine's state directory when its files are here (embedded store), else
   reported as not answering.

Decision (issue 15): through the store, not through the nodes' HTTPS APIs. The cmdlets already reach
the cluster only through the store (that access is the administrator's credential); the API is off
unless the cluster names a port, needs an account and a password the CLI does not have, and would
make the reader trust each node's certificate. ``<logs>`` is the cluster prefix with ``.logs/``
instead of ``/`` (``/sofs.logs/``): outside the cluster's records, so the agents' snapshots never
carry log text.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sofs.cluster.store import EventType, LeaseNotFound, StoreError
from sofs.management.events import ClusterEvent, read_events

log = logging.getLogger("sofs.node.logs")

TTL_S = 60.0
"""Lifetime of a request and its replies in the store (the reader revokes them sooner)."""
CHUNK = 256 << 10
MAX_REPLY = 16 << 20
"""Per node and request; etcd's default request limit is 1.5 MiB, hence the chunks."""
WHAT = ("events", "log")


def logs_prefix(prefix: str) -> str:
    """``/sofs/`` -> ``/sofs.logs/`` (beside the cluster's records, not under them)."""
    return prefix.rstrip("/") + ".logs/"


@dataclass(frozen=True, slots=True)
class LogRequest:
    id: str
    since: float
    until: float
    nodes: tuple[str, ...]
    what: tuple[str, ...] = WHAT
    lease: int = 0
    limit: int = 0
    """only the newest ``limit`` events of each node (0: all of the window)"""


@dataclass
class NodeLog:
    """One node's part of the window: its events and process log lines, where they came from."""

    node: str
    events: list[ClusterEvent] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)
    source: str = "node"
    """``node`` (the node answered), ``local`` (read from this machine's state dir), ``none``"""
    truncated: bool = False


# --- the node's own files (pure reading) --------------------------------------------------------

def _log_time(line: str) -> float | None:
    try:
        return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
    except (ValueError, IndexError):
        return None


def process_log(path: Path, since: float, until: float) -> list[tuple[float, str]]:
    """Lines of a node's process log (``YYYY-MM-DD HH:MM:SS,mmm`` local time first; continuation lines
    such as tracebacks stay with the line before them) inside the window."""
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


def local_log(state_dir: Path, node: str, since: float, until: float, what: Sequence[str] = WHAT,
              limit: int = 0) -> NodeLog:
    """``node``'s logs as this machine's state directory holds them (``limit``: the newest events only)."""
    events = read_events(state_dir, since, until, [node], limit or None) if "events" in what else []
    lines = process_log(state_dir / f"{node}.log", since, until) if "log" in what else []
    found = bool(events or lines or (state_dir / f"{node}.log").exists()
                 or (state_dir / "events" / f"{node}.jsonl").exists())
    return NodeLog(node, events, lines, "local" if found else "none")


# --- the reply's encoding (pure) -----------------------------------------------------------------

def encode_reply(nl: NodeLog, chunk: int = CHUNK, cap: int = MAX_REPLY) -> tuple[list[bytes], bool]:
    """JSON lines (events and log lines by time), the newest kept within ``cap``, cut into chunks."""
    rows = [(e.time, json.dumps({"e": asdict(e)})) for e in nl.events]
    rows += [(t, json.dumps({"t": t, "l": line})) for t, line in nl.lines]
    rows.sort(key=lambda r: r[0])
    kept: list[bytes] = []
    size = 0
    for _, text in reversed(rows):
        b = text.encode() + b"\n"
        if size + len(b) > cap:
            break
        kept.append(b)
        size += len(b)
    kept.reverse()
    chunks: list[bytes] = []
    cur = bytearray()
    for b in kept:
        if cur and len(cur) + len(b) > chunk:
            chunks.append(bytes(cur))
            cur = bytearray()
        cur += b
    if cur:
        chunks.append(bytes(cur))
    return chunks, len(kept) < len(rows)


def decode_reply(node: str, chunks: Sequence[bytes], truncated: bool) -> NodeLog:
    nl = NodeLog(node, truncated=truncated)
    for c in chunks:
        for line in c.decode("utf-8", errors="replace").splitlines():
            d = json.loads(line)
            if "e" in d:
                e = d["e"]
                nl.events.append(ClusterEvent(float(e["time"]), str(e["node"]), str(e["kind"]), str(e["subject"]),
                                              str(e["message"]), str(e["severity"]), dict(e.get("details") or {})))
            else:
                nl.lines.append((float(d["t"]), str(d["l"])))
    return nl


# --- the node side ---------------------------------------------------------------------------------

class LogResponder:
    """Answers log requests for one node from its state directory (runs in ``sofs node``)."""

    def __init__(self, node: str, state_dir: str | Path, store: Any, prefix: str) -> None:
        self.node = node
        self.state_dir = Path(state_dir)
        self.store = store
        self.root = logs_prefix(prefix)
        self._tasks: set[asyncio.Task[None]] = set()

    async def answer(self, req: LogRequest) -> bool:
        """Put this node's reply to ``req``; False when the request is not for this node or is gone."""
        if req.nodes and self.node.lower() not in {n.lower() for n in req.nodes}:
            return False
        nl = await asyncio.to_thread(local_log, self.state_dir, self.node, req.since, req.until, req.what, req.limit)
        chunks, truncated = await asyncio.to_thread(encode_reply, nl)
        base = f"{self.root}rep/{req.id}/{self.node}/"
        try:
            for i, c in enumerate(chunks):
                await self.store.put(f"{base}{i:05d}", c, lease=req.lease)
            await self.store.put(base + "done", json.dumps({"chunks": len(chunks), "truncated": truncated}).encode(),
                                 lease=req.lease)
        except LeaseNotFound:  # the reader gave up already
            return False
        return True

    async def run(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.store.watch(self.root + "req/")) as events:  # type: ignore[type-var]
                    async for ev in events:
                        if ev.type is EventType.PUT:
                            self._spawn(ev.kv.value)
            except StoreError as e:
                log.debug("%s: log requests: %s", self.node, e)
                await asyncio.sleep(1.0)

    def _spawn(self, value: bytes) -> None:
        try:
            d = json.loads(value)
            req = LogRequest(d["id"], float(d["since"]), float(d["until"]), tuple(d["nodes"]), tuple(d["what"]),
                             int(d["lease"]), int(d.get("limit", 0)))
        except (ValueError, KeyError, TypeError) as e:
            log.warning("%s: a malformed log request: %s", self.node, e)
            return
        task = asyncio.create_task(self._answer_quietly(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_quietly(self, req: LogRequest) -> None:
        try:
            await self.answer(req)
        except Exception as e:  # noqa: BLE001 - one failed answer must not stop the responder
            log.warning("%s: answering log request %s: %s", self.node, req.id, e)


# --- the reader side -------------------------------------------------------------------------------

async def gather(store: Any, prefix: str, nodes: Sequence[str], since: float, until: float,
                 what: Sequence[str] = WHAT, timeout: float = 10.0, limit: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, NodeLog]:
    """Ask ``nodes`` for their logs of ``[since, until]`` (``limit``: each node's newest events only);
    the nodes that answered within ``timeout``."""
    if not nodes:
        return {}
    root = logs_prefix(prefix)
    lease = await store.grant(TTL_S)
    req = LogRequest(uuid.uuid4().hex, since, until, tuple(nodes), tuple(what), int(lease), limit)
    try:
        await store.put(f"{root}req/{req.id}", json.dumps(asdict(req)).encode(), lease=lease)
        base = f"{root}rep/{req.id}/"
        done: dict[str, dict[str, Any]] = {}
        deadline = clock() + timeout
        while True:
            for n in nodes:
                if n not in done and (kv := await store.get(f"{base}{n}/done")) is not None:
                    done[n] = json.loads(kv.value)
            if len(done) == len(nodes) or clock() >= deadline:
                break
            await asyncio.sleep(0.05)
        out = {}
        for n, d in done.items():
            listing = await store.list(f"{base}{n}/")
            chunks = [kv.value for kv in sorted(listing.kvs, key=lambda kv: kv.key) if not kv.key.endswith("/done")]
            if len(chunks) == int(d["chunks"]):
                out[n] = decode_reply(n, chunks, bool(d["truncated"]))
        return out
    finally:
        with contextlib.suppress(StoreError):
            await store.revoke(lease)


async def collect(store: Any, prefix: str, state_dir: Path, nodes: Sequence[str], up: Sequence[str],
                  since: float, until: float, what: Sequence[str] = WHAT, timeout: float = 10.0,
                  limit: int = 0) -> list[NodeLog]:
    """Each of ``nodes``' logs: asked of those ``up``, read locally for the others and the silent ones."""
    asked = [n for n in nodes if n in set(up)]
    got = await gather(store, prefix, asked, since, until, what, timeout, limit)
    return [got[n] if n in got else await asyncio.to_thread(local_log, state_dir, n, since, until, what, limit)
            for n in nodes]
