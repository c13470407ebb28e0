"""Robustness over a real socket (issue 2 acceptance 4): truncated, oversized and random PDUs.

Each example opens a connection to a running ``sofs serve``, negotiates, then sends a mutated request
(random command/body, truncation, bogus lengths, bad NextCommand chains, oversize frame headers). The
server may answer with an error or drop that connection; afterwards a well-behaved client must still be
served, and the server process must be alive.
"""
from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofs.wire.constants import Command
from sofs.wire.header import Header
from sofs.wire.messages import EchoRequest, NegotiateRequest

pytestmark = pytest.mark.interop


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def negotiate() -> bytes:
    h = Header(command=Command.NEGOTIATE, credits=64, message_id=0)
    return h.encode() + NegotiateRequest((0x0202, 0x0210, 0x0300), 1, 0, b"f" * 16).encode()


def recv_some(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except (TimeoutError, OSError):
        return b""


def echo_ok(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(frame(negotiate()))
        if not recv_some(s):
            return False
        h = Header(command=Command.ECHO, credits=1, message_id=1)
        s.sendall(frame(h.encode() + EchoRequest().encode()))
        data = recv_some(s)
        return len(data) >= 4 + 64 and Header.decode(data, 4).status == 0


mutations = st.one_of(
    st.tuples(st.just("random"), st.sampled_from(list(Command)), st.binary(max_size=300)),
    st.tuples(st.just("truncate"), st.sampled_from(list(Command)), st.integers(0, 120)),
    st.tuples(st.just("nextcmd"), st.integers(0, 0xFFFFFFFF), st.binary(max_size=80)),
    st.tuples(st.just("bigframe"), st.integers(0x100000, 0xFFFFFF), st.binary(max_size=16)),
    st.tuples(st.just("rawbytes"), st.binary(min_size=1, max_size=200), st.just(0)),
)


def build(m) -> bytes:
    kind, a, b = m
    if kind == "random":
        h = Header(command=int(a), credits=8, message_id=1, session_id=0x1234)
        return frame(h.encode() + b)
    if kind == "truncate":
        h = Header(command=int(a), credits=8, message_id=1)
        return frame((h.encode() + bytes(120))[: 64 + b])
    if kind == "nextcmd":
        h = Header(command=Command.ECHO, credits=8, message_id=1, next_command=a)
        return frame(h.encode() + EchoRequest().encode() + b)
    if kind == "bigframe":
        return struct.pack(">I", a) + b
    return a


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(m=mutations)
def test_malformed_input_never_kills_the_server(sofs_server, m) -> None:
    with socket.create_connection((sofs_server.host, sofs_server.port), timeout=2) as s:
        s.sendall(frame(negotiate()))
        recv_some(s)
        try:
            s.sendall(build(m))
        except OSError:
            pass
        s.settimeout(0.2)
        recv_some(s)
    assert sofs_server.proc.poll() is None, sofs_server.log_text()[-3000:]


def test_server_still_serves_after_fuzzing(sofs_server) -> None:
    assert echo_ok(sofs_server.host, sofs_server.port)
    assert "Traceback" not in sofs_server.log_text()
