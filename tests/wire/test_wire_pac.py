"""[MS-PAC] 2.5 KERB_VALIDATION_INFO decoding, on a PAC_LOGON_INFO buffer issued by Samba 4.22's KDC
(user dave in CORP, member of Domain Users and HyperV-Servers; captured from a real ticket)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sofs.wire.errors import WireError
from sofs.wire.pac import decode_logon_info

BLOB = (Path(__file__).parent / "data" / "pac_logon_info_samba422.bin").read_bytes()
DOM = "S-1-5-21-3764583800-1657920798-1865139504"


def test_samba_logon_info() -> None:
    info = decode_logon_info(BLOB)
    assert (info.user_name, info.domain_name, info.domain_sid) == ("dave", "CORP", DOM)
    assert info.user_sid == f"{DOM}-1102"
    # primary group Domain Users, HyperV-Servers, then the extra SIDs Samba adds: "authentication
    # authority asserted identity" and "claims valid"
    assert info.group_sids == (f"{DOM}-513", f"{DOM}-1104", "S-1-18-1", "S-1-5-21-0-0-0-497")


@pytest.mark.parametrize("cut", [0, 10, 20, 100, 300, len(BLOB) - 4])
def test_truncated_logon_info_refused(cut: int) -> None:
    with pytest.raises(WireError):
        decode_logon_info(BLOB[:cut])


def test_not_ndr_refused() -> None:
    with pytest.raises(WireError):
        decode_logon_info(b"\x02" + BLOB[1:])
