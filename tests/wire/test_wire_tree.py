"""[MS-SMB2] 2.2.9-2.2.12 TREE_CONNECT / TREE_DISCONNECT."""
from __future__ import annotations

import pytest
from smbprotocol.tree import SMB2TreeConnectRequest

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import ShareCaps, ShareFlags, ShareType, TreeConnectFlags
from sofs.wire.errors import WireError
from sofs.wire.messages.tree import (
    TreeConnectContext,
    TreeConnectRequest,
    TreeConnectResponse,
    TreeDisconnectRequest,
    TreeDisconnectResponse,
)
from sofs.wire.status import NtStatus

HDR = bytes(HEADER_SIZE)


def test_tree_connect_golden() -> None:
    req = TreeConnectRequest(0, "\\\\h\\IPC$")
    body = bytes.fromhex("0900" "0000" "4800" "1000") + "\\\\h\\IPC$".encode("utf-16-le")
    assert req.encode() == body
    got = TreeConnectRequest.decode(HDR + body)
    assert got == req and got.share_name == "IPC$"


def test_tree_connect_from_smbprotocol() -> None:
    msg = SMB2TreeConnectRequest()
    msg["buffer"] = "\\\\127.0.0.1\\data".encode("utf-16-le")
    assert TreeConnectRequest.decode(HDR + msg.pack()).path == "\\\\127.0.0.1\\data"


def test_tree_connect_extension_roundtrip() -> None:
    req = TreeConnectRequest(TreeConnectFlags.EXTENSION_PRESENT, "\\\\srv\\share",
                             (TreeConnectContext(1, b"abc"), TreeConnectContext(7, b"")))
    body = req.encode()
    assert body[8:12] == (16 + 24).to_bytes(4, "little")  # contexts after 16-byte ext + 22-byte path
    assert TreeConnectRequest.decode(HDR + body) == req
    plain = TreeConnectRequest(TreeConnectFlags.EXTENSION_PRESENT, "\\\\srv\\x")
    assert TreeConnectRequest.decode(HDR + plain.encode()) == plain


def test_tree_connect_bad_path() -> None:
    body = bytes.fromhex("0900" "0000" "4800" "0300") + b"abc"
    with pytest.raises(WireError) as info:
        TreeConnectRequest.decode(HDR + body)
    assert info.value.status == NtStatus.BAD_NETWORK_NAME


def test_tree_connect_response_golden() -> None:
    rsp = TreeConnectResponse(ShareType.DISK, ShareFlags.ENCRYPT_DATA,
                              ShareCaps.CONTINUOUS_AVAILABILITY, 0x001F01FF)
    body = bytes.fromhex("1000" "01" "00" "00800000" "10000000" "ff011f00")
    assert rsp.encode() == body
    assert TreeConnectResponse.decode(HDR + body) == rsp


def test_tree_disconnect() -> None:
    assert TreeDisconnectRequest.decode(HDR + TreeDisconnectRequest().encode()) == TreeDisconnectRequest()
    assert TreeDisconnectResponse().encode() == b"\x04\x00\x00\x00"
