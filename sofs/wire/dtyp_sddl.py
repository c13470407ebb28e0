"""[MS-DTYP] 2.5.1 SDDL for the useful subset: readable security descriptors in tests and config.

``sddl_parse("O:BAG:BAD:P(A;OICI;FA;;;SY)(A;;0x1200a9;;;S-1-5-21-1-2-3-1001)")`` and its inverse
``sddl_format``. Object ACEs and conditional expressions are not supported (ValueError).
"""
from __future__ import annotations

import re

from sofs.wire.dtyp import (
    SID_ANONYMOUS,
    SID_AUTHENTICATED_USERS,
    SID_BUILTIN_ADMINISTRATORS,
    SID_BUILTIN_BACKUP_OPERATORS,
    SID_BUILTIN_GUESTS,
    SID_BUILTIN_USERS,
    SID_CREATOR_GROUP,
    SID_CREATOR_OWNER,
    SID_EVERYONE,
    SID_INTERACTIVE,
    SID_LOCAL_SERVICE,
    SID_NETWORK,
    SID_NETWORK_SERVICE,
    SID_OWNER_RIGHTS,
    SID_SYSTEM,
    Ace,
    Acl,
    SdControl,
    SecurityDescriptor,
    Sid,
)

__all__ = ["sddl_format", "sddl_parse"]

_SDDL_SIDS: dict[str, Sid] = {
    "WD": SID_EVERYONE, "CO": SID_CREATOR_OWNER, "CG": SID_CREATOR_GROUP, "OW": SID_OWNER_RIGHTS,
    "NU": SID_NETWORK, "IU": SID_INTERACTIVE, "AN": SID_ANONYMOUS, "AU": SID_AUTHENTICATED_USERS,
    "SY": SID_SYSTEM, "LS": SID_LOCAL_SERVICE, "NS": SID_NETWORK_SERVICE, "BA": SID_BUILTIN_ADMINISTRATORS,
    "BU": SID_BUILTIN_USERS, "BG": SID_BUILTIN_GUESTS, "BO": SID_BUILTIN_BACKUP_OPERATORS,
    "PU": Sid(5, (32, 547)), "RD": Sid(5, (32, 555)), "SU": Sid(5, (6,)), "PS": Sid(5, (10,)),
    "RC": Sid(5, (12,)), "WR": Sid(5, (33,)), "ED": Sid(5, (9,)), "AC": Sid(15, (2, 1)),
}
_SID_SDDL = {v: k for k, v in _SDDL_SIDS.items()}
# Domain-relative aliases (need ``domain_sid``).
_SDDL_RIDS = {"LA": 500, "LG": 501, "DA": 512, "DU": 513, "DG": 514, "DC": 515, "DD": 516}

_SDDL_ACE_TYPES = {"A": 0x00, "D": 0x01, "AU": 0x02, "AL": 0x03, "OA": 0x05, "OD": 0x06, "OU": 0x07,
                   "OL": 0x08, "XA": 0x09, "XD": 0x0A, "XU": 0x0D, "ML": 0x11, "RA": 0x12, "SP": 0x13}
_ACE_TYPE_SDDL = {v: k for k, v in _SDDL_ACE_TYPES.items()}
_SDDL_ACE_FLAGS = {"OI": 0x01, "CI": 0x02, "NP": 0x04, "IO": 0x08, "ID": 0x10, "SA": 0x40, "FA": 0x80}
_SDDL_RIGHTS = {
    "GA": 0x10000000, "GX": 0x20000000, "GW": 0x40000000, "GR": 0x80000000,
    "FA": 0x001F01FF, "FR": 0x00120089, "FW": 0x00120116, "FX": 0x001200A0,
    "SD": 0x00010000, "RC": 0x00020000, "WD": 0x00040000, "WO": 0x00080000,
    "CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "RP": 0x10, "WP": 0x20, "DT": 0x40, "LO": 0x80,
    "CR": 0x100,
}
_FORMAT_RIGHTS = {v: k for k, v in _SDDL_RIGHTS.items() if k[0] in "GF" or k in ("SD", "RC", "WD", "WO")}
_ACL_FLAGS = (("P", SdControl.DACL_PROTECTED, SdControl.SACL_PROTECTED),
              ("AR", SdControl.DACL_AUTO_INHERIT_REQ, SdControl.SACL_AUTO_INHERIT_REQ),
              ("AI", SdControl.DACL_AUTO_INHERITED, SdControl.SACL_AUTO_INHERITED))
_PART = re.compile(r"([OGDS]):")


def _sddl_sid(text: str, domain_sid: Sid | None) -> Sid:
    t = text.strip().upper()
    if t in _SDDL_SIDS:
        return _SDDL_SIDS[t]
    if t in _SDDL_RIDS:
        if domain_sid is None:
            raise ValueError(f"SDDL alias {t} needs a domain SID")
        return domain_sid.child(_SDDL_RIDS[t])
    return Sid.parse(t)


def _sddl_rights(text: str) -> int:
    t = text.strip().upper()
    if t.startswith("0X"):
        return int(t, 16)
    if t.isdigit():
        return int(t)
    mask = 0
    for i in range(0, len(t), 2):
        code = t[i:i + 2]
        if code not in _SDDL_RIGHTS:
            raise ValueError(f"unknown SDDL right {code!r}")
        mask |= _SDDL_RIGHTS[code]
    return mask


def _sddl_acl(text: str, domain_sid: Sid | None) -> tuple[Acl, str]:
    flags, _, rest = text.partition("(")
    aces = []
    for chunk in re.findall(r"\(([^)]*)\)", "(" + rest if rest else ""):
        fields = chunk.split(";")
        if len(fields) != 6:
            raise ValueError(f"SDDL ACE needs 6 fields: {chunk!r}")
        typ, aflags, rights, _obj, _inh, sid = fields
        if typ.upper() not in _SDDL_ACE_TYPES or typ.upper() in ("OA", "OD", "OU", "OL"):
            raise ValueError(f"unsupported SDDL ACE type {typ!r}")
        f = 0
        for i in range(0, len(aflags), 2):
            f |= _SDDL_ACE_FLAGS[aflags[i:i + 2].upper()]
        aces.append(Ace(_SDDL_ACE_TYPES[typ.upper()], f, _sddl_rights(rights), _sddl_sid(sid, domain_sid)))
    return Acl(tuple(aces)), flags.upper()


def sddl_parse(text: str, domain_sid: Sid | None = None) -> SecurityDescriptor:
    """Parse SDDL ``O:sid G:sid D:flags(ace)… S:flags(ace)…`` ([MS-DTYP] 2.5.1); ValueError if bad.

    Supported: SID strings and common aliases (domain ones with ``domain_sid``), ACE types
    A/D/AU/AL/XA/XD/XU/ML, the ACE flags, rights as hex or two-letter codes, ACL flags P/AI/AR.
    """
    owner = group = None
    dacl = sacl = None
    control = SdControl.SELF_RELATIVE
    pieces = _PART.split(text.strip())
    if pieces[0].strip():
        raise ValueError(f"SDDL must start with O:, G:, D: or S: ({text!r})")
    for key, value in zip(pieces[1::2], pieces[2::2], strict=True):
        value = value.strip()
        if key == "O":
            owner = _sddl_sid(value, domain_sid)
        elif key == "G":
            group = _sddl_sid(value, domain_sid)
        else:
            if value.upper().startswith("NO_ACCESS_CONTROL"):
                acl, flags = None, value[len("NO_ACCESS_CONTROL"):].upper()
            else:
                acl, flags = _sddl_acl(value, domain_sid)
            for letter, dbit, sbit in _ACL_FLAGS:
                if letter in re.findall(r"AR|AI|P", flags):
                    control |= dbit if key == "D" else sbit
            if key == "D":
                dacl, control = acl, control | SdControl.DACL_PRESENT
            else:
                sacl, control = acl, control | SdControl.SACL_PRESENT
    return SecurityDescriptor(owner, group, dacl, sacl, control)


def _fmt_sid(sid: Sid) -> str:
    return _SID_SDDL.get(sid, str(sid))


def _fmt_rights(mask: int) -> str:
    return _FORMAT_RIGHTS.get(mask, f"0x{mask:x}")


def _fmt_acl(acl: Acl | None, control: int, bits: tuple[int, int, int]) -> str:
    flags = "".join(letter for (letter, *_), bit in zip(_ACL_FLAGS, bits, strict=True) if control & bit)
    if acl is None:
        return flags + "NO_ACCESS_CONTROL"
    out = [flags]
    for a in acl.aces:
        if a.sid is None or a.ace_type not in _ACE_TYPE_SDDL:
            raise ValueError(f"ACE type {a.ace_type:#x} has no SDDL form here")
        af = "".join(k for k, v in _SDDL_ACE_FLAGS.items() if a.flags & v)
        out.append(f"({_ACE_TYPE_SDDL[a.ace_type]};{af};{_fmt_rights(a.mask)};;;{_fmt_sid(a.sid)})")
    return "".join(out)


def sddl_format(sd: SecurityDescriptor) -> str:
    """SDDL text of ``sd`` (inverse of :func:`sddl_parse` for what it supports)."""
    parts = []
    if sd.owner is not None:
        parts.append("O:" + _fmt_sid(sd.owner))
    if sd.group is not None:
        parts.append("G:" + _fmt_sid(sd.group))
    if sd.control & SdControl.DACL_PRESENT:
        parts.append("D:" + _fmt_acl(sd.dacl, sd.control, (SdControl.DACL_PROTECTED,
                                                           SdControl.DACL_AUTO_INHERIT_REQ,
                                                           SdControl.DACL_AUTO_INHERITED)))
    if sd.control & SdControl.SACL_PRESENT:
        parts.append("S:" + _fmt_acl(sd.sacl, sd.control, (SdControl.SACL_PROTECTED,
                                                           SdControl.SACL_AUTO_INHERIT_REQ,
                                                           SdControl.SACL_AUTO_INHERITED)))
    return "".join(parts)
