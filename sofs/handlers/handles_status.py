"""The open-handle listing the server publishes for ``sofs handles`` (a ``Get-SmbOpenFile`` view).

How the CLI reaches the running server: the server rewrites ``<share root>/.sofs/handles.json``
(``handles.<node>.json`` on a cluster node; :mod:`sofs.handlestate.listing` reads them all)
(atomically: temp file + rename, hidden by the VFS like the rest of ``.sofs``) after each scavenger
tick (1 s) when something changed. The CLI reads that file for every share of the config; for a CA
share whose server is down it also reads the journal, which lists the persistent opens that will
come back. No socket, no extra port; at most a second stale while the listing is small: building it
takes at most :data:`LISTING_SHARE` of a process's time (:class:`Pacer`), so with 100,000 opens (a
listing of ~1 s) it is rebuilt every ~50 s instead of stalling every client each second (issue 16).
Only a digest of the last listing is kept, and worker processes send theirs as JSON text.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sofs.handlers.opens import Handle
from sofs.handlestate.listing import STATUS_DIR, close_requests, status_name
from sofs.wire.codec import make_file_id

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.handles")
LISTING_SHARE = 0.02
"""The part of a process's time its open-file listing may take (see :class:`Pacer`)."""


class Pacer:
    """When a listing may be built again: one that took ``d`` seconds waits ``d / LISTING_SHARE``.
    Pure: the caller reads the clock."""

    __slots__ = ("next_at",)

    def __init__(self) -> None:
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def spent(self, now: float, seconds: float) -> None:
        self.next_at = now + seconds / LISTING_SHARE


def open_kinds(rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """kind ("plain", "durable", "persistent") -> rows of :func:`open_rows` of that kind."""
    out = {"plain": 0, "durable": 0, "persistent": 0}
    for share_rows in rows.values():
        for r in share_rows:
            out[r["kind"] or "plain"] += 1
    return out


def rows_text(rows: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Per share, its rows as the inside of a JSON array (the parts of several processes join with
    commas): a few hundred bytes a row where the dicts took over a kilobyte."""
    return {share: json.dumps(r)[1:-1] for share, r in rows.items() if r}


def digest(texts: dict[str, str]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for share in sorted(texts):
        h.update(share.encode() + b"\0" + texts[share].encode() + b"\0")
    return h.digest()


def _lock_rows(op: Handle) -> list[list[Any]]:
    vol = op.share.volume
    if vol.local is not None:
        locks = vol.local.table.locks.locks_of((op.vfile_id, op.stream_key))
        return [[lk.offset, lk.length, "X" if lk.exclusive else "S"] for lk in locks if lk.owner == op.pid]
    facts = vol.facts.get((op.vfile_id, op.stream_key))
    return [[lk.offset, lk.length, "X" if lk.exclusive else "S"]
            for lk in (facts.locks if facts is not None else ()) if lk.owner == op.pid]


def _lease_state(op: Handle) -> int | None:
    vol = op.share.volume
    if op.lease_key is None:
        return None
    if vol.local is not None:
        o = vol.local.table.opens_by_persistent.get(op.pid)
        if o is not None and o.lease is not None:
            return int(o.lease.state)
    return None


def open_rows(server: ServerState) -> dict[str, list[dict[str, Any]]]:
    """Per share name: one row per handle of this process (FileId, path, client, user, session,
    kind, locks, lease), plus the disconnected opens of the volumes this process coordinates."""
    out: dict[str, list[dict[str, Any]]] = {}
    for op in list(server.handles.by_id.values()):
        if op.is_pipe or op.closed:
            continue
        session = op.session
        conn = session.connection
        user = getattr(session.user, "name", "") if session.user is not None else ""
        kind = "persistent" if op.persistent else ("durable" if op.durable else "")
        row = {
            "file_id": op.file_id.hex(), "path": op.path + (":" + op.stream if op.stream else ""),
            "client": conn.client_address if conn.conn_id else "", "user": user,
            "session_id": f"0x{session.session_id:x}" if session.session_id else "",
            "kind": kind, "state": "connected", "resilient": op.resilient,
            "access": f"0x{op.granted_access:x}", "share_access": op.share_access, "oplock": op.oplock_level,
            "lease": _lease_state(op), "locks": _lock_rows(op),
        }
        out.setdefault(op.share.name, []).append(row)
    for vol_name, coord in server.coordinators.items():
        shares = [s for s in server.shares.values() if s.volume is not None and s.volume.name == vol_name]
        for o in coord.table.opens_by_persistent.values():
            if o.disconnected_at is None:
                continue
            for share in shares:
                path = share.volume.to_share(share, o.path)
                if path is None:
                    continue
                locks = [[lk.offset, lk.length, "X" if lk.exclusive else "S"]
                         for lk in coord.table.locks.locks_of((o.file_id, o.stream_key)) if lk.owner == o.persistent_id]
                out.setdefault(share.name, []).append({
                    "file_id": make_file_id(o.persistent_id, 0).hex(),
                    "path": path + (":" + o.stream if o.stream else ""), "client": "", "user": o.owner_sid,
                    "session_id": "", "kind": "persistent" if o.persistent else "durable",
                    "state": "disconnected", "resilient": o.resilient, "access": f"0x{o.granted_access:x}",
                    "share_access": o.share_access, "oplock": o.oplock_level,
                    "lease": int(o.lease.state) if o.lease is not None else None, "locks": locks,
                })
                break
    return out


def write_status(server: ServerState, clock: Callable[[], float] = time.monotonic) -> None:
    pacer = _PACERS.setdefault(id(server), Pacer())
    now = clock()
    if not pacer.due(now):
        return
    parts = {share: [text] for share, text in rows_text(open_rows(server)).items()}
    if server.workers is not None:  # the other worker processes' handles (they publish to this one)
        for share, more in server.workers.rows().items():
            parts.setdefault(share, []).extend(more)
    texts = {share: ",".join(p) for share, p in parts.items()}
    d = digest(texts)
    if d != _last.get(id(server)):
        _last[id(server)] = d
        _publish(server, texts)
    pacer.spent(now, clock() - now)


def _publish(server: ServerState, texts: dict[str, str]) -> None:
    node = server.node_name or None
    name = status_name(node)
    head = {"node": node or "", "pid": os.getpid()}
    for share in server.shares.values():
        base = os.path.join(share.config.path, STATUS_DIR)
        try:
            os.makedirs(base, exist_ok=True)
            tmp = os.path.join(base, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(json.dumps({"share": share.name, **head})[:-1])
                f.write(', "opens": [' + texts.get(share.name, "") + "]}")
            os.replace(tmp, os.path.join(base, name))
        except OSError:
            continue


_last: dict[int, bytes] = {}
_PACERS: dict[int, Pacer] = {}


async def serve_close_requests(server: ServerState) -> int:
    """``Close-SmbOpenFile``: close the opens named by request files for this server (connected ones
    too: their client gets STATUS_FILE_CLOSED on the next use, as on Windows); an open whose volume
    this process coordinates is revoked there (wherever its client is; persistent ones are
    journaled closed, so they do not come back). Returns how many opens were closed."""
    from sofs.handlers.close import close_open

    node = server.node_name or None
    n = 0
    for share in list(server.shares.values()):
        reqs = close_requests(share.config.path, node)
        if not reqs:
            continue
        wanted = {pid for pid, _ in reqs}
        vol = share.volume
        for pid in sorted(wanted):
            h = server.handles.of_pid(vol.name, pid) if vol is not None else None
            coord = server.coordinators.get(vol.name) if vol is not None else None
            if coord is not None and coord.table.opens_by_persistent.get(pid) is not None:
                log.warning("share %s: closing FileId 0x%016x on request (Close-SmbOpenFile)", share.name, pid)
                await coord.revoke(pid)
                n += 1
            elif h is not None and not h.closed:
                log.warning("share %s: closing %s (FileId 0x%016x) on request (Close-SmbOpenFile)",
                            share.name, h.path, pid)
                await close_open(server, h)
                n += 1
            elif server.workers is not None and vol is not None:
                server.workers.close_elsewhere(vol.name, pid)  # another worker process holds it
        for _, path in reqs:
            path.unlink(missing_ok=True)
    return n
