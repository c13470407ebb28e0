"""An in-memory stand-in for sofs.cluster.client.ClusterClient (same method names) for cmdlet tests."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class FakeNode:
    name: str
    state: str = "Up"
    address: str = "127.0.0.11"
    node_weight: int = 1
    dynamic_weight: int = 1
    id: str = "1"
    drain_status: str = "NotInitiated"
    last_heartbeat: float | None = None
    smb_port: int = 445


@dataclass
class FakeGroup:
    name: str
    owner: str
    state: str = "Online"
    group_type: str = "ScaleOutFileServer"
    epoch: int = 1


@dataclass
class FakeClusterClient:
    """Async methods, dataclass results with snake_case fields (like the core's client)."""

    name: str = ""
    nodes: list[FakeNode] = field(default_factory=list)
    groups: list[FakeGroup] = field(default_factory=list)
    props: dict[str, Any] = field(default_factory=dict)
    quorum: dict[str, Any] = field(default_factory=lambda: {"witness": None})
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    store: Any = None
    volumes: list[str] = field(default_factory=list)

    async def create_cluster(self, name: str, nodes: list[str], static_address: list[str] = (),  # type: ignore[assignment]
                             no_storage: bool = False) -> None:
        self.calls.append(("create_cluster", name, tuple(nodes), tuple(static_address), no_storage))
        self.name = name
        now = time.time()
        self.nodes = [FakeNode(n, address=f"127.0.0.{11 + i}", last_heartbeat=now) for i, n in enumerate(nodes)]
        self.groups = [FakeGroup("SOFS", nodes[0])]
        self.props["static_address"] = list(static_address)

    async def get_cluster(self) -> dict[str, Any]:
        if not self.name:
            from sofs.management.errors import ManagementError
            raise ManagementError("No cluster.", "ObjectNotFound")
        return {"name": self.name, "id": "c-1", **self.props}

    async def set_cluster_property(self, name: str, value: Any) -> None:
        self.calls.append(("set_cluster_property", name, value))
        self.props[name] = value

    async def get_nodes(self) -> list[FakeNode]:
        return list(self.nodes)

    async def get_groups(self) -> list[FakeGroup]:
        return list(self.groups)

    async def get_resources(self) -> list[dict[str, Any]]:
        out = [{"Name": f"{g.name} Resource", "State": g.state, "OwnerGroup": g.name,
                "ResourceType": "Scale Out File Server"} for g in self.groups]
        return out

    async def get_quorum(self) -> dict[str, Any]:
        return dict(self.quorum)

    async def set_quorum(self, cfg: dict[str, Any]) -> None:
        self.calls.append(("set_quorum", cfg))
        self.quorum = {"witness": cfg.get("witness"), "quorum_type": cfg["type"]}

    async def move_group(self, group: str, node: str) -> None:
        self.calls.append(("move_group", group, node))
        for i, g in enumerate(self.groups):
            if g.name == group:
                self.groups[i] = replace(g, owner=node, epoch=g.epoch + 1)

    def _set(self, name: str, **kw: Any) -> None:
        for i, n in enumerate(self.nodes):
            if n.name == name:
                self.nodes[i] = replace(n, **kw)

    async def suspend_node(self, node: str, drain: bool = False) -> None:
        self.calls.append(("suspend_node", node, drain))
        self._set(node, state="Paused", drain_status="Completed" if drain else "NotInitiated")
        if drain:
            other = next(n.name for n in self.nodes if n.name != node and n.state == "Up")
            for i, g in enumerate(self.groups):
                if g.owner == node:
                    self.groups[i] = replace(g, owner=other, epoch=g.epoch + 1)

    async def resume_node(self, node: str) -> None:
        self.calls.append(("resume_node", node))
        self._set(node, state="Up")

    async def add_node(self, node: str) -> None:
        self.calls.append(("add_node", node))
        self.nodes.append(FakeNode(node, address=f"127.0.0.{11 + len(self.nodes)}", last_heartbeat=time.time()))

    async def remove_node(self, node: str) -> None:
        self.calls.append(("remove_node", node))
        self.nodes = [n for n in self.nodes if n.name != node]

    async def get_volumes(self) -> list[dict[str, str]]:
        return [{"name": f"Volume{i + 1}", "path": p} for i, p in enumerate(self.volumes)]


def three_nodes() -> FakeClusterClient:
    c = FakeClusterClient()
    c.name = "c1"
    now = time.time()
    c.nodes = [FakeNode(f"n{i}", address=f"127.0.0.{10 + i}", last_heartbeat=now) for i in (1, 2, 3)]
    c.groups = [FakeGroup("SOFS01", "n1"), FakeGroup("Volume1", "n2", group_type="VolumeCoordinator")]
    return c
