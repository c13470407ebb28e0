"""The Scale-Out File Server role: records, network names, parameters, scoping (embedded store, no nodes)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sofs.cluster.client import ClusterClient, ClusterError
from sofs.cluster.model import Heartbeat, encode
from sofs.cluster.role import DNN_TYPE, SOFS_TYPE, NetworkName, check_parameter, network_names
from sofs.cluster.store_embedded import EmbeddedStore
from sofs.management.errors import ManagementError
from sofs.management.services.shares import ShareService, resolve_scope


def run(tmp_path: Path, body: Callable[[ClusterClient], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await EmbeddedStore.open(tmp_path)
        client = ClusterClient(store)
        try:
            await client.create_cluster("c1", ["n1", "n2", "n3"])
            await body(client)
        finally:
            await store.close()
    asyncio.run(main())


async def beat(c: ClusterClient, *names: str) -> None:
    for n in names:
        await c.store.put(c.keys.heartbeat(n), encode(Heartbeat(n, 1, "127.0.0.1", joining=False)))


def test_add_role_shows_group_resources_and_name(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        g = await c.add_sofs_role("SOFS")
        assert (g.name, g.group_type, g.state, g.owner_node) == ("SOFS", "ScaleOutFileServer", "Offline", "")
        res = {r.name: r.resource_type for r in await c.get_resources() if r.owner_group == "SOFS"}
        assert res == {"SOFS": DNN_TYPE, "Scale-Out File Server (\\\\SOFS)": SOFS_TYPE}
        params = {n: v for _, n, v in await c.get_resource_parameters("sofs")}
        assert params["DnsName"] == "SOFS" and params["HostRecordTTL"] == 1200 and params["DnsServer"] == ""
        # the name resolves to every Up node, and to nothing while none is Up
        snap = await c.snapshot()
        assert [(n.role, n.addresses, n.fqdns) for n in network_names(snap)] == [("SOFS", (), ("sofs.",))]
        await beat(c, "n1", "n3")
        [nn] = network_names(await c.snapshot())
        assert nn.addresses == ("127.0.0.11", "127.0.1.11", "127.0.0.13", "127.0.1.13") and nn.ttl == 1200
        await c.set_resource_parameter("SOFS", "dnszone", "example.test.")
        await c.set_resource_parameter("SOFS", "HostRecordTTL", "5")
        [nn] = network_names(await c.snapshot())
        assert nn.fqdns == ("sofs.", "sofs.example.test.") and nn.ttl == 5
        await c.set_resource_parameter("SOFS", "TsigSecret", "c2VjcmV0")
        assert ("SOFS", "TsigSecret", "********") in await c.get_resource_parameters("SOFS")
    run(tmp_path, body)


def test_role_errors(tmp_path: Path) -> None:
    async def body(c: ClusterClient) -> None:
        await c.add_sofs_role("SOFS")
        for name, msg in [("SOFS", "already used by a role"), ("n1", "already used by a node"),
                          ("c1", "already used by the cluster"), ("bad name", "Invalid role name"),
                          ("A23456789012345X", "longer than 15")]:
            with pytest.raises(ClusterError, match=msg):
                await c.add_sofs_role(name)
        for param, value, msg in [("DnsName", "X", "read-only"), ("Nope", "1", "Unknown parameter"),
                                  ("HostRecordTTL", "ten", "must be an integer"),
                                  ("DnsServer", "dns.example:53", "IP address"), ("TsigSecret", "!!", "base64")]:
            with pytest.raises(ClusterError, match=msg):
                await c.set_resource_parameter("SOFS", param, value)
        with pytest.raises(ClusterError, match="no settable parameters"):
            await c.set_resource_parameter("Scale-Out File Server (\\\\SOFS)", "HostRecordTTL", 5)
        with pytest.raises(ClusterError, match="not found"):
            await c.get_resource_parameters("nope")
        # a role with a share scoped to it is not removed; without, it is
        shares = ShareService(c.store, check_local_paths=False)
        info = await shares.new_share("VMS", r"C:\ClusterStorage\Volume1\Shares\VMS")
        assert info.scope_name == "SOFS"
        with pytest.raises(ClusterError, match=r"still has shares scoped to it \(VMS\)"):
            await c.remove_group("sofs")
        await shares.remove_share("VMS")
        await c.remove_group("sofs")
        assert [g.name for g in await c.get_groups()] == ["Cluster Group"]
        with pytest.raises(ClusterError, match="core cluster group"):
            await c.remove_group("cluster group")
    run(tmp_path, body)


def test_check_parameter_table() -> None:
    assert check_parameter("hostrecordttl", "60") == ("HostRecordTTL", 60)
    assert check_parameter("DnsServer", "127.0.0.53:5353") == ("DnsServer", "127.0.0.53:5353")
    assert check_parameter("DnsServer", "::1") == ("DnsServer", "::1")
    assert check_parameter("DnsServer", "") == ("DnsServer", "")


@pytest.mark.parametrize("scope,path,roles,want", [
    (None, r"C:\ClusterStorage\Volume1\VMS", ["SOFS"], "SOFS"),
    (None, r"c:/clusterstorage/Volume1/VMS", ["SOFS"], "SOFS"),
    (None, r"C:\ClusterStorage\Volume1\VMS", [], "*"),
    (None, "/srv/data", ["SOFS"], "*"),
    ("sofs", "/srv/data", ["SOFS"], "SOFS"),
    ("*", r"C:\ClusterStorage\Volume1\VMS", ["SOFS"], "*"),
])
def test_resolve_scope(scope: str | None, path: str, roles: list[str], want: str) -> None:
    assert resolve_scope(scope, path, roles) == want


def test_resolve_scope_refusals() -> None:
    with pytest.raises(ManagementError, match="not a Scale-Out File Server role"):
        resolve_scope("OTHER", "/srv", ["SOFS"])
    with pytest.raises(ManagementError, match="several Scale-Out File Server roles"):
        resolve_scope(None, r"C:\ClusterStorage\V\x", ["A", "B"])


def test_network_name_fqdns() -> None:
    nn = NetworkName("SOFS", None, "SOFS", "", 5, (), {})
    assert nn.fqdns == ("sofs.",)
