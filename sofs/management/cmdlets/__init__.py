"""Cmdlets, one module per noun group; importing this package registers all of them."""
from __future__ import annotations

from sofs.management.cmdlets import (  # noqa: F401
    accounts,
    builtin,
    cluster,
    cluster_group,
    cluster_node,
    csv,
    domain,
    drill,
    quorum,
    smb_openfile,
    smb_session,
    smb_share,
    smb_witness,
    sofs_role,
    storage,
    test_cluster,
)
from sofs.management.cmdlets.base import REGISTRY, CmdletSpec, Context, Rendered, cmdlet, lookup

__all__ = ["REGISTRY", "CmdletSpec", "Context", "Rendered", "cmdlet", "lookup"]
