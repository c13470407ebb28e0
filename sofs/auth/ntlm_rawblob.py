"""Verify NTLMv2 responses over the bytes the client sent, not over a re-encoding of them.

pyspnego 0.12's acceptor recomputes the NTLMv2 response by re-packing the parsed
NTLMv2_CLIENT_CHALLENGE (``ConcatenationOf(..., AvPairs, Z(4))``, [MS-NLMP] 3.3.2). Clients are free to
lay the blob out differently — Samba's ``smbclient`` does, so every smbclient logon failed with
"Invalid NTLM response from initiator" although the password was right. [MS-NLMP] 3.3.2 defines
NTProofStr as HMAC_MD5(ResponseKeyNT, ServerChallenge || temp) where *temp is the blob the client
sent*; this module makes pyspnego use exactly that:

- ``NTClientChallengeV2.unpack`` (as seen from ``spnego._ntlm``) remembers the raw blob it parsed in a
  context variable;
- ``compute_response_v2`` (as seen from ``spnego._ntlm``), when a raw blob is remembered for the same
  client challenge, computes NTProofStr, the NT response and the session base key over the raw blob.

The client-side use of ``compute_response_v2`` (no blob remembered) is unchanged. Pinned with
pyspnego 0.12.* (``tests/auth/test_auth_rawblob.py`` checks both the patch points and a logon with a
padded blob).
"""
from __future__ import annotations

import contextvars
import hmac
from typing import Any

from spnego import _ntlm
from spnego._ntlm_raw.crypto import compute_response_v2 as _orig_compute_response_v2
from spnego._ntlm_raw.messages import NTClientChallengeV2 as _OrigChallenge

_RAW: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("sofs_ntlmv2_raw_blob", default=None)


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "md5").digest()


class _RememberingChallenge:
    """Stands in for ``NTClientChallengeV2`` inside ``spnego._ntlm`` (only ``unpack`` is used there)."""

    @staticmethod
    def unpack(b_data: bytes) -> Any:
        _RAW.set(bytes(b_data))
        return _OrigChallenge.unpack(b_data)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used by the acceptor
        return _OrigChallenge(*args, **kwargs)


def compute_response_v2(nt_hash: bytes, server_challenge: bytes, client_challenge: bytes, time: Any,
                        av_pairs: Any) -> tuple[bytes, bytes, bytes]:
    raw = _RAW.get()
    if raw is None or len(raw) < 28 or raw[16:24] != client_challenge:
        return _orig_compute_response_v2(nt_hash, server_challenge, client_challenge, time, av_pairs)
    _RAW.set(None)
    nt_proof = _hmac_md5(nt_hash, server_challenge + raw)
    nt_response = nt_proof + raw
    lm_response = _hmac_md5(nt_hash, server_challenge + client_challenge) + client_challenge
    return nt_response, lm_response, _hmac_md5(nt_hash, nt_proof)


def install() -> None:
    _ntlm.NTClientChallengeV2 = _RememberingChallenge()  # type: ignore[attr-defined,assignment]
    _ntlm.compute_response_v2 = compute_response_v2  # type: ignore[attr-defined]


install()
