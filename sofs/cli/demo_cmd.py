"""``sofs demo``: the embedded demo — a 3-node cluster on loopback with a continuously available share.

Equivalent to, on Windows::

    New-Cluster -Name sofs-cluster -Node n1,n2,n3 -NoStorage
    New-Volume -FriendlyName Volume1 ...            (here: a directory under the state dir)
    Add-ClusterScaleOutFileServerRole -Name SOFS
    New-SmbShare -Name VMS -Path C:\\ClusterStorage\\Volume1\\Shares\\VMS -FullAccess demo -ContinuouslyAvailable $true
    New-LocalUser admin ...; Grant-ClusterAccess admin -Full   (the REST API's and dashboard's account)

(the share lands in the role: a path on a cluster volume with one Scale-Out File Server role). Each
node answers DNS for the role's name on port 53 (``$SOFS_DNS_PORT`` to change it; 0 = none). Then prints
how to connect. The nodes keep running in the background; ``sofs cluster down`` stops them.

``sofs demo --storage ceph``: the same on the cluster's private Ceph (``sofs cluster up 3 --storage
ceph``), with ``Enable-ClusterStorageSpacesDirect`` and ``New-Volume -FriendlyName Volume1 -FileSystem
CSVFS_ReFS -StoragePoolFriendlyName S2D* -Size 100GB -ResiliencySettingName Mirror`` (a three-way
mirror: a Ceph pool of size 3) before the share.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

DEMO_USER = "demo"
DEMO_PASSWORD = "Demo-Passw0rd"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "Admin-Passw0rd"
SHARE = "VMS"
ROLE = "SOFS"
CLUSTER = "sofs-cluster"  # the role's name must differ from the cluster's (as on Windows)
SHARE_PATH = "C:\\ClusterStorage\\Volume1\\Shares\\VMS"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sofs demo", description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--state-dir", default=None)
    p.add_argument("--storage", choices=("local", "ceph"), default="local")
    return p.parse_args(argv)


async def create_mirrored_volume(state_dir: Path) -> None:
    """Enable-ClusterStorageSpacesDirect + New-Volume Volume1 (three-way mirror), unless done before."""
    from sofs.cluster.config import load_cluster_config
    from sofs.management.services.storage import StorageService

    cfg = load_cluster_config(str(state_dir))
    if cfg is None:
        raise SystemExit("sofs demo: the cluster did not come up")
    svc = StorageService(cfg.state_dir, cfg.storage, cfg.name, list(cfg.nodes))
    if not [p for p in await svc.get_storage_pools() if not p.is_primordial]:
        await svc.enable_s2d()
    if not [v for v in await svc.get_virtual_disks() if v.friendly_name == "Volume1"]:
        vd = await svc.new_volume("Volume1", 100 << 30, "Mirror", "S2D*", "CSVFS_ReFS")
        print(f"New-Volume: {vd.friendly_name} {vd.resiliency_setting_name} {vd.number_of_data_copies} copies "
              f"{vd.size >> 30} GB {vd.health_status}")


def write_smb_toml(state_dir: Path) -> None:
    path = state_dir / "smb.toml"
    if path.exists():
        return
    path.write_text(
        "# SMB settings of every node of this cluster (users, signing, encryption).\n"
        "[server]\nserver_name = \"SOFS\"\n\n"
        f"[[user]]\nname = \"{DEMO_USER}\"\npassword = \"{DEMO_PASSWORD}\"\ngroups = [\"HyperVHosts\"]\n")


async def create_share(state_dir: Path) -> None:
    from sofs.cluster.config import load_cluster_config
    from sofs.management.errors import ManagementError
    from sofs.management.services.accounts import AccountService
    from sofs.management.services.shares import ShareService

    cfg = load_cluster_config(str(state_dir))
    if cfg is None:
        raise SystemExit("sofs demo: the cluster did not come up")
    from sofs.cluster.client import ClusterClient, ClusterError

    client = await ClusterClient.connect(cfg)
    try:
        await client.add_sofs_role(ROLE)
    except ClusterError as e:
        if "already used by a role" not in str(e):
            raise
    finally:
        await client.close()
    store = await cfg.open_store()
    try:
        accounts = AccountService(store, prefix=cfg.prefix)
        try:
            await accounts.new_user(ADMIN_USER, ADMIN_PASSWORD, "the demo's cluster administrator")
        except ManagementError as e:
            if "already exists" not in str(e):
                raise
        await accounts.set_access(ADMIN_USER, "Full")
        svc = ShareService(store, prefix=cfg.prefix, check_local_paths=False)
        try:
            await svc.new_share(SHARE, SHARE_PATH, full_access=[DEMO_USER], continuously_available=True,
                                description="Hyper-V virtual machines (continuously available)")
        except ManagementError as e:
            if "already" not in str(e):
                raise
    finally:
        await store.close()


def main(argv: list[str]) -> int:
    args = parse(argv)
    from sofs.cli import cluster_cmd
    from sofs.cluster.config import resolve_state_dir

    state_dir = Path(resolve_state_dir(args.state_dir)).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    write_smb_toml(state_dir)
    vol = state_dir / "ClusterStorage" / "Volume1" / "Shares" / SHARE
    if args.storage == "local":
        vol.mkdir(parents=True, exist_ok=True)
        vol.chmod(0o777)
    dns = ["--dns-port", "53"] if "SOFS_DNS_PORT" not in os.environ else []
    rc = cluster_cmd.main(["up", str(args.nodes), "--name", CLUSTER, "--state-dir", str(state_dir), *dns,
                           "--storage", args.storage])
    if rc:
        return rc
    if args.storage == "ceph":
        asyncio.run(create_mirrored_volume(state_dir))
        vol.mkdir(parents=True, exist_ok=True)  # sofs's own files (journals) of the share; data on Ceph
    asyncio.run(create_share(state_dir))
    nodes = json.loads((state_dir / "cluster.json").read_text()).get("nodes", {})
    first = next(iter(nodes.values()), {}).get("address", "127.0.0.11")
    port = json.loads((state_dir / "cluster.json").read_text()).get("api_port", 0)
    api = (f"  Dashboard:    https://{first}:{port}/  (any node; {ADMIN_USER} / {ADMIN_PASSWORD}; certificate "
           f"{state_dir}/tls/cert.pem)\n  REST, metrics: curl --cacert {state_dir}/tls/cert.pem -u "
           f"{ADMIN_USER}:{ADMIN_PASSWORD} https://{first}:{port}/api/v1/nodes   (and /metrics)\n") if port else ""
    print(f"""
The demo cluster is up: {len(nodes)} nodes, share {SHARE} (continuously available) on every node.

  Connect:      smbclient //{first}/{SHARE} -U {DEMO_USER}%{DEMO_PASSWORD}
  Any node:     {', '.join(n.get('address', '?') for n in nodes.values())}
  Role name:    dig @{first} {ROLE}   (the Scale-Out File Server's name resolves to every Up node)
  Cmdlets:      sofs Get-ClusterNode; sofs Get-ClusterGroup; sofs Get-SmbShare; sofs Test-Cluster
{api}  Drill:        sofs Invoke-ClusterFailoverDrill {SHARE} -User {DEMO_USER} -Password {DEMO_PASSWORD}
                (VMs on the CA share through a node kill, a drain and live migrations; HTML report)
  Stop:         sofs cluster down --state-dir {state_dir}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
