"""Engine.parse_frame: what a frame's first bytes select, and what ends the connection."""
from __future__ import annotations

import pytest

from sofs.engine.connection import Engine, ProtocolViolation
from sofs.engine.state import ConnectionState
from sofs.wire.header import Header


def _engine() -> Engine:
    return Engine(ConnectionState(conn_id=1), lambda sid: None)


def _request(command: int = 0, message_id: int = 0, next_command: int = 0) -> bytes:
    return Header(command=command, message_id=message_id, next_command=next_command, credits=1).encode() + b"\0" * 8


def test_a_lone_request_is_the_frame_itself() -> None:
    frame = memoryview(_request())
    chain = _engine().parse_frame(frame)
    assert len(chain.requests) == 1
    req = chain.requests[0]
    assert req.command == 0 and req.message_id == 0
    assert bytes(req.msg) == bytes(frame)


def test_a_compound_is_split_at_next_command() -> None:
    eng = _engine()
    eng.conn.window.grant(4)
    first = _request(command=13, message_id=0, next_command=72)
    frame = memoryview(first + _request(command=13, message_id=1))
    chain = eng.parse_frame(frame)
    assert [r.message_id for r in chain.requests] == [0, 1]
    assert [len(r.msg) for r in chain.requests] == [72, 72]


@pytest.mark.parametrize("frame", [b"", b"\xfe", b"\xfeSM", b"\xfeXYZ" + bytes(60), b"\x00SMB" + bytes(60),
                                   b"\xfdSMB" + bytes(60), b"\xffSMB" + bytes(60)],
                         ids=["empty", "fe", "fe-short", "fe-bad-magic", "unknown", "transform-unauth", "smb1-junk"])
def test_malformed_frames_end_the_connection(frame: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        _engine().parse_frame(memoryview(frame))
