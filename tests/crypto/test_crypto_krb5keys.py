"""Kerberos keys from passwords: RFC 3961 n-fold and RFC 3962 vectors, and the keys Samba 4.22's KDC
holds for a computer account whose password we set (exported with samba-tool domain exportkeytab)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sofs.crypto.krb5keys import (
    ENCTYPE_AES128,
    ENCTYPE_AES256,
    ENCTYPE_RC4,
    account_keys,
    aes_string_to_key,
    machine_salt,
    n_fold,
)
from sofs.wire.keytab import decode_keytab

SAMBA_KEYTAB = Path(__file__).parents[1] / "wire" / "data" / "samba422_exportkeytab.keytab"


@pytest.mark.parametrize("data,nbytes,expected", [
    (b"012345", 8, "be072631276b1955"),
    (b"password", 7, "78a07b6caf85fa"),
    (b"Rough Consensus, and Running Code", 8, "bb6ed30870b7f0e0"),
    (b"password", 21, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
    (b"kerberos", 8, "6b65726265726f73"),
    (b"kerberos", 16, "6b65726265726f737b9b5b2b93132b93"),
])
def test_rfc3961_n_fold(data: bytes, nbytes: int, expected: str) -> None:
    assert n_fold(data, nbytes).hex() == expected


def test_rfc3962_string_to_key_vectors() -> None:
    salt = "ATHENA.MIT.EDUraeburn"
    assert aes_string_to_key("password", salt, 16, 1).hex() == "42263c6e89f4fc28b8df68ee09799f15"
    assert aes_string_to_key("password", salt, 32, 1).hex() == (
        "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161")


def test_keys_equal_the_kdcs() -> None:
    """SOFSN1$ in CORP.SOFS.TEST, password set with samba-tool user setpassword, kvno 2."""
    salt = machine_salt("CORP.SOFS.TEST", "SOFSN1$")
    assert salt == "CORP.SOFS.TESThostsofsn1.corp.sofs.test"
    ours = dict(account_keys("Mach1ne-Passw0rd-xyz", salt))
    kdc = {e.enctype: e.key for e in decode_keytab(SAMBA_KEYTAB.read_bytes())}
    assert set(kdc) == {ENCTYPE_AES256, ENCTYPE_AES128, ENCTYPE_RC4}
    assert ours == kdc
