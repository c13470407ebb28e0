"""Transform (encryption): round trips, tampering, the wire codec, and smbprotocol as an oracle."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smbprotocol.connection import Ciphers, Connection, Dialects, SMB2TransformHeader

from sofs.crypto.transform import DecryptError, NonceCounter, make_cipher
from sofs.wire.constants import Cipher
from sofs.wire.errors import WireError
from sofs.wire.transform import (
    TRANSFORM_MAGIC,
    TransformHeader,
    is_transform,
    transform_session_id,
)

ALL = [Cipher.AES_128_CCM, Cipher.AES_128_GCM, Cipher.AES_256_CCM, Cipher.AES_256_GCM]
KEYLEN = {Cipher.AES_128_CCM: 16, Cipher.AES_128_GCM: 16, Cipher.AES_256_CCM: 32, Cipher.AES_256_GCM: 32}


def _msg(n: int) -> bytes:
    return b"\xfeSMB" + os.urandom(60 + n)


@pytest.mark.parametrize("cipher_id", ALL)
@pytest.mark.parametrize("size", [0, 1, 1000, 100_000])
def test_round_trip(cipher_id: int, size: int) -> None:
    key = os.urandom(KEYLEN[cipher_id])
    c = make_cipher(cipher_id, key)
    nonces = NonceCounter(c.nonce_size, os.urandom(4))
    msg = _msg(size)
    parts = [msg[:64], memoryview(msg)[64:]]
    out = c.encrypt(0x1122, parts, nonces.next())
    wire = b"".join(out)
    assert len(wire) == 52 + len(msg) and wire[:4] == TRANSFORM_MAGIC
    hdr = TransformHeader.decode(wire)
    assert (hdr.session_id, hdr.flags, hdr.original_message_size) == (0x1122, 1, len(msg))
    assert transform_session_id(wire) == 0x1122 and is_transform(wire)
    assert c.decrypt(wire) == msg
    assert c.decrypt(bytearray(wire)) == msg


@pytest.mark.parametrize("cipher_id", ALL)
@pytest.mark.parametrize("size", [10, 100_000])
def test_tamper_is_rejected(cipher_id: int, size: int) -> None:
    c = make_cipher(cipher_id, os.urandom(KEYLEN[cipher_id]))
    wire = bytearray(b"".join(c.encrypt(7, [_msg(size)], os.urandom(c.nonce_size))))
    for pos in (5, 25, 45, 52, len(wire) - 1):  # signature, nonce, session id, ciphertext
        bad = bytearray(wire)
        bad[pos] ^= 0x80
        with pytest.raises(DecryptError):
            c.decrypt(bad)
    with pytest.raises(DecryptError):
        c.decrypt(wire[:40])
    bad = bytearray(wire)
    bad[36] ^= 1  # OriginalMessageSize disagrees with the length
    with pytest.raises(DecryptError):
        c.decrypt(bad)
    bad = bytearray(wire)
    bad[42] = 2  # Flags
    with pytest.raises(DecryptError):
        c.decrypt(bad)
    other = make_cipher(cipher_id, os.urandom(KEYLEN[cipher_id]))
    with pytest.raises(DecryptError):
        other.decrypt(wire)


def test_header_codec_golden() -> None:
    hdr = TransformHeader(b"S" * 16, b"N" * 12 + bytes(4), 0x87, 1, 0x100000000025)
    raw = hdr.encode()
    assert raw == (
        b"\xfdSMB" + b"S" * 16 + b"N" * 12 + bytes(4) + bytes.fromhex("87000000" "0000" "0100" "2500000000100000")
    )
    assert TransformHeader.decode(raw) == hdr
    with pytest.raises(WireError):
        TransformHeader.decode(raw[:51])
    with pytest.raises(WireError):
        TransformHeader.decode(b"\xfeSMB" + raw[4:])


def test_nonce_counter_unique_and_sized() -> None:
    gcm = NonceCounter(12, b"\x01\x02\x03\x04")
    ccm = NonceCounter(11, b"\x01\x02\x03\x04")
    seen = {gcm.next() for _ in range(1000)}
    assert len(seen) == 1000 and all(len(n) == 12 for n in seen)
    assert len(ccm.next()) == 11
    last = NonceCounter(12, bytes(4), start=0xFFFFFFFFFFFFFFFE)
    last.next()
    with pytest.raises(OverflowError):
        last.next()


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        make_cipher(Cipher.AES_256_GCM, bytes(16))
    with pytest.raises(ValueError):
        make_cipher(9, bytes(16))
    with pytest.raises(ValueError):
        make_cipher(Cipher.AES_128_GCM, bytes(16)).encrypt(1, [b"x"], bytes(11))


@pytest.mark.parametrize(
    "cipher_id,o_cipher,dialect",
    [
        (Cipher.AES_128_CCM, Ciphers.AES_128_CCM, Dialects.SMB_3_0_0),
        (Cipher.AES_128_CCM, Ciphers.AES_128_CCM, Dialects.SMB_3_1_1),
        (Cipher.AES_128_GCM, Ciphers.AES_128_GCM, Dialects.SMB_3_1_1),
        (Cipher.AES_256_CCM, Ciphers.AES_256_CCM, Dialects.SMB_3_1_1),
        (Cipher.AES_256_GCM, Ciphers.AES_256_GCM, Dialects.SMB_3_1_1),
    ],
)
@pytest.mark.parametrize("size", [3000, 200_000])
def test_smbprotocol_oracle_both_ways(cipher_id: int, o_cipher: int, dialect: int, size: int) -> None:
    """What smbprotocol's client encrypts we decrypt, and what we encrypt it decrypts."""
    c2s, s2c = os.urandom(KEYLEN[cipher_id]), os.urandom(KEYLEN[cipher_id])
    session = SimpleNamespace(session_id=0xABCDEF, encryption_key=c2s, decryption_key=s2c)
    conn = SimpleNamespace(dialect=dialect, cipher_id=o_cipher, session_table={0xABCDEF: session})
    msg = _msg(size)
    wire = Connection._encrypt(conn, msg, session).pack()  # type: ignore[arg-type]
    assert make_cipher(cipher_id, c2s).decrypt(wire) == msg


    enc = make_cipher(cipher_id, s2c)
    ours = b"".join(enc.encrypt(0xABCDEF, [msg[:64], msg[64:1000], msg[1000:]], os.urandom(enc.nonce_size)))
    parsed = SMB2TransformHeader()
    parsed.unpack(ours)
    assert Connection._decrypt(conn, parsed) == msg  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(ALL))
def test_fuzz_decrypt_only_raises_decrypt_error(junk: bytes, cipher_id: int) -> None:
    c = make_cipher(cipher_id, bytes(KEYLEN[cipher_id]))
    for candidate in (junk, TRANSFORM_MAGIC + junk):
        with pytest.raises(DecryptError):
            c.decrypt(candidate)
