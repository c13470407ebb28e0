"""``sofs cluster up N | down | status``: an N-node embedded cluster on loopback in one command.

- ``sofs cluster up 3 [--name sofs] [--state-dir DIR] [--foreground] [--smb-port P]``: creates the embedded store in the
  state dir (default ``$SOFS_CLUSTER_DIR`` or ``./.sofs-cluster``), forms the cluster (= ``New-Cluster``
  with nodes n1..nN on 127.0.0.11..), starts one ``sofs node`` process per node (logs in
  ``DIR/<node>.log``), waits until every node is Up and prints a summary. An existing state dir is
  reused: its cluster's nodes are (re)started. ``--foreground`` stays attached; Ctrl-C stops the nodes.
  ``--smb-port P`` (default ``$SOFS_SMB_PORT``, else 445): the SMB port of every node, written into the
  node records (each node has its own loopback address, so one port serves all). Tests use it (or the
  environment variable, which also reaches ``sofs demo``) to run beside a cluster already on 445.
  ``--workers W``: SMB worker processes per node (written into the cluster configuration; default:
  smb.toml's ``workers``, else one process per node — see :func:`sofs.server.node_smb.node_workers`).
  ``--dns-port P`` (default ``$SOFS_DNS_PORT``, else none): every node answers DNS queries for the
  Scale-Out File Server roles' names on that port (``dig @127.0.0.11 -p P SOFS``). ``--witness-port P``
  (default ``$SOFS_WITNESS_PORT``): every node serves the Witness service ([MS-SWN]) on TCP port P.
- ``--storage ceph [--disks-per-node K] [--disk-size 10GB]``: the volumes live on a private Ceph of the
  cluster (``sofs.storage``): one monitor and one MDS per node, K OSDs per node on sparse files in
  ``DIR/ceph/<node>/``, the manager on the first node, all bound to the nodes' addresses; bootstrapped
  on the first ``up`` (~30 s), started again on later ones. Volumes come from
  ``Enable-ClusterStorageSpacesDirect`` + ``New-Volume``. Default ``local``: directories of this machine.
- ``sofs cluster down [--state-dir DIR] [--purge]``: SIGTERM every node (clean leave), SIGKILL after a
  timeout, then the cluster's Ceph daemons; ``--purge`` also deletes the state dir.
- ``sofs cluster status [--state-dir DIR]``: cluster, nodes and groups.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from sofs.cluster.client import ClusterClient, ClusterError
from sofs.cluster.config import (
    ClusterConfig,
    NodeProcess,
    load_cluster_config,
    resolve_state_dir,
    write_cluster_config,
)
from sofs.cluster.model import NodeState
from sofs.cluster.processes import node_alive, node_processes, start_node
from sofs.cluster.store_embedded import EmbeddedStore
from sofs.config import MAX_WORKERS
from sofs.management.rest.tls import make_self_signed

ENV_SMB_PORT = "SOFS_SMB_PORT"
ENV_API_PORT = "SOFS_API_PORT"
DEFAULT_API_PORT = 8443
ENV_DNS_PORT = "SOFS_DNS_PORT"
ENV_WITNESS_PORT = "SOFS_WITNESS_PORT"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sofs cluster", description="embedded cluster on loopback")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="form and start an N-node embedded cluster")
    up.add_argument("n", type=int)
    up.add_argument("--name", default="sofs")
    up.add_argument("--foreground", action="store_true")
    up.add_argument("--delay-ms", type=int, default=None, help="SameSubnetDelay (default 1000)")
    up.add_argument("--threshold", type=int, default=None, help="SameSubnetThreshold (default 10)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every node to be Up")
    up.add_argument("--no-smb", action="store_true", help="start the cluster agents only")
    up.add_argument("--workers", type=int, default=None, metavar="W",
                    help="SMB worker processes per node (default: smb.toml's workers, else 1)")
    up.add_argument("--storage", choices=("local", "ceph"), default=None,
                    help="volumes in local directories (default) or on the cluster's private Ceph")
    up.add_argument("--disks-per-node", type=int, default=1, help="with --storage ceph: OSDs per node")
    up.add_argument("--disk-size", default="10GB", help="with --storage ceph: size of each sparse disk file")
    env_port = os.environ.get(ENV_SMB_PORT)
    up.add_argument("--smb-port", type=int, default=int(env_port) if env_port else None,
                    help=f"SMB port of every node (default ${ENV_SMB_PORT}, else 445)")
    env_dns = os.environ.get(ENV_DNS_PORT)
    up.add_argument("--dns-port", type=int, default=int(env_dns) if env_dns else None,
                    help=f"port of every node's DNS server for the roles' names (default ${ENV_DNS_PORT}, else none)")
    env_w = os.environ.get(ENV_WITNESS_PORT)
    up.add_argument("--witness-port", type=int, default=int(env_w) if env_w else None,
                    help=f"TCP port of every node's Witness service (default ${ENV_WITNESS_PORT}, else none)")
    env_api = os.environ.get(ENV_API_PORT)
    up.add_argument("--api-port", type=int, default=int(env_api) if env_api else DEFAULT_API_PORT,
                    help=f"HTTPS port of every node's management API and dashboard (default ${ENV_API_PORT}, "
                         f"else {DEFAULT_API_PORT}; 0: none)")
    up.add_argument("--tls-cert", default="", help="the API's certificate (PEM); default: self-signed at creation")
    up.add_argument("--tls-key", default="", help="the key of --tls-cert (PEM)")
    down = sub.add_parser("down", help="stop the node processes")
    down.add_argument("--purge", action="store_true", help="also delete the state dir")
    down.add_argument("--timeout", type=float, default=15.0)
    sub.add_parser("status", help="show cluster, nodes and groups")
    for sp in sub.choices.values():
        sp.add_argument("--state-dir", default=None)
    return p.parse_args(argv)


async def wait_up(client: ClusterClient, pids: dict[str, int], timeout: float) -> bool:
    """Every started process is Up (its own heartbeat: a killed predecessor's stays until its lease runs
    out) and every group has an owner."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = await client.snapshot()
        up = all(snap.node_state(n) is NodeState.UP and snap.heartbeats[n].pid == pid for n, pid in pids.items())
        if up and all(g.owner_node and g.state == "Online" for g in await client.get_groups()):
            return True
        await asyncio.sleep(0.2)
    return False


async def up(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    cfg = load_cluster_config(state_dir)
    if cfg is not None and any(node_alive(p.pid) for p in cfg.nodes.values()):
        print(f"sofs cluster: a cluster is already running from {state_dir} (`sofs cluster down` first)",
              file=sys.stderr)
        return 1
    if args.n < 1:
        print("sofs cluster up: N must be at least 1", file=sys.stderr)
        return 2
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        print(f"sofs cluster up: --workers {args.workers}: 1 to {MAX_WORKERS}", file=sys.stderr)
        return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    store = await EmbeddedStore.open(state_dir)
    client = ClusterClient(store, cfg.prefix if cfg else None, store_description=f"embedded:{state_dir}")
    try:
        if (await store.get(client.keys.cluster)) is None:
            props = {k: v for k, v in (("SameSubnetDelay", args.delay_ms), ("SameSubnetThreshold", args.threshold))
                     if v is not None}
            await client.create_cluster(args.name, [f"n{i}" for i in range(1, args.n + 1)], properties=props,
                                        smb_port=args.smb_port or 445, dns_port=args.dns_port or 0,
                                        witness_port=args.witness_port or 0)
        else:
            for k, v in (("SameSubnetDelay", args.delay_ms), ("SameSubnetThreshold", args.threshold)):
                if v is not None:
                    await client.set_cluster_property(k, v)
            for n in await client.get_nodes():
                if args.smb_port is not None:
                    await client.set_smb_port(n.name, args.smb_port)
                if args.dns_port is not None:
                    await client.set_service_port(n.name, "dns", args.dns_port)
                if args.witness_port is not None:
                    await client.set_service_port(n.name, "witness", args.witness_port)
        info = await client.get_cluster()
        nodes = await client.get_nodes()
        storage = args.storage or (cfg.storage if cfg is not None else "local")
        if cfg is not None and args.storage is not None and cfg.storage != args.storage:
            print(f"sofs cluster: the cluster in {state_dir} uses --storage {cfg.storage}", file=sys.stderr)
            return 2
        if bool(args.tls_cert) != bool(args.tls_key):
            print("sofs cluster up: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        if args.api_port and not args.tls_cert:
            make_self_signed(state_dir, info.name, [n.address for n in nodes])
        if storage == "ceph":
            err = await asyncio.to_thread(start_ceph, state_dir, [(n.name, n.address) for n in nodes], args)
            if err:
                print(f"sofs cluster: {err}", file=sys.stderr)
                return 1
        cfg = ClusterConfig(state_dir, name=info.name, prefix=client.keys.prefix, storage=storage,
                            nodes={n.name: NodeProcess(n.address) for n in nodes}, api_port=args.api_port,
                            tls_cert=str(Path(args.tls_cert).absolute()) if args.tls_cert else "",
                            tls_key=str(Path(args.tls_key).absolute()) if args.tls_key else "",
                            workers=args.workers if args.workers is not None else (cfg.workers if cfg else 0))
        write_cluster_config(cfg)
        procs = {n.name: start_node(state_dir, n.name, args.no_smb, detach=not args.foreground) for n in nodes}
        cfg = replace(cfg, nodes={n: NodeProcess(cfg.nodes[n].address, p.pid) for n, p in procs.items()})
        write_cluster_config(cfg)
        ok = await wait_up(client, {n: p.pid for n, p in procs.items()}, args.timeout)
        await print_status(client, sys.stdout)
        if storage == "ceph":
            print(f"\nStorage: the cluster's Ceph in {state_dir / 'ceph'} (Enable-ClusterStorageSpacesDirect, "
                  "then New-Volume)")
        if not ok:
            print(f"\nsofs cluster: not every node came Up within {args.timeout:.0f} s; see {state_dir}/*.log. "
                  "Stopping the node processes it started.", file=sys.stderr)
            await stop_pids(cfg, {n: p.pid for n, p in procs.items()}, 15.0)
            if storage == "ceph":
                await asyncio.to_thread(stop_ceph, state_dir)
            return 1
        print(USAGE.format(state_dir=state_dir, first=nodes[0].name))
    finally:
        await store.close()
    if args.foreground:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            while any(p.poll() is None for p in procs.values()):
                await asyncio.sleep(0.5)
        return await down(argparse.Namespace(state_dir=str(state_dir), purge=False, timeout=15.0))
    return 0


def start_ceph(state_dir: Path, nodes: list[tuple[str, str]], args: argparse.Namespace) -> str | None:
    """Bootstrap the cluster's Ceph (first time) or start its stopped daemons; an error message or None."""
    from sofs.management.psbind import parse_number
    from sofs.storage.ceph_cluster import CephCluster, CephError

    ceph = CephCluster(state_dir / "ceph")
    try:
        if ceph.exists():
            ceph.start()
            ceph.wait_ready(180)
        else:
            t0 = time.monotonic()
            ceph.bootstrap(nodes, disks_per_node=args.disks_per_node, osd_size=int(parse_number(args.disk_size) or 0))
            print(f"Ceph: {len(nodes)} monitors, {len(nodes) * args.disks_per_node} OSDs, {len(nodes)} MDS "
                  f"ready in {time.monotonic() - t0:.0f} s")
    except (CephError, ValueError) as e:
        ceph.stop(timeout=10)  # never leave daemons of a failed start behind
        return str(e)
    return None


def stop_ceph(state_dir: Path) -> None:
    from sofs.storage.ceph_cluster import CephCluster

    ceph = CephCluster(state_dir / "ceph")
    if ceph.exists():
        stopped = ceph.stop()
        print(f"stopped {len(stopped)} Ceph daemon(s)")


USAGE = """
The cluster runs in the background (state and logs: {state_dir}).
Cmdlets find it through ./.sofs-cluster, or export SOFS_CLUSTER_DIR={state_dir}, e.g.:
  sofs Get-ClusterNode
  sofs Get-ClusterGroup
  sofs Move-ClusterGroup -Name 'Cluster Group' -Node {first}
  sofs Invoke-Expression '(Get-Cluster).SameSubnetThreshold = 5'
  sofs cluster status
  sofs cluster down"""


async def down(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    cfg = load_cluster_config(state_dir)
    if cfg is None:
        print(f"sofs cluster: no cluster in {state_dir}", file=sys.stderr)
        return 1
    live = {n: p.pid for n, p in cfg.nodes.items() if node_alive(p.pid)}
    known = set(live.values())
    for pid, name in node_processes(state_dir).items():  # restarted by hand: not in the configuration
        if pid not in known:
            live[f"{name} (pid {pid})"] = pid
    await stop_pids(cfg, live, args.timeout)
    print(f"stopped {len(live)} node process(es) of cluster {cfg.name}")
    if cfg.storage == "ceph":
        await asyncio.to_thread(stop_ceph, state_dir)
    if args.purge:
        shutil.rmtree(state_dir)
        print(f"removed {state_dir}")
    return 0


async def stop_pids(cfg: ClusterConfig, pids: dict[str, int], timeout: float) -> None:
    """SIGTERM (clean leave) the node processes ``pids``, SIGKILL what is left after ``timeout``; the
    configuration then records no running process."""
    live = {n: p for n, p in pids.items() if node_alive(p)}
    for pid in live.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(node_alive(p) for p in live.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for n, pid in live.items():
        if node_alive(pid):
            print(f"sofs cluster: {n} (pid {pid}) did not stop; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    write_cluster_config(replace(cfg, nodes={n: NodeProcess(p.address) for n, p in cfg.nodes.items()}))


async def print_status(client: ClusterClient, w: TextIO) -> None:
    c = await client.get_cluster()
    q = await client.get_quorum()
    print(f"Cluster {c.name}  quorum {q.quorum_type}  SameSubnetDelay {c.same_subnet_delay} ms  "
          f"SameSubnetThreshold {c.same_subnet_threshold}  store {c.store}", file=w)
    print(f"\n{'Name':<8} {'State':<8} {'Address':<12} {'SMB':>5} {'Vote':>4}  DynamicWeight", file=w)
    for n in await client.get_nodes():
        print(f"{n.name:<8} {n.state:<8} {n.address:<12} {n.smb_port:>5} {n.node_weight:>4}  {n.dynamic_weight}",
              file=w)
    print(f"\n{'Group':<24} {'Owner':<8} {'State':<8} Epoch", file=w)
    for g in await client.get_groups():
        print(f"{g.name:<24} {g.owner_node:<8} {g.state:<8} {g.epoch}", file=w)


async def status(args: argparse.Namespace) -> int:
    cfg = load_cluster_config(args.state_dir)
    if cfg is None:
        print(f"sofs cluster: no cluster in {resolve_state_dir(args.state_dir)}", file=sys.stderr)
        return 1
    client = await ClusterClient.connect(cfg)
    try:
        await print_status(client, sys.stdout)
    except ClusterError as e:
        print(f"sofs cluster: {e}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    fn = {"up": up, "down": down, "status": status}[args.cmd]
    return asyncio.run(fn(args))
