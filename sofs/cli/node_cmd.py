"""``sofs node --name n1 [--address 127.0.0.11] [--state-dir DIR]``: run one cluster node process.

Runs the :class:`~sofs.cluster.agent.NodeAgent` (heartbeat, quorum, group ownership) against the
cluster found through :func:`sofs.cluster.config.load_cluster_config`, the SMB server
(:class:`sofs.server.node_smb.NodeSmb`, unless ``--no-smb``), and the management faces
(:mod:`sofs.cli.node_api`: event recorder, and the HTTPS API + dashboard + ``/metrics`` when the
cluster configuration names an ``api_port``).
The node also runs its coordinator link server (:mod:`sofs.server.coordlink_server`, on the node's address at
``NodeRecord.link_port``; a node that picked a free port writes it into its record).
SIGTERM/SIGINT = clean leave (groups handed back, dynamic vote given up); SIGKILL = a node failure.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from sofs.cluster.agent import NodeAgent
from sofs.cluster.client import ClusterClient
from sofs.cluster.config import ClusterConfig, load_cluster_config
from sofs.cluster.model import Keys, NodeRecord, decode
from sofs.cluster.role_node import run_role_services
from sofs.cluster.store import ClusterStore
from sofs.config import ConfigError
from sofs.server.coordlink_server import LinkServer

log = logging.getLogger("sofs.node")


@dataclass(frozen=True, slots=True)
class NodeContext:
    """What a node's SMB server gets: who it is, the agent to ask about ownership, the store."""

    name: str
    address: str
    agent: NodeAgent
    store: ClusterStore
    config: ClusterConfig
    state_dir: Path
    smb_port: int = 445
    addresses: tuple[str, ...] = ()
    """Every client-access address of the node (``address`` first; multichannel)."""
    link: LinkServer | None = None
    """Where the node registers the volumes it coordinates (serving processes of other nodes connect)."""
    cluster: ClusterClient | None = None
    """The cluster's records (the SMB side creates a cluster volume's group through it)."""
    link_secret: bytes = b""
    """The secret the coordinator links of this cluster authenticate with."""
    node_id: int = 0
    """The node's id in the cluster (``NodeRecord.id``; session ids carry it)."""


async def start_link(store: ClusterStore, prefix: str, rec: NodeRecord, address: str) -> LinkServer:
    """The node's coordinator link server, listening; its port published in the node record."""
    client = ClusterClient(store, prefix)
    link = LinkServer(await client.link_secret())
    port = await link.start(address, rec.link_port)
    if port != rec.link_port:
        await client.set_link_port(rec.name, port)
    return link


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sofs node", description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--address", default=None, help="default: the address in the node's cluster record")
    p.add_argument("--state-dir", default=None, help="cluster state dir (default $SOFS_CLUSTER_DIR or ./.sofs-cluster)")
    p.add_argument("--no-smb", action="store_true", help="run the cluster agent only")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def node_main(args: argparse.Namespace) -> int:
    cfg = load_cluster_config(args.state_dir)
    if cfg is None:
        print("sofs node: no cluster configuration found (run `sofs cluster up` or set SOFS_CLUSTER_DIR)",
              file=sys.stderr)
        return 2
    store = await cfg.open_store()
    keys = Keys(cfg.prefix)
    kv = await store.get(keys.node(args.name))
    if kv is None:
        print(f"sofs node: {args.name!r} is not a member of cluster {cfg.name!r} (Add-ClusterNode first)",
              file=sys.stderr)
        await store.close()
        return 2
    rec = decode(NodeRecord, kv.value)
    address = args.address or rec.address
    addresses = [address, *(a for a in rec.extra_addresses if a != address)]
    agent = NodeAgent(store, args.name, address, prefix=cfg.prefix,
                      on_fence=lambda why: log.warning("%s fenced: %s", args.name, why))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await agent.start()
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(
        run_role_services(agent, addresses, rec.dns_port), name=f"roles-{args.name}")]
    if cfg.storage == "ceph":  # this node's Ceph sessions carry its name; dead nodes' are evicted
        from sofs.server.storage_fence import StorageFence, run_storage_fencing
        from sofs.vfs.mounts import set_session_tag
        set_session_tag(args.name)
        fence = StorageFence(agent, store, cfg.prefix, args.name, Path(cfg.state_dir) / "ClusterStorage")
        tasks.append(asyncio.create_task(run_storage_fencing(fence), name=f"fence-{args.name}"))
    smb_server = None
    link: LinkServer | None = None
    if not args.no_smb:
        from sofs.server.node_smb import NodeSmb

        try:
            link = await start_link(store, cfg.prefix, rec, address)
        except OSError as e:
            print(f"sofs node: cannot listen for coordinator links on {address}:{rec.link_port}: {e}",
                  file=sys.stderr)
            await agent.stop(leave=True)
            await store.close()
            return 2
        client = ClusterClient(store, cfg.prefix)
        try:
            smb = NodeSmb(NodeContext(args.name, address, agent, store, cfg, cfg.state_dir, rec.smb_port,
                                      tuple(addresses), link, client, await client.link_secret(), rec.id))
        except ConfigError as e:
            print(f"sofs node: {e}", file=sys.stderr)
            await link.close()
            await agent.stop(leave=True)
            await store.close()
            return 2
        smb_server = smb.server
        tasks.append(asyncio.create_task(smb.run(), name=f"smb-{args.name}"))
    if rec.witness_port:
        from sofs.cli.witness_node import run_witness
        tasks.append(asyncio.create_task(run_witness(agent, addresses, rec.witness_port, smb_server),
                                         name=f"witness-{args.name}"))
    from sofs.cli.node_api import run_node_api
    tasks.append(asyncio.create_task(run_node_api(args.name, address, cfg, store, agent, smb_server),
                                     name=f"api-{args.name}"))
    log.info("%s: node agent running at %s (cluster %s, store %s)", args.name, address, cfg.name, cfg.backend)
    await stop.wait()
    log.info("%s: leaving the cluster cleanly", args.name)
    for t in tasks:
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    if link is not None:
        await link.close()
    await agent.stop(leave=True)
    await store.close()
    return 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        import uvloop  # the same loop as `sofs serve` (a listed dependency; stdlib asyncio if absent)
    except ImportError:
        return asyncio.run(node_main(args))
    return uvloop.run(node_main(args))
