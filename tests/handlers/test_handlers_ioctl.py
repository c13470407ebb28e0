"""IOCTL dispatch ([MS-SMB2] 3.3.5.15): FSCTLs without a file handle want FileId 0xFF..FF; the
previous-versions enumeration answers an empty snapshot list.

Pure handler tests: a :class:`Ctx` over stand-in connection/server objects, no sockets. The statuses
are those smbtorture smb2.ioctl.bug14788.NETWORK_INTERFACE pins (Windows and Samba agree): a FileId
other than the marker is INVALID_PARAMETER even when the output buffer is also too small.
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from sofs.handlers import fsctl_file
from sofs.handlers.base import ChainState, Ctx, SmbError
from sofs.handlers.ioctl import HANDLELESS_FSCTLS, handle_ioctl
from sofs.wire.constants import CtlCode, Dialect, GlobalCaps
from sofs.wire.fsctl import SrvSnapshotArray, ValidateNegotiateInfoRequest
from sofs.wire.messages.ioctl import NO_FILE_ID, IoctlRequest, IoctlResponse
from sofs.wire.status import NtStatus

INT64_MAX_ID = (0x7FFFFFFFFFFFFFFF).to_bytes(8, "little") * 2
CLIENT_GUID = bytes(range(16))
DIALECTS = (0x0300, 0x0302)


def make_ctx() -> Ctx:
    conn = SimpleNamespace(max_transact_size=8 << 20, dialect=Dialect.SMB3_0_2,
                           server_capabilities=GlobalCaps.MULTI_CHANNEL, server_security_mode=1,
                           client_capabilities=0x7F, client_guid=CLIENT_GUID, client_security_mode=1,
                           client_dialects=DIALECTS, server_address="127.0.0.1:445")
    config = SimpleNamespace(listen=[("127.0.0.1", 445)], server_guid=bytes(16))
    server: Any = SimpleNamespace(config=config)
    header: Any = SimpleNamespace(is_related=False)
    return Ctx(server, conn, header, memoryview(b""), ChainState(), False, None)  # type: ignore[arg-type]


def run(req: IoctlRequest) -> tuple[int, bytes]:
    """(status, output buffer) of one IOCTL."""
    try:
        rep = asyncio.run(handle_ioctl(make_ctx(), req))
    except SmbError as e:
        return e.status, b""
    body = b"".join(bytes(b) for b in rep.body)
    return rep.status, bytes(IoctlResponse.decode(bytes(64) + body).output)


def interfaces(file_id: bytes, max_out: int) -> IoctlRequest:
    return IoctlRequest(CtlCode.QUERY_NETWORK_INTERFACE_INFO, file_id, max_output_response=max_out)


@pytest.mark.parametrize(("file_id", "max_out", "want"), [
    (NO_FILE_ID, 0xFFFF, NtStatus.SUCCESS),
    (NO_FILE_ID, 1, NtStatus.BUFFER_TOO_SMALL),
    (INT64_MAX_ID, 0xFFFF, NtStatus.INVALID_PARAMETER),
    (INT64_MAX_ID, 1, NtStatus.INVALID_PARAMETER),      # the FileId is checked before the size
])
def test_network_interface_info_file_id(file_id: bytes, max_out: int, want: int) -> None:
    status, out = run(interfaces(file_id, max_out))
    assert status == want
    if want == NtStatus.SUCCESS:
        assert len(out) == 152      # one NETWORK_INTERFACE_INFO entry ([MS-SMB2] 2.2.32.5)


def test_validate_negotiate_with_a_file_id_is_invalid_parameter() -> None:
    vni = ValidateNegotiateInfoRequest(0x7F, CLIENT_GUID, 1, DIALECTS).encode()
    ok = IoctlRequest(CtlCode.VALIDATE_NEGOTIATE_INFO, NO_FILE_ID, vni, max_output_response=24)
    assert run(ok)[0] == NtStatus.SUCCESS
    bad = IoctlRequest(CtlCode.VALIDATE_NEGOTIATE_INFO, INT64_MAX_ID, vni, max_output_response=24)
    assert run(bad)[0] == NtStatus.INVALID_PARAMETER


@pytest.mark.parametrize("code", [CtlCode.DFS_GET_REFERRALS, CtlCode.DFS_GET_REFERRALS_EX, CtlCode.PIPE_WAIT])
def test_other_handleless_fsctls_refuse_a_file_id(code: int) -> None:
    assert code in HANDLELESS_FSCTLS
    assert run(IoctlRequest(code, INT64_MAX_ID, max_output_response=4096))[0] == NtStatus.INVALID_PARAMETER


@pytest.mark.parametrize(("max_out", "want"), [(16, NtStatus.SUCCESS), (0x10000, NtStatus.SUCCESS),
                                               (15, NtStatus.INVALID_PARAMETER)])
def test_enumerate_snapshots_answers_no_previous_versions(monkeypatch: pytest.MonkeyPatch, max_out: int,
                                                          want: int) -> None:
    """[MS-SMB2] 3.3.5.15.1 (smb2.ioctl.shadow_copy): an empty SRV_SNAPSHOT_ARRAY, 16 bytes minimum."""
    fake_open = SimpleNamespace(is_pipe=False, handle=object())
    monkeypatch.setattr(fsctl_file, "get_open", lambda ctx, fid: fake_open)
    status, out = run(IoctlRequest(CtlCode.SRV_ENUMERATE_SNAPSHOTS, bytes(16), max_output_response=max_out))
    assert status == want
    if want == NtStatus.SUCCESS:
        assert out == bytes.fromhex("00000000" "00000000" "02000000" "0000")
        assert SrvSnapshotArray.decode(out) == SrvSnapshotArray(0, ())
