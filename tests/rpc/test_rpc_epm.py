"""ept_map of the endpoint mapper (sofs.rpc.epm): towers built and parsed (golden floors)."""
from __future__ import annotations

import asyncio
import struct

from sofs.rpc.epm import (
    EPT_S_NOT_REGISTERED,
    EndpointMapper,
    decode_map,
    encode_map,
    tcp_tower,
    tower_interface,
)
from sofs.rpc.swn_ndr import SWN_SYNTAX


def map_request(tower: bytes, max_towers: int = 4) -> bytes:
    body = struct.pack("<I", 0)  # no object uuid
    body += struct.pack("<III", 0x20000, len(tower), len(tower)) + tower
    body += b"\x00" * (-len(body) % 4) + bytes(20) + struct.pack("<I", max_towers)
    return body


def test_tower_round_trip_and_port() -> None:
    t = tcp_tower(SWN_SYNTAX, 41944, "127.0.0.11")
    assert struct.unpack_from("<H", t)[0] == 5 and tower_interface(t) == SWN_SYNTAX.uuid
    assert t.endswith(bytes([0x01, 0x00, 0x09, 0x04, 0x00, 127, 0, 0, 11]))  # IP floor
    assert struct.pack(">H", 41944) in t
    tower, handle, max_towers = decode_map(map_request(t))
    assert (tower, handle, max_towers) == (t, bytes(20), 4)


def test_ept_map_answers_only_served_interfaces() -> None:
    epm = EndpointMapper({SWN_SYNTAX: 41944}, "127.0.0.12")
    out = asyncio.run(epm.call(3, map_request(tcp_tower(SWN_SYNTAX, 0, "0.0.0.0"))))
    assert out[-4:] == bytes(4) and tcp_tower(SWN_SYNTAX, 41944, "127.0.0.12") in out
    from sofs.rpc.srvsvc import SRVSVC_SYNTAX
    out = asyncio.run(epm.call(3, map_request(tcp_tower(SRVSVC_SYNTAX, 0, "0.0.0.0"))))
    assert out == encode_map(bytes(20), [], EPT_S_NOT_REGISTERED)
