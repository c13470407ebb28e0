"""Who evicts a dead node's Ceph sessions (sofs.server.storage_fence.to_fence), by table."""
from __future__ import annotations

import pytest

from sofs.server.storage_fence import to_fence

UP3 = {"n1", "n2", "n3"}


@pytest.mark.parametrize("me,up,down,quorum,fenced,expected", [
    ("n1", {"n1", "n2"}, {"n3"}, True, set(), ["n3"]),  # the lowest Up node with quorum fences
    ("n2", {"n1", "n2"}, {"n3"}, True, set(), []),  # not the lowest
    ("n1", {"n1", "n2"}, {"n3"}, False, set(), []),  # no quorum: never fence the majority
    ("n1", {"n1", "n2"}, {"n3"}, True, {"n3"}, []),  # once per death
    ("n2", {"n2", "n3"}, {"n1"}, True, set(), ["n1"]),  # the lowest of the survivors
    ("n2", {"n2"}, {"n1", "n3"}, True, set(), ["n1", "n3"]),
    ("n1", UP3, set(), True, set(), []),  # nobody down
    ("n3", {"n1", "n2"}, {"n3"}, True, set(), []),  # me down (fenced myself): nothing
    ("n1", {"n1"}, set(), True, set(), []),  # joining nodes (neither Up nor Down) are not fenced
])
def test_to_fence(me: str, up: set[str], down: set[str], quorum: bool, fenced: set[str],
                  expected: list[str]) -> None:
    assert to_fence(me, up, down, quorum, fenced) == expected


class _Snap:
    def __init__(self, states: dict[str, str]) -> None:
        self.nodes, self.states = list(states), states

    def node_state(self, n: str):  # type: ignore[no-untyped-def]
        return type("S", (), {"value": self.states[n]})()


class _Agent:
    def __init__(self) -> None:
        self.snapshot: _Snap | None = None
        self.has_quorum = True


class _Store:
    def __init__(self) -> None:
        self.kv: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        self.kv[key] = value
        return 1

    async def get(self, key: str):  # type: ignore[no-untyped-def]
        return type("KV", (), {"value": self.kv[key]})() if key in self.kv else None


def test_storage_fence_publishes_and_fences_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from sofs.server import storage_fence as sf

    blocked: list[list[str]] = []
    monkeypatch.setattr(sf, "session_addrs", lambda: ["127.0.0.1:0/11"])
    monkeypatch.setattr(sf, "cluster_mounts", lambda root: ["spec"])
    monkeypatch.setattr(sf, "fence_node", lambda spec, node, addrs: blocked.append(addrs) or addrs)
    monkeypatch.setattr(sf, "renew_evicted", lambda: 0)
    agent, store = _Agent(), _Store()
    store.kv["c/storage/ceph-clients/n3"] = b'["127.0.0.1:0/33"]'
    f = sf.StorageFence(agent, store, "c/", "n1", tmp_path)

    async def run() -> None:
        agent.snapshot = _Snap({"n1": "Up", "n2": "Up", "n3": "Down"})  # n3 never seen Up: not fenced
        await f.step()
        assert blocked == [] and store.kv["c/storage/ceph-clients/n1"] == b'["127.0.0.1:0/11"]'
        agent.snapshot = _Snap({"n1": "Up", "n2": "Up", "n3": "Up"})
        await f.step()
        agent.snapshot = _Snap({"n1": "Up", "n2": "Up", "n3": "Down"})
        await f.step()
        await f.step()  # once per death
        assert blocked == [["127.0.0.1:0/33"]]
        agent.snapshot = _Snap({"n1": "Up", "n2": "Up", "n3": "Up"})
        await f.step()
        agent.has_quorum = False  # no quorum: no fencing
        agent.snapshot = _Snap({"n1": "Up", "n2": "Up", "n3": "Down"})
        await f.step()
        assert blocked == [["127.0.0.1:0/33"]]
        agent.has_quorum = True
        await f.step()
        assert blocked == [["127.0.0.1:0/33"]] * 2

    asyncio.run(run())
