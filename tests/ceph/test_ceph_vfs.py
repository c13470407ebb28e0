"""CephVfs against a real Ceph: the same [MS-FSA] behaviour as PosixVfs, seen through the Vfs interface only."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from ceph_fixture import client_mount, shared_ceph

from sofs.vfs.base import EaEntry, VfsError
from sofs.vfs.ceph import CephVfs
from sofs.vfs.cephlib import CephMount
from sofs.wire.fscc_constants import FILETIME_UNIX_EPOCH
from sofs.wire.fscc_constants import CreateAction as A
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.status import NtStatus as S


@pytest.fixture(scope="module")
def mount() -> Iterator[CephMount]:
    m = client_mount(shared_ceph())
    yield m
    m.shutdown()


@pytest.fixture
def vfs(mount: CephMount) -> CephVfs:
    return CephVfs(mount, f"/sofs-tests/vfs-{uuid.uuid4().hex}")


def _put(vfs: CephVfs, path: str, data: bytes) -> None:
    h, _ = vfs.open(path, D.OVERWRITE_IF)
    vfs.write(h, 0, data)
    vfs.close(h)


def _get(vfs: CephVfs, path: str) -> bytes:
    h, _ = vfs.open(path, D.OPEN)
    try:
        return vfs.read(h, 0, 1 << 20)
    finally:
        vfs.close(h)


DISPOSITIONS = [
    (D.SUPERSEDE, False, A.CREATED, b""), (D.SUPERSEDE, True, A.SUPERSEDED, b""),
    (D.OPEN, False, S.OBJECT_NAME_NOT_FOUND, None), (D.OPEN, True, A.OPENED, b"old"),
    (D.CREATE, False, A.CREATED, b""), (D.CREATE, True, S.OBJECT_NAME_COLLISION, b"old"),
    (D.OPEN_IF, False, A.CREATED, b""), (D.OPEN_IF, True, A.OPENED, b"old"),
    (D.OVERWRITE, False, S.OBJECT_NAME_NOT_FOUND, None), (D.OVERWRITE, True, A.OVERWRITTEN, b""),
    (D.OVERWRITE_IF, False, A.CREATED, b""), (D.OVERWRITE_IF, True, A.OVERWRITTEN, b""),
]


@pytest.mark.parametrize("disp,exists,expected,content", DISPOSITIONS)
def test_dispositions(vfs: CephVfs, disp: D, exists: bool, expected: object, content: bytes | None) -> None:
    if exists:
        _put(vfs, "f.txt", b"old")
    if isinstance(expected, S):
        with pytest.raises(VfsError) as ei:
            vfs.open("F.TXT" if exists else "f.txt", disp)
        assert ei.value.status == expected
    else:
        h, action = vfs.open("F.TXT" if exists else "f.txt", disp)
        assert action == expected and h.path == "f.txt" and h.fd == -1
        vfs.close(h)
    if content is None:
        with pytest.raises(VfsError):
            vfs.stat_path("f.txt")
    else:
        assert _get(vfs, "f.txt") == content


def test_directories_types_and_paths(vfs: CephVfs) -> None:
    h, action = vfs.open("Dir", D.CREATE, O.DIRECTORY_FILE)
    assert action == A.CREATED and h.is_directory
    assert vfs.stat(h).attributes & FA.DIRECTORY
    vfs.close(h)
    for path, opts, status in [("dir", O.NON_DIRECTORY_FILE, S.FILE_IS_A_DIRECTORY),
                               ("nope\\x", 0, S.OBJECT_PATH_NOT_FOUND), ("..\\x", 0, S.OBJECT_PATH_SYNTAX_BAD),
                               (".sofs", 0, S.ACCESS_DENIED)]:
        with pytest.raises(VfsError) as ei:
            vfs.open(path, D.OPEN, opts)
        assert ei.value.status == status, path
    _put(vfs, "DIR\\a.txt", b"x")
    with pytest.raises(VfsError) as ei:
        vfs.open("dir\\A.TXT", D.OPEN, O.DIRECTORY_FILE)
    assert ei.value.status == S.NOT_A_DIRECTORY
    d, _ = vfs.open("dir", D.OPEN)
    assert [e.name for e in vfs.list_directory(d)] == [".", "..", "a.txt"]
    assert [e.name for e in vfs.list_directory(d, "*.TXT")] == ["a.txt"]
    assert not vfs.is_directory_empty(d)
    assert vfs.child_exists(d, "a.txt") and not vfs.child_exists(d, "b.txt")
    with pytest.raises(VfsError) as ei:
        vfs.delete(d)
    assert ei.value.status == S.DIRECTORY_NOT_EMPTY
    vfs.close(d)
    root, _ = vfs.open("", D.OPEN)
    assert ".sofs" not in [e.name for e in vfs.list_directory(root)]  # streams live there, hidden
    vfs.close(root)


def test_io_and_file_ids_from_inodes(vfs: CephVfs, mount: CephMount) -> None:
    h, _ = vfs.open("data.bin", D.CREATE)
    payload = os.urandom(3 << 20)
    assert vfs.write(h, 0, memoryview(payload)) == len(payload)
    buf = bytearray(len(payload) + 10)
    assert vfs.readinto(h, 0, buf) == len(payload) and bytes(buf[:len(payload)]) == payload
    vfs.flush(h)
    info = vfs.stat(h)
    assert info.end_of_file == len(payload) and info.file_id == mount.lstat(vfs.abs(("data.bin",))).ino
    vfs.set_end_of_file(h, 10)
    assert vfs.stat(h).end_of_file == 10
    vfs.set_allocation_size(h, 4)
    assert vfs.stat(h).end_of_file == 4
    vfs.close(h)
    h2, _ = vfs.open("DATA.BIN", D.OPEN)
    assert h2.file_id == info.file_id  # same inode, same FileId, from any client
    vfs.close(h2)


def test_times_keep_100ns_and_attributes_and_creation_time(vfs: CephVfs) -> None:
    h, _ = vfs.open("t.txt", D.CREATE, 0, int(FA.HIDDEN))
    assert vfs.stat(h).attributes == FA.HIDDEN | FA.ARCHIVE
    ft = FILETIME_UNIX_EPOCH + 16_000_000_000_000_123  # a FILETIME with 100 ns precision
    vfs.set_basic_info(h, creation_time=ft - 5, last_access_time=ft + 1, last_write_time=ft, attributes=int(FA.READONLY))
    info = vfs.stat(h)
    assert (info.creation_time, info.last_access_time, info.last_write_time) == (ft - 5, ft + 1, ft)
    assert info.attributes == FA.READONLY
    a, m = vfs.get_times_ns(h)
    vfs.set_times_ns(h, a, m + 100)
    assert vfs.stat(h).last_write_time == ft + 1
    vfs.close(h)


def test_security_descriptor_eas_and_overwrite(vfs: CephVfs) -> None:
    h, _ = vfs.open("s.txt", D.CREATE)
    assert vfs.get_security_descriptor(h) is None
    vfs.set_security_descriptor(h, b"\x01\x00\x04\x80" + bytes(16))
    vfs.set_eas(h, [EaEntry(b"color", b"blue"), EaEntry(b"size", b"9")])
    vfs.set_eas(h, [EaEntry(b"SIZE", b"")])
    assert vfs.get_eas(h) == [EaEntry(b"COLOR", b"blue")]
    vfs.write(h, 0, b"abc")
    vfs.close(h)
    h, action, _info, sd = vfs.open_stat("S.TXT", D.OVERWRITE_IF)
    assert action == A.OVERWRITTEN and sd == b"\x01\x00\x04\x80" + bytes(16)
    vfs.overwrite(h, int(FA.SYSTEM))
    assert vfs.get_eas(h) == [] and vfs.stat(h).end_of_file == 0
    assert vfs.stat(h).attributes == FA.SYSTEM | FA.ARCHIVE
    vfs.close(h)


def test_streams(vfs: CephVfs) -> None:
    _put(vfs, "f.txt", b"main")
    h, action = vfs.open("F.txt:Strm", D.CREATE)
    assert action == A.CREATED and h.stream == "Strm" and h.path == "f.txt"
    vfs.write(h, 0, b"stream data")
    assert vfs.stat(h).end_of_file == 11
    assert [(s.name, s.size) for s in vfs.list_streams(h)] == [("::$DATA", 4), (":Strm:$DATA", 11)]
    assert vfs.rename(h, ":other", False) == "f.txt:other"
    vfs.close(h)
    assert _get(vfs, "f.txt:OTHER") == b"stream data"
    with pytest.raises(VfsError) as ei:
        vfs.open("f.txt:Strm", D.OPEN)
    assert ei.value.status == S.OBJECT_NAME_NOT_FOUND
    h, _ = vfs.open("f.txt:other", D.OPEN)
    vfs.delete(h)
    vfs.close(h)
    b, _ = vfs.open("f.txt", D.OPEN)
    assert [s.name for s in vfs.list_streams(b)] == ["::$DATA"]
    vfs.close(b)


def test_rename_link_delete(vfs: CephVfs) -> None:
    _put(vfs, "a.txt", b"A")
    _put(vfs, "b.txt", b"B")
    h, _ = vfs.open("a.txt", D.OPEN)
    with pytest.raises(VfsError) as ei:
        vfs.rename(h, "B.TXT", False)
    assert ei.value.status == S.OBJECT_NAME_COLLISION
    assert vfs.rename(h, "A.TXT", False) == "A.TXT"  # case-only rename
    vfs.open("sub", D.CREATE, O.DIRECTORY_FILE)[0].closed = False
    assert vfs.rename(h, "sub\\c.txt", False) == "sub\\c.txt"
    vfs.link(h, "hard.txt", False)
    assert vfs.stat(h).nlink == 2
    assert vfs.rename(h, "b.txt", True) == "b.txt"  # replaces b.txt
    assert _get(vfs, "B.txt") == b"A" and _get(vfs, "hard.txt") == b"A"
    vfs.delete(h)
    vfs.close(h)
    with pytest.raises(VfsError):
        vfs.stat_path("b.txt")
    assert _get(vfs, "hard.txt") == b"A"


def test_fs_stats_are_the_quota(vfs: CephVfs, mount: CephMount) -> None:
    assert vfs.fs_stats().total_units > 0
    q, _ = vfs.open("quota", D.CREATE, O.DIRECTORY_FILE)
    vfs.close(q)
    fd = mount.open(vfs.abs(("quota",)), os.O_RDONLY | os.O_DIRECTORY)
    try:
        mount.fsetxattr(fd, "ceph.quota.max_bytes", str(64 << 20).encode())
    finally:
        mount.close(fd)
    c = shared_ceph()
    vol = CephMount(str(c.conf), "smb", "cephfs", {"keyring": str(c.client_keyring), "client_quota_df": "true"},
                    root=vfs.ceph_root + "/quota")  # a volume is mounted at its root, as sofs.vfs.mounts does
    try:
        st = CephVfs(vol, "/").fs_stats()
        assert st.total_units * st.sectors_per_unit * st.bytes_per_sector == 64 << 20
    finally:
        vol.shutdown()


def test_allocation_size_is_remembered_until_truncated_below(vfs: CephVfs) -> None:
    h, _ = vfs.open("alloc.bin", D.CREATE)
    vfs.set_allocation_size(h, 1 << 20)  # CephFS reserves nothing: the size asked for is reported
    assert (vfs.stat(h).allocation_size, vfs.stat(h).end_of_file) == (1 << 20, 0)
    vfs.write(h, 0, b"x" * 10)
    assert vfs.stat(h).allocation_size == 1 << 20
    d, _ = vfs.open("", D.OPEN)
    assert {e.name: e.info.allocation_size for e in vfs.list_directory(d)}["alloc.bin"] == 1 << 20
    vfs.close(d)
    vfs.set_end_of_file(h, 5)
    assert vfs.stat(h).allocation_size < 1 << 20
    vfs.close(h)
