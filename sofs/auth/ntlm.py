"""NTLMv2-in-SPNEGO acceptor for SESSION_SETUP (and Kerberos on a domain member: :mod:`sofs.auth.kerberos`), on top of pyspnego ([MS-SMB2] 3.3.5.5, [MS-NLMP], [MS-SPNG]).

pyspnego's acceptor reads users only from the file named by ``NTLM_USER_FILE``. We keep users in
memory instead by replacing its private credential lookup (``spnego._ntlm._get_credential`` and
``_get_credential_file``) with functions that consult the :class:`UserDb` of the context that is
currently stepping (a ``ContextVar`` set around each ``step``; outside our steps the originals run, so
other pyspnego users in the process are unaffected). This pins us to pyspnego 0.12.*;
``tests/auth/test_auth_ntlm.py::test_pyspnego_internals_unchanged`` fails loudly if they move.

Decisions:
- **Any domain is accepted.** A client may send ``WORKGROUP``, the server name, an empty domain or a
  realm; the user is looked up by name alone. The NTLMv2 proof still binds the domain string the
  client sent (NTOWFv2 hashes user+domain), so nothing is weakened: the password is what is checked.
- **NTLMv2 only** ([MS-NLMP] LMCompatibilityLevel 5): LM and NTLMv1 responses are refused,
  whatever ``LM_COMPAT_LEVEL`` says in the environment.
- **Anonymous** (empty user name, no NT response: ``smbclient -N``) completes as anonymous only when
  ``allow_anonymous``; otherwise STATUS_LOGON_FAILURE. **Unknown users** become Guest only when
  ``map_unknown_to_guest`` (Samba's ``map to guest = bad user``). Guest and anonymous sessions have no
  session key (``session_key == b""``): they cannot sign or encrypt.
- Failures: wrong password / unknown user → STATUS_LOGON_FAILURE; undecodable tokens or an out-of-order
  message → STATUS_INVALID_PARAMETER.
- NTLMv2 proofs are checked over the blob bytes the client sent (:mod:`sofs.auth.ntlm_rawblob`,
  installed on import): pyspnego re-encodes the blob, which breaks Samba's smbclient.
- A client offering Kerberos first with an optimistic token (domain-joined Windows) gets
  accept-incomplete + supportedMech NTLM and continues with NTLM ([RFC 4178] 3.2).
- The CHALLENGE's target names (NetBIOS/DNS computer name) come from pyspnego: the host name, and
  "WORKSTATION" as NetBIOS domain. Clients do not depend on them; ``domain_name``/``server_name`` are
  not injected there.
"""
from __future__ import annotations

import contextvars
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import spnego._ntlm as _spnego_ntlm
from spnego._context import GSSMech
from spnego._negotiate import NegotiateProxy
from spnego._ntlm import NTLMProxy
from spnego._ntlm_raw.crypto import rc4k
from spnego._ntlm_raw.messages import Authenticate, AvFlags, AvId, NegotiateFlags, NTClientChallengeV2
from spnego._spnego import NegState, NegTokenInit, NegTokenResp, unpack_token
from spnego.exceptions import ErrorCode, SpnegoError

from sofs.auth import ntlm_rawblob as _ntlm_rawblob  # noqa: F401  (NTLMv2 over the raw client blob)
from sofs.auth.kerberos import KRB5_OIDS, KerberosAcceptor, KerberosError, kerberos_mech_token
from sofs.auth.users import User, UserDb, domain_user
from sofs.wire.status import NtStatus

_NTLMSSP = b"NTLMSSP\x00"
_STORE = "<sofs-userdb>"


class AuthError(Exception):
    """Authentication failed; ``status`` is the NTSTATUS for the SESSION_SETUP response."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"authentication failed ({status:#010x})")
        self.status = status


@dataclass(slots=True)
class _Lookup:
    """What the patched credential lookup sees during one step."""

    userdb: UserDb
    found: User | None = None
    missing: str | None = None


_ACTIVE: contextvars.ContextVar[_Lookup | None] = contextvars.ContextVar("sofs_ntlm_lookup", default=None)
_orig_get_credential: Callable[..., Any] = _spnego_ntlm._get_credential
_orig_get_credential_file: Callable[[], str | None] = _spnego_ntlm._get_credential_file


def _get_credential_file() -> str | None:
    return _STORE if _ACTIVE.get() is not None else _orig_get_credential_file()


def _get_credential(
    store: str | None, domain: str | None = None, username: str | None = None
) -> tuple[str | None, str | None, bytes, bytes]:
    lookup = _ACTIVE.get()
    if store != _STORE or lookup is None:
        return _orig_get_credential(store, domain, username)  # type: ignore[no-any-return]
    user = lookup.userdb.lookup(username or "")
    if user is None or not user.nt_hash:
        lookup.missing = username or ""
        raise SpnegoError(ErrorCode.failure, context_msg="unknown user")
    lookup.found = user
    # LM hash unused (NTLMv2 only); the domain echoes the client's so NTOWFv2 uses what it sent.
    return domain or None, username, b"\x00" * 16, user.nt_hash


def _install() -> None:
    _spnego_ntlm._get_credential = _get_credential
    _spnego_ntlm._get_credential_file = _get_credential_file


_install()


def _new_spnego_acceptor() -> NegotiateProxy:
    """A pyspnego SPNEGO acceptor offering only our NTLM context, NTLMv2 only. Call with _ACTIVE set."""
    ntlm = NTLMProxy(usage="accept", protocol="ntlm")
    ntlm._lm = False  # LMCompatibilityLevel 5 regardless of the LM_COMPAT_LEVEL env var
    ntlm._nt_v1 = False
    ntlm._is_wrapped = True  # no per-step base64 debug logging
    return NegotiateProxy(usage="accept", protocol="negotiate", _negotiate_contexts={GSSMech.ntlm: ntlm})


_ACCEPT_COMPLETED = NegTokenResp(neg_state=NegState.accept_complete).pack()


def _ntlm_inner(token: bytes) -> tuple[bytes | None, bool, bool]:
    """The NTLM message inside ``token`` (a SPNEGO negTokenResp, or raw NTLMSSP), whether it was SPNEGO
    and whether that negTokenResp carried a mechListMIC."""
    if token.startswith(_NTLMSSP):
        return token, False, False
    try:
        parsed = unpack_token(token)
    except Exception as e:  # noqa: BLE001 - pyspnego raises anything on hostile bytes
        raise AuthError(NtStatus.INVALID_PARAMETER, f"undecodable SPNEGO token: {e}") from None
    if not isinstance(parsed, NegTokenResp):
        return None, True, False
    return parsed.response_token, True, bool(parsed.mech_list_mic)


def _has_ntlm_mic(auth: Authenticate) -> bool:
    """Whether the NTLMv2 response announces a MIC (MsvAvFlags bit 0x2, [MS-NLMP] 2.2.2.1).

    [MS-SPNG] 3.1.5.1 / Samba's GENSEC_FEATURE_NEW_SPNEGO: only then must the client's last SPNEGO leg
    carry a mechListMIC. Clients without an NTLM MIC (impacket, pysmb) send none, and Samba and Windows
    complete the exchange without it.
    """
    nt = auth.nt_challenge_response or b""
    if len(nt) <= 24:
        return False  # NTLMv1 (refused later) or empty
    try:
        pairs = NTClientChallengeV2.unpack(nt[16:]).av_pairs
    except Exception:  # noqa: BLE001 - a malformed blob is refused by the NTLMv2 check itself
        return False
    return bool(int(pairs.get(AvId.flags, 0)) & AvFlags.mic)


def _ntlm_type(inner: bytes | None) -> int:
    """[MS-NLMP] 2.2.1 MessageType (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE), 0 if not NTLM."""
    if not inner or len(inner) < 12 or not inner.startswith(_NTLMSSP):
        return 0
    return int(struct.unpack_from("<I", inner, 8)[0])


def _parse_authenticate(inner: bytes) -> Authenticate:
    try:
        return Authenticate.unpack(inner)
    except Exception as e:  # noqa: BLE001 - pyspnego raises anything on hostile bytes
        raise AuthError(NtStatus.INVALID_PARAMETER, f"undecodable NTLM AUTHENTICATE: {e}") from None


def _without_optimistic_token(token: bytes) -> bytes:
    """Drop an optimistic non-NTLM mechToken (e.g. Kerberos) from the client's negTokenInit.

    [RFC 4178] 3.2: the acceptor ignores an optimistic token for a mechanism it does not pick; pyspnego
    would hand it to the NTLM context. Without it, pyspnego answers accept-incomplete with
    supportedMech NTLM (and request-mic), and the client continues with an NTLM NEGOTIATE.
    """
    if _NTLMSSP in token:
        return token  # the usual case: an NTLM NEGOTIATE is the mechToken; no need to parse twice
    try:
        parsed = unpack_token(token)
    except Exception:  # noqa: BLE001 - left for pyspnego to reject
        return token
    if isinstance(parsed, NegTokenInit) and parsed.mech_token and not parsed.mech_token.startswith(_NTLMSSP):
        return NegTokenInit(parsed.mech_types, mech_list_mic=parsed.mech_list_mic).pack()
    return token


def _accept_incomplete(out: bytes | None) -> bytes | None:
    """pyspnego answers the NTLM NEGOTIATE with negState request-mic; Windows and Samba send
    accept-incomplete. request-mic makes Samba clients insist on a server mechListMIC, which a null
    session cannot produce (``smbclient -N`` and smb2.session.anon-*/reauth2-5 fail); a client that
    sends a mechListMIC still gets one back (pyspnego answers a received MIC)."""
    if not out:
        return out
    try:
        t = unpack_token(out)
    except Exception:  # noqa: BLE001
        return out
    if isinstance(t, NegTokenResp) and t.neg_state == NegState.request_mic:
        return NegTokenResp(neg_state=NegState.accept_incomplete, supported_mech=t.supported_mech,
                            response_token=t.response_token, mech_list_mic=t.mech_list_mic).pack()
    return out


def _is_anonymous(auth: Authenticate) -> bool:
    """[MS-NLMP] 3.2.5.1.2: empty user name and no NT response (LM empty or a single zero byte)."""
    lm = auth.lm_challenge_response
    return not auth.user_name and not auth.nt_challenge_response and (not lm or lm == b"\x00")


@dataclass(slots=True, eq=False)
class AuthContext:
    """One SESSION_SETUP exchange. ``step`` until ``complete``; then read user/session_key."""

    _acceptor: NtlmAcceptor
    _ctx: NegotiateProxy | None = None
    complete: bool = False
    user: User | None = None
    session_key: bytes = b""
    is_guest: bool = False
    is_anonymous: bool = False
    expires_at: float | None = None  # Kerberos: the ticket's end ([MS-SMB2] Session.ExpirationTime)
    _failed: bool = field(default=False, repr=False)
    _negotiated: bool = field(default=False, repr=False)

    def step(self, token: bytes) -> bytes | None:
        """Consume the client's security buffer; return ours (None = send an empty buffer).

        Raises :class:`AuthError` with the NTSTATUS to answer; the context is then unusable.
        """
        if self.complete or self._failed:
            raise AuthError(NtStatus.INVALID_PARAMETER, "authentication context already finished")
        if not token:
            self._failed = True
            raise AuthError(NtStatus.INVALID_PARAMETER, "empty security buffer")
        token = bytes(token)
        lookup = _Lookup(self._acceptor.userdb)
        reset = _ACTIVE.set(lookup)
        try:
            return self._step(token, lookup)
        except AuthError:
            self._failed = True
            raise
        finally:
            _ACTIVE.reset(reset)

    @property
    def security_context(self) -> NegotiateProxy | None:
        """The completed NTLM context (in SPNEGO or raw) for message signing and sealing — DCE/RPC
        packet protection; None for Kerberos (its GSS context is not kept), guest and anonymous logons."""
        if not self.complete or self._ctx is None or not self.session_key or self.is_guest or self.is_anonymous:
            return None
        return self._ctx

    @property
    def user_name(self) -> str:
        return self.user.name if self.complete and self.user is not None else ""

    def _step(self, token: bytes, lookup: _Lookup) -> bytes | None:
        acceptor = self._acceptor
        if self._ctx is None:
            if acceptor.kerberos is not None:
                out = self._try_kerberos(acceptor.kerberos, token)
                if out is not None:
                    return out
            self._ctx = _new_spnego_acceptor()
            return self._step_negotiate(_without_optimistic_token(token))
        inner, is_spnego, client_mic = _ntlm_inner(token)
        kind = _ntlm_type(inner)
        if kind == 1 and not self._negotiated:
            return self._step_negotiate(token)  # NTLM after a mechanism switch
        if kind != 3 or inner is None:
            raise AuthError(NtStatus.INVALID_PARAMETER, "expected an NTLM AUTHENTICATE message")
        auth = _parse_authenticate(inner)
        if _is_anonymous(auth):
            if not acceptor.allow_anonymous:
                raise AuthError(NtStatus.LOGON_FAILURE, "anonymous logon refused")
            out = self._finish_without_key(acceptor.userdb.anonymous, anonymous=True, is_spnego=is_spnego)
            # [MS-NLMP] 3.3.2: an anonymous SessionBaseKey (= KeyExchangeKey) is Z(16); with KEY_EXCH the
            # exported key is the client's random key, RC4K(Z(16), EncryptedRandomSessionKey). Samba
            # clients derive the null session's SMB keys from it (smb2.session.anon-*).
            if auth.flags & NegotiateFlags.key_exch and auth.encrypted_random_session_key:
                self.session_key = rc4k(b"\x00" * 16, auth.encrypted_random_session_key)
            return out
        if acceptor.map_unknown_to_guest and acceptor.userdb.lookup(auth.user_name or "") is None:
            return self._finish_without_key(acceptor.userdb.guest, anonymous=False, is_spnego=is_spnego)
        if is_spnego and not client_mic and not _has_ntlm_mic(auth):
            # pyspnego's acceptor demands a mechListMIC after every NTLM exchange (and whenever the
            # client's first mechanism is not its preferred one); without an NTLM MIC none is due (see
            # _has_ntlm_mic), so the exchange completes here, as with Samba and Windows.
            self._ntlm()._mic_required = False
            self._ctx._mic_required = False
        try:
            out = self._ctx.step(token)
        except (ValueError, OverflowError) as e:
            # an NTLMv2 client challenge that does not parse (e.g. a timestamp out of range): Samba
            # answers STATUS_INVALID_PARAMETER (smb2.session.ntlmssp_bug14932)
            raise AuthError(NtStatus.INVALID_PARAMETER, f"malformed NTLMv2 response: {e}") from None
        except Exception as e:  # noqa: BLE001 - pyspnego raises anything on hostile bytes
            raise AuthError(NtStatus.LOGON_FAILURE, f"logon failure: {e}") from None
        if not self._ctx.complete:
            # the NTLM AUTHENTICATE carried a MIC but the SPNEGO leg no mechListMIC ([MS-SPNG] 3.1.5.1)
            raise AuthError(NtStatus.LOGON_FAILURE, "SPNEGO exchange did not complete: mechListMIC missing")
        if lookup.found is None:
            raise AuthError(NtStatus.LOGON_FAILURE, "no user resolved")
        self.user = lookup.found
        self.session_key = self._ctx.session_key
        self.complete = True
        return out

    def _step_negotiate(self, token: bytes) -> bytes | None:
        assert self._ctx is not None
        try:
            out = self._ctx.step(token)
        except Exception as e:  # noqa: BLE001 - pyspnego raises anything on hostile bytes
            raise AuthError(NtStatus.INVALID_PARAMETER, f"bad NTLM NEGOTIATE: {e}") from None
        inner = _ntlm_inner(out)[0] if out else None
        self._negotiated = _ntlm_type(inner) == 2  # a CHALLENGE went out
        return _accept_incomplete(out)

    def _try_kerberos(self, kerberos: KerberosAcceptor, token: bytes) -> bytes | None:
        """A negTokenInit whose first mechanism is Kerberos with an AP-REQ: accept it (one leg)."""
        try:
            parsed = unpack_token(token)
        except Exception:  # noqa: BLE001 - left for the NTLM path to refuse
            return None
        if not isinstance(parsed, NegTokenInit) or not parsed.mech_types:
            return None
        first = parsed.mech_types[0]
        mech_token = kerberos_mech_token(first, parsed.mech_token)
        if mech_token is None:
            return None
        try:
            out, logon = kerberos.accept(first, mech_token)
        except KerberosError as e:
            raise AuthError(e.status, str(e)) from None
        self.user = domain_user(logon.logon)
        self.session_key = logon.session_key
        self.expires_at = logon.expires_at
        self.complete = True
        return out

    def _ntlm(self) -> NTLMProxy:
        """The NTLM context inside the SPNEGO acceptor (pyspnego keeps the one we handed it)."""
        assert self._ctx is not None
        ntlm = self._ctx._context_list[GSSMech.ntlm][0]
        assert isinstance(ntlm, NTLMProxy)
        return ntlm

    def _finish_without_key(self, user: User, *, anonymous: bool, is_spnego: bool) -> bytes | None:
        self.user = user
        self.is_anonymous = anonymous
        self.is_guest = not anonymous
        self.session_key = b""
        self.complete = True
        return _ACCEPT_COMPLETED if is_spnego else None


@dataclass(slots=True, eq=False)
class NtlmAcceptor:
    """Server-wide NTLM/SPNEGO acceptor: makes one :class:`AuthContext` per SESSION_SETUP exchange.

    ``domain_name`` / ``server_name`` are kept for the NEGOTIATE response and logging; pyspnego fills
    the CHALLENGE target names from the host name.
    """

    userdb: UserDb
    domain_name: str = "WORKGROUP"
    server_name: str = "SOFS"
    allow_anonymous: bool = False
    map_unknown_to_guest: bool = False
    kerberos: KerberosAcceptor | None = None  # a domain member: Kerberos beside NTLM
    _init_token: bytes = field(default=b"", repr=False)

    def initial_token(self) -> bytes:
        """negTokenInit2 for the NEGOTIATE response's security buffer (computed once): Kerberos first
        (MS-KRB5, KRB5) on a domain member, then NTLM."""
        if not self._init_token:
            mechs = [*KRB5_OIDS, GSSMech.ntlm.value] if self.kerberos is not None else [GSSMech.ntlm.value]
            self._init_token = NegTokenInit(mechs, hint_name=b"not_defined_in_RFC4178@please_ignore").pack()
        return self._init_token

    def new_context(self) -> AuthContext:
        return AuthContext(self)
