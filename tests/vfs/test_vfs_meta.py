"""xattr-backed metadata: DOS attributes, creation time, SDs, EAs, named streams; restart survival."""
from __future__ import annotations

import os

import pytest

from sofs.vfs.base import EaEntry, StreamInfo, VfsError
from sofs.vfs.meta import (
    decode_dosattrib,
    decode_eas,
    encode_dosattrib,
    encode_eas,
    file_id_from_stat,
    merge_eas,
)
from sofs.vfs.posix import PosixVfs
from sofs.wire.fscc_constants import CreateAction as A
from sofs.wire.fscc_constants import CreateDisposition as D
from sofs.wire.fscc_constants import CreateOptions as O
from sofs.wire.fscc_constants import FileAttributes as FA
from sofs.wire.status import NtStatus as S


def test_dosattrib_golden_and_roundtrip() -> None:
    blob = encode_dosattrib(FA.HIDDEN | FA.ARCHIVE | FA.DIRECTORY, 0x01D5_0000_1234_5678)
    assert blob.hex() == "0100000022000000" + "78563412" + "0000d501"
    assert decode_dosattrib(blob) == (0x22, 0x01D5_0000_1234_5678)
    assert decode_dosattrib(None) is None and decode_dosattrib(b"\x02" + blob[1:]) is None


def test_ea_codec_and_merge() -> None:
    eas = [EaEntry(b"USER.A", b"1", 0x80), EaEntry(b"B", b"xyz")]
    blob = encode_eas(eas)
    assert blob.hex() == "80060100" + b"USER.A".hex() + "31" + "00010300" + "42" + b"xyz".hex()
    assert decode_eas(blob) == eas
    assert decode_eas(blob + b"\x00\x05") == eas  # corrupt tail dropped
    merged = merge_eas(eas, [EaEntry(b"user.a", b""), EaEntry(b"c", b"3")])
    assert merged == [EaEntry(b"B", b"xyz"), EaEntry(b"C", b"3")]
    with pytest.raises(VfsError) as ei:
        merge_eas([], [EaEntry(b"bad:name", b"1")])
    assert ei.value.status == S.INVALID_EA_NAME


def test_file_id_rule() -> None:
    assert file_id_from_stat(5, 1234, 5) == 1234
    other = file_id_from_stat(6, 1234, 5)
    assert other >> 63 == 1 and other == file_id_from_stat(6, 1234, 5)
    assert file_id_from_stat(6, 1235, 5) != other
    assert file_id_from_stat(5, 0, 5) not in (0, 0xFFFFFFFFFFFFFFFF)


def test_streams_create_list_rw_delete(vfs: PosixVfs) -> None:
    h, _ = vfs.open("f", D.CREATE)
    vfs.write(h, 0, b"main")
    s, action = vfs.open("F:Zone.Identifier:$DATA", D.CREATE)
    assert action == A.CREATED and s.stream == "Zone.Identifier" and s.path == "f"
    vfs.write(s, 0, b"[ZoneTransfer]")
    info = vfs.stat(s)
    assert info.end_of_file == 14 and info.file_id == vfs.stat(h).file_id
    s2, action = vfs.open("f:zone.identifier", D.OPEN)  # stream names are case-insensitive
    assert action == A.OPENED and vfs.read(s2, 0, 100) == b"[ZoneTransfer]"
    with pytest.raises(VfsError) as ei:
        vfs.open("f:ZONE.IDENTIFIER", D.CREATE)
    assert ei.value.status == S.OBJECT_NAME_COLLISION
    with pytest.raises(VfsError) as ei:
        vfs.open("f:missing", D.OPEN)
    assert ei.value.status == S.OBJECT_NAME_NOT_FOUND
    assert vfs.list_streams(h) == [StreamInfo("::$DATA", 4, vfs.list_streams(h)[0].allocation_size),
                                   StreamInfo(":Zone.Identifier:$DATA", 14,
                                              vfs.list_streams(h)[1].allocation_size)]
    _, action = vfs.open("f:Zone.Identifier", D.OVERWRITE_IF)
    assert action == A.OVERWRITTEN
    assert vfs.read(h, 0, 10) == b"main"  # the default stream is untouched
    vfs.delete(s2)
    assert [x.name for x in vfs.list_streams(h)] == ["::$DATA"]
    for x in (s, s2, h):
        vfs.close(x)
    # streams never show up as names in the share
    root, _ = vfs.open("", D.OPEN)
    assert {e.name for e in vfs.list_directory(root)} == {".", "..", "f"}
    vfs.close(root)


def test_stream_creates_base_and_rename(vfs: PosixVfs) -> None:
    s, action = vfs.open("new:s1", D.OPEN_IF)
    assert action == A.CREATED and os.path.isfile(os.path.join(vfs.root, "new"))
    vfs.write(s, 0, b"v")
    assert vfs.rename(s, ":s2:$DATA", False) == "new:s2"
    assert s.stream == "s2"
    s3, _ = vfs.open("new:s3", D.CREATE)
    with pytest.raises(VfsError) as ei:
        vfs.rename(s, ":S3", False)
    assert ei.value.status == S.OBJECT_NAME_COLLISION
    vfs.rename(s, ":S3", True)
    b, _ = vfs.open("new", D.OPEN)
    assert [x.name for x in vfs.list_streams(b)] == ["::$DATA", ":S3:$DATA"]
    vfs.close(s3)
    vfs.close(s)
    vfs.close(b)
    with pytest.raises(VfsError) as ei:
        vfs.open("missing:s", D.OPEN)
    assert ei.value.status == S.OBJECT_NAME_NOT_FOUND


def test_directory_streams_and_cleanup_on_delete(vfs: PosixVfs) -> None:
    d, _ = vfs.open("d", D.CREATE, O.DIRECTORY_FILE)
    ds, _ = vfs.open("d:meta", D.CREATE)
    vfs.write(ds, 0, b"x")
    assert [x.name for x in vfs.list_streams(d)] == [":meta:$DATA"]
    vfs.close(ds)
    f, _ = vfs.open("d\\f", D.CREATE)
    fs, _ = vfs.open("d\\f:s", D.CREATE)
    vfs.close(fs)
    streams_dir = os.path.join(vfs.meta_dir, "streams")
    assert len(os.listdir(streams_dir)) == 2
    vfs.delete(f)
    vfs.close(f)
    vfs.delete(d)
    vfs.close(d)
    assert os.listdir(streams_dir) == []


def test_streams_survive_rename_and_follow_hard_links(vfs: PosixVfs) -> None:
    s, _ = vfs.open("a:s", D.OPEN_IF)
    vfs.write(s, 0, b"payload")
    vfs.close(s)
    h, _ = vfs.open("a", D.OPEN)
    vfs.link(h, "b", False)
    vfs.rename(h, "c", False)
    vfs.delete(h)  # "c" goes; "b" still links the inode, so the streams stay
    vfs.close(h)
    s, _ = vfs.open("b:s", D.OPEN)
    assert vfs.read(s, 0, 100) == b"payload"
    vfs.close(s)


def test_sd_and_eas(vfs: PosixVfs) -> None:
    h, _ = vfs.open("f", D.CREATE)
    assert vfs.get_security_descriptor(h) is None and vfs.get_eas(h) == []
    sd = bytes(range(1, 120))
    vfs.set_security_descriptor(h, sd)
    assert vfs.get_security_descriptor(h) == sd
    vfs.set_eas(h, [EaEntry(b"one", b"1"), EaEntry(b"two", b"22")])
    vfs.set_eas(h, [EaEntry(b"ONE", b"")])
    assert vfs.get_eas(h) == [EaEntry(b"TWO", b"22")]
    vfs.close(h)
    h, _ = vfs.open("f", D.OVERWRITE)  # overwrite drops EAs, keeps the SD
    assert vfs.get_eas(h) == [] and vfs.get_security_descriptor(h) == sd
    vfs.close(h)


def test_restart_survival(root: str) -> None:
    v = PosixVfs(root)
    h, _ = v.open("dir", D.CREATE, O.DIRECTORY_FILE)
    v.close(h)
    h, _ = v.open("dir\\file.txt", D.CREATE, 0, FA.HIDDEN)
    v.write(h, 0, b"content")
    t = 131_000_000_000_000_000
    v.set_basic_info(h, creation_time=t, last_write_time=t + 1)
    v.set_security_descriptor(h, b"\x01\x00\x04\x80sd")
    v.set_eas(h, [EaEntry(b"K", b"V")])
    s, _ = v.open("dir\\file.txt:ads", D.CREATE)
    v.write(s, 0, b"stream data")
    before = v.stat(h)
    for x in (s, h):
        v.close(x)
    v.shutdown()

    w = PosixVfs(root)  # a new process would see the same
    h, _ = w.open("DIR\\FILE.TXT", D.OPEN)
    after = w.stat(h)
    assert after.attributes == FA.HIDDEN | FA.ARCHIVE
    assert after.creation_time == t and after.last_write_time == t + 1
    assert after.file_id == before.file_id
    assert w.get_security_descriptor(h) == b"\x01\x00\x04\x80sd"
    assert w.get_eas(h) == [EaEntry(b"K", b"V")]
    assert [x.name for x in w.list_streams(h)] == ["::$DATA", ":ads:$DATA"]
    s, _ = w.open("dir\\file.txt:ADS", D.OPEN)
    assert w.read(s, 0, 100) == b"stream data"
    w.close(s)
    w.close(h)
    w.shutdown()
