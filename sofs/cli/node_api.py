"""A node's management faces: the REST API + dashboard over HTTPS, ``/metrics``, and the event recorder.

Composed here (the CLI layer may import every layer): the API's services are the cmdlets' services
over the node's own store connection; the metrics read the node's SMB server (when it runs one), its
agent and its event recorder.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from sofs.cluster.client import ClusterClient
from sofs.cluster.config import ClusterConfig
from sofs.config import ServerConfig, load_config
from sofs.management.clusterlog import ClusterLogService
from sofs.management.logs_gather import LogResponder
from sofs.management.metrics import MetricSources, registry_for
from sofs.management.node_events import EventRecorder
from sofs.management.rest.app import ApiServices, make_app
from sofs.management.rest.tls import server_context, tls_paths
from sofs.management.services.accounts import AccountService
from sofs.management.services.cluster import ClusterService
from sofs.management.services.openfiles import OpenFileService
from sofs.management.services.sessions import SmbSessionService
from sofs.management.services.shares import ShareService

log = logging.getLogger("sofs.node.api")
STATIC = Path(__file__).resolve().parent.parent / "management" / "web"


def smb_sources(node: str, server: Any) -> dict[str, Any]:
    """The SMB server's parts of :class:`MetricSources` (``server``: a ``ServerState``): its own
    counters, plus its worker processes' when it has some (their last reports, at most a second old)."""
    from sofs.handlers.handles_status import open_kinds
    from sofs.handlers.handles_status import open_rows as rows_of
    from sofs.server.workers import MainPeers, WorkerCounts

    def workers() -> MainPeers | None:
        return server.workers if isinstance(server.workers, MainPeers) else None

    def stats() -> Any:
        peers = workers()
        return peers.request_stats() if peers is not None else server.stats

    def others() -> WorkerCounts:
        peers = workers()
        return peers.counts() if peers is not None else WorkerCounts([], 0, 0, {})

    def kinds() -> dict[str, int]:
        out = open_kinds(rows_of(server))
        for k, n in others().opens.items():
            out[k] = out.get(k, 0) + n
        return out
    return {"stats": stats, "sessions": lambda: len(server.sessions) + others().sessions,
            "connections": lambda: len(server.connections) + others().connections, "open_kinds": kinds}


def api_services(cfg: ClusterConfig, store: Any, registry: Any = None) -> ApiServices:
    smb = cfg.state_dir / "smb.toml"
    domain_sid = (load_config(smb) if smb.exists() else ServerConfig()).domain_sid
    vroot = str(cfg.state_dir / "ClusterStorage")
    shares = ShareService(store, prefix=cfg.prefix, state_dir=cfg.state_dir)
    client = ClusterClient(store, cfg.prefix, volume_root=vroot, store_description=f"{cfg.backend}:{cfg.state_dir}")
    return ApiServices(ClusterService(client), shares, OpenFileService(shares, cfg.state_dir),
                       AccountService(store, prefix=cfg.prefix, domain_sid=domain_sid), cfg.state_dir, registry,
                       SmbSessionService(client), ClusterLogService(cfg.state_dir, client, timeout=3.0))


async def run_node_api(name: str, address: str, cfg: ClusterConfig, store: Any, agent: Any,
                       smb_server: Any = None) -> None:
    """Record events, and serve the API on ``address:cfg.api_port`` until cancelled."""
    recorder = EventRecorder(name, cfg.state_dir, store, cfg.prefix, agent,
                             handles=smb_server.stats.handles if smb_server is not None else None)
    rec_task = asyncio.create_task(recorder.run(), name=f"events-{name}")
    responder = asyncio.create_task(LogResponder(name, cfg.state_dir, store, cfg.prefix).run(), name=f"logs-{name}")
    runner: web.AppRunner | None = None
    try:
        if cfg.api_port:
            extra = smb_sources(name, smb_server) if smb_server is not None else {}
            registry = registry_for(MetricSources(name, agent=agent, recorder=recorder, **extra))
            app = make_app(api_services(cfg, store, registry), STATIC if STATIC.is_dir() else None)
            cert, key = (cfg.tls_cert, cfg.tls_key) if cfg.tls_cert else tls_paths(cfg.state_dir)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, address, cfg.api_port, ssl_context=server_context(cert, key))
            await site.start()
            log.info("%s: management API on https://%s:%d/", name, address, cfg.api_port)
        await rec_task
    finally:
        rec_task.cancel()
        responder.cancel()
        if runner is not None:
            await runner.cleanup()
