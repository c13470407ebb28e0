"""Kerberos long-term keys of an account from its password ([RFC 3961] 5.1, [RFC 3962], [MS-KILE] 3.1.1.2).

A domain member knows its machine password (it sets it) and derives the keys the KDC derives, so its
keytab needs no export from the DC: AES256/AES128-CTS-HMAC-SHA1-96 (PBKDF2-HMAC-SHA1, 4096 iterations,
then DK(tkey, "kerberos")) and RC4-HMAC (the NT hash). Pure functions; tested against the keys
Samba's KDC exports for the same password.
"""
from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from spnego._ntlm_raw.crypto import ntowfv1 as nt_hash  # MD4(UTF-16LE): OpenSSL 3 has no md4

ENCTYPE_AES256 = 18  # aes256-cts-hmac-sha1-96
ENCTYPE_AES128 = 17  # aes128-cts-hmac-sha1-96
ENCTYPE_RC4 = 23  # arcfour-hmac (rc4-hmac)


def n_fold(data: bytes, nbytes: int) -> bytes:
    """[RFC 3961] 5.1 n-fold: ``data`` stretched/folded to ``nbytes`` (ones' complement addition of
    copies of ``data`` rotated right by 13 bits each)."""
    inbits = len(data) * 8
    lcm = nbytes * len(data) // _gcd(nbytes, len(data))
    big = 0
    as_int = int.from_bytes(data, "big")
    copies = []
    for i in range(lcm // len(data)):
        rot = (13 * i) % inbits
        copies.append(((as_int >> rot) | (as_int << (inbits - rot))) & ((1 << inbits) - 1))
    for c in copies:
        big = (big << inbits) | c
    total = lcm * 8
    out = 0
    mask = (1 << (nbytes * 8)) - 1
    for i in range(total // (nbytes * 8)):
        chunk = (big >> (total - (i + 1) * nbytes * 8)) & mask
        out += chunk
        while out >> (nbytes * 8):
            out = (out & mask) + (out >> (nbytes * 8))
    return out.to_bytes(nbytes, "big")


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def derive_key(base: bytes, constant: bytes) -> bytes:
    """[RFC 3961] 5.1 DK for the AES enctypes (random-to-key is the identity): DR(base, constant)."""
    out = b""
    block = n_fold(constant, 16)
    while len(out) < len(base):
        block = _aes_block(base, block)
        out += block
    return out[:len(base)]


def aes_string_to_key(password: str, salt: str, key_size: int, iterations: int = 4096) -> bytes:
    """[RFC 3962] 4: PBKDF2-HMAC-SHA1 then DK(tkey, "kerberos"); ``key_size`` 16 or 32."""
    tkey = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt.encode("utf-8"), iterations, key_size)
    return derive_key(tkey, b"kerberos")


def machine_salt(realm: str, account: str) -> str:
    """[MS-KILE] 3.1.1.2: the salt of a computer account ``NAME$``:
    ``REALM`` + ``host`` + lower-case name without ``$`` + ``.`` + lower-case realm."""
    name = account.removesuffix("$")
    return f"{realm.upper()}host{name.lower()}.{realm.lower()}"


def account_keys(password: str, salt: str) -> list[tuple[int, bytes]]:
    """(enctype, key) for AES256, AES128 and RC4, strongest first."""
    return [(ENCTYPE_AES256, aes_string_to_key(password, salt, 32)),
            (ENCTYPE_AES128, aes_string_to_key(password, salt, 16)),
            (ENCTYPE_RC4, nt_hash(password))]
