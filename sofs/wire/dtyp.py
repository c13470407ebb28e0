"""[MS-DTYP] security structures: SID (2.4.2), ACE (2.4.4), ACL (2.4.5) and the self-relative
SECURITY_DESCRIPTOR (2.4.6), SDDL (2.5.1) lives in ``dtyp_sddl``.

Decoders raise only WireError: INVALID_SID / INVALID_ACL / INVALID_SECURITY_DESCR, the statuses Windows
answers a SET_INFO with a malformed descriptor. Object and callback ACEs are kept: their bytes after
the fixed part are carried raw in ``Ace.extra`` so they round-trip unchanged.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag

from sofs.wire.errors import WireError
from sofs.wire.fscc_base import Buffer
from sofs.wire.fscc_constants import SecurityInformation
from sofs.wire.status import NtStatus

__all__ = [
    "SID_ANONYMOUS", "SID_AUTHENTICATED_USERS", "SID_BUILTIN_ADMINISTRATORS", "SID_BUILTIN_BACKUP_OPERATORS",
    "SID_BUILTIN_GUESTS", "SID_BUILTIN_USERS", "SID_CREATOR_GROUP", "SID_CREATOR_OWNER", "SID_EVERYONE",
    "SID_INTERACTIVE", "SID_LOCAL_SERVICE", "SID_NETWORK", "SID_NETWORK_SERVICE", "SID_NULL",
    "SID_OWNER_RIGHTS", "SID_SYSTEM", "Ace", "AceFlags", "AceType", "Acl", "SdControl",
    "SecurityDescriptor", "Sid", "security_info_subset",
]

_ERR_SID = NtStatus.INVALID_SID
_ERR_ACL = NtStatus.INVALID_ACL
_ERR_SD = NtStatus.INVALID_SECURITY_DESCR


@dataclass(frozen=True, slots=True, order=True)
class Sid:
    """[MS-DTYP] 2.4.2.2 SID: ``Sid.parse("S-1-5-32-544")``, ``str(sid)``, ``encode()``/``decode()``."""

    authority: int
    sub_authorities: tuple[int, ...] = ()
    revision: int = 1

    @classmethod
    def parse(cls, text: str) -> Sid:
        """String form ([MS-DTYP] 2.4.2.1), authority decimal or 0x-hex; ValueError if malformed."""
        parts = text.strip().upper().split("-")
        if len(parts) < 3 or parts[0] != "S" or not parts[1].isdigit():
            raise ValueError(f"not a SID: {text!r}")
        try:
            auth = int(parts[2], 16) if parts[2].startswith("0X") else int(parts[2])
            subs = tuple(int(p) for p in parts[3:])
        except ValueError:
            raise ValueError(f"not a SID: {text!r}") from None
        if auth >= 1 << 48 or len(subs) > 15 or any(not 0 <= s < 1 << 32 for s in subs):
            raise ValueError(f"SID out of range: {text!r}")
        return cls(auth, subs, int(parts[1]))

    def __str__(self) -> str:
        auth = str(self.authority) if self.authority < 1 << 32 else f"0x{self.authority:012X}"
        return "-".join(["S", str(self.revision), auth, *map(str, self.sub_authorities)])

    @property
    def size(self) -> int:
        return 8 + 4 * len(self.sub_authorities)

    @property
    def rid(self) -> int:
        """The last sub-authority (the relative id)."""
        return self.sub_authorities[-1] if self.sub_authorities else 0

    @property
    def domain(self) -> Sid:
        """The SID without its last sub-authority."""
        return Sid(self.authority, self.sub_authorities[:-1], self.revision)

    def child(self, rid: int) -> Sid:
        """This (domain) SID with ``rid`` appended."""
        return Sid(self.authority, (*self.sub_authorities, rid), self.revision)

    def encode(self) -> bytes:
        n = len(self.sub_authorities)
        return (struct.pack("<BB", self.revision, n) + self.authority.to_bytes(6, "big")
                + struct.pack(f"<{n}I", *self.sub_authorities))

    @classmethod
    def decode_from(cls, buf: Buffer, offset: int = 0) -> tuple[Sid, int]:
        """(SID, its size in bytes) at ``offset``; WireError(INVALID_SID)."""
        if offset < 0 or offset + 8 > len(buf):
            raise WireError(_ERR_SID, "SID truncated")
        rev, n = buf[offset], buf[offset + 1]
        if rev != 1 or n > 15:
            raise WireError(_ERR_SID, f"SID revision {rev} / {n} sub-authorities")
        end = offset + 8 + 4 * n
        if end > len(buf):
            raise WireError(_ERR_SID, "SID truncated")
        auth = int.from_bytes(bytes(buf[offset + 2:offset + 8]), "big")
        subs = struct.unpack_from(f"<{n}I", buf, offset + 8)
        return cls(auth, subs, rev), end - offset

    @classmethod
    def decode(cls, buf: Buffer) -> Sid:
        return cls.decode_from(buf, 0)[0]


SID_NULL = Sid(0, (0,))
SID_EVERYONE = Sid(1, (0,))
SID_CREATOR_OWNER = Sid(3, (0,))
SID_CREATOR_GROUP = Sid(3, (1,))
SID_OWNER_RIGHTS = Sid(3, (4,))
SID_NETWORK = Sid(5, (2,))
SID_INTERACTIVE = Sid(5, (4,))
SID_ANONYMOUS = Sid(5, (7,))
SID_AUTHENTICATED_USERS = Sid(5, (11,))
SID_SYSTEM = Sid(5, (18,))
SID_LOCAL_SERVICE = Sid(5, (19,))
SID_NETWORK_SERVICE = Sid(5, (20,))
SID_BUILTIN_ADMINISTRATORS = Sid(5, (32, 544))
SID_BUILTIN_USERS = Sid(5, (32, 545))
SID_BUILTIN_GUESTS = Sid(5, (32, 546))
SID_BUILTIN_BACKUP_OPERATORS = Sid(5, (32, 551))


class AceType(IntEnum):
    """[MS-DTYP] 2.4.4.1 AceType."""

    ACCESS_ALLOWED = 0x00
    ACCESS_DENIED = 0x01
    SYSTEM_AUDIT = 0x02
    SYSTEM_ALARM = 0x03
    ACCESS_ALLOWED_COMPOUND = 0x04
    ACCESS_ALLOWED_OBJECT = 0x05
    ACCESS_DENIED_OBJECT = 0x06
    SYSTEM_AUDIT_OBJECT = 0x07
    SYSTEM_ALARM_OBJECT = 0x08
    ACCESS_ALLOWED_CALLBACK = 0x09
    ACCESS_DENIED_CALLBACK = 0x0A
    ACCESS_ALLOWED_CALLBACK_OBJECT = 0x0B
    ACCESS_DENIED_CALLBACK_OBJECT = 0x0C
    SYSTEM_AUDIT_CALLBACK = 0x0D
    SYSTEM_ALARM_CALLBACK = 0x0E
    SYSTEM_AUDIT_CALLBACK_OBJECT = 0x0F
    SYSTEM_ALARM_CALLBACK_OBJECT = 0x10
    SYSTEM_MANDATORY_LABEL = 0x11
    SYSTEM_RESOURCE_ATTRIBUTE = 0x12
    SYSTEM_SCOPED_POLICY_ID = 0x13


# ACE types whose body after Mask is not a plain SID (GUID flags first): kept raw in ``extra``.
_OBJECT_TYPES = frozenset({0x04, 0x05, 0x06, 0x07, 0x08, 0x0B, 0x0C, 0x0F, 0x10})


class AceFlags(IntFlag):
    """[MS-DTYP] 2.4.4.1 AceFlags."""

    OBJECT_INHERIT = 0x01
    CONTAINER_INHERIT = 0x02
    NO_PROPAGATE_INHERIT = 0x04
    INHERIT_ONLY = 0x08
    INHERITED = 0x10
    SUCCESSFUL_ACCESS = 0x40
    FAILED_ACCESS = 0x80


_ACE_HDR = struct.Struct("<BBHI")


@dataclass(frozen=True, slots=True)
class Ace:
    """[MS-DTYP] 2.4.4 ACE: header + Mask + SID (+ ``extra``: trailing application data / padding).

    For object / compound types ``sid`` is None and ``extra`` holds everything after Mask.
    """

    ace_type: int
    flags: int
    mask: int
    sid: Sid | None
    extra: bytes = b""

    def encode(self) -> bytes:
        body = (self.sid.encode() if self.sid is not None else b"") + self.extra
        size = 8 + len(body)
        pad = -size & 3
        if size + pad > 0xFFFF:
            raise ValueError("ACE too large")
        return _ACE_HDR.pack(self.ace_type, self.flags, size + pad, self.mask) + body + b"\0" * pad

    @classmethod
    def decode_from(cls, buf: Buffer, offset: int) -> tuple[Ace, int]:
        """(ACE, AceSize) at ``offset``; WireError(INVALID_ACL) if it overruns ``buf``."""
        if offset + 8 > len(buf):
            raise WireError(_ERR_ACL, "ACE header truncated")
        t, f, size, mask = _ACE_HDR.unpack_from(buf, offset)
        if size < 8 or offset + size > len(buf):
            raise WireError(_ERR_ACL, f"AceSize {size} invalid")
        end = offset + size
        if t in _OBJECT_TYPES:
            return cls(t, f, mask, None, bytes(buf[offset + 8:end])), size
        try:
            sid, n = Sid.decode_from(buf[:end], offset + 8)
        except WireError:
            raise WireError(_ERR_ACL, "ACE SID invalid") from None
        return cls(t, f, mask, sid, bytes(buf[offset + 8 + n:end])), size


ACL_REVISION = 2
ACL_REVISION_DS = 4


@dataclass(frozen=True, slots=True)
class Acl:
    """[MS-DTYP] 2.4.5 ACL: AclRevision + ACEs (AclSize/AceCount derived)."""

    aces: tuple[Ace, ...] = ()
    revision: int = ACL_REVISION

    def encode(self) -> bytes:
        body = b"".join(a.encode() for a in self.aces)
        return struct.pack("<BxHHxx", self.revision, 8 + len(body), len(self.aces)) + body

    @classmethod
    def decode_from(cls, buf: Buffer, offset: int = 0) -> tuple[Acl, int]:
        if offset < 0 or offset + 8 > len(buf):
            raise WireError(_ERR_ACL, "ACL header truncated")
        rev, size, count = struct.unpack_from("<BxHHxx", buf, offset)
        if rev not in (ACL_REVISION, ACL_REVISION_DS, 3) or size < 8 or offset + size > len(buf):
            raise WireError(_ERR_ACL, f"ACL revision {rev} / size {size} invalid")
        view = memoryview(buf)[:offset + size]
        aces, pos = [], offset + 8
        for _ in range(count):
            ace, n = Ace.decode_from(view, pos)
            aces.append(ace)
            pos += n
        return cls(tuple(aces), rev), size

    @classmethod
    def decode(cls, buf: Buffer) -> Acl:
        return cls.decode_from(buf, 0)[0]


class SdControl(IntFlag):
    """[MS-DTYP] 2.4.6 SECURITY_DESCRIPTOR Control (SDDL letters in comments)."""

    OWNER_DEFAULTED = 0x0001
    GROUP_DEFAULTED = 0x0002
    DACL_PRESENT = 0x0004
    DACL_DEFAULTED = 0x0008
    SACL_PRESENT = 0x0010
    SACL_DEFAULTED = 0x0020
    DACL_TRUSTED = 0x0040
    SERVER_SECURITY = 0x0080
    DACL_AUTO_INHERIT_REQ = 0x0100  # AR
    SACL_AUTO_INHERIT_REQ = 0x0200
    DACL_AUTO_INHERITED = 0x0400  # AI
    SACL_AUTO_INHERITED = 0x0800
    DACL_PROTECTED = 0x1000  # P
    SACL_PROTECTED = 0x2000
    RM_CONTROL_VALID = 0x4000
    SELF_RELATIVE = 0x8000


_SD_HDR = struct.Struct("<BBHIIII")


@dataclass(frozen=True, slots=True)
class SecurityDescriptor:
    """[MS-DTYP] 2.4.6 self-relative SECURITY_DESCRIPTOR.

    ``dacl`` None with DACL_PRESENT set in ``control`` is a NULL DACL (everyone allowed); without the
    flag, no DACL. ``encode`` always sets SELF_RELATIVE and writes owner, group, SACL, DACL in that
    order (Samba's order; readers must follow the offsets anyway).
    """

    owner: Sid | None = None
    group: Sid | None = None
    dacl: Acl | None = None
    sacl: Acl | None = None
    control: int = SdControl.SELF_RELATIVE
    revision: int = 1

    @classmethod
    def build(cls, owner: Sid | None = None, group: Sid | None = None, dacl: Acl | None = None,
              sacl: Acl | None = None, control: int = 0) -> SecurityDescriptor:
        """A descriptor whose PRESENT flags follow the ACLs given (plus ``control``)."""
        c = control | SdControl.SELF_RELATIVE
        if dacl is not None:
            c |= SdControl.DACL_PRESENT
        if sacl is not None:
            c |= SdControl.SACL_PRESENT
        return cls(owner, group, dacl, sacl, c)

    def encode(self) -> bytes:
        out = bytearray(20)
        offs = []
        for part in (self.owner, self.group, self.sacl, self.dacl):
            if part is None:
                offs.append(0)
            else:
                offs.append(len(out))
                out += part.encode()
        _SD_HDR.pack_into(out, 0, self.revision, 0, self.control | SdControl.SELF_RELATIVE, *offs)
        return bytes(out)

    @classmethod
    def decode(cls, buf: Buffer) -> SecurityDescriptor:
        """WireError(INVALID_SECURITY_DESCR) for a bad header or offsets, INVALID_SID/ACL inside."""
        if len(buf) < 20:
            raise WireError(_ERR_SD, "security descriptor shorter than 20 bytes")
        rev, _, control, o_own, o_grp, o_sacl, o_dacl = _SD_HDR.unpack_from(buf, 0)
        if rev != 1:
            raise WireError(_ERR_SD, f"revision {rev}")
        for off in (o_own, o_grp, o_sacl, o_dacl):
            if off and not 20 <= off < len(buf):
                raise WireError(_ERR_SD, f"offset {off} outside descriptor of {len(buf)} bytes")
        owner = Sid.decode_from(buf, o_own)[0] if o_own else None
        group = Sid.decode_from(buf, o_grp)[0] if o_grp else None
        sacl = Acl.decode_from(buf, o_sacl)[0] if o_sacl and control & SdControl.SACL_PRESENT else None
        dacl = Acl.decode_from(buf, o_dacl)[0] if o_dacl and control & SdControl.DACL_PRESENT else None
        return cls(owner, group, dacl, sacl, control, rev)

    @classmethod
    def from_sddl(cls, text: str, domain_sid: Sid | None = None) -> SecurityDescriptor:
        """Parse SDDL (see :mod:`sofs.wire.dtyp_sddl`)."""
        from sofs.wire.dtyp_sddl import sddl_parse

        return sddl_parse(text, domain_sid)

    def to_sddl(self) -> str:
        from sofs.wire.dtyp_sddl import sddl_format

        return sddl_format(self)


def security_info_subset(sd: SecurityDescriptor, info: int) -> SecurityDescriptor:
    """What QUERY_INFO(SECURITY) returns for AdditionalInformation ``info`` ([MS-SMB2] 3.3.5.20.3).

    Parts not selected are dropped and their PRESENT flag cleared (as Samba does); SACL covers
    SACL / LABEL / ATTRIBUTE / SCOPE selectors only as far as SACL goes (labels live in the SACL).
    """
    want_sacl = bool(info & (SecurityInformation.SACL | SecurityInformation.LABEL
                             | SecurityInformation.ATTRIBUTE | SecurityInformation.SCOPE))
    control = sd.control | SdControl.SELF_RELATIVE
    dacl, sacl = sd.dacl, sd.sacl
    if not info & SecurityInformation.DACL:
        dacl = None
        control &= ~SdControl.DACL_PRESENT
    if not want_sacl:
        sacl = None
        control &= ~SdControl.SACL_PRESENT
    return replace(sd, owner=sd.owner if info & SecurityInformation.OWNER else None,
                   group=sd.group if info & SecurityInformation.GROUP else None,
                   dacl=dacl, sacl=sacl, control=control)
