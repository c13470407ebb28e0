"""[MS-DTYP] SID / ACE / ACL / SECURITY_DESCRIPTOR codecs and SDDL; Samba's NDR as an oracle."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from smbprotocol.security_descriptor import SIDPacket

from sofs.wire.dtyp import (
    SID_BUILTIN_ADMINISTRATORS,
    SID_EVERYONE,
    SID_SYSTEM,
    Ace,
    AceType,
    Acl,
    SdControl,
    SecurityDescriptor,
    Sid,
    security_info_subset,
)
from sofs.wire.dtyp_sddl import sddl_format, sddl_parse
from sofs.wire.errors import WireError
from sofs.wire.fscc_constants import SecurityInformation as SI
from sofs.wire.status import NtStatus

SDDL = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;;0x1200a9;;;S-1-5-21-1-2-3-1001)(D;;FW;;;WD)"
# Our encoding of SDDL (checked field by field against [MS-DTYP] 2.4.6 and, except the ACL revision
# that Samba's SDDL parser sets to 4, byte-identical to Samba's ndr_pack).
GOLDEN = (
    "010004941400000024000000000000003000000001020000000000052000000020020000010100000000000512000000"
    "020054000300000000031400ff011f0001010000000000051200000000002400a9001200010500000000000515000000"
    "010000000200000003000000e90300000100140016011200010100000000000100000000"
)


def test_sid_string_round_trip() -> None:
    for text in ("S-1-5-32-544", "S-1-1-0", "S-1-5-21-1004336348-1177238915-682003330-512", "S-1-0x123456789ABC-1"):
        sid = Sid.parse(text)
        assert Sid.parse(str(sid)) == sid
        assert Sid.decode(sid.encode()) == sid
    assert str(Sid.parse("s-1-5-18")) == "S-1-5-18"
    assert Sid.parse("S-1-5-21-1-2-3-1001").rid == 1001
    assert str(Sid.parse("S-1-5-21-1-2-3-1001").domain) == "S-1-5-21-1-2-3"
    for bad in ("S-1", "X-1-5", "S-1-5-abc", "S-1-5-" + "-".join(["1"] * 16)):
        with pytest.raises(ValueError):
            Sid.parse(bad)


def test_sid_golden_and_smbprotocol() -> None:
    assert SID_BUILTIN_ADMINISTRATORS.encode().hex() == "01020000000000052000000020020000"
    sp = SIDPacket()
    sp.from_string("S-1-5-21-1-2-3-1001")
    assert Sid.decode(sp.pack()) == Sid.parse("S-1-5-21-1-2-3-1001")
    sp2 = SIDPacket()
    sp2.unpack(SID_EVERYONE.encode())
    assert str(sp2) == "S-1-1-0"


def test_sid_errors() -> None:
    for bad in (b"", b"\x01\x01\0\0\0\0\0\x05", b"\x02\x00" + bytes(6), b"\x01\x10" + bytes(70)):
        with pytest.raises(WireError) as ei:
            Sid.decode(bad)
        assert ei.value.status == NtStatus.INVALID_SID


def test_sd_golden() -> None:
    sd = sddl_parse(SDDL)
    assert sd.encode().hex() == GOLDEN
    assert SecurityDescriptor.decode(bytes.fromhex(GOLDEN)) == sd
    assert sddl_format(sd) == SDDL
    assert sd.control == SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT | SdControl.DACL_PROTECTED | \
        SdControl.DACL_AUTO_INHERITED


def test_object_and_callback_aces_round_trip() -> None:
    obj = Ace(AceType.ACCESS_ALLOWED_OBJECT, 0, 0x100, None, b"\x01\0\0\0" + bytes(16) + SID_SYSTEM.encode())
    cb = Ace(AceType.ACCESS_ALLOWED_CALLBACK, 0x10, 0x1F01FF, SID_EVERYONE, b"artx\x01\x02\x03\x04")
    acl = Acl((obj, cb), revision=4)
    assert Acl.decode(acl.encode()) == acl
    sd = SecurityDescriptor.build(SID_SYSTEM, SID_SYSTEM, acl, Acl(()))
    assert SecurityDescriptor.decode(sd.encode()) == sd


def test_null_dacl_vs_no_dacl() -> None:
    null = SecurityDescriptor(SID_SYSTEM, None, None, None, SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT)
    back = SecurityDescriptor.decode(null.encode())
    assert back.dacl is None and back.control & SdControl.DACL_PRESENT
    assert sddl_format(back) == "O:SYD:NO_ACCESS_CONTROL"
    assert sddl_parse("O:SYD:NO_ACCESS_CONTROL") == null


def test_sd_errors() -> None:
    good = bytes.fromhex(GOLDEN)
    cases = {
        "short": (good[:19], NtStatus.INVALID_SECURITY_DESCR),
        "revision": (b"\x02" + good[1:], NtStatus.INVALID_SECURITY_DESCR),
        "offset": (good[:4] + (999).to_bytes(4, "little") + good[8:], NtStatus.INVALID_SECURITY_DESCR),
        "acl truncated": (good[:-4], NtStatus.INVALID_ACL),
    }
    for name, (data, status) in cases.items():
        with pytest.raises(WireError) as ei:
            SecurityDescriptor.decode(data)
        assert ei.value.status == status, name
    for n in range(len(good)):
        try:
            SecurityDescriptor.decode(good[:n])
        except WireError:
            pass


def test_security_info_subset() -> None:
    sd = sddl_parse(SDDL + "S:(AU;SA;FA;;;WD)")
    only_owner = security_info_subset(sd, SI.OWNER)
    assert only_owner.owner == SID_BUILTIN_ADMINISTRATORS and only_owner.group is None
    assert only_owner.dacl is None and not only_owner.control & SdControl.DACL_PRESENT
    assert not only_owner.control & SdControl.SACL_PRESENT
    dacl = security_info_subset(sd, SI.DACL)
    assert dacl.owner is None and dacl.dacl == sd.dacl and dacl.sacl is None
    everything = security_info_subset(sd, SI.OWNER | SI.GROUP | SI.DACL | SI.SACL)
    assert everything == sd
    assert SecurityDescriptor.decode(only_owner.encode()) == only_owner


def test_sddl_aliases_and_rights() -> None:
    dom = Sid.parse("S-1-5-21-1-2-3")
    sd = sddl_parse("O:DAG:DUD:(A;CIOI;GRGX;;;AU)(A;;0x1f01ff;;;BA)", dom)
    assert sd.owner == dom.child(512) and sd.group == dom.child(513)
    assert sd.dacl is not None and sd.dacl.aces[0].mask == 0xA0000000 and sd.dacl.aces[0].flags == 3
    assert sddl_format(sd) == "O:S-1-5-21-1-2-3-512G:S-1-5-21-1-2-3-513D:(A;OICI;0xa0000000;;;AU)(A;;FA;;;BA)"
    for bad in ("X", "O:ZZ", "D:(A;;FA;;)", "D:(OA;;FA;;;WD)", "D:(A;;QQ;;;WD)"):
        with pytest.raises(ValueError):
            sddl_parse(bad)


_SAMBA = "/usr/bin/python3"


def _samba(script: str, arg: str) -> str:
    out = subprocess.run([_SAMBA, "-c", script, arg], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


_samba_ok = shutil.which(_SAMBA) is not None and subprocess.run(
    [_SAMBA, "-c", "import samba.dcerpc.security"], check=False, capture_output=True).returncode == 0


@pytest.mark.skipif(not _samba_ok, reason="Samba python bindings not installed")
def test_samba_oracle() -> None:
    """Samba's NDR decodes what we encode to the same SDDL, and we decode what Samba encodes."""
    texts = [SDDL, "O:SYG:BAD:P(A;OICIID;0x1301bf;;;AU)(D;;WDWO;;;WD)S:(AU;FA;FA;;;WD)", "O:BAG:BA"]  # Samba formats a NULL DACL as nothing
    ours = [sddl_parse(t).encode().hex() for t in texts]
    back = json.loads(_samba(
        "import sys, json\nfrom samba.dcerpc import security\nfrom samba.ndr import ndr_unpack, ndr_pack\n"
        "blobs = json.loads(sys.argv[1])\nout = []\n"
        "for b in blobs:\n    sd = ndr_unpack(security.descriptor, bytes.fromhex(b))\n"
        "    out.append([sd.as_sddl(), ndr_pack(security.descriptor.from_sddl(sd.as_sddl(), "
        "security.dom_sid('S-1-5-21-1-2-3'))).hex()])\n"
        "print(json.dumps(out))", json.dumps(ours)))
    for text, (samba_sddl, samba_hex) in zip(texts, back, strict=True):
        ours_sd = sddl_parse(text)
        assert sddl_parse(samba_sddl) == ours_sd, (text, samba_sddl)
        theirs = SecurityDescriptor.decode(bytes.fromhex(samba_hex))
        assert (theirs.owner, theirs.group, theirs.control) == (ours_sd.owner, ours_sd.group, ours_sd.control)
        for a, b in ((theirs.dacl, ours_sd.dacl), (theirs.sacl, ours_sd.sacl)):
            assert (a.aces if a else None) == (b.aces if b else None)
