"""Find the running cluster and build the management services for it (used by the CLI).

Adapter over the cluster core: ``sofs.cluster.config.load_cluster_config()`` says where the running
cluster's store is; ``sofs.cluster.client.ClusterClient`` talks to it. Anything missing or unreachable
becomes a ManagementError (category ConnectionError) naming what to do.
"""
from __future__ import annotations

import inspect
from typing import Any

from sofs.management.errors import ManagementError


async def open_cluster_client() -> Any:
    try:
        from sofs.cluster.client import ClusterClient  # type: ignore[import-not-found,unused-ignore]
        from sofs.cluster.config import load_cluster_config  # type: ignore[import-not-found,unused-ignore]
    except ImportError as e:
        raise ManagementError(f"The cluster client is not available ({e}).", "NotImplemented") from e
    cfg = load_cluster_config()
    if inspect.isawaitable(cfg):
        cfg = await cfg
    if cfg is None:
        raise ManagementError("No running cluster was found. Start one with `sofs cluster up 3`, or point "
                              "SOFS_CLUSTER_CONFIG at a cluster configuration.", "ConnectionError")
    try:
        client = await _construct(ClusterClient, cfg)
    except OSError as e:
        raise ManagementError(f"Cannot reach the cluster store: {e}", "ConnectionError") from e
    return client


async def _construct(cls: Any, cfg: Any) -> Any:
    """Build a client from a ClusterConfig, whichever constructor the core offers."""
    for name in ("from_config", "connect", "open"):
        factory = getattr(cls, name, None)
        if factory is not None:
            client = factory(cfg)
            return await client if inspect.isawaitable(client) else client
    store = await cfg.open_store()
    try:
        return cls(store, prefix=cfg.prefix)
    except TypeError:
        return cls(store)


async def default_service_factory(kind: str) -> Any:
    """``"cluster"`` -> ClusterService over the running cluster; ``"shares"`` -> ShareService."""
    if kind == "cluster":
        from sofs.management.services.cluster import ClusterService
        return ClusterService(await open_cluster_client())
    if kind == "shares":
        from sofs.management.services.shares import ShareService
        client = await open_cluster_client()
        keys = getattr(client, "keys", None)
        return ShareService(getattr(client, "store", client), prefix=getattr(keys, "prefix", "/sofs/"))
    if kind == "witness":
        from sofs.management.services.witness import WitnessClientService
        return WitnessClientService(await open_cluster_client())
    if kind == "openfiles":
        from sofs.cluster.config import load_cluster_config  # type: ignore[import-not-found,unused-ignore]
        from sofs.management.services.openfiles import OpenFileService

        cfg = load_cluster_config()
        if cfg is None:
            raise ManagementError("No running cluster was found. Start one with `sofs cluster up 3`, or point "
                                  "SOFS_CLUSTER_CONFIG at a cluster configuration.", "ConnectionError")
        return OpenFileService(await default_service_factory("shares"), cfg.state_dir)
    raise ManagementError(f"Unknown service '{kind}'.", "NotImplemented")
