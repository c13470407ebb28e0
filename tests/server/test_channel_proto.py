"""The hand-over message of a binding connection carried to another node (sofs.server.channel_proto):
golden bytes, round trip with a real connection state, and every malformed message refused."""
from __future__ import annotations

from typing import Any

import msgpack
import pytest

from sofs.engine.state import ConnectionState
from sofs.server.channel_proto import (
    HANDOVER_VERSION,
    MAX_HANDOVER,
    STATE_FIELDS,
    Handover,
    HandoverError,
    decode_handover,
    encode_handover,
    split_handover,
)

REQUEST = b"\xfeSMB" + bytes(60) + b"\x19\x00\x01\x00"  # SMB2 header + the start of a SESSION_SETUP


def _conn() -> ConnectionState:
    c = ConnectionState(conn_id=7, client_address="127.0.0.1:50000", server_address="127.0.0.12:445")
    c.dialect, c.negotiated, c.client_guid = 0x311, True, bytes(range(16))
    c.client_dialects = (0x202, 0x311)
    c.cipher_id, c.signing_algorithm, c.preauth_hash = 2, 1, b"\x55" * 64
    c.supports_multi_credit = True
    c.window.low, c.window.high, c.window.max_credits = 2, 33, 8192
    return c


def test_round_trip_restores_the_negotiated_state_on_another_connection() -> None:
    first = _conn()
    state = first.export_negotiated(1, 1)
    h = Handover(first.client_address, first.server_address, state, REQUEST)
    data = encode_handover(h)
    got = split_handover(data + b"\x00\x00\x00\x44more")
    assert got is not None and got[1] == b"\x00\x00\x00\x44more"
    back = decode_handover(got[0])
    assert back == h
    other = ConnectionState(conn_id=9)
    other.restore_negotiated(back.restored_state())
    for name in STATE_FIELDS:
        if name != "window":
            assert getattr(other, name) == getattr(first, name), name
    assert (other.window.low, other.window.high, other.window.max_credits) == (1, 33, 8192)
    assert other.client_address == "127.0.0.1:50000" and other.server_address == "127.0.0.12:445"
    assert other.migrated


GOLDEN = bytes.fromhex(
    "0000018f9501a3633a31a3733a32de0012a96369706865725f696400b3636c69656e745f6361706162696c6974696573"
    "00af636c69656e745f6469616c6563747391cd0311ab636c69656e745f67756964c41047474747474747474747474747"
    "474747b4636c69656e745f73656375726974795f6d6f646500a76469616c65637400ad6d61785f726561645f73697a65"
    "00b16d61785f7472616e736163745f73697a6500ae6d61785f77726974655f73697a6500aa6e65676f746961746564c3"
    "ad6e6578745f6173796e635f696400ac707265617574685f68617368c400b37365727665725f6361706162696c697469"
    "657300b47365727665725f73656375726974795f6d6f646500b17369676e696e675f616c676f726974686dc0ad736d62"
    "315f7570677261646564c2b5737570706f7274735f6d756c74695f637265646974c2a677696e646f7793010203c444fe"
    "534d42000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000019000100")
"""Length 399; array of 5: version 1, "c:1", "s:2", a map of the 18 state fields (sorted), bin 8 of 68."""


def _golden_handover() -> Handover:
    state: dict[str, Any] = {k: 0 for k in STATE_FIELDS}
    state |= {"negotiated": True, "client_guid": b"G" * 16, "client_dialects": [0x311], "signing_algorithm": None,
              "preauth_hash": b"", "supports_multi_credit": False, "window": [1, 2, 3], "smb1_upgraded": False}
    return Handover("c:1", "s:2", dict(sorted(state.items())), REQUEST)


def test_golden_bytes() -> None:
    assert encode_handover(_golden_handover()) == GOLDEN
    got = split_handover(GOLDEN)
    assert got is not None and got[1] == b""
    assert decode_handover(got[0]) == _golden_handover()


def _body(**change: Any) -> bytes:
    state = _conn().export_negotiated(1, 1)
    fields: dict[str, Any] = {"version": HANDOVER_VERSION, "client": "c", "server": "s", "state": state,
                              "request": REQUEST}
    for k, v in change.items():
        if k.startswith("state_"):
            name = k[len("state_"):]
            if v is KeyError:
                state.pop(name)
            else:
                state[name] = v
        else:
            fields[k] = v
    return msgpack.packb(list(fields.values()), use_bin_type=True)


@pytest.mark.parametrize("body", [
    b"\xc1",                                   # not msgpack
    msgpack.packb({"a": 1}),                   # not an array
    msgpack.packb([1, "c", "s", {}]),          # too short
    _body(version=2),
    _body(client=5),
    _body(request=b"\xfeSMB"),                 # shorter than a header
    _body(request=b"\xffSMB" + bytes(64)),     # SMB1
    _body(state_dialect="3.1.1"),
    _body(state_preauth_hash=KeyError),        # a field missing
    _body(state_conn_id=3),                    # a field that does not travel (setattr on anything)
    _body(state_window=[1, 2]),
    _body(state_window=[1, -2, 3]),
    _body(state_client_dialects=["x"]),
    _body(state_negotiated=1),                 # bool expected, not int
])
def test_malformed_messages_are_refused(body: bytes) -> None:
    with pytest.raises(HandoverError):
        decode_handover(body)


def test_partial_and_oversized_frames() -> None:
    data = encode_handover(Handover("c", "s", _conn().export_negotiated(1, 1), REQUEST))
    assert split_handover(data[:3]) is None
    assert split_handover(data[:-1]) is None
    with pytest.raises(HandoverError):
        split_handover((MAX_HANDOVER + 1).to_bytes(4, "big"))
    with pytest.raises(HandoverError):
        encode_handover(Handover("c", "s", {}, b"\xfeSMB" + bytes(MAX_HANDOVER)))
