"""The open-handle listing the server publishes for ``sofs handles`` (a ``Get-SmbOpenFile`` view).

How the CLI reaches the running server: the server rewrites ``<share root>/.sofs/handles.json``
(``handles.<node>.json`` on a cluster node; :mod:`sofs.handlestate.listing` reads them all)
(atomically: temp file + rename, hidden by the VFS like the rest of ``.sofs``) after each scavenger
tick (1 s) when something changed. The CLI reads that file for every share of the config; for a CA
share whose server is down it also reads the journal, which lists the persistent opens that will
come back. No socket, no extra port; at most a second stale.
"""
from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from sofs.handlers.opens import registry
from sofs.handlestate.listing import STATUS_DIR, close_requests, status_name

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.handles")
_LAST = "sofs.handles_status.last"


def open_rows(server: ServerState) -> dict[str, list[dict[str, Any]]]:
    """Per share name: one row per open (FileId, path, client, user, session, kind, locks, lease)."""
    mgr = server.extensions.get("caching")
    out: dict[str, list[dict[str, Any]]] = {}
    for op in list(registry(server).by_id.values()):
        if op.is_pipe or op.closed:
            continue
        hop = op.ext.get("durable")
        session = op.session
        conn = session.connection
        user = getattr(session.user, "name", "") if session.user is not None else ""
        locks = []
        if mgr is not None and op.node is not None:
            locks = [[lk.offset, lk.length, "X" if lk.exclusive else "S"]
                     for lk in mgr.locks.locks_of(op.node.key) if lk.owner is op]
        lease = op.ext.get("lease")
        kind = "persistent" if op.ext.get("persistent") else ("durable" if hop is not None else "")
        row = {
            "file_id": op.file_id.hex(), "path": op.path + (":" + op.stream if op.stream else ""),
            "client": conn.client_address if conn.conn_id else "", "user": user or (hop.owner_sid if hop else ""),
            "session_id": f"0x{session.session_id:x}" if session.session_id else "",
            "kind": kind, "state": "disconnected" if hop is not None and not hop.connected else "connected",
            "resilient": bool(op.ext.get("resilient")), "access": f"0x{op.granted_access:x}",
            "share_access": op.share_access, "oplock": op.oplock_level,
            "lease": int(lease.state) if lease is not None else None, "locks": locks,
        }
        out.setdefault(op.share.name, []).append(row)
    return out


def write_status(server: ServerState) -> None:
    rows = open_rows(server)
    last = server.extensions.get(_LAST)
    if rows == last:
        return
    server.extensions[_LAST] = rows
    node = server.extensions.get("node_name")
    name = status_name(node)
    for share in server.shares.values():
        base = os.path.join(share.config.path, STATUS_DIR)
        try:
            os.makedirs(base, exist_ok=True)
            tmp = os.path.join(base, name + ".tmp")
            with open(tmp, "w") as f:
                json.dump({"share": share.name, "node": node or "", "pid": os.getpid(),
                           "opens": rows.get(share.name, [])}, f)
            os.replace(tmp, os.path.join(base, name))
        except OSError:
            continue


async def serve_close_requests(server: ServerState) -> int:
    """``Close-SmbOpenFile``: close the opens named by request files for this server (connected ones
    too: their client gets STATUS_FILE_CLOSED on the next use, as on Windows); persistent opens are
    journaled closed, so they do not come back. Returns how many opens were closed."""
    from sofs.handlers.close import close_open
    from sofs.handlers.durable_state import volumes

    node = server.extensions.get("node_name")
    n = 0
    for share in list(server.shares.values()):
        reqs = close_requests(share.config.path, node)
        if not reqs:
            continue
        wanted = {pid for pid, _ in reqs}
        for op in list(registry(server).by_id.values()):
            if op.share is share and int.from_bytes(op.file_id[:8], "little") in wanted and not op.closed:
                log.warning("share %s: closing %s (FileId 0x%s) on request (Close-SmbOpenFile)",
                            share.name, op.path, op.file_id[:8][::-1].hex())
                await close_open(server, op)
                n += 1
        v = volumes(server).get(share.name.lower())
        if v is not None:
            for pid in wanted:
                if v.table.get_by_persistent(pid) is not None:
                    v.table.close_open(pid)
                    v.live.pop(pid, None)
            await v.commit()
        for _, path in reqs:
            path.unlink(missing_ok=True)
    return n
