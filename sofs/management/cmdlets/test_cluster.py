"""Test-Cluster: run the validation checks, show progress on stderr, write the HTML report."""
from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import os
import socket
from typing import Any

from sofs.management.cmdlets.base import Context, Rendered, cmdlet
from sofs.management.errors import ManagementError
from sofs.management.psbind import ParamSpec
from sofs.management.psbind import ParamType as T
from sofs.management.testcluster import CheckEnv, NodeTarget, Progress, overall, run_checks, select_checks
from sofs.management.testcluster_report import default_report_name, render_report, write_report


async def probe_witness(cfg: dict[str, Any]) -> Any:
    """Build the configured witness (sofs.cluster.witness.from_config) and call its ``probe()``."""
    from sofs.cluster.witness import from_config
    w = from_config(cfg)
    try:
        return await w.probe()
    finally:
        await w.close()


async def resolve(name: str, port: int) -> NodeTarget | None:
    """``name``, ``name=address[:port]`` or an IP address -> a NodeTarget; None if unresolvable."""
    if "=" in name:
        name, addr = name.split("=", 1)
        host, _, p = addr.partition(":")
        return NodeTarget(name, host, int(p) if p else port)
    try:
        ipaddress.ip_address(name)
        return NodeTarget(name, name, port)
    except ValueError:
        pass
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM),
                                       5)
    except (OSError, TimeoutError):
        return None
    return NodeTarget(name, str(infos[0][4][0]), port) if infos else None


async def build_env(ctx: Context, p: dict[str, Any]) -> tuple[CheckEnv, str]:
    """Gather nodes, store, witness and volumes from the running cluster (if any) and -Node."""
    port = int(p.get("SmbPort") or 445)
    svc, cluster_name, members = None, "", []
    delay, threshold = 1.0, 10
    try:
        svc = await ctx.service("cluster")
        info = await svc.get_cluster()
        cluster_name, delay, threshold = info.name, info.same_subnet_delay / 1000, info.same_subnet_threshold
        members = await svc.get_nodes()
    except ManagementError as e:
        ctx.stderr.write(f"WARNING: no running cluster ({e.message}); validating the named nodes only.\n")
        svc = None
    by_name = {m.name.lower(): m for m in members}
    targets, unknown = [], []
    for want in p.get("Node") or [m.name for m in members]:
        m = by_name.get(want.lower())
        if m is not None:
            targets.append(NodeTarget(m.name, m.address or m.name, m.smb_port if not p.get("SmbPort") else port,
                                      True, m.state, m.last_heartbeat, m.heartbeat_refresh_s))
        elif (t := await resolve(want, port)) is not None:
            targets.append(t)
        else:
            unknown.append(want)
    witness = None
    volumes: list[str] = list(p.get("VolumePath") or [])
    if svc is not None:
        witness = (await svc.quorum_config()).get("witness") or None
        volumes += [v for v in await svc.volume_paths() if v not in volumes]
    env = CheckEnv(nodes=targets, unknown_nodes=unknown, store=svc.store() if svc else None, witness=witness,
                   probe_witness=probe_witness, volume_paths=volumes, heartbeat_delay_s=delay,
                   heartbeat_threshold=threshold)
    return env, cluster_name


@cmdlet("Test-Cluster",
        ParamSpec("Node", T.STRING_LIST, position=0),
        ParamSpec("Include", T.STRING_LIST), ParamSpec("Ignore", T.STRING_LIST),
        ParamSpec("ReportName", T.STRING),
        ParamSpec("VolumePath", T.STRING_LIST, help="sofs extension: extra directories to validate"),
        ParamSpec("SmbPort", T.INT, help="sofs extension: SMB port for nodes not in the cluster (445)"),
        ParamSpec("Force", T.SWITCH, help="sofs never prompts"))
async def test_cluster(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Validate nodes, network, clock, store, witness and volumes; writes an HTML report."""
    try:
        checks = select_checks(p.get("Include"), p.get("Ignore"))
    except ValueError as e:
        raise ManagementError(str(e), "InvalidArgument") from e
    started = _dt.datetime.now()
    env, cluster_name = await build_env(ctx, p)
    results = await run_checks(env, checks, Progress(ctx.stderr, len(checks)))
    finished = _dt.datetime.now()
    path = p.get("ReportName") or default_report_name(started, ctx.cwd)
    if not path.lower().endswith((".htm", ".html")):
        path += ".htm"
    if not os.path.isabs(path):
        path = os.path.join(ctx.cwd, path)
    path = write_report(path, render_report(results, cluster=cluster_name, nodes=env.nodes, started=started,
                                            finished=finished))
    verdict = overall(results)
    if verdict != "Validated":
        ctx.stderr.write(f"WARNING: Test Result: {verdict}. See the report for details.\n")
    return [*results, Rendered(f"Test report file path: {path}\n")]
