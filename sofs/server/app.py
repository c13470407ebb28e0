"""Start an SMB server: build the server state from the configuration and open the listeners.

``build_state(cfg)`` is pure set-up (users, acceptor, shares with their VFS and open tables);
``run(cfg)`` is the asyncio part: listeners, signal handling and a clean shutdown in which
in-flight requests are answered before the connections close.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sofs.auth.ntlm_rawblob  # noqa: F401  (NTLMv2 over the raw client blob; see module doc)
from sofs.auth.kerberos import KerberosAcceptor
from sofs.auth.ntlm import NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry
from sofs.config import ServerConfig
from sofs.handlers.opens import settle
from sofs.server.connection import SmbConnection
from sofs.server.state import ServerState, Share
from sofs.server.volumes import attach_standalone, start_scavenger

log = logging.getLogger("sofs.server")



def tune_malloc() -> None:
    """Avoid glibc heap trimming/mmap churn for MiB-sized buffers (see MEASURED.md, 'malloc trap')."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def make_share(server: ServerState, cfg: Any, standalone: bool = True) -> Share:
    """A share with its VFS (a local directory, or CephFS below a Ceph mount point); a standalone
    share is a volume of its own, coordinated in-process (a cluster node attaches its shares to the
    cluster's volumes instead)."""
    from sofs.vfs.mounts import open_share_vfs

    share = Share(cfg)
    # a local directory, or CephFS below a Ceph mount point (writes through on CA shares there)
    share.vfs = open_share_vfs(cfg.path, write_through=bool(cfg.continuously_available))
    if standalone:
        share.volume = attach_standalone(server, share)
    return share


def build_state(cfg: ServerConfig, coordinate: bool = True) -> ServerState:
    """The server state of ``cfg``; ``coordinate``: each share is a volume coordinated in this process
    (False: a worker process, whose shares reach the main process's coordinators over links)."""
    users = UserDb(
        cfg.domain_sid,
        [UserEntry(u.name, u.password, u.nt_hash, u.rid, tuple(u.groups)) for u in cfg.users],
        groups=[g for u in cfg.users for g in u.groups],
    )
    server = ServerState(cfg, users=users)
    # Null sessions are accepted as Windows and Samba do by default: they reach IPC$ (and shares with
    # guest_ok) only, tree.py decides; guest mapping of unknown users stays behind guest_ok.
    kerberos = KerberosAcceptor(cfg.kerberos_keytab) if cfg.kerberos_keytab else None  # issue 18
    if cfg.domain_membership:
        from sofs.domain.membership import install, load

        keytab, users.directory = install(load(cfg.domain_membership), Path(cfg.domain_membership).parent)
        kerberos = KerberosAcceptor(str(keytab))
    server.acceptor = NtlmAcceptor(users, cfg.domain, cfg.server_name, allow_anonymous=True,
                                   map_unknown_to_guest=False, kerberos=kerberos)
    from sofs.handlers.session import preauth_on_wire

    server.extensions["preauth_hook"] = preauth_on_wire
    for s in cfg.shares:
        server.add_share(make_share(server, s, standalone=coordinate))
    return server


async def start_listeners(server: ServerState) -> list[asyncio.base_events.Server]:
    loop = asyncio.get_running_loop()
    listeners = []
    for host, port in server.config.listen:
        srv = await loop.create_server(lambda: SmbConnection(server), host, port, reuse_address=True,
                                       backlog=512)
        listeners.append(srv)
        log.info("listening on %s:%d", host, port)
    return listeners


async def serve(cfg: ServerConfig, ready: Callable[[ServerState], None] | None = None,
                stop: asyncio.Event | None = None, use_uvloop: bool = True) -> None:
    tune_malloc()
    server = build_state(cfg)
    start_scavenger(server)
    from sofs.server.workers import Supervisor, worker_count

    supervisor = None
    listeners = []
    count = worker_count(cfg)
    if count > 1 or cfg.dedicated_coordinator:  # dedicated: even one worker is a process of its own
        supervisor = Supervisor(server, count, dedicated=cfg.dedicated_coordinator, uvloop=use_uvloop,
                                log_level=logging.getLogger().getEffectiveLevel())
        try:
            await supervisor.start()
        except BaseException:
            await supervisor.stop()
            raise
    else:
        listeners = await start_listeners(server)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    if ready is not None:
        ready(server)
    await stop.wait()
    log.info("shutting down")
    for srv in listeners:
        srv.close()
    if supervisor is not None:
        await supervisor.stop()
    await shutdown_connections(server)
    for srv in listeners:
        await srv.wait_closed()


async def shutdown_connections(server: ServerState, grace: float = 5.0) -> None:
    """Let in-flight requests finish (up to ``grace`` seconds), then close every connection."""
    conns = list(server.connections.values())
    tasks = [t for c in conns for t in c.tasks]
    if tasks:
        await asyncio.wait(tasks, timeout=grace)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    await asyncio.sleep(0)
    await settle(grace)  # their opens are closed (or kept for their clients) at the coordinators


def run(cfg: ServerConfig, use_uvloop: bool = True) -> None:
    if use_uvloop:
        try:
            import uvloop

            uvloop.run(serve(cfg))
            return
        except ImportError:
            pass
    asyncio.run(serve(cfg, use_uvloop=False))
