"""NTLMv2 responses are checked over the blob the client sent (sofs.auth.ntlm_rawblob).

Samba's smbclient lays out NTLMv2_CLIENT_CHALLENGE differently from pyspnego's re-encoding (extra
bytes after the AV pairs); [MS-NLMP] 3.3.2 computes NTProofStr over the client's own bytes.
"""
from __future__ import annotations

import hmac
import inspect
import os

import pytest
import spnego
import spnego._ntlm
from spnego._ntlm_raw.crypto import ntowfv2
from spnego._ntlm_raw.messages import Authenticate, Challenge, NegotiateFlags

import sofs.auth.ntlm_rawblob as rawblob
from sofs.auth.ntlm import AuthError, NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry, nt_hash
from sofs.wire.status import NtStatus


def _md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "md5").digest()


def _logon(password: str, padding: bytes) -> tuple[bytes, bytes]:
    """Hand-built NTLMv2 logon (no key exchange, no MIC); returns (server key, expected key)."""
    acceptor = NtlmAcceptor(UserDb("S-1-5-21-1-2-3", [UserEntry("alice", "secret")]))
    ctx = acceptor.new_context()
    negotiate = spnego.client("alice", "x", protocol="ntlm").step()
    challenge = Challenge.unpack(ctx.step(negotiate) or b"")
    info = challenge.target_info
    assert info is not None
    blob = (
        b"\x01\x01" + bytes(6) + bytes(8) + os.urandom(8) + bytes(4) + info.pack() + bytes(4) + padding
    )
    key_v2 = ntowfv2("alice", nt_hash(password), "WORKGROUP")
    proof = _md5(key_v2, challenge.server_challenge + blob)
    flags = (challenge.flags | NegotiateFlags.unicode) & ~NegotiateFlags.key_exch
    auth = Authenticate(flags, bytes(24), proof + blob, "WORKGROUP", "alice", "WS").pack()
    assert ctx.step(auth) is None and ctx.complete
    return ctx.session_key, _md5(key_v2, proof)


@pytest.mark.parametrize("padding", [b"", bytes(4), bytes(8)])
def test_logon_with_client_blob_layout(padding: bytes) -> None:
    server_key, expected = _logon("secret", padding)
    assert server_key == expected


def test_wrong_password_with_padded_blob() -> None:
    with pytest.raises(AuthError) as e:
        _logon("wrong", bytes(8))
    assert e.value.status == NtStatus.LOGON_FAILURE


def test_patch_points_still_exist() -> None:
    """pyspnego 0.12 internals this module replaces: fail loudly if they move."""
    src = inspect.getsource(spnego._ntlm.NTLMProxy._step_accept_authenticate)
    assert "NTClientChallengeV2.unpack(auth.nt_challenge_response[16:])" in src
    assert "compute_response_v2(" in src
    assert spnego._ntlm.compute_response_v2 is rawblob.compute_response_v2
