"""PosixVfs: CREATE dispositions and options, I/O, listings, basic info, fs stats."""
from __future__ import annotations

import os

import pytest

from sofs.vfs.base import VfsError
from sofs.vfs.posix import PosixVfs
from sofs.wire.fscc_constants import CreateAction as A
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.fscc_constants import unix_ns_to_filetime
from sofs.wire.status import NtStatus as S

# (disposition, file exists before?, expected action or error status, content after)
DISPOSITIONS = [
    (D.SUPERSEDE, False, A.CREATED, b""),
    (D.SUPERSEDE, True, A.SUPERSEDED, b""),
    (D.OPEN, False, S.OBJECT_NAME_NOT_FOUND, None),
    (D.OPEN, True, A.OPENED, b"old"),
    (D.CREATE, False, A.CREATED, b""),
    (D.CREATE, True, S.OBJECT_NAME_COLLISION, b"old"),
    (D.OPEN_IF, False, A.CREATED, b""),
    (D.OPEN_IF, True, A.OPENED, b"old"),
    (D.OVERWRITE, False, S.OBJECT_NAME_NOT_FOUND, None),
    (D.OVERWRITE, True, A.OVERWRITTEN, b""),
    (D.OVERWRITE_IF, False, A.CREATED, b""),
    (D.OVERWRITE_IF, True, A.OVERWRITTEN, b""),
]


@pytest.mark.parametrize("disp,exists,expected,content", DISPOSITIONS)
def test_dispositions(vfs: PosixVfs, disp: D, exists: bool, expected: object, content: bytes | None) -> None:
    path = os.path.join(vfs.root, "f.txt")
    if exists:
        with open(path, "wb") as f:
            f.write(b"old")
    if isinstance(expected, S):
        with pytest.raises(VfsError) as ei:
            vfs.open("F.TXT" if exists else "f.txt", disp)
        assert ei.value.status == expected
    else:
        h, action = vfs.open("F.TXT" if exists else "f.txt", disp)
        assert action == expected
        assert h.path == "f.txt"
        vfs.close(h)
    if content is None:
        assert not os.path.exists(path)
    else:
        with open(path, "rb") as f:
            assert f.read() == content


@pytest.mark.parametrize("disp", [D.CREATE, D.OPEN_IF])
def test_create_directory(vfs: PosixVfs, disp: D) -> None:
    h, action = vfs.open("Dir", disp, O.DIRECTORY_FILE)
    assert action == A.CREATED and h.is_directory
    info = vfs.stat(h)
    assert info.is_directory and info.attributes & FA.DIRECTORY and info.end_of_file == 0
    vfs.close(h)
    assert os.path.isdir(os.path.join(vfs.root, "Dir"))
    h, action = vfs.open("dir", D.OPEN_IF, O.DIRECTORY_FILE)
    assert action == A.OPENED and h.path == "Dir"
    vfs.close(h)


@pytest.mark.parametrize("path,disp,options,status", [
    ("d", D.OPEN, O.NON_DIRECTORY_FILE, S.FILE_IS_A_DIRECTORY),
    ("d", D.OVERWRITE_IF, 0, S.FILE_IS_A_DIRECTORY),
    ("f", D.OPEN, O.DIRECTORY_FILE, S.NOT_A_DIRECTORY),
    ("new", D.OVERWRITE_IF, O.DIRECTORY_FILE, S.INVALID_PARAMETER),
    ("f", D.OPEN, O.DIRECTORY_FILE | O.NON_DIRECTORY_FILE, S.INVALID_PARAMETER),
    ("missing\\x", D.OPEN, 0, S.OBJECT_PATH_NOT_FOUND),
    ("missing\\x", D.CREATE, 0, S.OBJECT_PATH_NOT_FOUND),
    ("f\\x", D.OPEN_IF, 0, S.OBJECT_PATH_NOT_FOUND),
    ("d", D.CREATE, O.DIRECTORY_FILE, S.OBJECT_NAME_COLLISION),
    ("D", D.CREATE, 0, S.OBJECT_NAME_COLLISION),
    ("", D.CREATE, O.DIRECTORY_FILE, S.OBJECT_NAME_COLLISION),
])
def test_open_errors(vfs: PosixVfs, path: str, disp: D, options: int, status: S) -> None:
    os.mkdir(os.path.join(vfs.root, "d"))
    open(os.path.join(vfs.root, "f"), "w").close()
    with pytest.raises(VfsError) as ei:
        vfs.open(path, disp, options)
    assert ei.value.status == status


def test_open_root_and_nested_case_insensitive(vfs: PosixVfs) -> None:
    os.makedirs(os.path.join(vfs.root, "A", "bB"))
    with open(os.path.join(vfs.root, "A", "bB", "File.Txt"), "wb") as f:
        f.write(b"hi")
    h, _ = vfs.open("", D.OPEN)
    assert h.is_directory and h.path == ""
    vfs.close(h)
    h, action = vfs.open("a\\BB\\file.txt", D.OPEN)
    assert action == A.OPENED and h.path == "A\\bB\\File.Txt"
    assert vfs.read(h, 0, 10) == b"hi"
    vfs.close(h)
    h, action = vfs.open("a\\bb\\NEW.txt", D.CREATE)
    assert h.path == "A\\bB\\NEW.txt"
    vfs.close(h)


def test_case_sensitive_option(root: str) -> None:
    open(os.path.join(root, "File"), "w").close()
    v = PosixVfs(root, case_sensitive=True)
    with pytest.raises(VfsError):
        v.open("file", D.OPEN)
    v.shutdown()


def test_io_roundtrip_and_zero_copy_paths(vfs: PosixVfs) -> None:
    h, _ = vfs.open("data.bin", D.CREATE)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    assert vfs.write(h, 0, memoryview(payload)) == len(payload)
    assert vfs.write(h, len(payload), b"tail") == 4
    buf = bytearray(len(payload) + 100)
    n = vfs.readinto(h, 0, memoryview(buf))
    assert n == len(payload) + 4
    assert bytes(buf[: len(payload)]) == payload and bytes(buf[len(payload):n]) == b"tail"
    assert vfs.read(h, 5, 10) == payload[5:15]
    assert vfs.read(h, 10 ** 9, 10) == b""
    vfs.flush(h)
    assert vfs.stat(h).end_of_file == len(payload) + 4
    vfs.close(h)
    vfs.close(h)  # idempotent


def test_end_of_file_and_allocation(vfs: PosixVfs) -> None:
    h, _ = vfs.open("f", D.CREATE)
    vfs.write(h, 0, b"x" * 10000)
    vfs.set_end_of_file(h, 100)
    assert vfs.stat(h).end_of_file == 100
    vfs.set_end_of_file(h, 1 << 20)  # sparse extension
    assert vfs.stat(h).end_of_file == 1 << 20
    vfs.set_allocation_size(h, 10)  # below EOF truncates
    info = vfs.stat(h)
    assert info.end_of_file == 10
    vfs.set_allocation_size(h, 1 << 20)  # reserves, keeps size
    info = vfs.stat(h)
    assert info.end_of_file == 10
    assert info.allocation_size >= 1 << 20 or info.allocation_size >= 4096
    vfs.close(h)


def test_stat_defaults_and_file_id(vfs: PosixVfs) -> None:
    with open(os.path.join(vfs.root, "local"), "w") as f:  # created behind sofs' back: no xattrs
        f.write("abc")
    h, _ = vfs.open("local", D.OPEN)
    info = vfs.stat(h)
    st = os.stat(os.path.join(vfs.root, "local"))
    assert info.attributes == FA.ARCHIVE
    assert info.file_id == st.st_ino
    assert info.last_write_time == unix_ns_to_filetime(st.st_mtime_ns)
    assert info.creation_time <= info.last_write_time
    assert info.end_of_file == 3 and info.nlink == 1 and not info.is_directory
    vfs.close(h)
    assert vfs.stat_path("LOCAL") == info


def test_set_basic_info(vfs: PosixVfs) -> None:
    h, _ = vfs.open("f", D.CREATE, 0, FA.HIDDEN)
    info = vfs.stat(h)
    assert info.attributes == FA.HIDDEN | FA.ARCHIVE
    t = 132_000_000_000_000_000  # 2019
    vfs.set_basic_info(h, creation_time=t, last_write_time=t + 10, last_access_time=t + 20)
    after = vfs.stat(h)
    assert (after.creation_time, after.last_write_time, after.last_access_time) == (t, t + 10, t + 20)
    for sentinel in (0, -1, -2, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE):
        vfs.set_basic_info(h, sentinel, sentinel, sentinel, sentinel, 0)
        assert vfs.stat(h) == after
    vfs.set_basic_info(h, attributes=FA.NORMAL)
    assert vfs.stat(h).attributes == FA.NORMAL
    vfs.set_basic_info(h, attributes=FA.READONLY | FA.SYSTEM)
    assert vfs.stat(h).attributes == FA.READONLY | FA.SYSTEM
    assert vfs.stat(h).creation_time == t
    vfs.close(h)


def test_list_directory(vfs: PosixVfs) -> None:
    os.mkdir(os.path.join(vfs.root, "sub"))
    for name in ("a.txt", "B.TXT", "c.doc"):
        open(os.path.join(vfs.root, "sub", name), "w").close()
    os.mkfifo(os.path.join(vfs.root, "sub", "fifo"))
    h, _ = vfs.open("sub", D.OPEN, O.DIRECTORY_FILE)
    entries = vfs.list_directory(h)
    names = [e.name for e in entries]
    assert names[:2] == [".", ".."]
    assert sorted(names[2:]) == ["B.TXT", "a.txt", "c.doc"]
    assert sorted(e.name for e in vfs.list_directory(h, "*.txt")) == ["B.TXT", "a.txt"]
    assert [e.name for e in vfs.list_directory(h, "b.txt")] == ["B.TXT"]
    assert vfs.list_directory(h, "nomatch") == []
    assert not vfs.is_directory_empty(h)
    vfs.close(h)
    root, _ = vfs.open("", D.OPEN)
    root_names = {e.name for e in vfs.list_directory(root)}
    assert root_names == {".", "..", "sub"}  # .sofs hidden
    vfs.close(root)


def test_fs_stats(vfs: PosixVfs) -> None:
    s = vfs.fs_stats()
    sv = os.statvfs(vfs.root)
    assert s.total_units == sv.f_blocks and s.bytes_per_sector == 512
    assert s.sectors_per_unit * 512 == sv.f_frsize
    assert 0 <= s.caller_available_units <= s.actual_available_units <= s.total_units
    assert s.volume_creation_time > 0


def test_deferred_overwrite(vfs: PosixVfs) -> None:
    with open(os.path.join(vfs.root, "f"), "wb") as f:
        f.write(b"keep until the share check passed")
    h, action = vfs.open("f", D.OVERWRITE_IF, truncate=False)
    assert action == A.OVERWRITTEN and vfs.stat(h).end_of_file > 0
    vfs.overwrite(h, FA.HIDDEN)
    info = vfs.stat(h)
    assert info.end_of_file == 0 and info.attributes == FA.HIDDEN | FA.ARCHIVE
    vfs.close(h)
    s, _ = vfs.open("f:s", D.CREATE)
    vfs.write(s, 0, b"abc")
    vfs.close(s)
    s, action = vfs.open("f:s", D.SUPERSEDE, truncate=False)
    assert action == A.SUPERSEDED and vfs.stat(s).end_of_file == 3
    vfs.overwrite(s)
    assert vfs.stat(s).end_of_file == 0
    vfs.close(s)
