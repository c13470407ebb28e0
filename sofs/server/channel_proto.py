"""The hand-over of a binding connection to another cluster node, sans I/O: one message.

A client that binds a new channel to its session ([MS-SMB2] 3.3.5.5.2; the client side is 3.2.5.3,
which sends the binding SESSION_SETUP right after NEGOTIATE on the new connection) may reach a node
that does not hold the session (sessions stay with the node that made them, as on a Windows
Scale-Out File Server). That node carries the connection to the node holding the session
(:mod:`sofs.server.channel_relay`): over an authenticated link to it, it sends this message — the
connection's negotiated state (dialect, pre-auth hash, signing and cipher choices, credits: what
:meth:`~sofs.engine.state.ConnectionState.export_negotiated` gives), the addresses of the client's
connection, and the binding request to process again — then relays the connection's bytes both ways.

Wire form: a 4-byte big-endian length, then a msgpack array
``[version, client_address, server_address, state, request]`` (``state`` a map whose keys and value
types are exactly :data:`STATE_FIELDS`; ``request``: the SMB2 message without its transport
header). Anything else is a :class:`HandoverError`: the receiving node closes the link, so the client
sees its connection close, as after a failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

HANDOVER_VERSION = 1
MAX_HANDOVER = 1 << 20  # a SESSION_SETUP with its security blob is far smaller
_SMB2_HEADER = 64

STATE_FIELDS: dict[str, tuple[type, ...]] = {
    "dialect": (int,), "negotiated": (bool,), "client_guid": (bytes,), "client_capabilities": (int,),
    "client_security_mode": (int,), "client_dialects": (list,), "server_capabilities": (int,),
    "server_security_mode": (int,), "cipher_id": (int,), "signing_algorithm": (int, type(None)),
    "preauth_hash": (bytes,), "supports_multi_credit": (bool,), "max_read_size": (int,),
    "max_write_size": (int,), "max_transact_size": (int,), "window": (list,), "smb1_upgraded": (bool,),
    "next_async_id": (int,),
}
"""The negotiated state of a connection that travels (the keys of ``export_negotiated``)."""


class HandoverError(ValueError):
    """Not a hand-over message of this version."""


@dataclass(frozen=True, slots=True)
class Handover:
    client_address: str
    """The client's address and port as the first node saw them (``ConnectionState.client_address``)."""
    server_address: str
    """The address the client connected to (on the first node)."""
    state: dict[str, Any]
    """``ConnectionState.export_negotiated`` of the connection, the binding request taken back out."""
    request: bytes
    """The binding SESSION_SETUP request (SMB2 header and body), processed again by the holder."""

    def restored_state(self) -> dict[str, Any]:
        """What ``ConnectionState.restore_negotiated`` applies on the holding node (the addresses too)."""
        return {**self.state, "client_address": self.client_address, "server_address": self.server_address}


def encode_handover(h: Handover) -> bytes:
    body = msgpack.packb([HANDOVER_VERSION, h.client_address, h.server_address, h.state, h.request],
                         use_bin_type=True)
    if len(body) > MAX_HANDOVER:
        raise HandoverError(f"hand-over of {len(body)} bytes exceeds {MAX_HANDOVER}")
    return len(body).to_bytes(4, "big") + body


def split_handover(data: bytes) -> tuple[bytes, bytes] | None:
    """(message body, bytes after it) once ``data`` holds a whole message; None while it does not.
    HandoverError for a length beyond :data:`MAX_HANDOVER`."""
    if len(data) < 4:
        return None
    n = int.from_bytes(data[:4], "big")
    if n > MAX_HANDOVER:
        raise HandoverError(f"hand-over of {n} bytes exceeds {MAX_HANDOVER}")
    if len(data) < 4 + n:
        return None
    return bytes(data[4:4 + n]), bytes(data[4 + n:])


def decode_handover(body: bytes) -> Handover:
    """The message of ``body`` (without the length), every field checked."""
    try:
        v = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as e:
        raise HandoverError(f"not msgpack: {e}") from e
    if not isinstance(v, list) or len(v) != 5:
        raise HandoverError("not a hand-over message")
    version, client, server, state, request = v
    if version != HANDOVER_VERSION:
        raise HandoverError(f"hand-over version {version!r} not supported (this node: {HANDOVER_VERSION})")
    if not isinstance(client, str) or not isinstance(server, str):
        raise HandoverError("addresses must be strings")
    if not isinstance(request, bytes) or len(request) < _SMB2_HEADER or request[:4] != b"\xfeSMB":
        raise HandoverError("the request is not an SMB2 message")
    if not isinstance(state, dict) or set(state) != set(STATE_FIELDS):
        raise HandoverError(f"state fields {sorted(state) if isinstance(state, dict) else state!r:.120}")
    for key, types in STATE_FIELDS.items():
        if type(state[key]) not in types:
            raise HandoverError(f"state {key}: unexpected {type(state[key]).__name__}")
    window = state["window"]
    if len(window) != 3 or not all(type(x) is int and x >= 0 for x in window):
        raise HandoverError("state window: three counts expected")
    if not all(type(x) is int for x in state["client_dialects"]):
        raise HandoverError("state client_dialects: numbers expected")
    return Handover(client, server, state, request)
