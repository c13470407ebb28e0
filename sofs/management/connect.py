"""Find the running cluster and build the management services for it (used by the CLI).

Adapter over the cluster core: ``sofs.cluster.config.load_cluster_config()`` says where the running
cluster's store is; ``sofs.cluster.client.ClusterClient`` talks to it. Anything missing or unreachable
becomes a ManagementError (category ConnectionError) naming what to do.
"""
from __future__ import annotations

import inspect
import os
from typing import Any

from sofs.management.errors import ManagementError

NOT_FOUND = ("No cluster was found (looked at $SOFS_CLUSTER_CONFIG, $SOFS_CLUSTER_DIR, then ./.sofs-cluster). "
             "Start one with `sofs cluster up 3`, or name it with -Cluster <state directory>.")


def find_cluster(cluster: str | None = None) -> Any:
    """The ``ClusterConfig`` to act on: ``cluster`` is a state directory (or its ``cluster.json``), or the
    name of the cluster the environment points at; None = the environment's (see
    :mod:`sofs.cluster.config`)."""
    from sofs.cluster.config import CONFIG_FILE, load_cluster_config
    if cluster is None:
        cfg = load_cluster_config()
        if cfg is None:
            raise ManagementError(NOT_FOUND, "ConnectionError")
        return cfg
    path = cluster.removesuffix(CONFIG_FILE)
    if os.path.isdir(path):
        cfg = load_cluster_config(path)
        if cfg is None:
            raise ManagementError(f"'{cluster}' holds no cluster ({CONFIG_FILE} is missing).", "ObjectNotFound",
                                  cluster)
        return cfg
    cfg = load_cluster_config()
    if cfg is not None and cfg.name.lower() == cluster.lower():
        return cfg
    known = f" (the environment points at cluster '{cfg.name}')" if cfg is not None else ""
    raise ManagementError(f"The cluster '{cluster}' was not found{known}. Give its state directory to -Cluster.",
                          "ObjectNotFound", cluster)


async def open_cluster_client(cluster: str | None = None) -> Any:
    try:
        from sofs.cluster.client import ClusterClient  # type: ignore[import-not-found,unused-ignore]
    except ImportError as e:
        raise ManagementError(f"The cluster client is not available ({e}).", "NotImplemented") from e
    cfg = find_cluster(cluster)
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


def _state_dir(client: Any) -> str | None:
    root = getattr(client, "volume_root", None)
    return os.path.dirname(root) if root else None


async def _domain_sid(cluster: str | None) -> str:
    """The machine domain SID the nodes' SMB servers use (``smb.toml``'s, or the default)."""
    from sofs.config import ServerConfig, load_config
    path = find_cluster(cluster).state_dir / "smb.toml"
    return (load_config(path) if path.exists() else ServerConfig()).domain_sid


async def default_service_factory(kind: str, cluster: str | None = None) -> Any:
    """``"cluster"`` -> ClusterService over the running cluster; ``"shares"`` -> ShareService.
    ``cluster``: the ``-Cluster`` argument (:func:`find_cluster`)."""
    if kind == "cluster":
        from sofs.management.services.cluster import ClusterService
        return ClusterService(await open_cluster_client(cluster))
    if kind == "shares":
        from sofs.management.services.shares import ShareService
        client = await open_cluster_client(cluster)
        keys = getattr(client, "keys", None)
        return ShareService(getattr(client, "store", client), prefix=getattr(keys, "prefix", "/sofs/"),
                            state_dir=_state_dir(client))
    if kind == "drill":
        from sofs.management.drill.service import DrillService
        from sofs.management.services.cluster import ClusterService
        cfg = find_cluster(cluster)
        return DrillService(cfg, ClusterService(await open_cluster_client(cluster)),
                            await default_service_factory("shares", cluster))
    if kind == "clusterlog":
        from sofs.management.clusterlog import ClusterLogService
        return ClusterLogService(find_cluster(cluster).state_dir, await open_cluster_client(cluster))
    if kind == "accounts":
        from sofs.management.services.accounts import AccountService
        client = await open_cluster_client(cluster)
        return AccountService(client.store, prefix=client.keys.prefix, domain_sid=await _domain_sid(cluster))
    if kind == "witness":
        from sofs.management.services.witness import WitnessClientService
        return WitnessClientService(await open_cluster_client(cluster))
    if kind == "sessions":
        from sofs.management.services.sessions import SmbSessionService

        return SmbSessionService(await open_cluster_client(cluster))
    if kind == "domain":
        from sofs.management.services.domain import DomainService

        return DomainService(await open_cluster_client(cluster))
    if kind == "openfiles":
        from sofs.management.services.openfiles import OpenFileService

        cfg = find_cluster(cluster)
        return OpenFileService(await default_service_factory("shares", cluster), cfg.state_dir)
    if kind == "storage":
        from sofs.management.services.storage import StorageService

        cfg = find_cluster(cluster)
        return StorageService(cfg.state_dir, cfg.storage, cfg.name, list(cfg.nodes))
    raise ManagementError(f"Unknown service '{kind}'.", "NotImplemented")
