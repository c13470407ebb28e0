"""Open files of the cluster's shares (``Get-SmbOpenFile``).

Reads what every node publishes on the volume and the persistent-handle journals
(:mod:`sofs.handlestate.listing`) for the shares of the cluster store, whose Windows paths
(``C:\\ClusterStorage\\...``) map onto the volume mounts under the cluster state directory
(:func:`sofs.config.map_cluster_path`). At most a second stale, like the nodes' status files.

``Close-SmbOpenFile`` leaves a request file for the node holding the open (``.sofs/control/<node>``
on the share's volume, :func:`sofs.handlestate.listing.request_close`); the node closes it within its
next scavenger tick (about a second) and the cmdlet waits until the open is gone from the listing.
"""
from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sofs.config import ConfigError, map_cluster_path
from sofs.handlestate.listing import collect, request_close
from sofs.management.errors import ManagementError

# How long Close-SmbOpenFile waits for the holder to close the open (a scavenger tick, a hop to a
# worker process, the next listing) before it reports that the node did not act.
CLOSE_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class OpenFileInfo:
    """``Get-SmbOpenFile`` (MSFT_SmbOpenFile properties we support, plus sofs's handle state)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("file_id", "session_id", "path", "share_relative_path",
                                           "client_computer_name", "client_user_name")
    file_id: int
    session_id: int
    path: str
    share_relative_path: str
    client_computer_name: str
    client_user_name: str
    share_name: str
    cluster_node_name: str = ""
    continuously_available: bool = False
    locks: int = 0
    durability: str = ""  # sofs: "", Durable, Persistent
    state: str = "Connected"  # sofs: Connected, Disconnected (kept for its client), Journal (server down)
    lease_state: int | None = None


def _int(v: Any, base: int = 10) -> int:
    try:
        return int(str(v), base) if v not in (None, "") else 0
    except ValueError:
        return 0


def _row_to_info(share: Any, row: dict[str, Any]) -> OpenFileInfo:
    rel = str(row.get("path", "")).replace("/", "\\").lstrip("\\")
    client = str(row.get("client", ""))
    host = client.rsplit(":", 1)[0] if ":" in client else client
    fid = bytes.fromhex(str(row.get("file_id", "")).ljust(32, "0")[:32])
    state = str(row.get("state", "connected"))
    return OpenFileInfo(
        file_id=int.from_bytes(fid[:8], "little"), session_id=_int(row.get("session_id"), 16),
        path=share.path.rstrip("\\") + ("\\" + rel if rel else ""), share_relative_path=rel,
        client_computer_name=host, client_user_name=str(row.get("user", "")), share_name=share.name,
        cluster_node_name=str(row.get("node", "")), continuously_available=share.continuously_available,
        locks=len(row.get("locks") or ()), durability=str(row.get("kind", "")).capitalize(),
        state=state.capitalize(), lease_state=row.get("lease"))


class OpenFileService:
    """Open files of every share of the cluster store (shares from :class:`ShareService`)."""

    def __init__(self, shares: Any, state_dir: Path) -> None:
        self.shares = shares
        self.state_dir = Path(state_dir)

    async def get_open_files(self, share_names: Sequence[str] | None = None,
                             client_user_names: Sequence[str] | None = None,
                             cluster_node_names: Sequence[str] | None = None,
                             file_ids: Sequence[int] | None = None,
                             session_ids: Sequence[int] | None = None,
                             client_computer_names: Sequence[str] | None = None) -> list[OpenFileInfo]:
        nodes = {n.lower() for n in cluster_node_names or ()}
        hosts = {h.lower() for h in client_computer_names or ()}
        out: list[OpenFileInfo] = []
        for share in await self.shares.get_shares(share_names):
            try:
                root = map_cluster_path(share.path, self.state_dir)
            except ConfigError as e:
                raise ManagementError(f"Share '{share.name}': {e}", "InvalidData") from None
            if not Path(root).is_dir():
                continue  # not mounted here: nothing to read
            for row in collect([(share.name, root, share.continuously_available)]):
                info = _row_to_info(share, row)
                if client_user_names and not any(fnmatch.fnmatchcase(info.client_user_name.lower(), u.lower())
                                                 for u in client_user_names):
                    continue
                if nodes and info.cluster_node_name.lower() not in nodes:
                    continue
                if hosts and info.client_computer_name.lower() not in hosts:
                    continue
                if file_ids and info.file_id not in file_ids:
                    continue
                if session_ids and info.session_id not in session_ids:
                    continue
                out.append(info)
        return sorted(out, key=lambda i: (i.share_name.lower(), i.path.lower(), i.file_id))

    async def close_open_file(self, file_id: int, wait_s: float = CLOSE_WAIT_S) -> list[OpenFileInfo]:
        """``Close-SmbOpenFile``: ask the node holding the open to close it; wait until it is gone.

        The node acts on its next scavenger tick (about a second) and, for an open held by one of its
        worker processes, passes the request on; the listing shows the close when the holder next
        publishes its opens. On a busy node that chain takes seconds, so the cmdlet waits up to
        ``CLOSE_WAIT_S`` (as Windows' cmdlet, it returns when the open is gone, not when it was asked)."""
        rows = [r for r in await self.get_open_files() if r.file_id == file_id]
        if not rows:
            raise ManagementError(f"No open file with FileId {file_id} was found.", "ObjectNotFound")
        for r in rows:
            if r.state == "Journal":
                raise ManagementError(
                    f"FileId {file_id} ({r.path}) is only in the journal of its volume, which no running server "
                    "coordinates: its persistent handle comes back when the server restarts or a node coordinates "
                    "the volume again; close it then.", "ResourceUnavailable")
        shares = {s.name: s for s in await self.shares.get_shares()}
        for r in rows:
            root = map_cluster_path(shares[r.share_name].path, self.state_dir)
            request_close(root, r.cluster_node_name or None, file_id)
        deadline = time.monotonic() + wait_s
        while any(r.file_id == file_id for r in await self.get_open_files()):
            if time.monotonic() > deadline:
                raise ManagementError(
                    f"FileId {file_id} is still open after {wait_s:.0f} s: the node holding it did not act on the "
                    "request (is it running and serving the share?).", "OperationTimeout")
            await asyncio.sleep(0.2)
        return rows
