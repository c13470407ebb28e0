"""Witness registrations: what each client is told (sofs.cluster.swn.next_notice), as a table over snapshots."""
from __future__ import annotations

from sofs.cluster.model import Heartbeat, NodeRecord, Snapshot, Versioned
from sofs.cluster.swn import (
    AVAILABLE,
    CLIENT_MOVE,
    IP_CHANGE,
    IP_NOTIFICATION,
    RESOURCE_CHANGE,
    SHARE_MOVE,
    UNAVAILABLE,
    decode_registration,
    encode_registration,
    new_registration,
    next_notice,
)


def snap(up: set[str], extra: dict[str, tuple[str, ...]] | None = None) -> Snapshot:
    nodes = {n: Versioned(NodeRecord(n, i + 1, f"127.0.0.1{i + 1}", extra_addresses=(extra or {}).get(n, ())), 1)
             for i, n in enumerate(("n1", "n2", "n3"))}
    hbs = {n: Heartbeat(n, 1, "", joining=False) for n in up}
    return Snapshot(1, None, None, nodes, hbs, {})


def test_resource_change_down_and_back() -> None:
    r = new_registration(snap({"n1", "n2", "n3"}), "n1", version=0x20000, net_name="SOFS", ip_address="127.0.0.13",
                         client="C1", wall=1.0)
    assert (r.file_server_node, r.witness_node, r.last_state) == ("n3", "n1", AVAILABLE)
    assert next_notice(r, snap({"n1", "n2", "n3"})) == (None, r)
    notice, r2 = next_notice(r, snap({"n1", "n2"}))
    assert notice is not None and (notice.kind, notice.name, notice.state) == (RESOURCE_CHANGE, "127.0.0.13",
                                                                               UNAVAILABLE)
    assert next_notice(r2, snap({"n1", "n2"}))[0] is None  # told once
    notice, r3 = next_notice(r2, snap({"n1", "n2", "n3"}))
    assert notice is not None and notice.state == AVAILABLE and r3.notices == 2
    assert decode_registration(encode_registration(r3)) == r3


def test_moves_and_ip_change() -> None:
    s = snap({"n1", "n2", "n3"})
    r = new_registration(s, "n1", version=0x20000, net_name="SOFS", ip_address="127.0.0.13", client="C1",
                         flags=IP_NOTIFICATION)
    from dataclasses import replace
    moved = replace(r, move_to=("127.0.0.12",), file_server_node="n2")
    notice, after = next_notice(moved, s)
    assert notice is not None and (notice.kind, notice.addresses) == (CLIENT_MOVE, (("127.0.0.12", True),))
    assert after.move_to == () and after.file_server_node == "n2" and after.last_addresses == ("127.0.0.12",)
    share = replace(moved, share_name="VMS")
    assert next_notice(share, s)[0].kind == SHARE_MOVE  # type: ignore[union-attr]
    notice, _ = next_notice(r, snap({"n1", "n2", "n3"}, {"n3": ("127.0.1.13",)}))
    assert notice is not None and notice.kind == IP_CHANGE
    assert notice.addresses == (("127.0.0.13", True), ("127.0.1.13", True))


def test_unknown_address_is_unavailable() -> None:
    r = new_registration(snap({"n1"}), "n1", version=0x10001, net_name="SOFS", ip_address="10.9.9.9", client="C")
    assert r.file_server_node == "" and r.last_state == UNAVAILABLE


def test_abandoned_registrations_expire(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No AsyncNotify for MAX_IDLE_S (the client died, or never came back after its witness node died):
    any node's sweep deletes the registration; one seen meanwhile stays, as do the others."""
    import asyncio
    import dataclasses

    from sofs.cluster.model import Keys
    from sofs.cluster.store_embedded import EmbeddedStore
    from sofs.cluster.swn import MAX_IDLE_S, expired, key, list_registrations, move_client, sweep

    old = new_registration(snap({"n1"}), "n1", version=0x10001, net_name="SOFS", ip_address="127.0.0.11",
                           client="GONE", wall=1000.0)
    live = dataclasses.replace(new_registration(snap({"n1"}), "n1", version=0x10001, net_name="SOFS",
                                                ip_address="127.0.0.11", client="HERE", wall=1000.0),
                               last_seen=1000.0 + MAX_IDLE_S)
    now = 1000.0 + MAX_IDLE_S + 1
    assert expired(old, now) and not expired(live, now) and not expired(old, 1000.0 + MAX_IDLE_S)
    assert decode_registration(encode_registration(live)) == live

    async def go() -> None:
        store = await EmbeddedStore.open(tmp_path / "store")
        keys = Keys("/c/")
        try:
            for r in (old, live):
                await store.put(key(keys, r.id), encode_registration(r))
            assert await sweep(store, keys, now) == ["GONE"]
            assert [r.client_computer_name for r in await list_registrations(store, keys)] == ["HERE"]
            assert await move_client(store, keys, snap({"n1", "n2"}), "HERE", "n2") == 1
        finally:
            await store.close()

    asyncio.run(go())
