"""NTLM in SPNEGO without a mechListMIC (impacket, pysmb): [MS-SPNG] 3.1.5.1, in memory.

impacket's and pysmb's NTLM AUTHENTICATE carries no MIC (no MsvAvFlags 0x2) and their last SPNEGO leg
no mechListMIC; Samba and Windows complete the exchange. These tests drive our acceptor with impacket's
own client code (``impacket.ntlm`` / ``impacket.spnego``, as ``SMB3.login`` calls them).
"""
from __future__ import annotations

import pytest

from sofs.auth.ntlm import AuthError, NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry
from sofs.wire.status import NtStatus

ntlm = pytest.importorskip("impacket.ntlm")
ispnego = pytest.importorskip("impacket.spnego")


def _acceptor() -> NtlmAcceptor:
    return NtlmAcceptor(UserDb("S-1-5-21-1-2-3", [UserEntry("alice", "secret")]))


def _impacket_login(acceptor: NtlmAcceptor, password: str):  # type: ignore[no-untyped-def]
    ctx = acceptor.new_context()
    blob = ispnego.SPNEGO_NegTokenInit()
    blob["MechTypes"] = [ispnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    type1 = ntlm.getNTLMSSPType1("CLIENT", "", False)
    blob["MechToken"] = type1.getData()
    challenge = ispnego.SPNEGO_NegTokenResp(ctx.step(blob.getData()))
    type3, exported = ntlm.getNTLMSSPType3(type1, challenge["ResponseToken"], "alice", password, "")
    resp = ispnego.SPNEGO_NegTokenResp()
    resp["ResponseToken"] = type3.getData()
    out = ctx.step(resp.getData())
    return ctx, out, exported


def test_impacket_style_logon_completes_without_mech_list_mic() -> None:
    ctx, out, exported = _impacket_login(_acceptor(), "secret")
    assert ctx.complete and ctx.user is not None and ctx.user.name == "alice"
    assert ctx.session_key == exported and len(exported) == 16
    done = ispnego.SPNEGO_NegTokenResp(out)
    assert done["NegState"] == b"\x00"  # accept-completed
    assert "MechListMIC" not in done.fields or not done["MechListMIC"]


def test_impacket_style_wrong_password_is_logon_failure() -> None:
    with pytest.raises(AuthError) as e:
        _impacket_login(_acceptor(), "wrong")
    assert e.value.status == NtStatus.LOGON_FAILURE


def test_ntlm_mic_announced_without_mech_list_mic_is_refused() -> None:
    """pyspnego's client puts a MIC in its AUTHENTICATE (MsvAvFlags 0x2); its mechListMIC is dropped."""
    import spnego
    from spnego._spnego import NegTokenResp, unpack_token

    acceptor = _acceptor()
    client = spnego.client("alice", "secret", protocol="negotiate")
    ctx = acceptor.new_context()
    last = unpack_token(client.step(ctx.step(client.step(acceptor.initial_token())) or b""))
    assert isinstance(last, NegTokenResp) and last.mech_list_mic
    with pytest.raises(AuthError) as e:
        ctx.step(NegTokenResp(response_token=last.response_token).pack())
    assert e.value.status == NtStatus.LOGON_FAILURE and "mechListMIC" in str(e.value)
