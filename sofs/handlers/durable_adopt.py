"""Adopting a dead cluster node's persistent handles, so its clients reconnect to a surviving node.

docs/DESIGN.md, "State that must survive": *node dies, client reconnects to another node →
persistent handles, locks, leases*. Until volumes have a coordinator, each node journals its own
persistent opens in ``<share>/.sofs/journal/<node>`` (:func:`sofs.handlestate.journal.journal_dir`).
When the cluster declares a node down, the adopter (:func:`sofs.cluster.adopt.journals_to_adopt`)
calls :func:`adopt_node` for each continuously available share:

1. **claim**: rename ``journal/<dead>`` to ``journal/<dead>.adopted-by-<me>.<ns>`` — atomic on the
   volume, so a second would-be adopter, or the dead node coming back, finds no journal to load;
2. **load** the claimed journal (epoch fencing, torn tail dropped) into a scratch table;
3. **re-journal** every persistent open — with its byte-range locks, lease, channel and lock
   sequences, delete-pending state — into this node's table and journal, committed before the opens
   become visible (so a second failure loses nothing), and bring each open back **disconnected**, as
   a restart does (:func:`sofs.handlers.durable_state.restore`): its share modes, locks and lease are
   held against other clients until its owner reconnects with DH2C ([MS-SMB2] 3.3.5.9.12) or the CA
   timeout, counted from the adoption, runs out;
4. remove the claimed directory.

Persistent ids (the FileId halves clients reconnect with) come from each server's open registry: a
random 32-bit prefix per process start above a counter (``sofs.handlers.opens.OpenRegistry``), so two
nodes' ids collide with probability 2^-32; should one collide, the adoption is refused and logged and
the claimed journal stays on the volume (no open is merged into another).
Not covered yet: share modes between live opens on different nodes (no coordinator), and a client
of the dead node whose reconnect reaches a node other than the adopter (it gets
OBJECT_NAME_NOT_FOUND, as for an expired handle).
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sofs.handlers import durable_state as ds
from sofs.handlestate import records as R
from sofs.handlestate.journal import ADOPTED_MARK, journal_dir, load_dir, snapshot_records
from sofs.handlestate.table import OpenTable

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.durable.adopt")


def claim(share_root: str, dead: str, me: str) -> Path | None:
    """Rename the dead node's journal directory out of its way; None when there is none to take."""
    src = journal_dir(share_root, dead)
    if not src.is_dir():
        return None
    dst = src.with_name(f"{dead}{ADOPTED_MARK}{me}.{time.time_ns()}")
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        return None  # another node claimed it first
    return dst


async def adopt_node(server: ServerState, share: Any, dead: str) -> int:
    """Adopt the persistent opens ``dead`` journaled for ``share``; returns how many came over."""
    me = str(server.extensions.get("node_name") or "")
    if not share.config.continuously_available or not me or dead == me:
        return 0
    claimed = claim(share.config.path, dead, me)
    if claimed is None:
        return 0
    res = load_dir(claimed)
    scratch = OpenTable(epoch=res.epoch)
    scratch.replay(res.entries)
    v = ds.volume(server, share)
    moved = [o for o in scratch.opens_by_persistent.values() if o.persistent]
    taken = [o.persistent_id for o in moved if o.persistent_id in v.table.opens_by_persistent]
    if taken:  # a 2^-32 collision of the random id prefixes: refuse rather than merge two opens
        log.error("share %s: persistent ids %s of %s already in use here; journal left at %s",
                  share.name, taken, dead, claimed)
        return 0
    now = ds.clock(server)
    for rec in snapshot_records(scratch):
        v.table.apply(rec)
    for o in moved:
        if v.table.opens_by_persistent[o.persistent_id].disconnected_at is None:
            v.table.apply(R.OpenDisconnected(o.persistent_id, now))
    await v.commit()  # durable here before the old journal goes and before clients can reconnect
    for o in moved:
        hop = v.table.opens_by_persistent[o.persistent_id]
        hop.disconnected_at = now  # the other node's monotonic clock means nothing here
        ds.bring_back(server, share, v, hop)
    shutil.rmtree(claimed, ignore_errors=True)
    if moved:
        log.warning("share %s: adopted %d persistent open(s) of node %s (fenced at epoch %d)",
                    share.name, len(moved), dead, res.epoch)
    return len(moved)


async def adopt_all(server: ServerState, dead: str) -> int:
    """:func:`adopt_node` on every continuously available share of ``server``."""
    n = 0
    for share in list(server.shares.values()):
        try:
            n += await adopt_node(server, share, dead)
        except OSError:
            log.exception("share %s: adopting the journal of %s failed", share.name, dead)
    return n
