"""Signing: each algorithm against smbprotocol's client implementation (oracle), plus properties."""
from __future__ import annotations

import os
import struct
from types import SimpleNamespace

import pytest
from smbprotocol.connection import Connection, Dialects, SigningAlgorithms

from sofs.crypto.signing import AesGmacSigner, gmac_nonce, make_signer
from sofs.wire.constants import Command, Dialect, HeaderFlags, SigningAlgorithm


def _message(command: int, flags: int, message_id: int, body: bytes, sig: bytes = b"\x00" * 16) -> bytes:
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, 0, command, 1, flags, 0, message_id, 0, 1, 0x1234, sig
    )
    return header + body


def _oracle(dialect: int, algo: int | None, key: bytes, msg: bytes) -> bytes:
    fake = SimpleNamespace(dialect=dialect, signing_algorithm_id=algo)
    command = int.from_bytes(msg[12:14], "little")
    response = bool(int.from_bytes(msg[16:20], "little") & 1)
    message_id = int.from_bytes(msg[24:32], "little")
    return Connection._generate_signature(fake, msg, key, message_id, response, command)  # type: ignore


CASES = [
    (Dialect.SMB2_0_2, None, Dialects.SMB_2_0_2, None),
    (Dialect.SMB2_1, None, Dialects.SMB_2_1_0, None),
    (Dialect.SMB3_0, None, Dialects.SMB_3_0_0, None),
    (Dialect.SMB3_0_2, None, Dialects.SMB_3_0_2, None),
    (Dialect.SMB3_1_1, None, Dialects.SMB_3_1_1, SigningAlgorithms.AES_CMAC),
    (Dialect.SMB3_1_1, SigningAlgorithm.AES_CMAC, Dialects.SMB_3_1_1, SigningAlgorithms.AES_CMAC),
    (Dialect.SMB3_1_1, SigningAlgorithm.AES_GMAC, Dialects.SMB_3_1_1, SigningAlgorithms.AES_GMAC),
]


@pytest.mark.parametrize("dialect,algo,o_dialect,o_algo", CASES)
@pytest.mark.parametrize("size", [0, 7, 100, 70_000])
@pytest.mark.parametrize("command,flags", [(Command.READ, 0), (Command.READ, 1), (Command.CANCEL, 0)])
def test_matches_smbprotocol(
    dialect: int, algo: int | None, o_dialect: int, o_algo: int | None, size: int, command: int, flags: int
) -> None:
    key = bytes(range(16))
    msg = _message(command, flags | HeaderFlags.SIGNED, 0x0102030405, os.urandom(size), os.urandom(16))
    want = _oracle(o_dialect, o_algo, key, msg)
    signer = make_signer(dialect, algo, key)
    assert signer.sign(msg) == want
    assert signer.sign(bytearray(msg)) == want
    assert signer.sign(memoryview(msg)) == want
    assert signer.sign_parts([msg[:64], msg[64:80], msg[80:]]) == want
    assert signer.sign_parts([msg[:100], msg[100:]]) == want
    zeroed = bytearray(msg[:48] + bytes(16) + msg[64:80])  # a response the server builds
    assert signer.sign_zeroed([zeroed, msg[80:]], len(msg)) == want
    signed = msg[:48] + want + msg[64:]
    assert signer.verify(signed)
    assert not signer.verify(msg[:48] + bytes(16) + msg[64:]) or want == bytes(16)


def test_verify_rejects_tampering() -> None:
    key = os.urandom(16)
    for algo in (SigningAlgorithm.AES_CMAC, SigningAlgorithm.AES_GMAC, SigningAlgorithm.HMAC_SHA256):
        signer = make_signer(Dialect.SMB3_1_1, algo, key)
        msg = _message(Command.WRITE, HeaderFlags.SIGNED, 9, b"payload" * 10)
        signed = bytearray(msg[:48] + signer.sign(msg) + msg[64:])
        assert signer.verify(signed)
        signed[70] ^= 1
        assert not signer.verify(signed)
        assert not signer.verify(b"short")


def test_gmac_nonce_bits() -> None:
    msg = _message(Command.CANCEL, HeaderFlags.SERVER_TO_REDIR, 0x1122334455667788, b"")
    assert gmac_nonce(msg) == bytes.fromhex("8877665544332211") + b"\x03\x00\x00\x00"
    assert gmac_nonce(_message(Command.READ, 0, 5, b"")) == (5).to_bytes(8, "little") + bytes(4)


def test_gmac_nonce_depends_on_direction_and_message_id() -> None:
    signer = AesGmacSigner(bytes(16))
    request = signer.sign(_message(Command.READ, 0, 1, b"x"))
    # The same bytes with only the nonce inputs changed must give other signatures.
    assert signer._gmac(gmac_nonce(_message(Command.READ, 1, 1, b"")), [_message(Command.READ, 0, 1, b"x")], 1) != (
        request
    )
    assert signer.sign(_message(Command.READ, 0, 2, b"x")) != request


def test_bad_key_sizes() -> None:
    with pytest.raises(ValueError):
        make_signer(Dialect.SMB3_0, None, b"short")
    with pytest.raises(ValueError):
        make_signer(Dialect.SMB3_1_1, SigningAlgorithm.AES_GMAC, b"short")
