"""WRITE offset limits ([MS-FSA] 2.1.5.3; smbtorture smb2.rw.invalid, Windows answers): a write
starting at or beyond the largest file size (0xFFFFFFF0000) is INVALID_PARAMETER, one that would
reach it is DISK_FULL, a zero-length write there is fine."""
from __future__ import annotations

from typing import Any

import pytest

smbclient: Any = pytest.importorskip("smbclient")
from conftest import USERS
from smbprotocol.exceptions import SMBOSError, SMBResponseException

pytestmark = pytest.mark.interop
MAX_FILE_SIZE = 0xFFFFFFF0000
DISK_FULL, INVALID_PARAMETER = 0xC000007F, 0xC000000D


def _status_of_write(f: Any, offset: int, data: bytes) -> int:
    f.seek(offset)
    try:
        f.write(data)
    except SMBOSError as e:
        return int(e.ntstatus)
    except SMBResponseException as e:
        return int(e.status)
    return 0


def test_write_limits(sofs_server) -> None:  # type: ignore[no-untyped-def]
    srv = sofs_server
    smbclient.register_session(srv.host, username="alice", password=USERS["alice"], port=srv.port)
    try:
        with smbclient.open_file(srv.unc("data", "big.bin"), mode="wb", buffering=0,
                                 port=srv.port) as f:
            assert _status_of_write(f, MAX_FILE_SIZE - 1, b"x") == DISK_FULL
            assert _status_of_write(f, MAX_FILE_SIZE, b"x") == INVALID_PARAMETER
            assert _status_of_write(f, 0, b"x") == 0
    finally:
        smbclient.reset_connection_cache()
