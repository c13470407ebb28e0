"""[MS-SMB2] 2.2.35 / 2.2.36 CHANGE_NOTIFY and FILE_NOTIFY_INFORMATION."""
from __future__ import annotations

import pytest
from smbprotocol.change_notify import FileNotifyInformation as TheirNotify

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import ChangeNotifyFlags, CompletionFilter, NotifyAction
from sofs.wire.errors import WireError
from sofs.wire.messages.notify import (
    ChangeNotifyRequest,
    ChangeNotifyResponse,
    FileNotifyInformation,
    decode_file_notify_information,
    encode_file_notify_information,
)

HDR = bytes(HEADER_SIZE)
FID = bytes(range(16))


def test_change_notify_request_golden() -> None:
    req = ChangeNotifyRequest(ChangeNotifyFlags.WATCH_TREE, 4096, FID,
                              CompletionFilter.FILE_NAME | CompletionFilter.DIR_NAME)
    body = bytes.fromhex("2000" "0100" "00100000") + FID + bytes.fromhex("03000000" "00000000")
    assert req.encode() == body
    assert ChangeNotifyRequest.decode(HDR + body) == req


def test_file_notify_information() -> None:
    entries = [FileNotifyInformation(NotifyAction.ADDED, "a.txt"),
               FileNotifyInformation(NotifyAction.RENAMED_OLD_NAME, "dir\\b"),
               FileNotifyInformation(NotifyAction.RENAMED_NEW_NAME, "c")]
    data = encode_file_notify_information(entries)
    # first entry: 12 + 10 bytes -> next at 24; second: 12 + 10 -> 24; last: next 0
    assert data[:12] == bytes.fromhex("18000000" "01000000" "0a000000")
    assert data[24:28] == bytes.fromhex("18000000") and data[48:52] == bytes(4)
    assert len(data) == 48 + 12 + 2
    assert decode_file_notify_information(data) == entries
    theirs = TheirNotify()
    theirs.unpack(data)
    assert theirs["file_name"].get_value() == "a.txt"


def test_change_notify_response() -> None:
    out = encode_file_notify_information([FileNotifyInformation(NotifyAction.MODIFIED, "x")])
    rsp = ChangeNotifyResponse(out)
    body = rsp.encode()
    assert body[:8] == bytes.fromhex("0900" "4800" "0e000000")
    assert ChangeNotifyResponse.decode(HDR + body) == rsp
    assert ChangeNotifyResponse().encode() == bytes.fromhex("0900" "4800" "00000000" "00")


def test_notify_errors() -> None:
    data = encode_file_notify_information([FileNotifyInformation(1, "ab"), FileNotifyInformation(2, "c")])
    with pytest.raises(WireError):
        decode_file_notify_information(data[:-1])
    bad = bytes.fromhex("04000000" "01000000" "00000000")
    with pytest.raises(WireError):
        decode_file_notify_information(bad)
