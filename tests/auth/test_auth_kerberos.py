"""Kerberos pieces that need no KDC: status mapping, mechanism choice, the NEGOTIATE hint, identities.
The AP-REQ path itself runs against a real Samba AD DC in ``tests/ad``."""
from __future__ import annotations

from spnego._spnego import NegTokenInit, unpack_token

from sofs.auth.kerberos import (
    KRB5_OIDS,
    KRB5KRB_AP_ERR_BAD_INTEGRITY,
    KRB5KRB_AP_ERR_TKT_EXPIRED,
    KRB5KRB_AP_ERR_TKT_NYV,
    KerberosAcceptor,
    kerberos_mech_token,
    status_for,
)
from sofs.auth.ntlm import NtlmAcceptor
from sofs.auth.users import UserDb, domain_user
from sofs.security.token import token_for_user
from sofs.wire.pac import LogonInfo
from sofs.wire.status import NtStatus

NTLM_OID = "1.3.6.1.4.1.311.2.2.10"


def test_status_mapping_signed_and_unsigned_minor_codes() -> None:
    for code in (KRB5KRB_AP_ERR_TKT_EXPIRED, KRB5KRB_AP_ERR_TKT_EXPIRED & 0xFFFFFFFF):
        assert status_for(code) == NtStatus.INVALID_PARAMETER
    assert status_for(KRB5KRB_AP_ERR_TKT_NYV & 0xFFFFFFFF) == NtStatus.TIME_DIFFERENCE_AT_DC
    assert status_for(KRB5KRB_AP_ERR_BAD_INTEGRITY) == NtStatus.LOGON_FAILURE
    assert status_for(2529638947) == NtStatus.LOGON_FAILURE  # "not found in keytab" (wrong SPN)


def test_kerberos_only_when_first_and_optimistic() -> None:
    assert kerberos_mech_token(KRB5_OIDS[0], b"\x60\x82ap-req") == b"\x60\x82ap-req"
    assert kerberos_mech_token(KRB5_OIDS[1], b"\x60\x82ap-req") == b"\x60\x82ap-req"
    assert kerberos_mech_token(NTLM_OID, b"\x60\x82ap-req") is None
    assert kerberos_mech_token(KRB5_OIDS[0], None) is None
    assert kerberos_mech_token(KRB5_OIDS[0], b"NTLMSSP\x00\x01\x00\x00\x00") is None


def test_negotiate_hint_lists_kerberos_first_on_a_domain_member() -> None:
    db = UserDb("S-1-5-21-1-2-3", [])
    plain = unpack_token(NtlmAcceptor(db).initial_token())
    member = unpack_token(NtlmAcceptor(db, kerberos=KerberosAcceptor("/nonexistent")).initial_token())
    assert isinstance(plain, NegTokenInit) and plain.mech_types == [NTLM_OID]
    assert isinstance(member, NegTokenInit) and member.mech_types == [*KRB5_OIDS, NTLM_OID]


def test_domain_user_token_holds_pac_groups() -> None:
    dom = "S-1-5-21-10-20-30"
    user = domain_user(LogonInfo("HOST1$", "CORP", dom, f"{dom}-1105", (f"{dom}-515", f"{dom}-1104")))
    assert user.name == "CORP\\HOST1$" and user.rid == 1105 and not user.nt_hash
    sids = {str(s) for s in token_for_user(user).sids}
    assert {f"{dom}-1105", f"{dom}-515", f"{dom}-1104", "S-1-1-0", "S-1-5-11"} <= sids
