"""NtlmAcceptor against pyspnego's own client, in memory."""
from __future__ import annotations

import importlib.metadata
import os

import pytest
import spnego
import spnego._ntlm
from hypothesis import given, settings
from hypothesis import strategies as st
from spnego._ntlm_raw.messages import Authenticate, NegotiateFlags
from spnego._spnego import NegState, NegTokenResp, unpack_token

from sofs.auth.ntlm import AuthError, NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry, nt_hash
from sofs.wire.status import NtStatus

DOMAIN_SID = "S-1-5-21-1-2-3"


def _db() -> UserDb:
    return UserDb(
        DOMAIN_SID,
        [UserEntry("alice", "secret", groups=("staff",)), UserEntry("Bob", nt_hash_hex=nt_hash("hunter2").hex())],
    )


def _run(acceptor: NtlmAcceptor, client: spnego.ContextProxy):  # type: ignore[no-untyped-def]
    ctx = acceptor.new_context()
    token = client.step(acceptor.initial_token())
    while True:
        out = ctx.step(token)
        if ctx.complete:
            if out:
                client.step(out)
            return ctx
        token = client.step(out)


@pytest.mark.parametrize(
    "username,password",
    [
        ("WORKGROUP\\alice", "secret"),
        ("SOFS\\ALICE", "secret"),
        ("alice", "secret"),
        ("EXAMPLE.COM\\bob", "hunter2"),
    ],
)
def test_right_password_same_session_key(username: str, password: str) -> None:
    client = spnego.client(username, password, protocol="negotiate")
    ctx = _run(NtlmAcceptor(_db()), client)
    assert ctx.complete and client.complete
    assert ctx.user is not None and ctx.user.name.lower() == username.rsplit("\\", 1)[-1].lower()
    assert ctx.session_key == client.session_key and len(ctx.session_key) == 16
    assert not ctx.is_guest and not ctx.is_anonymous
    assert ctx.user.sid.startswith(DOMAIN_SID + "-")


def test_raw_ntlm_without_spnego() -> None:
    client = spnego.client("alice", "secret", protocol="ntlm")
    ctx = NtlmAcceptor(_db()).new_context()
    challenge = ctx.step(client.step())
    assert challenge is not None and challenge.startswith(b"NTLMSSP\x00")
    assert ctx.step(client.step(challenge)) is None
    assert ctx.complete and ctx.session_key == client.session_key


def test_wrong_password() -> None:
    client = spnego.client("alice", "wrong", protocol="negotiate")
    with pytest.raises(AuthError) as e:
        _run(NtlmAcceptor(_db()), client)
    assert e.value.status == NtStatus.LOGON_FAILURE


def test_unknown_user() -> None:
    client = spnego.client("mallory", "secret", protocol="negotiate")
    with pytest.raises(AuthError) as e:
        _run(NtlmAcceptor(_db()), client)
    assert e.value.status == NtStatus.LOGON_FAILURE


def test_unknown_user_mapped_to_guest() -> None:
    client = spnego.client("mallory", "whatever", protocol="negotiate")
    ctx = _run(NtlmAcceptor(_db(), map_unknown_to_guest=True), client)
    assert ctx.is_guest and ctx.user is not None and ctx.user.rid == 501 and ctx.session_key == b""


def test_garbage_tokens() -> None:
    acceptor = NtlmAcceptor(_db())
    for junk in (b"\x00garbage", b"NTLMSSP\x00\x01", os.urandom(40), b""):
        with pytest.raises(AuthError) as e:
            acceptor.new_context().step(junk)
        assert e.value.status == NtStatus.INVALID_PARAMETER
    # Good NEGOTIATE, then garbage instead of AUTHENTICATE.
    client = spnego.client("alice", "secret", protocol="negotiate")
    ctx = acceptor.new_context()
    ctx.step(client.step(acceptor.initial_token()))
    with pytest.raises(AuthError) as e:
        ctx.step(b"\xa1\x03\x30\x01\x00")
    assert e.value.status in (NtStatus.INVALID_PARAMETER, NtStatus.LOGON_FAILURE)
    with pytest.raises(AuthError):
        ctx.step(b"anything")  # a failed context stays failed


def test_ntlmv1_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LM_COMPAT_LEVEL", "1")  # client sends LM + NTLMv1
    client = spnego.client("alice", "secret", protocol="negotiate")
    monkeypatch.setenv("LM_COMPAT_LEVEL", "0")  # even a permissive env must not weaken the acceptor
    with pytest.raises(AuthError) as e:
        _run(NtlmAcceptor(_db()), client)
    assert e.value.status == NtStatus.LOGON_FAILURE


def _anonymous_authenticate() -> bytes:
    flags = NegotiateFlags.unicode | NegotiateFlags.anonymous | NegotiateFlags.ntlm
    auth = Authenticate(flags, lm_challenge_response=b"\x00", nt_challenge_response=b"", username="", domain_name="")
    return NegTokenResp(response_token=auth.pack()).pack()


@pytest.mark.parametrize("allowed", [True, False])
def test_anonymous(allowed: bool) -> None:
    acceptor = NtlmAcceptor(_db(), allow_anonymous=allowed)
    client = spnego.client("alice", "secret", protocol="negotiate")  # only for a valid NEGOTIATE leg
    ctx = acceptor.new_context()
    ctx.step(client.step(acceptor.initial_token()))
    if not allowed:
        with pytest.raises(AuthError) as e:
            ctx.step(_anonymous_authenticate())
        assert e.value.status == NtStatus.LOGON_FAILURE
        return
    out = ctx.step(_anonymous_authenticate())
    assert ctx.complete and ctx.is_anonymous and ctx.session_key == b""
    assert ctx.user is not None and ctx.user.sid == "S-1-5-7"
    resp = unpack_token(out)
    assert isinstance(resp, NegTokenResp) and resp.neg_state == NegState.accept_complete


def test_initial_token_is_neg_token_init2() -> None:
    token = NtlmAcceptor(_db()).initial_token()
    assert token.startswith(b"\x60") and b"not_defined_in_RFC4178@please_ignore" in token
    assert bytes.fromhex("2b06010401823702020a") in token  # NTLMSSP mech OID 1.3.6.1.4.1.311.2.2.10


def test_pyspnego_internals_unchanged() -> None:
    """We replace pyspnego private functions; fail loudly if 0.12's internals move."""
    version = importlib.metadata.version("pyspnego")
    assert version.startswith("0.12."), version
    import inspect

    src = inspect.getsource(spnego._ntlm._NTLMCredential.__init__)
    assert "_get_credential_file()" in src and "_get_credential(self._store, domain, username)" in src
    accept_src = inspect.getsource(spnego._ntlm.NTLMProxy._step_accept_authenticate)
    assert "self._nt_v1" in accept_src and "self._lm" in accept_src
    assert spnego._ntlm._get_credential.__module__ == "sofs.auth.ntlm"
    # Outside our steps the original lookup (NTLM_USER_FILE) still runs for other pyspnego users.
    assert spnego._ntlm._get_credential_file() in (None, os.environ.get("NTLM_USER_FILE"))


def test_contexts_are_independent() -> None:
    acceptor = NtlmAcceptor(_db())
    c1 = spnego.client("alice", "secret", protocol="negotiate")
    c2 = spnego.client("bob", "hunter2", protocol="negotiate")
    x1, x2 = acceptor.new_context(), acceptor.new_context()
    t1 = c1.step(x1.step(c1.step(acceptor.initial_token())))
    t2 = c2.step(x2.step(c2.step(acceptor.initial_token())))
    x2.step(t2)
    x1.step(t1)
    assert x1.user is not None and x1.user.name == "alice" and x1.session_key == c1.session_key
    assert x2.user is not None and x2.user.name == "Bob" and x2.session_key == c2.session_key


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_fuzz_tokens_only_raise_auth_error(junk: bytes, after_negotiate: bool) -> None:
    acceptor = NtlmAcceptor(_db())
    ctx = acceptor.new_context()
    if after_negotiate:
        ctx.step(spnego.client("alice", "secret", protocol="negotiate").step(acceptor.initial_token()))
    for token in (junk, b"NTLMSSP\x00" + junk, b"NTLMSSP\x00\x03\x00\x00\x00" + junk):
        try:
            ctx.step(token)
        except AuthError as e:
            assert e.status in (NtStatus.INVALID_PARAMETER, NtStatus.LOGON_FAILURE)
        ctx = acceptor.new_context()


def test_optimistic_kerberos_token_is_ignored_then_ntlm_with_mech_list_mic() -> None:
    """A Windows-style client offers Kerberos first with an optimistic token; we steer it to NTLM."""
    from spnego._context import GSSMech
    from spnego._spnego import NegTokenInit, pack_mech_type_list

    mechs = [GSSMech._ms_kerberos.value, GSSMech.kerberos.value, GSSMech.ntlm.value]
    acceptor = NtlmAcceptor(_db())
    ctx = acceptor.new_context()
    first = ctx.step(NegTokenInit(mechs, mech_token=b"\x60\x82\x01\x00not-really-kerberos").pack())
    resp = unpack_token(first or b"")
    assert isinstance(resp, NegTokenResp) and resp.supported_mech == GSSMech.ntlm.value
    assert resp.neg_state in (NegState.request_mic, NegState.accept_incomplete) and not resp.response_token

    ntlm = spnego.client("alice", "secret", protocol="ntlm")
    challenge = unpack_token(ctx.step(NegTokenResp(response_token=ntlm.step()).pack()) or b"")
    assert isinstance(challenge, NegTokenResp) and challenge.response_token
    authenticate = ntlm.step(challenge.response_token)
    mic = ntlm.sign(pack_mech_type_list(mechs))
    final = ctx.step(NegTokenResp(response_token=authenticate, mech_list_mic=mic).pack())
    assert ctx.complete and ctx.session_key == ntlm.session_key
    done = unpack_token(final or b"")
    assert isinstance(done, NegTokenResp) and done.neg_state == NegState.accept_complete and done.mech_list_mic
