"""Where a running cluster is, and how to open its store: ``cluster.json`` in the cluster state dir.

How every tool (``sofs cluster ...``, ``sofs node``, the cmdlets, REST) finds the cluster, first hit
wins:

1. ``SOFS_CLUSTER_CONFIG``: path of a ``cluster.json`` file;
2. the ``state_dir`` argument (``--state-dir``);
3. ``SOFS_CLUSTER_DIR``: the cluster state directory;
4. ``./.sofs-cluster`` (the default state directory of ``sofs cluster up``).

``cluster.json``::

    {"name": "c1", "backend": "embedded", "prefix": "/sofs/",
     "etcd_endpoints": [], "nodes": {"n1": {"address": "127.0.0.11", "pid": 1234}, ...},
     "storage": "local"}

``storage`` is ``local`` (volumes are directories under ``ClusterStorage/``) or ``ceph`` (the cluster's
private Ceph in ``ceph/``, see ``sofs.storage``).

The embedded backend keeps its database as ``store.sqlite`` in the same directory; ``backend: etcd``
names ``etcd_endpoints`` instead. Node process ids and logs (``<node>.log``) live there too.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sofs.cluster.model import DEFAULT_PREFIX
from sofs.cluster.store import ClusterStore

CONFIG_FILE = "cluster.json"
DEFAULT_DIR = ".sofs-cluster"
ENV_CONFIG = "SOFS_CLUSTER_CONFIG"
ENV_DIR = "SOFS_CLUSTER_DIR"


@dataclass(frozen=True, slots=True)
class NodeProcess:
    address: str
    pid: int = 0


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    state_dir: Path
    name: str = ""
    backend: str = "embedded"
    prefix: str = DEFAULT_PREFIX
    etcd_endpoints: tuple[str, ...] = ()
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    api_port: int = 0
    """HTTPS port of every node's management API and dashboard (0: none)."""
    tls_cert: str = ""
    """The API's certificate and key files; "" = ``<state dir>/tls/`` (self-signed at creation)."""
    tls_key: str = ""
    storage: str = "local"  # local (directories of this machine) | ceph (the cluster's private Ceph)
    workers: int = 0
    """SMB processes of each node (``sofs cluster up --workers W``); 0: smb.toml's ``workers``, else one
    (sofs.server.node_smb.node_workers)."""

    @property
    def path(self) -> Path:
        return self.state_dir / CONFIG_FILE

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "backend": self.backend, "prefix": self.prefix,
            "etcd_endpoints": list(self.etcd_endpoints), "storage": self.storage,
            "nodes": {n: dataclasses.asdict(p) for n, p in self.nodes.items()},
            "api_port": self.api_port, "tls_cert": self.tls_cert, "tls_key": self.tls_key,
            "workers": self.workers,
        }

    @classmethod
    def from_json(cls, state_dir: Path, d: dict[str, Any]) -> ClusterConfig:
        return cls(
            state_dir=state_dir, name=str(d.get("name", "")), backend=str(d.get("backend", "embedded")),
            prefix=str(d.get("prefix", DEFAULT_PREFIX)),
            etcd_endpoints=tuple(d.get("etcd_endpoints", ())),
            nodes={n: NodeProcess(str(p.get("address", "")), int(p.get("pid", 0)))
                   for n, p in dict(d.get("nodes", {})).items()},
            api_port=int(d.get("api_port", 0)), tls_cert=str(d.get("tls_cert", "")),
            tls_key=str(d.get("tls_key", "")),
            storage=str(d.get("storage", "local")), workers=int(d.get("workers", 0)),
        )

    async def open_store(self) -> ClusterStore:
        """A new client of this cluster's store."""
        if self.backend == "embedded":
            from sofs.cluster.store_embedded import EmbeddedStore
            return await EmbeddedStore.open(self.state_dir)
        if self.backend == "etcd":
            from sofs.cluster.store_etcd import open_etcd_store
            return await open_etcd_store(list(self.etcd_endpoints))
        raise ValueError(f"unknown cluster store backend {self.backend!r} in {self.path}")


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """The state directory to use (no config file needed): argument, $SOFS_CLUSTER_DIR, ./.sofs-cluster."""
    if state_dir is not None:
        return Path(state_dir).absolute()
    env = os.environ.get(ENV_DIR)
    return Path(env).absolute() if env else Path(DEFAULT_DIR).absolute()


def load_cluster_config(state_dir: str | os.PathLike[str] | None = None) -> ClusterConfig | None:
    """The configuration of the cluster to talk to, or None when there is none (see module docstring)."""
    env = os.environ.get(ENV_CONFIG)
    path = Path(env).absolute() if env and state_dir is None else resolve_state_dir(state_dir) / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return ClusterConfig.from_json(path.parent, data)


def write_cluster_config(cfg: ClusterConfig) -> None:
    """Atomically (rename) write ``cluster.json``."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = cfg.path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, cfg.path)
