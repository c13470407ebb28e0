"""Witness ([MS-SWN]) registrations kept in the cluster store, and what to tell each client — pure rules
plus the store operations.

A registration lives at ``<prefix>swn/<id>`` (JSON of :class:`WitnessRegistration`), not attached to any
node's lease: when the node a client registered with dies, the registration stays, and the client's
next AsyncNotify on any other node finds it and is told what it missed. A registration watches the
node owning the IP address the client gave (its *file server node*). :func:`next_notice` compares the
cluster as it is now with what the registration last told its client:

1. a pending move (``Move-SmbWitnessClient``) → CLIENT_MOVE with the destination node's addresses
   (SHARE_MOVE for a registration made for one share with RegisterEx);
2. the file server node went Down / came back Up → RESOURCE_CHANGE unavailable / available, naming
   the registered IP address;
3. with the IP notification flag (RegisterEx), a change of that node's addresses → IP_CHANGE.

Delivering a notice is a compare-and-set of the record, so two nodes never deliver the same one twice.

Abandoned registrations expire: a client keeps an AsyncNotify outstanding, and the node serving it
stamps ``last_seen`` when the call arrives and every :data:`TOUCH_S` while it waits; a registration not
seen for :data:`MAX_IDLE_S` (its client died, or never came back after its witness node died, the
case where no RPC context rundown can run) is deleted by any node's sweep (:func:`sweep`).
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from sofs.cluster.model import Keys, NodeState, Snapshot
from sofs.cluster.store import ClusterStore

RESOURCE_CHANGE, CLIENT_MOVE, SHARE_MOVE, IP_CHANGE = 1, 2, 3, 4
AVAILABLE, UNAVAILABLE = "available", "unavailable"
IP_NOTIFICATION = 0x01


@dataclass(frozen=True, slots=True)
class WitnessRegistration:
    id: str
    version: int
    net_name: str
    ip_address: str
    client_computer_name: str
    witness_node: str
    """The node the client registered with."""
    file_server_node: str
    """The node the registration watches (owner of ``ip_address``, or the move's destination)."""
    share_name: str = ""
    flags: int = 0
    timeout: int = 0
    last_state: str = AVAILABLE
    last_addresses: tuple[str, ...] = ()
    move_to: tuple[str, ...] = ()
    """Addresses of a pending CLIENT_MOVE / SHARE_MOVE (empty: none)."""
    registered: float = 0.0
    notices: int = 0
    last_seen: float = 0.0
    """Wall time the client last had an AsyncNotify here (0: only ``registered`` is known)."""


TOUCH_S = 60.0
MAX_IDLE_S = 900.0


def expired(reg: WitnessRegistration, now: float, max_idle_s: float = MAX_IDLE_S) -> bool:
    """Whether a registration was abandoned: no AsyncNotify for ``max_idle_s`` (pure)."""
    return now - max(reg.last_seen, reg.registered) > max_idle_s


@dataclass(frozen=True, slots=True)
class Notice:
    """One AsyncNotify answer: RESOURCE_CHANGE (``name``, ``state``) or an address list (move, IP change)."""

    kind: int
    name: str = ""
    state: str = ""
    addresses: tuple[tuple[str, bool], ...] = field(default=())
    """(address, online) pairs for CLIENT_MOVE / SHARE_MOVE / IP_CHANGE."""


def node_of_address(snap: Snapshot, address: str) -> str | None:
    for name, v in snap.nodes.items():
        if address in v.record.addresses:
            return name
    return None


def node_addresses(snap: Snapshot, node: str) -> tuple[str, ...]:
    v = snap.nodes.get(node)
    return v.record.addresses if v is not None else ()


def node_available(snap: Snapshot, node: str) -> bool:
    return snap.node_state(node) in (NodeState.UP, NodeState.PAUSED)


def next_notice(reg: WitnessRegistration, snap: Snapshot) -> tuple[Notice | None, WitnessRegistration]:
    """What to tell the client now, and the registration once told (pure)."""
    if reg.move_to:
        kind = SHARE_MOVE if reg.share_name else CLIENT_MOVE
        moved = replace(reg, move_to=(), last_state=AVAILABLE if node_available(snap, reg.file_server_node)
                        else UNAVAILABLE, last_addresses=node_addresses(snap, reg.file_server_node),
                        notices=reg.notices + 1)
        return Notice(kind, addresses=tuple((a, True) for a in reg.move_to)), moved
    state = AVAILABLE if node_available(snap, reg.file_server_node) else UNAVAILABLE
    if state != reg.last_state:
        return (Notice(RESOURCE_CHANGE, name=reg.ip_address, state=state),
                replace(reg, last_state=state, notices=reg.notices + 1))
    addrs = node_addresses(snap, reg.file_server_node)
    if reg.flags & IP_NOTIFICATION and state == AVAILABLE and addrs != reg.last_addresses:
        gone = tuple((a, False) for a in reg.last_addresses if a not in addrs)
        return (Notice(IP_CHANGE, addresses=tuple((a, True) for a in addrs) + gone),
                replace(reg, last_addresses=addrs, notices=reg.notices + 1))
    return None, reg


def new_registration(snap: Snapshot, me: str, *, version: int, net_name: str, ip_address: str, client: str,
                     share_name: str = "", flags: int = 0, timeout: int = 0,
                     wall: float | None = None) -> WitnessRegistration:
    node = node_of_address(snap, ip_address) or ""
    return WitnessRegistration(
        str(uuid.uuid4()), version, net_name, ip_address, client, me, node, share_name, flags, timeout,
        AVAILABLE if node and node_available(snap, node) else UNAVAILABLE, node_addresses(snap, node),
        registered=time.time() if wall is None else wall)


async def sweep(store: ClusterStore, keys: Keys, now: float, max_idle_s: float = MAX_IDLE_S) -> list[str]:
    """Delete the abandoned registrations (a compare-and-delete: one seen meanwhile stays); returns
    their clients' names."""
    gone = []
    for kv in (await store.list(keys.prefix + "swn/")).kvs:
        try:
            r = decode_registration(kv.value)
        except (ValueError, TypeError):
            continue
        if expired(r, now, max_idle_s) and await store.cas_delete(kv.key, kv.mod_revision):
            gone.append(r.client_computer_name)
    return gone


def encode_registration(reg: WitnessRegistration) -> bytes:
    return json.dumps(dataclasses.asdict(reg), sort_keys=True).encode()


def decode_registration(data: bytes) -> WitnessRegistration:
    raw: dict[str, Any] = json.loads(data)
    names = {f.name for f in dataclasses.fields(WitnessRegistration)}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}
    return WitnessRegistration(**kw)


def key(keys: Keys, ident: str) -> str:
    return keys.prefix + "swn/" + ident


async def list_registrations(store: ClusterStore, keys: Keys) -> list[WitnessRegistration]:
    out = []
    for kv in (await store.list(keys.prefix + "swn/")).kvs:
        try:
            out.append(decode_registration(kv.value))
        except (ValueError, TypeError):
            continue
    return sorted(out, key=lambda r: (r.client_computer_name.lower(), r.registered))


async def move_client(store: ClusterStore, keys: Keys, snap: Snapshot, client: str, node: str) -> int:
    """``Move-SmbWitnessClient``: every registration of ``client`` moves to ``node`` (a CLIENT_MOVE
    waits in each record for its client's next AsyncNotify). Returns how many moved."""
    dest = node_addresses(snap, node)
    moved = 0
    for kv in (await store.list(keys.prefix + "swn/")).kvs:
        for _ in range(5):  # a node may stamp last_seen meanwhile: read again
            reg = decode_registration(kv.value)
            if reg.client_computer_name.lower() != client.lower():
                break
            new = replace(reg, move_to=dest, file_server_node=node)
            if await store.cas(kv.key, encode_registration(new), kv.mod_revision):
                moved += 1
                break
            got = await store.get(kv.key)
            if got is None:
                break
            kv = got
    return moved
