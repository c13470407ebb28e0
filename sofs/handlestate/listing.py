"""Reading the open-file listing of a share from its volume (``sofs handles``, ``Get-SmbOpenFile``).

Every running server (a standalone ``sofs serve``, or each node of a cluster) publishes the opens it
holds in ``<share root>/.sofs/handles.json`` — ``handles.<node>.json`` on a cluster node, since all
nodes serve the same share root — at most a second stale (``sofs.handlers.handles_status``). On a
continuously available share the persistent-handle journal is read too (the share's own on a
standalone server, the Cluster Shared Volume's on a cluster), so persistent opens whose server is down
still show: they come back when it restarts, or when the volume's next coordinator replays it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sofs.handlestate.journal import JOURNAL_REL, has_generation, load_dir
from sofs.handlestate.table import OpenTable

STATUS_DIR = ".sofs"


def status_name(node: str | None) -> str:
    """The status file a server writes: ``handles.json``, or ``handles.<node>.json`` on a node."""
    return f"handles.{node}.json" if node else "handles.json"


def _status_rows(root: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    base = os.path.join(root, STATUS_DIR)
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith("handles.") and n.endswith(".json"))
    except OSError:
        return rows
    for name in names:
        node = name[len("handles."):-len(".json")]
        try:
            with open(os.path.join(base, name)) as f:
                opens = json.load(f).get("opens", [])
        except (OSError, ValueError, AttributeError):
            continue
        for r in opens:
            if isinstance(r, dict):
                r.setdefault("node", node)
                rows.append(r)
    return rows


def _journal_of(root: str) -> tuple[Path, str] | None:
    """The journal holding the share's persistent opens, and the share's path inside the journal's
    volume: ``<share root>/.sofs/journal`` on a standalone server; on a cluster, the journal of the
    Cluster Shared Volume the share lives on (``<...>/ClusterStorage/<Volume>/.sofs/journal``),
    whose coordinator journals the opens of every node."""
    share = Path(root)
    own = share / JOURNAL_REL
    if own.is_dir() and has_generation(own):
        return own, ""
    for vol in share.parents:
        if vol.parent.name == "ClusterStorage":
            j = vol / JOURNAL_REL
            if j.is_dir() and has_generation(j):
                return j, "\\".join(share.relative_to(vol).parts)
            return None
    return None


def _journal_rows(root: str) -> list[dict[str, Any]]:
    found = _journal_of(root)
    if found is None:
        return []
    directory, prefix = found
    table = OpenTable()
    try:
        table.replay(load_dir(directory).entries)
    except (OSError, KeyError, ValueError, TypeError):  # a journal being rewritten: skip it
        return []
    rows = []
    for o in table.opens_by_persistent.values():
        path = o.path
        if prefix:  # the open's path is volume-relative: keep the share's files only
            if path[:len(prefix) + 1].lower() != prefix.lower() + "\\":
                continue
            path = path[len(prefix) + 1:]
        locks = [[lk.offset, lk.length, "X" if lk.exclusive else "S"]
                 for lk in table.locks.locks_of((o.file_id, o.stream_key)) if lk.owner == o.persistent_id]
        lease = o.lease
        rows.append({"path": path, "client": "", "user": o.owner_sid, "kind": "persistent",
                     "state": "journal", "locks": locks, "lease": int(lease.state) if lease else None,
                     "node": "",
                     "file_id": (o.persistent_id.to_bytes(8, "little")
                                 + o.volatile_id.to_bytes(8, "little")).hex()})
    return rows


def collect(shares: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    """Rows for the shares ``(name, root path, continuously available)``: what the running servers
    publish, plus journaled persistent opens none of them lists (their server is down)."""
    rows: list[dict[str, Any]] = []
    for name, root, ca in shares:
        seen = set()
        for r in _status_rows(root):
            r["share"] = name
            seen.add(str(r.get("file_id", ""))[:16])
            rows.append(r)
        if ca:
            for r in _journal_rows(root):
                if r["file_id"][:16] not in seen:
                    r["share"] = name
                    rows.append(r)
    return rows


# --- Close-SmbOpenFile requests: a file per request, picked up by the server holding the open ---------
CONTROL_REL = ".sofs/control"
STANDALONE = "_standalone"


def control_dir(root: str | os.PathLike[str], node: str | None) -> Path:
    """Where the server ``node`` (None: a standalone server) looks for requests on this share."""
    return Path(root) / CONTROL_REL / (node or STANDALONE)


def request_close(root: str | os.PathLike[str], node: str | None, persistent_id: int) -> Path:
    """Ask the server ``node`` to close the open whose FileId persistent half is ``persistent_id``
    (it acts within its next scavenger tick, about a second)."""
    d = control_dir(root, node)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"close.{persistent_id:016x}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("close\n")
    os.replace(tmp, path)
    return path


def close_requests(root: str | os.PathLike[str], node: str | None) -> list[tuple[int, Path]]:
    """(persistent id, request file) of the pending close requests for ``node`` on this share."""
    d = control_dir(root, node)
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.startswith("close.") and not name.endswith(".tmp"):
            try:
                out.append((int(name[len("close."):], 16), d / name))
            except ValueError:
                (d / name).unlink(missing_ok=True)  # not ours to understand: drop it
    return out
