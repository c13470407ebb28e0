"""The pure part of worker placement (sofs.server.placement): NEGOTIATE peeking, session ids that name
their worker, and the book of connections per worker."""
from __future__ import annotations

import os
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from sofs.server.placement import (
    PEEK_BYTES,
    Placement,
    negotiate_client_guid,
    session_id_base,
    session_node,
    session_worker,
)
from sofs.wire.header import Header
from sofs.wire.messages.negotiate import NegotiateRequest

GUID = bytes(range(1, 17))


def _negotiate_frame(guid: bytes = GUID) -> bytes:
    body = NegotiateRequest(dialects=[0x0202, 0x0311], security_mode=1, capabilities=0x7F, client_guid=guid).encode()
    msg = Header(command=0, message_id=0).encode() + body
    return len(msg).to_bytes(4, "big") + msg


def test_client_guid_of_a_real_negotiate_request() -> None:
    frame = _negotiate_frame()
    assert negotiate_client_guid(frame) == GUID
    assert negotiate_client_guid(frame[:PEEK_BYTES]) == GUID


def test_golden_bytes() -> None:
    frame = (b"\x00\x00\x00\x66" + b"\xfeSMB" + struct.pack("<H", 64) + bytes(6) + struct.pack("<H", 0)
             + bytes(64 - 14) + struct.pack("<HHHHI", 36, 1, 1, 0, 0x7F) + GUID + bytes(8) + b"\x02\x02")
    assert negotiate_client_guid(frame) == GUID


@pytest.mark.parametrize("mutate", [
    lambda f: f[:PEEK_BYTES - 1],                       # too short to hold the ClientGuid
    lambda f: b"\x85" + f[1:],                          # a NetBIOS session message other than 0
    lambda f: f[:4] + b"\xffSMB" + f[8:],               # SMB1
    lambda f: f[:4] + b"\xfdSMB" + f[8:],               # a transform header (encrypted)
    lambda f: f[:16] + b"\x01\x00" + f[18:],            # SESSION_SETUP, not NEGOTIATE
    lambda f: f[:68] + b"\x24\x01" + f[70:],            # wrong StructureSize
    lambda f: b"\x00\x00\x00\x10" + f[4:],              # a frame too short for a NEGOTIATE
])
def test_anything_else_has_no_client_guid(mutate) -> None:  # type: ignore[no-untyped-def]
    assert negotiate_client_guid(mutate(_negotiate_frame())) is None


def test_session_ids_name_their_worker() -> None:
    base = session_id_base(5, b"\xaa\xbb\xcc")
    assert base == (0xCCBBAA << 40) | (5 << 32) | 1
    assert session_worker(base) == 5
    assert session_worker(base + 123456) == 5
    with pytest.raises(ValueError):
        session_id_base(256)


def test_a_cluster_nodes_session_ids_name_the_node() -> None:
    base = session_id_base(0, b"\xaa\xbb\xcc", node=3)
    assert base == (0xCCBB03 << 40) | 1
    assert session_node(base) == 3 and session_node(base + 99) == 3 and session_worker(base) == 0
    assert session_node(session_id_base(0, b"\xaa\xbb\xcc")) == 0xAA  # standalone: random bits there
    with pytest.raises(ValueError):
        session_id_base(0, node=256)


def test_least_loaded_then_lowest_index() -> None:
    p = Placement(3)
    for w in (2, 0, 1):
        p.worker_up(w)
    picks = []
    for _ in range(6):
        w = p.choose(None)
        assert w is not None
        p.opened(w, None)
        picks.append(w)
    assert picks == [0, 1, 2, 0, 1, 2]


def test_same_client_guid_same_worker_while_it_has_a_connection() -> None:
    p = Placement(2)
    p.worker_up(0)
    p.worker_up(1)
    t1 = p.opened(p.choose(GUID), GUID)  # type: ignore[arg-type]
    assert p.conns[t1][0] == 0
    t2 = p.opened(p.choose(GUID), GUID)  # type: ignore[arg-type]  # a second channel: same worker
    assert p.conns[t2][0] == 0
    other = p.choose(b"\x09" * 16)
    assert other == 1  # another client: the less loaded worker
    p.closed(t1)
    assert p.choose(GUID) == 0  # one connection of the client is still there
    p.closed(t2)
    assert GUID not in p.clients
    assert p.choose(GUID) == 0  # gone: placed by load again


def test_zero_client_guid_is_no_client() -> None:
    p = Placement(2)
    p.worker_up(0)
    p.worker_up(1)
    p.opened(0, bytes(16))
    assert p.clients == {}
    assert p.choose(bytes(16)) == 1


def test_a_dead_worker_loses_its_connections_and_clients() -> None:
    p = Placement(2)
    p.worker_up(0)
    p.worker_up(1)
    t = p.opened(1, GUID)
    p.opened(0, None)
    assert p.worker_gone(1) == [t]
    assert p.choose(GUID) == 0
    assert p.choose(None) == 0
    p.closed(t)  # a late report of a connection of the dead worker changes nothing
    assert p.load == {0: 1, 1: 0}
    assert Placement(2).choose(None) is None  # nobody up


def test_worker_count_settings_are_checked(tmp_path: Path) -> None:
    from sofs.config import ConfigError, ServerConfig, validate
    from sofs.server.node_smb import node_server_config
    from sofs.server.workers import worker_count

    assert worker_count(ServerConfig(workers=3)) == 3
    assert worker_count(ServerConfig()) == (os.cpu_count() or 1)  # 0: one per core
    for bad in (-1, 65, True, "2"):
        with pytest.raises(ConfigError, match="workers"):
            validate(ServerConfig(workers=bad))  # type: ignore[arg-type]
    # a cluster node: the cluster's setting (sofs cluster up --workers) wins, then smb.toml's; unset: one
    (tmp_path / "smb.toml").write_text("[server]\nworkers = 2\n")
    ctx = SimpleNamespace(state_dir=str(tmp_path), smb_port=445, address="127.0.0.1", addresses=(),
                          config=SimpleNamespace(name="", workers=0))
    assert node_server_config(ctx).workers == 2
    ctx.config.workers = 3
    assert node_server_config(ctx).workers == 3
    (tmp_path / "smb.toml").write_text("[server]\n")
    ctx.config.workers = 0
    assert node_server_config(ctx).workers == 1
    # the main process of a node serves clients: a dedicated coordinator is refused, not ignored
    (tmp_path / "smb.toml").write_text("[server]\ndedicated_coordinator = true\n")
    with pytest.raises(ConfigError, match="dedicated_coordinator"):
        node_server_config(ctx)
