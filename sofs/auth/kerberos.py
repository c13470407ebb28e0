"""Kerberos in SPNEGO for SESSION_SETUP ([MS-SMB2] 3.3.5.5.3, [MS-KILE] 3.4.5, [RFC 4121], [RFC 4178]).

The AP-REQ is accepted by MIT krb5 through python-gssapi with the node's keytab (the machine
account's keys, written by the domain join: :mod:`sofs.management.services.domain`). The identity
comes from the ticket's PAC (KERB_VALIDATION_INFO, ``urn:mspac:logon-info``; [MS-PAC] 2.5): user
SID, primary group, domain groups, extra SIDs and resource groups — no directory round trip at logon.
The session key is the GSS session key (the acceptor/initiator subkey, GSS_C_INQ_SSPI_SESSION_KEY).

Decisions:
- Kerberos is taken when the client's *first* SPNEGO mechanism is Kerberos (MS-KRB5 or KRB5) and it
  sent the AP-REQ optimistically, as Windows and Samba clients do; the answer is accept-completed with
  that OID and the AP-REP (mutual authentication). Otherwise the exchange goes on with NTLM.
- Refusals (:func:`status_for`, the mapping of Samba's acceptor, gensec_gssapi): a ticket for a
  service whose key is not in the keytab (wrong SPN, old kvno) or that does not decrypt →
  STATUS_LOGON_FAILURE; an expired ticket → STATUS_INVALID_PARAMETER; a ticket not yet valid →
  STATUS_TIME_DIFFERENCE_AT_DC. No Windows server was at hand to compare with.
- A ticket without a PAC is refused (STATUS_LOGON_FAILURE): no PAC, no group SIDs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from spnego._spnego import NegState, NegTokenResp

from sofs.wire.errors import WireError
from sofs.wire.pac import LogonInfo, decode_logon_info
from sofs.wire.status import NtStatus

KRB5_OIDS = ("1.2.840.48018.1.2.2", "1.2.840.113554.1.2.2")  # MS-KRB5 (legacy), KRB5
_SESSION_KEY_OID = "1.2.840.113554.1.2.2.5.5"  # GSS_C_INQ_SSPI_SESSION_KEY
_PAC_LOGON_INFO = b"urn:mspac:logon-info"

# MIT krb5 error codes (krb5/krb5.h, ERROR_TABLE_BASE_krb5 = -1765328384)
_KRB5 = -1765328384
KRB5KRB_AP_ERR_TKT_EXPIRED = _KRB5 + 32
KRB5KRB_AP_ERR_TKT_NYV = _KRB5 + 33
KRB5KRB_AP_ERR_REPEAT = _KRB5 + 34
KRB5KRB_AP_ERR_SKEW = _KRB5 + 37
KRB5KRB_AP_ERR_BAD_INTEGRITY = _KRB5 + 31
KRB5KRB_AP_ERR_NOKEY = _KRB5 + 45
KRB5KRB_AP_ERR_BADKEYVER = _KRB5 + 44
KRB5_KT_NOTFOUND = -1765328203


class KerberosError(Exception):
    """The AP-REQ was refused; ``status`` is the NTSTATUS for the SESSION_SETUP response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def status_for(minor: int) -> int:
    """The NTSTATUS a refused AP-REQ gets, from the krb5 error (Samba's gensec_gssapi mapping)."""
    minor &= 0xFFFFFFFF  # GSS minor codes come unsigned; krb5's com_err codes are negative
    if minor == KRB5KRB_AP_ERR_TKT_EXPIRED & 0xFFFFFFFF:
        return int(NtStatus.INVALID_PARAMETER)
    if minor == KRB5KRB_AP_ERR_TKT_NYV & 0xFFFFFFFF:
        return int(NtStatus.TIME_DIFFERENCE_AT_DC)
    return int(NtStatus.LOGON_FAILURE)


@dataclass(frozen=True, slots=True)
class KerberosLogon:
    """A completed Kerberos logon: the client principal, the PAC identity, the session key, and when
    the ticket ends (Session.ExpirationTime, [MS-SMB2] 3.3.5.5.3)."""

    principal: str
    logon: LogonInfo
    session_key: bytes
    expires_at: float


def kerberos_mech_token(first_mech: str | None, mech_token: bytes | None) -> bytes | None:
    """The optimistic Kerberos token of a negTokenInit when Kerberos is the client's first mechanism."""
    if first_mech in KRB5_OIDS and mech_token and not mech_token.startswith(b"NTLMSSP\x00"):
        return mech_token
    return None


class KerberosAcceptor:
    """Accepts AP-REQs with the keys of ``keytab`` (a file path). Loaded lazily: python-gssapi is only
    needed on a server that is joined to a domain."""

    def __init__(self, keytab: str, clock: Any = time.time) -> None:
        self.keytab = keytab
        self._clock = clock

    def accept(self, first_mech: str, token: bytes) -> tuple[bytes, KerberosLogon]:
        """Accept the AP-REQ ``token``; returns the negTokenResp to send (accept-completed, AP-REP) and
        the logon. Raises :class:`KerberosError`."""
        import gssapi
        from gssapi.raw import ext_rfc6680, inquire_sec_context_by_oid

        try:
            creds = gssapi.Credentials(usage="accept", store={"keytab": self.keytab})
            ctx = gssapi.SecurityContext(creds=creds, usage="accept")
            out = ctx.step(token)
            complete = ctx.complete  # python-gssapi raises a failed step's error here (after its token)
        except gssapi.exceptions.GSSError as e:
            raise KerberosError(status_for(e.min_code), f"Kerberos AP-REQ refused: {e.gen_message()}") from None
        if not complete:
            raise KerberosError(int(NtStatus.LOGON_FAILURE), "Kerberos exchange needs more legs")
        principal = str(ctx.initiator_name)
        try:
            key = inquire_sec_context_by_oid(ctx, gssapi.OID.from_int_seq(_SESSION_KEY_OID))[0]
            pac = ext_rfc6680.get_name_attribute(ctx.initiator_name, _PAC_LOGON_INFO).values[0]
            logon = decode_logon_info(bytes(pac))
        except (gssapi.exceptions.GSSError, IndexError) as e:
            raise KerberosError(int(NtStatus.LOGON_FAILURE), f"{principal}: no PAC in the ticket ({e})") from None
        except WireError as e:
            raise KerberosError(int(NtStatus.LOGON_FAILURE), f"{principal}: {e}") from None
        lifetime = ctx.lifetime or 0
        resp = NegTokenResp(neg_state=NegState.accept_complete, supported_mech=first_mech,
                            response_token=out or None).pack()
        return resp, KerberosLogon(principal, logon, bytes(key), self._clock() + lifetime)
