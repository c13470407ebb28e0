"""The file-operation handlers through the ``smbprotocol`` client against a real sofs server.

Issue 2 acceptance 2 (open/read/write/list/stat/rename/remove/mkdir/rmdir, a large file round trip)
plus the Windows semantics the handlers enforce: share modes, delete-on-close, read-only shares,
streams, timestamps, query-directory patterns.
"""
from __future__ import annotations

import functools
import hashlib
import os
import time
from typing import Any

import pytest

smbclient_mod = pytest.importorskip("smbclient")
smbclient: Any = smbclient_mod
from conftest import USERS
from smbprotocol.exceptions import SMBOSError

pytestmark = pytest.mark.interop


class _Client:
    """``smbclient`` functions with the test server's port filled in."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return functools.partial(getattr(smbclient_mod, name), port=self.port)


@pytest.fixture
def smb(sofs_server):  # type: ignore[no-untyped-def]
    global smbclient
    smbclient_mod.register_session(sofs_server.host, username="alice", password=USERS["alice"],
                                   port=sofs_server.port)
    smbclient = _Client(sofs_server.port)
    yield sofs_server
    smbclient_mod.reset_connection_cache()


def _unc(srv, path: str, share: str = "data") -> str:  # type: ignore[no-untyped-def]
    return srv.unc(share, path)


def test_write_read_stat_listdir(smb) -> None:  # type: ignore[no-untyped-def]
    p = _unc(smb, "hello.txt")
    with smbclient.open_file(p, mode="w") as f:
        f.write("hello sofs")
    with smbclient.open_file(p, mode="r") as f:
        assert f.read() == "hello sofs"
    st = smbclient.stat(p)
    assert st.st_size == 10
    assert "hello.txt" in smbclient.listdir(_unc(smb, ""))
    assert (smb.share / "hello.txt").read_bytes() == b"hello sofs"
    smbclient.remove(p)
    assert not (smb.share / "hello.txt").exists()


def test_large_file_roundtrip(smb) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(12 * 1024 * 1024 + 123)
    p = _unc(smb, "big.bin")
    with smbclient.open_file(p, mode="wb") as f:
        f.write(data)
    with smbclient.open_file(p, mode="rb") as f:
        back = f.read()
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    assert (smb.share / "big.bin").stat().st_size == len(data)
    smbclient.remove(p)


def test_mkdir_rename_rmdir_and_patterns(smb) -> None:  # type: ignore[no-untyped-def]
    d = _unc(smb, "dir1")
    smbclient.mkdir(d)
    for name in ("a.txt", "b.txt", "c.log"):
        with smbclient.open_file(_unc(smb, f"dir1\\{name}"), mode="w") as f:
            f.write(name)
    assert sorted(smbclient.listdir(d)) == ["a.txt", "b.txt", "c.log"]
    assert sorted(smbclient.listdir(d, search_pattern="*.txt")) == ["a.txt", "b.txt"]
    assert smbclient.listdir(d, search_pattern="C.LOG") == ["c.log"]  # case-insensitive
    smbclient.rename(_unc(smb, "dir1\\a.txt"), _unc(smb, "dir1\\z.txt"))
    assert sorted(smbclient.listdir(d)) == ["b.txt", "c.log", "z.txt"]
    with pytest.raises(SMBOSError):  # not empty
        smbclient.rmdir(d)
    for name in ("b.txt", "c.log", "z.txt"):
        smbclient.remove(_unc(smb, f"dir1\\{name}"))
    smbclient.rmdir(d)
    assert not (smb.share / "dir1").exists()


def test_many_entries_enumerate_in_several_replies(smb) -> None:  # type: ignore[no-untyped-def]
    d = smb.share / "many"
    d.mkdir()
    names = {f"file-{i:04d}-{'x' * 40}" for i in range(600)}
    for n in names:
        (d / n).write_bytes(b"")
    assert set(smbclient.listdir(_unc(smb, "many"))) == names
    for n in names:
        (d / n).unlink()
    d.rmdir()


def test_sharing_violation_and_delete_pending(smb) -> None:  # type: ignore[no-untyped-def]
    p = _unc(smb, "locked.txt")
    with smbclient.open_file(p, mode="w", share_access=None) as f:
        f.write("x")
        with pytest.raises(SMBOSError) as ei:
            smbclient.open_file(p, mode="r").close()
        assert "0xc0000043" in str(ei.value).lower() or "sharing" in str(ei.value).lower()
    with smbclient.open_file(p, mode="r", share_access="rwd") as keep:
        smbclient.remove(p)  # delete-on-close open: pending until `keep` closes
        assert (smb.share / "locked.txt").exists()
        assert keep.read() == "x"
    assert not (smb.share / "locked.txt").exists()


def test_read_only_share_refuses_writes(smb) -> None:  # type: ignore[no-untyped-def]
    (smb.shares["ro"] / "r.txt").write_bytes(b"read me")
    with smbclient.open_file(_unc(smb, "r.txt", "ro"), mode="rb") as f:
        assert f.read() == b"read me"
    with pytest.raises(SMBOSError):
        smbclient.open_file(_unc(smb, "new.txt", "ro"), mode="wb").close()
    with pytest.raises(SMBOSError):
        smbclient.open_file(_unc(smb, "r.txt", "ro"), mode="ab").close()
    assert not (smb.shares["ro"] / "new.txt").exists()


def test_alternate_data_stream(smb) -> None:  # type: ignore[no-untyped-def]
    p = _unc(smb, "streamy.txt")
    with smbclient.open_file(p, mode="w") as f:
        f.write("main")
    with smbclient.open_file(p + ":side", mode="w") as f:
        f.write("side data")
    with smbclient.open_file(p + ":side", mode="r") as f:
        assert f.read() == "side data"
    with smbclient.open_file(p, mode="r") as f:
        assert f.read() == "main"
    assert (smb.share / "streamy.txt").read_bytes() == b"main"
    smbclient.remove(p)


def test_set_times(smb) -> None:  # type: ignore[no-untyped-def]
    p = _unc(smb, "timed.txt")
    with smbclient.open_file(p, mode="w") as f:
        f.write("t")
    when = time.time() - 86400 * 10
    smbclient.utime(p, times=(when, when))
    st = smbclient.stat(p)
    assert abs(st.st_mtime - when) < 1
    assert abs(os.stat(smb.share / "timed.txt").st_mtime - when) < 1
    smbclient.remove(p)


def test_overwrite_truncates_only_after_checks(smb) -> None:  # type: ignore[no-untyped-def]
    p = _unc(smb, "keep.txt")
    with smbclient.open_file(p, mode="w") as f:
        f.write("precious")
    with smbclient.open_file(p, mode="r", share_access=None), pytest.raises(SMBOSError):
        smbclient.open_file(p, mode="w").close()  # OVERWRITE_IF refused by the share mode
    assert (smb.share / "keep.txt").read_bytes() == b"precious"
    smbclient.remove(p)


def test_rename_rules(smb) -> None:  # type: ignore[no-untyped-def]
    d = _unc(smb, "rdir")
    smbclient.mkdir(d)
    f = _unc(smb, "rdir\\child.txt")
    with smbclient.open_file(f, mode="w", share_access="rwd") as fh:
        fh.write("c")
        with pytest.raises(SMBOSError):  # a directory with open files below it is not renamed
            smbclient.rename(d, _unc(smb, "rdir2"))
        other = _unc(smb, "other.txt")
        with smbclient.open_file(other, mode="w") as oh:
            oh.write("o")
        with pytest.raises(SMBOSError):  # an open target is not replaced
            smbclient.replace(other, f)
        smbclient.remove(other)
    smbclient.rename(d, _unc(smb, "rdir2"))
    assert (smb.share / "rdir2" / "child.txt").read_bytes() == b"c"
    smbclient.remove(_unc(smb, "rdir2\\child.txt"))
    smbclient.rmdir(_unc(smb, "rdir2"))
