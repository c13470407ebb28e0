"""Volumes a process coordinates itself: build the coordinator (restoring a continuously available
volume's persistent handles from its journal), plug this process in, and keep the scavenger.

Standalone ``sofs serve``: every share is a volume of its own (its root holds the journal), run
in-process. Cluster nodes use the same for the volumes they coordinate (:mod:`sofs.server.node_smb`).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sofs.handlers.fsio import run_fs
from sofs.handlers.handles_status import serve_close_requests, write_status
from sofs.handlers.volume import VolumeClient, local_volume
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.handlestate.journal import PersistentHandleJournal, journal_dir, snapshot_records
from sofs.handlestate.scavenger import run_scavenger
from sofs.handlestate.stats import HandleStats
from sofs.handlestate.table import OpenTable
from sofs.server.state import ServerState
from sofs.wire.fscc_constants import CreateDisposition

log = logging.getLogger("sofs.volumes")
_SCAVENGER: dict[int, asyncio.Task[None]] = {}


def _delete_path(vfs: Any, path: str) -> None:
    """Remove ``path`` through the VFS (a delete-on-close whose handle is gone)."""
    try:
        h, _ = vfs.open(path, CreateDisposition.OPEN, 0, 0)
    except Exception as e:  # noqa: BLE001 - already gone: nothing to do
        log.debug("delete of %s: %s", path, e)
        return
    try:
        vfs.delete(h)
    finally:
        vfs.close(h)


def build_coordinator(name: str, root: str, vfs: Any, *, ca: bool, epoch: int = 0,
                      may_act: Callable[[], bool] | None = None,
                      clock: Callable[[], int] = time.monotonic_ns,
                      stats: HandleStats | None = None) -> VolumeCoordinator:
    """A coordinator for the volume at ``root``. On a continuously available volume the journal in
    ``<root>/.sofs/journal`` is replayed first: every persistent open comes back **disconnected**
    (its CA timeout counts from now) with its locks, lease and sequences, and the journal restarts
    at a higher epoch (``epoch``, or the journal's + 1), which fences any previous writer."""
    deleter = functools.partial(run_fs, _delete_path, vfs)

    async def delete_path(path: str) -> None:
        await deleter(path)

    if not ca:
        # a journal-less volume: persistent ids still carry a start-unique epoch
        table = OpenTable(epoch=epoch or (int.from_bytes(os.urandom(3), "little") | 1))
        return VolumeCoordinator(name, table, clock=clock, may_act=may_act, delete_path=delete_path, stats=stats)
    table = OpenTable()
    journal = PersistentHandleJournal(journal_dir(root), 1, lambda: snapshot_records(table), stats=stats)
    res = journal.load()
    journal.epoch = table.epoch = max(epoch, res.epoch + 1)
    table.replay(res.entries)
    journal.start()  # new generation, new epoch: fences a previous writer, drops a torn tail
    c = VolumeCoordinator(name, table, journal=journal, clock=clock, may_act=may_act, delete_path=delete_path,
                          stats=stats)
    restored = c.restore()
    if restored:
        log.info("volume %s: %d persistent open(s) restored from the journal (epoch %d)",
                 name, restored, table.epoch)
    return c


def attach_standalone(server: ServerState, share: Any) -> VolumeClient:
    """A standalone share: its own volume, coordinated in this process."""
    name = share.name.lower()
    coord = build_coordinator(name, share.config.path, share.vfs, ca=bool(share.config.continuously_available),
                              stats=server.stats.handles)
    vol = local_volume(server, name, coord, server.node_name)
    server.coordinators[name] = coord
    server.volumes[name] = vol
    start_scavenger(server)
    return vol


def start_scavenger(server: ServerState) -> None:
    """One scavenger per server: expired disconnected opens of the volumes it coordinates close,
    the open-file listing is published, Close-SmbOpenFile requests are served."""
    task = _SCAVENGER.get(id(server))
    if task is not None and not task.done():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    async def tick() -> int:
        n = 0
        for c in list(server.coordinators.values()):
            n += await c.close_expired()
        return n + await serve_close_requests(server)

    _SCAVENGER[id(server)] = loop.create_task(run_scavenger(tick, after_tick=lambda: write_status(server)))
