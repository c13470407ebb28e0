"""NamedPipe + DCE/RPC PDUs: golden bytes, message-mode reads, fragmentation, robustness."""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sofs.rpc.dcerpc import (
    NCA_S_FAULT_NDR,
    NCA_S_OP_RNG_ERROR,
    NCA_S_UNKNOWN_IF,
    PduHeader,
    PType,
)
from sofs.rpc.ndr import NdrWriter
from sofs.rpc.pipe import NamedPipe, open_pipe
from sofs.rpc.srvsvc import ShareInfo, SrvsvcService
from sofs.wire.status import NtStatus

SRVSVC_LE = bytes.fromhex("c84f324b7016d30112785a47bf6ee188") + b"\x03\x00\x00\x00"
NDR_LE = bytes.fromhex("045d888aeb1cc9119fe808002b104860") + b"\x02\x00\x00\x00"
NDR64_LE = bytes.fromhex("33057171babe37498319b5dbef9ccc36") + b"\x01\x00\x00\x00"
BTFN_LE = bytes.fromhex("2c1cb76c12984045") + bytes.fromhex("0300000000000000") + b"\x01\x00\x00\x00"
SHARES = [ShareInfo("data", 0, "Data", 0x800, "C:\\data"), ShareInfo("IPC$", 0x80000003, "IPC", 0)]


def _pdu(ptype: int, call_id: int, body: bytes, flags: int = 3, auth_length: int = 0) -> bytes:
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", 16 + len(body), auth_length, call_id) + body


def _bind(contexts: list[tuple[bytes, bytes]], call_id: int = 1, ptype: int = PType.BIND) -> bytes:
    body = struct.pack("<HHIBBH", 4280, 4280, 0, len(contexts), 0, 0)
    for i, (abstract, ts) in enumerate(contexts):
        body += struct.pack("<HBB", i, 1, 0) + abstract + ts
    return _pdu(ptype, call_id, body)


def _request(opnum: int, stub: bytes, call_id: int = 2, ctx: int = 0, flags: int = 3) -> bytes:
    return _pdu(PType.REQUEST, call_id, struct.pack("<IHH", len(stub), ctx, opnum) + stub, flags)


def _pipe(shares: list[ShareInfo] = SHARES) -> NamedPipe:
    pipe = open_pipe("srvsvc", shares=lambda: shares, server_name="SOFS", domain_name="WORKGROUP")
    assert pipe is not None
    return pipe


def _bound(shares: list[ShareInfo] = SHARES) -> NamedPipe:
    pipe = _pipe(shares)
    pipe.write(_bind([(SRVSVC_LE, NDR_LE)]))
    _, status = pipe.read(65536)
    assert status == NtStatus.SUCCESS
    return pipe


def test_bind_ack_golden() -> None:
    pipe = _pipe()
    assert pipe.write(_bind([(SRVSVC_LE, NDR_LE)])) == 72
    out, status = pipe.read(4280)
    assert status == NtStatus.SUCCESS
    assert out.hex() == (
        "05000c03" "10000000" "4400" "0000" "01000000"  # header, frag_length 68
        "b810" "b810" "f0530000"  # max xmit/recv, assoc group
        "0d00" + b"\\PIPE\\srvsvc\x00".hex() + "00"  # secondary address + pad to 4
        "01000000"  # one result
        "0000" "0000" + NDR_LE.hex()  # acceptance, NDR 2.0
    )


def test_bind_results_for_ndr64_btfn_and_unknown_interface() -> None:
    pipe = _pipe()
    unknown = bytes(16) + b"\x01\x00\x00\x00"
    pipe.write(_bind([(SRVSVC_LE, NDR_LE), (SRVSVC_LE, NDR64_LE), (SRVSVC_LE, BTFN_LE), (unknown, NDR_LE)]))
    out, _ = pipe.read(4280)
    n = out[40]  # 16 header + 8 + 2 + 13 secondary address + 1 pad
    assert n == 4
    results = [struct.unpack_from("<HH", out, 44 + 24 * i) for i in range(n)]
    assert results == [(0, 0), (2, 2), (3, 0), (2, 1)]
    assert out[44 + 24 + 4 : 44 + 48] == bytes(20)  # rejected contexts carry a null transfer syntax


def test_share_get_info_1005_golden() -> None:
    pipe = _bound()
    stub = bytes.fromhex("00000000" "05000000" "00000000" "05000000") + "DATA\0".encode("utf-16-le")
    stub += b"\x00\x00" + struct.pack("<I", 1005)
    pipe.write(_request(16, stub))
    out, status = pipe.read(4280)
    assert status == NtStatus.SUCCESS
    hdr = PduHeader.decode(out)
    assert (hdr.ptype, hdr.flags, hdr.call_id, hdr.frag_length) == (PType.RESPONSE, 3, 2, len(out))
    assert out[16:24] == struct.pack("<IHBB", 16, 0, 0, 0)
    assert out[24:].hex() == "ed030000" "00000200" "00080000" "00000000"


def test_unknown_opnum_faults_op_rng_error() -> None:
    pipe = _bound()
    pipe.write(_request(99, b""))
    out, _ = pipe.read(4280)
    assert out.hex() == "05000323" "10000000" "2000" "0000" "02000000" "00000000" "0000" "0000" "0200011c" "00000000"
    assert struct.unpack_from("<I", out, 24)[0] == NCA_S_OP_RNG_ERROR


def test_request_before_bind_and_bad_context() -> None:
    pipe = _pipe()
    pipe.write(_request(15, b""))
    out, _ = pipe.read(4280)
    assert out[2] == PType.FAULT and struct.unpack_from("<I", out, 24)[0] == NCA_S_UNKNOWN_IF
    pipe = _bound()
    pipe.write(_request(15, b"", ctx=5))
    out, _ = pipe.read(4280)
    assert out[2] == PType.FAULT and struct.unpack_from("<I", out, 24)[0] == NCA_S_UNKNOWN_IF


def test_bad_stub_faults_ndr() -> None:
    pipe = _bound()
    pipe.write(_request(15, b"\x01\x02"))
    out, _ = pipe.read(4280)
    assert out[2] == PType.FAULT and struct.unpack_from("<I", out, 24)[0] == NCA_S_FAULT_NDR


def _enum_stub(level: int = 1) -> bytes:
    w = NdrWriter()
    w.pointer(False)
    w.u32(level)
    w.u32(level)
    w.pointer(True)
    w.u32(0)
    w.pointer(False)
    w.u32(0xFFFFFFFF)
    w.pointer(True)
    w.u32(0)
    return w.getvalue()


def test_message_mode_reads_and_empty_pipe() -> None:
    pipe = _pipe()
    assert pipe.read(100) == (b"", NtStatus.PIPE_EMPTY)
    pipe.write(_bind([(SRVSVC_LE, NDR_LE)]))
    assert pipe.available() == 68
    a, s1 = pipe.read(10)
    b, s2 = pipe.read(1000)
    assert (s1, s2) == (NtStatus.BUFFER_OVERFLOW, NtStatus.SUCCESS) and len(a + b) == 68
    assert pipe.available() == 0


def test_transceive_overflow_then_read_rest() -> None:
    pipe = _bound()
    first, status = pipe.transceive(_request(15, _enum_stub()), 32)
    assert status == NtStatus.BUFFER_OVERFLOW and len(first) == 32
    rest, status = pipe.read(4280)
    assert status == NtStatus.SUCCESS
    whole = first + rest
    assert PduHeader.decode(whole).frag_length == len(whole)


def test_large_response_is_fragmented_and_matches_direct_call() -> None:
    shares = [ShareInfo(f"share{i:03d}", 0, "c" * 60, 0, f"C:\\s{i}") for i in range(200)]
    pipe = _bound(shares)
    pipe.write(_request(15, _enum_stub(2), call_id=7))
    stub = b""
    frags = []
    while pipe.available():
        data, status = pipe.read(4280)
        assert status == NtStatus.SUCCESS
        hdr = PduHeader.decode(data)
        assert hdr.frag_length == len(data) <= 4280 and hdr.call_id == 7
        frags.append(hdr.flags & 3)
        stub += data[24:]
    assert len(frags) > 3 and frags[0] == 1 and frags[-1] == 2 and set(frags[1:-1]) <= {0}
    assert stub == SrvsvcService(lambda: shares, "SOFS").call(15, _enum_stub(2))


def test_fragmented_request_and_bytewise_writes() -> None:
    stub = _enum_stub()
    pipe = _bound()
    for b in _request(15, stub[:8], flags=1) + _request(15, stub[8:], flags=2):
        pipe.write(bytes([b]))
    out, _ = pipe.read(4280)
    assert out[2] == PType.RESPONSE and out[24:] == SrvsvcService(lambda: SHARES, "SOFS").call(15, stub)


def test_bad_version_and_garbage() -> None:
    pipe = _pipe()
    bind = bytearray(_bind([(SRVSVC_LE, NDR_LE)]))
    bind[0] = 4
    pipe.write(bytes(bind))
    out, _ = pipe.read(100)
    assert out[2] == PType.BIND_NAK
    pipe.write(b"\x05\x00\x00\x03\x10\x00\x00\x00\x05\x00\x00\x00\x09\x00\x00\x00")  # frag_length 5
    out, _ = pipe.read(100)
    assert out[2] == PType.FAULT


def test_open_pipe_names() -> None:
    kw = {"shares": lambda: SHARES, "server_name": "S", "domain_name": "D"}
    for name in ("srvsvc", "\\SRVSVC", "PIPE\\srvsvc", "wkssvc"):
        assert open_pipe(name, **kw) is not None  # type: ignore[arg-type]
    assert open_pipe("lsarpc", **kw) is None  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=6), st.booleans())
def test_fuzz_never_raises(chunks: list[bytes], bind_first: bool) -> None:
    pipe = _pipe()
    if bind_first:
        pipe.write(_bind([(SRVSVC_LE, NDR_LE)]))
    for chunk in chunks:
        pipe.write(chunk)
    while pipe.available():
        data, _ = pipe.read(4280)
        if data[:2] == b"\x05\x00":
            assert PduHeader.decode(data).frag_length >= 16


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([15, 16, 21]), st.binary(max_size=200))
def test_fuzz_stubs_fault_or_answer(opnum: int, stub: bytes) -> None:
    pipe = _bound()
    pipe.write(_request(opnum, stub))
    out, _ = pipe.read(65536)
    assert out[2] in (PType.RESPONSE, PType.FAULT)
