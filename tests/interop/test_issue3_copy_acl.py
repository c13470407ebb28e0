"""Issue 3 interop: server-side copy moves no data over the connection; share ACLs, ABE and
security descriptors through smbprotocol against a real ``sofs serve``.

Bytes on the wire are counted by a loopback TCP relay between the client and the server.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from tests.conftest import USERS, start_sofs

smbclient = pytest.importorskip("smbclient")
MiB = 1024 * 1024


class CountingRelay:
    """127.0.0.1:<port> → server, counting bytes each way."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.up = self.down = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket, up: bool) -> None:
        try:
            while data := a.recv(1 << 20):
                b.sendall(data)
                with self._lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @property
    def total(self) -> int:
        return self.up + self.down

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server():
    srv = start_sofs(shares={
        "data": "",
        "hv": 'full_access = ["HyperVHosts"]',
        "mixed": 'full_access = ["alice"]\nread_access = ["bob"]',
        "abe": 'folder_enumeration_mode = "AccessBased"',
    })
    yield srv
    srv.stop()


def _copy_test(server, size: int) -> dict[str, float]:
    relay = CountingRelay((server.host, server.port))
    kw = {"username": "alice", "password": USERS["alice"], "port": relay.port}
    src = server.shares["data"] / f"src{size}.bin"
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    unc = f"\\\\{server.host}\\data"
    try:
        smbclient.register_session(server.host, **kw)
        before = relay.total
        t0 = time.perf_counter()
        smbclient.copyfile(f"{unc}\\src{size}.bin", f"{unc}\\ssc{size}.bin", **kw)
        t_ssc = time.perf_counter() - t0
        ssc_bytes = relay.total - before
        before = relay.total
        t0 = time.perf_counter()
        with smbclient.open_file(f"{unc}\\src{size}.bin", "rb", **kw) as r, \
                smbclient.open_file(f"{unc}\\rw{size}.bin", "wb", **kw) as w:
            while chunk := r.read(4 * MiB):
                w.write(chunk)
        t_rw = time.perf_counter() - t0
        rw_bytes = relay.total - before
    finally:
        smbclient.reset_connection_cache()
        relay.close()
    data = src.read_bytes()
    assert (server.shares["data"] / f"ssc{size}.bin").read_bytes() == data
    assert (server.shares["data"] / f"rw{size}.bin").read_bytes() == data
    for p in ("src", "ssc", "rw"):
        (server.shares["data"] / f"{p}{size}.bin").unlink()
    return {"ssc_s": t_ssc, "ssc_bytes": ssc_bytes, "rw_s": t_rw, "rw_bytes": rw_bytes}


def test_server_side_copy_32mib_moves_no_data(server):
    r = _copy_test(server, 32 * MiB)
    print("32 MiB:", r)
    assert r["ssc_bytes"] < 256 * 1024, r  # requests/responses only, no file data
    assert r["rw_bytes"] > 64 * MiB, r  # read + write carry the data twice


@pytest.mark.slow
def test_server_side_copy_1gib(server):
    r = _copy_test(server, 1024 * MiB)
    print("1 GiB:", r)
    assert r["ssc_bytes"] < 4 * MiB, r


def _listdir(server, share: str, user: str) -> list[str]:
    try:
        return sorted(smbclient.listdir(f"\\\\{server.host}\\{share}", username=user,
                                        password=USERS[user], port=server.port))
    finally:
        smbclient.reset_connection_cache()


def test_share_acl_tree_connect_refused_for_non_member(server):
    assert _listdir(server, "hv", "alice") == []
    with pytest.raises(Exception, match="ACCESS_DENIED|0xc0000022|Access"):
        _listdir(server, "hv", "bob")


def test_share_acl_read_only_for_reader(server):
    (server.shares["mixed"] / "f.txt").write_bytes(b"x")
    kw = {"username": "bob", "password": USERS["bob"], "port": server.port}
    unc = f"\\\\{server.host}\\mixed"
    try:
        with smbclient.open_file(f"{unc}\\f.txt", "rb", **kw) as f:
            assert f.read() == b"x"
        with pytest.raises(Exception, match="ACCESS_DENIED|0xc0000022|Access"), \
                smbclient.open_file(f"{unc}\\new.txt", "wb", **kw) as f:
            f.write(b"y")
    finally:
        smbclient.reset_connection_cache()


def test_abe_hides_unreadable_entries(server):
    from sofs.auth.users import UserDb, UserEntry
    from sofs.config import ServerConfig
    from sofs.wire.dtyp import SecurityDescriptor

    db = UserDb(ServerConfig().domain_sid, [UserEntry("alice", "x", groups=("HyperVHosts",)),
                                            UserEntry("bob", "y")])
    alice_sid = db.lookup("alice").sid
    root = server.shares["abe"]
    (root / "public.txt").write_bytes(b"p")
    (root / "secret.txt").write_bytes(b"s")
    sd = SecurityDescriptor.from_sddl(f"O:{alice_sid}D:(A;;FA;;;{alice_sid})")
    os.setxattr(root / "secret.txt", "user.sofs.sd", sd.encode())
    assert _listdir(server, "abe", "alice") == ["public.txt", "secret.txt"]
    assert _listdir(server, "abe", "bob") == ["public.txt"]
