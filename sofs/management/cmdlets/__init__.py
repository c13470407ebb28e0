"""Cmdlets, one module per noun group; importing this package registers all of them."""
from __future__ import annotations

from sofs.management.cmdlets import builtin, cluster, cluster_group, cluster_node, quorum, test_cluster  # noqa: F401
from sofs.management.cmdlets.base import REGISTRY, CmdletSpec, Context, Rendered, cmdlet, lookup

__all__ = ["REGISTRY", "CmdletSpec", "Context", "Rendered", "cmdlet", "lookup"]
