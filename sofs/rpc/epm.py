"""The RPC endpoint mapper's ept_map ([C706] appendix I / [MS-RPCE] 2.2.1.2.5 towers), enough for a client
to find the Witness service's TCP port on port 135, as Windows clients do ([MS-SWN] 2.1) — pure.

Only ``ept_map`` (opnum 3) is served: a request whose tower names an interface this node serves over
ncacn_ip_tcp gets one tower back with the service's port and the address asked on; anything else gets
no tower and EPT_S_NOT_REGISTERED. Other opnums (ept_lookup, ept_insert...) fault with op_rng_error.
"""
from __future__ import annotations

import ipaddress
import struct
import uuid

from sofs.rpc.dcerpc import NCA_S_OP_RNG_ERROR, NDR20, RpcFault, SyntaxId
from sofs.rpc.ndr import NdrError, NdrReader, NdrWriter

EPM_SYNTAX = SyntaxId(uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3)
OP_EPT_MAP = 3
EPT_S_NOT_REGISTERED = 0x16C9A0D6
PROT_UUID, PROT_NCACN, PROT_TCP, PROT_IP = 0x0D, 0x0B, 0x07, 0x09


def _floor(lhs: bytes, rhs: bytes) -> bytes:
    return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs


def tcp_tower(syntax: SyntaxId, port: int, address: str) -> bytes:
    """The five-floor tower of ``syntax`` over ncacn_ip_tcp at ``address:port``."""
    floors = [
        _floor(bytes([PROT_UUID]) + syntax.uuid.bytes_le + struct.pack("<H", syntax.version & 0xFFFF),
               struct.pack("<H", syntax.version >> 16)),
        _floor(bytes([PROT_UUID]) + NDR20.uuid.bytes_le + struct.pack("<H", NDR20.version & 0xFFFF),
               struct.pack("<H", 0)),
        _floor(bytes([PROT_NCACN]), struct.pack("<H", 0)),
        _floor(bytes([PROT_TCP]), struct.pack(">H", port)),
        _floor(bytes([PROT_IP]), ipaddress.IPv4Address(address).packed),
    ]
    return struct.pack("<H", len(floors)) + b"".join(floors)


def tower_interface(tower: bytes) -> uuid.UUID | None:
    """The interface UUID of a tower's first floor (None if the tower is not one)."""
    if len(tower) < 2 + 2 + 19:
        return None
    lhs_len = struct.unpack_from("<H", tower, 2)[0]
    if lhs_len < 17 or tower[4] != PROT_UUID or len(tower) < 5 + 16:
        return None
    return uuid.UUID(bytes_le=bytes(tower[5:21]))


def decode_map(stub: bytes) -> tuple[bytes, bytes, int]:
    """ept_map request → (map tower octets, entry handle, max towers)."""
    r = NdrReader(stub)
    if r.pointer():  # object uuid
        r._take(16)
    tower = b""
    if r.pointer():
        length = r.u32()
        if r.u32() != length:  # conformant array max_count
            raise NdrError("tower length mismatch")
        tower = r._take(length)
    r.align(4)
    handle = r._take(20)
    return tower, handle, r.u32()


def encode_map(handle: bytes, towers: list[bytes], status: int) -> bytes:
    w = NdrWriter()
    w.buf += handle
    w.u32(len(towers))
    w.u32(max(len(towers), 1))  # conformant varying array of tower pointers: max_count, offset, actual
    w.u32(0)
    w.u32(len(towers))
    for _ in towers:
        w.pointer(True)
    for t in towers:
        w.u32(len(t))
        w.u32(len(t))
        w.buf += t
        w.align(4)
    w.u32(status)
    return w.getvalue()


class EndpointMapper:
    """ept_map for the services of one node: ``{syntax: port}``; ``address`` is the listener's own."""

    syntax = EPM_SYNTAX

    def __init__(self, services: dict[SyntaxId, int], address: str) -> None:
        self.services = services
        self.address = address

    async def call(self, opnum: int, stub: bytes) -> bytes:
        if opnum != OP_EPT_MAP:
            raise RpcFault(NCA_S_OP_RNG_ERROR)
        tower, _handle, max_towers = decode_map(stub)
        iface = tower_interface(tower)
        hit = next(((s, p) for s, p in self.services.items() if s.uuid == iface), None)
        if hit is None or max_towers < 1:
            return encode_map(bytes(20), [], EPT_S_NOT_REGISTERED)
        return encode_map(bytes(20), [tcp_tower(hit[0], hit[1], self.address)], 0)
