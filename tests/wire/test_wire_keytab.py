"""MIT keytab files (version 0x502): Samba's exported file parsed, our encoding golden and round trip."""
from __future__ import annotations

from pathlib import Path

import pytest

from sofs.wire.errors import WireError
from sofs.wire.keytab import NT_PRINCIPAL, NT_SRV_HST, KeytabEntry, decode_keytab, encode_keytab

SAMBA = (Path(__file__).parent / "data" / "samba422_exportkeytab.keytab").read_bytes()


def test_samba_keytab_parsed() -> None:
    entries = decode_keytab(SAMBA)  # Heimdal adds a 32-bit flags word after the kvno: ignored
    assert [e.principal for e in entries] == ["SOFSN1$@CORP.SOFS.TEST"] * 3
    assert {e.kvno for e in entries} == {2} and [e.enctype for e in entries] == [18, 17, 23]


def test_entry_golden_and_round_trip() -> None:
    e = KeytabEntry("R.EX", ("cifs", "h.r.ex"), NT_SRV_HST, 0x01020304, 7, 17, bytes(range(16)))
    data = encode_keytab([e])
    assert data.hex() == (
        "0502" "00000037"  # version, entry size 55
        "0002" "0004" + b"R.EX".hex() + "0004" + b"cifs".hex() + "0006" + b"h.r.ex".hex()
        + "00000003" "01020304" "07" "0011" "0010" + bytes(range(16)).hex() + "00000007")
    assert decode_keytab(data) == [e]
    two = [e, KeytabEntry("R.EX", ("N1$",), NT_PRINCIPAL, 5, 300, 23, b"k" * 16)]
    assert decode_keytab(encode_keytab(two)) == two  # kvno above 255: the 32-bit field wins


@pytest.mark.parametrize("data", [b"\x05\x01", SAMBA[:2] + b"\x00\x00\x00\x40" + b"\x00\x01\x00\xff"])
def test_malformed_keytab(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_keytab(data)
