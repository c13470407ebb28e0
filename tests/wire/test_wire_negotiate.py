"""[MS-SMB2] 2.2.3 / 2.2.4 NEGOTIATE: golden bytes, round trips, smbprotocol cross-check."""
from __future__ import annotations

import uuid

import pytest
from smbprotocol.connection import (
    SMB2EncryptionCapabilities,
    SMB2NegotiateContextRequest,
    SMB2NetnameNegotiateContextId,
    SMB2PreauthIntegrityCapabilities,
    SMB2SigningCapabilities,
    SMB3NegotiateRequest,
)

from sofs.wire.codec import HEADER_SIZE
from sofs.wire.constants import Cipher, Dialect, HashAlgorithm, SecurityMode, SigningAlgorithm
from sofs.wire.errors import WireError
from sofs.wire.messages.negotiate import (
    CompressionCapabilities,
    EncryptionCapabilities,
    NegotiateRequest,
    NegotiateResponse,
    NetnameNegotiateContextId,
    PreauthIntegrityCapabilities,
    RawNegotiateContext,
    RdmaTransformCapabilities,
    SigningCapabilities,
    TransportCapabilities,
    find_context,
)

HDR = bytes(HEADER_SIZE)
GUID = bytes(range(16))
SALT = bytes(range(32))

def test_request_golden() -> None:
    req = NegotiateRequest(
        dialects=(Dialect.SMB3_0_2, Dialect.SMB3_1_1), security_mode=SecurityMode.SIGNING_ENABLED,
        capabilities=0x44, client_guid=GUID,
        negotiate_contexts=(PreauthIntegrityCapabilities((HashAlgorithm.SHA_512,), SALT),
                            EncryptionCapabilities((Cipher.AES_128_GCM, Cipher.AES_128_CCM))))
    expected = bytes.fromhex(
        "2400" "0200" "0100" "0000" "44000000" + GUID.hex() + "68000000" "0200" "0000"
        "0203" "1103"  # dialects end at 0x68: already aligned
        "0100" "2600" "00000000" "0100" "2000" "0100" + SALT.hex() + "0000"  # preauth + pad
        "0200" "0600" "00000000" "0200" "0200" "0100"
    )
    body = req.encode()
    assert body == expected
    assert NegotiateRequest.decode(HDR + body) == req


def test_request_from_smbprotocol() -> None:
    msg = SMB3NegotiateRequest()
    msg["security_mode"] = 1
    msg["capabilities"] = 0x7F
    client_guid = uuid.UUID(bytes=GUID)
    msg["client_guid"] = client_guid
    msg["dialects"] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311]
    pre = SMB2PreauthIntegrityCapabilities()
    pre["hash_algorithms"] = [1]
    pre["salt"] = SALT
    enc = SMB2EncryptionCapabilities()
    enc["ciphers"] = [2, 1, 4, 3]
    name = SMB2NetnameNegotiateContextId()
    name["net_name"] = "server"
    sig = SMB2SigningCapabilities()
    sig["signing_algorithms"] = [2, 1, 0]
    contexts = []
    for ctype, data in ((1, pre), (2, enc), (5, name), (8, sig)):
        ctx = SMB2NegotiateContextRequest()
        ctx["context_type"] = ctype
        ctx["data"] = data
        contexts.append(ctx)
    msg["negotiate_context_list"] = contexts
    req = NegotiateRequest.decode(HDR + msg.pack())
    assert req.dialects == (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)
    assert req.capabilities == 0x7F and req.client_guid == client_guid.bytes
    assert req.negotiate_contexts == (
        PreauthIntegrityCapabilities((1,), SALT), EncryptionCapabilities((2, 1, 4, 3)),
        NetnameNegotiateContextId("server"),
        SigningCapabilities((SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC,
                             SigningAlgorithm.HMAC_SHA256)))
    assert find_context(req.negotiate_contexts, EncryptionCapabilities) == EncryptionCapabilities((2, 1, 4, 3))
    assert find_context(req.negotiate_contexts, TransportCapabilities) is None


def test_request_without_311_ignores_context_fields() -> None:
    body = NegotiateRequest((0x0202, 0x0210)).encode()
    # ClientStartTime bytes set to garbage: ignored for pre-3.1.1 offers.
    body = body[:28] + b"\x99" * 8 + body[36:]
    assert NegotiateRequest.decode(HDR + body) == NegotiateRequest((0x0202, 0x0210))


def test_all_context_kinds_roundtrip() -> None:
    ctxs = (PreauthIntegrityCapabilities((1,), b"s"), EncryptionCapabilities((4,)),
            CompressionCapabilities((1, 2, 3), 1), NetnameNegotiateContextId("host.example"),
            TransportCapabilities(1), RdmaTransformCapabilities((1, 2)), SigningCapabilities((0, 1, 2)),
            RawNegotiateContext(0x1234, b"\x01\x02\x03"))
    req = NegotiateRequest((0x0311,), 1, 0, GUID, ctxs)
    assert NegotiateRequest.decode(HDR + req.encode()) == req


@pytest.mark.parametrize("body", [
    bytes.fromhex("2400" "0000") + bytes(32),                     # DialectCount 0
    bytes.fromhex("2500" "0100") + bytes(32) + b"\x02\x02",        # StructureSize
    bytes.fromhex("2400" "0300") + bytes(32) + b"\x02\x02",        # dialects truncated
])
def test_request_errors(body: bytes) -> None:
    with pytest.raises(WireError):
        NegotiateRequest.decode(HDR + body)


def test_request_context_overrun() -> None:
    req = NegotiateRequest((0x0311,), negotiate_contexts=(EncryptionCapabilities((1, 2)),))
    body = req.encode()
    with pytest.raises(WireError):
        NegotiateRequest.decode(HDR + body[:-1])


def test_response_golden() -> None:
    rsp = NegotiateResponse(
        security_mode=1, dialect_revision=0x0311, server_guid=GUID, capabilities=0x2F,
        max_transact_size=0x800000, max_read_size=0x800000, max_write_size=0x800000,
        system_time=0x01D0000000000000, server_start_time=0, security_buffer=b"\x60\x01\x02",
        negotiate_contexts=(PreauthIntegrityCapabilities((1,), b"\xaa" * 4), EncryptionCapabilities((2,))))
    expected = bytes.fromhex(
        "4100" "0100" "1103" "0200" + GUID.hex() + "2f000000" "00008000" "00008000" "00008000"
        "000000000000d001" "0000000000000000" "8000" "0300" "88000000"
        "600102" "0000000000"  # token + pad to 0x88
        "0100" "0a00" "00000000" "0100" "0400" "0100" "aaaaaaaa" "000000000000"
        "0200" "0400" "00000000" "0100" "0200"
    )
    body = rsp.encode()
    assert body == expected
    assert NegotiateResponse.decode(HDR + body) == rsp


def test_response_smb2_no_contexts() -> None:
    rsp = NegotiateResponse(1, 0x0210, GUID, 1, 65536, 65536, 65536, 5, 0, b"tok")
    body = rsp.encode()
    assert len(body) == 64 + 3
    got = NegotiateResponse.decode(memoryview(HDR + body))
    assert got == rsp and bytes(got.security_buffer) == b"tok"


def test_response_bad_security_offset() -> None:
    body = bytearray(NegotiateResponse(1, 0x0210, GUID, 1, 1, 1, 1, 0, 0, b"tok").encode())
    body[56:58] = (300).to_bytes(2, "little")
    with pytest.raises(WireError):
        NegotiateResponse.decode(HDR + bytes(body))
