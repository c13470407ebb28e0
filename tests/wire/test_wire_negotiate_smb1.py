"""SMB1 NEGOTIATE detection for the multi-protocol upgrade."""
from __future__ import annotations

import pytest

from sofs.wire.errors import WireError
from sofs.wire.smb1 import is_smb1, smb1_negotiate_dialects, smb1_upgrade_dialect


def _smb1_negotiate(dialects: list[str]) -> bytes:
    data = b"".join(b"\x02" + d.encode() + b"\0" for d in dialects)
    header = b"\xffSMB\x72" + bytes(4) + b"\x18" + b"\x53\xc8" + bytes(20)
    return header + b"\x00" + len(data).to_bytes(2, "little") + data


def test_smbclient_style_negotiate() -> None:
    msg = _smb1_negotiate(["NT LM 0.12", "SMB 2.002", "SMB 2.???"])
    assert is_smb1(msg)
    dialects = smb1_negotiate_dialects(msg)
    assert dialects == ["NT LM 0.12", "SMB 2.002", "SMB 2.???"]
    assert smb1_upgrade_dialect(dialects) == 0x02FF
    assert smb1_upgrade_dialect(dialects, max_dialect=0x0202) == 0x0202
    assert smb1_upgrade_dialect(["NT LM 0.12", "SMB 2.002"]) == 0x0202
    assert smb1_upgrade_dialect(["NT LM 0.12"]) is None


def test_not_negotiate() -> None:
    assert smb1_negotiate_dialects(b"\xfeSMB" + bytes(60)) is None
    assert smb1_negotiate_dialects(b"\xffSMB\x73" + bytes(40)) is None


@pytest.mark.parametrize("msg", [
    _smb1_negotiate(["NT LM 0.12"])[:-3],
    _smb1_negotiate(["x"])[:-1] + b"y",
    _smb1_negotiate(["NT LM 0.12"])[:35] + b"\x03" + _smb1_negotiate(["NT LM 0.12"])[36:],
    b"\xffSMB\x72" + bytes(28),
])
def test_malformed(msg: bytes) -> None:
    with pytest.raises(WireError):
        smb1_negotiate_dialects(msg)
