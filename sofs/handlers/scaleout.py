"""Shares of a Scale-Out File Server role: what they claim and the caching grants they make.

A share belongs to the role when its ``scope_name`` names the role and the server is a cluster node.
Only such a share

- is listed by srvsvc with the scale-out cluster share type ([MS-SRVS] 2.2.2.4 ``STYPE_CLUSTER_SOFS``);
- answers TREE_CONNECT with ``SMB2_SHARE_CAP_SCALEOUT | SMB2_SHARE_CAP_CLUSTER`` ([MS-SMB2] 2.2.10; the
  Witness service watches it), plus ``CONTINUOUS_AVAILABILITY`` when CA (SMB 3.x);
- gets the scale-out caching rule of [MS-SMB2] 3.3.5.9: a file is open on several nodes at once, so no
  node grants what only one holder may cache. A batch or exclusive oplock request is treated as a
  level II request, and a lease request as a read-caching one (no handle or write caching). A durable
  handle then comes only as a persistent one (a durable v1/v2 request needs a batch oplock or a handle
  lease), which is what Windows grants on a scale-out share and what smbtorture's ``share_is_so``
  branches of smb2.replay and smb2.durable-v2-open expect.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from sofs.wire.constants import Dialect, LeaseState, OplockLevel, ShareCaps

STYPE_DISKTREE = 0x00000000
STYPE_CLUSTER_SOFS = 0x04000000  # [MS-SRVS] 2.2.2.4


def is_scaleout(cfg: Any, clustered: bool) -> bool:
    """Does this share belong to a Scale-Out File Server role (on a cluster node)?"""
    scope = getattr(cfg, "scope_name", "*") or "*"
    return clustered and scope != "*"


def share_type(cfg: Any, clustered: bool) -> int:
    """NetShareEnum/NetShareGetInfo ``type`` of a disk share."""
    return STYPE_DISKTREE | (STYPE_CLUSTER_SOFS if is_scaleout(cfg, clustered) else 0)


def share_capabilities(cfg: Any, dialect: int, clustered: bool) -> int:
    """TREE_CONNECT response Capabilities ([MS-SMB2] 3.3.5.7)."""
    caps = 0
    if cfg.continuously_available and dialect >= Dialect.SMB3_0:
        caps |= ShareCaps.CONTINUOUS_AVAILABILITY
    if is_scaleout(cfg, clustered) and dialect >= Dialect.SMB3_0:
        caps |= ShareCaps.SCALEOUT | ShareCaps.CLUSTER
    return int(caps)


def scaleout_grant(requested_oplock: int, lease_state: int | None) -> tuple[int, int | None]:
    """The caching a scale-out share may grant for a CREATE that asked for ``requested_oplock`` (and, with a
    lease, ``lease_state``): (oplock level to process, lease state to process). Pure."""
    if requested_oplock in (OplockLevel.BATCH, OplockLevel.EXCLUSIVE):
        requested_oplock = OplockLevel.II
    if lease_state is not None:
        lease_state &= LeaseState.READ_CACHING
    return int(requested_oplock), lease_state


def downgrade_create(req: Any, contexts: Any) -> tuple[Any, Any]:
    """Apply :func:`scaleout_grant` to a CREATE request and its parsed lease context (the one caller)."""
    lease = contexts.lease
    oplock, state = scaleout_grant(req.requested_oplock_level, lease.lease_state if lease is not None else None)
    if oplock != req.requested_oplock_level:
        req = dataclasses.replace(req, requested_oplock_level=oplock)
    if lease is not None and state != lease.lease_state:
        contexts.lease = dataclasses.replace(lease, lease_state=state)
    return req, contexts
