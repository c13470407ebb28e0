"""The security of one DCE/RPC association ([MS-RPCE] 3.3.1.5.2, 3.3.3.4.x for the server) — sans-I/O.

An association is anonymous when its bind carries no sec_trailer. Otherwise the bind's trailer picks
the provider, level and context id, and its token starts the exchange with a security context from
the server's acceptor: bind → bind_ack (with the acceptor's token), then AUTH3 (NTLMSSP's third leg,
no answer) or alter_context → alter_context_resp (SPNEGO's last legs) until the context is complete.
Requests must then carry the same provider, level and context id; at PKT_INTEGRITY they are verified,
at PKT_PRIVACY decrypted and verified, and responses are signed / sealed the same way
(:mod:`sofs.rpc.dcerpc_auth`). At CONNECT only the bind is authenticated; a request may still carry a
verifier (Windows sends one), which is not checked, as [MS-RPCE] 3.3.1.5.2.2 allows.

Decisions (where the spec lets the server choose):
- Providers: NTLMSSP (10) and SPNEGO (9, negotiating NTLM; an optimistic Kerberos token is declined as
  for SMB). Kerberos (16), Netlogon/Schannel and others: bind_nak "authentication type not recognized".
- Levels: CONNECT, PKT_INTEGRITY, PKT_PRIVACY. NONE, CALL and PKT are refused (bind_nak, reason not
  specified): they are not used over TCP by the clients we know.
- A context that cannot protect packets (guest, anonymous: no session key) is refused at
  integrity/privacy; a failed exchange makes every later request fault with access denied, and the
  transport closes the association after a security fault.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sofs.rpc.dcerpc import (
    HEADER_SIZE,
    NCA_S_PROTO_ERROR,
    PduError,
    PduHeader,
    PType,
    RpcFault,
    encode_bind_nak,
    encode_fault,
    encode_responses,
)
from sofs.rpc.dcerpc_auth import (
    AUTHN_GSS_NEGOTIATE,
    AUTHN_WINNT,
    BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED,
    LEVEL_CONNECT,
    LEVEL_PKT_INTEGRITY,
    LEVEL_PKT_PRIVACY,
    NCA_S_FAULT_ACCESS_DENIED,
    NCA_S_FAULT_SEC_PKG_ERROR,
    PFC_SUPPORT_HEADER_SIGN,
    AuthPart,
    PacketSecurity,
    SecTrailer,
    append_auth,
    protected_responses,
    request_stub_offset,
    split_auth,
    unprotect_stub,
)

log = logging.getLogger("sofs.rpc.auth")
SUPPORTED_TYPES = frozenset({AUTHN_GSS_NEGOTIATE, AUTHN_WINNT})
SUPPORTED_LEVELS = frozenset({LEVEL_CONNECT, LEVEL_PKT_INTEGRITY, LEVEL_PKT_PRIVACY})


class AcceptorContext(Protocol):
    """One authentication exchange (``sofs.auth.ntlm.AuthContext``)."""

    complete: bool

    def step(self, token: bytes) -> bytes | None: ...

    @property
    def security_context(self) -> PacketSecurity | None: ...

    @property
    def user_name(self) -> str: ...


class Acceptor(Protocol):
    def new_context(self) -> AcceptorContext: ...


class BindRefused(Exception):
    """Answer the bind with a bind_nak carrying ``reason`` ([MS-RPCE] 2.2.2.5)."""

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SecurityFault(RpcFault):
    """Fault the call and close the association (its security can no longer be trusted)."""


class AssociationSecurity:
    """The security state of one association (one TCP connection, one named pipe open)."""

    NONE, PENDING, DONE, FAILED = "none", "pending", "done", "failed"

    def __init__(self, acceptor: Acceptor | None) -> None:
        self.acceptor = acceptor
        self.state = self.NONE
        self.trailer: SecTrailer | None = None
        self._ctx: AcceptorContext | None = None
        self.error = ""

    @property
    def level(self) -> int:
        return self.trailer.auth_level if self.trailer is not None and self.state == self.DONE else 0

    @property
    def user_name(self) -> str:
        return self._ctx.user_name if self._ctx is not None and self.state == self.DONE else ""

    def bind(self, part: AuthPart) -> bytes | None:
        """The bind's trailer and token; returns the token for the bind_ack. Raises BindRefused."""
        t = part.trailer
        if self.state != self.NONE:
            raise BindRefused(0, "the association is already bound")
        if self.acceptor is None or t.auth_type not in SUPPORTED_TYPES:
            raise BindRefused(BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED, f"authentication type {t.auth_type} not supported")
        if t.auth_level not in SUPPORTED_LEVELS:
            raise BindRefused(0, f"authentication level {t.auth_level} not supported")
        self._ctx, self.trailer = self.acceptor.new_context(), t
        try:
            out = self._ctx.step(part.value)
        except Exception as e:  # noqa: BLE001 - the acceptor's refusal, whatever its type
            self._fail(str(e))
            raise BindRefused(0, f"authentication refused: {e}") from None
        self._advance()
        if self.state == self.FAILED:
            raise BindRefused(0, self.error)
        return out

    def auth3(self, part: AuthPart) -> None:
        """NTLMSSP's AUTHENTICATE in an AUTH3 PDU (no answer; a failure shows at the next request)."""
        self._next_leg(part)

    def alter(self, part: AuthPart) -> bytes | None:
        """A further leg in an alter_context; returns the token for the alter_context_resp. Raises
        SecurityFault when the leg fails."""
        out = self._next_leg(part)
        if self.state == self.FAILED:
            raise SecurityFault(NCA_S_FAULT_ACCESS_DENIED)
        return out

    def _next_leg(self, part: AuthPart) -> bytes | None:
        if self.state != self.PENDING or self._ctx is None or self.trailer is None:
            self._fail("authentication leg outside an exchange")
            return None
        if not part.trailer.same_security(self.trailer):
            self._fail("authentication leg with another provider, level or context")
            return None
        try:
            out = self._ctx.step(part.value)
        except Exception as e:  # noqa: BLE001
            self._fail(str(e))
            return None
        self._advance()
        return out

    def _advance(self) -> None:
        assert self._ctx is not None and self.trailer is not None
        if not self._ctx.complete:
            self.state = self.PENDING
        elif self.trailer.auth_level >= LEVEL_PKT_INTEGRITY and self._ctx.security_context is None:
            self._fail("the logon has no session key to protect packets with")
        else:
            self.state = self.DONE

    def _fail(self, why: str) -> None:
        self.state, self.error = self.FAILED, why

    def request_stub(self, pdu: bytes, hdr: PduHeader) -> bytes:
        """The stub of a request PDU, verified / decrypted as the association requires. Raises RpcFault
        (SecurityFault: fault and close)."""
        start = request_stub_offset(hdr)
        if self.state == self.NONE:
            if hdr.auth_length:
                raise RpcFault(NCA_S_PROTO_ERROR)
            return bytes(pdu[start : hdr.frag_length])
        try:
            return self._checked_stub(pdu, hdr, start)
        except SecurityFault:
            if self.state == self.DONE:
                self._fail("a request failed its security checks")
            raise

    def _checked_stub(self, pdu: bytes, hdr: PduHeader, start: int) -> bytes:
        if self.state != self.DONE or self.trailer is None:
            raise SecurityFault(NCA_S_FAULT_ACCESS_DENIED)
        if not hdr.auth_length:
            if self.trailer.auth_level == LEVEL_CONNECT:
                return bytes(pdu[start : hdr.frag_length])
            raise SecurityFault(NCA_S_FAULT_ACCESS_DENIED)
        try:
            part = split_auth(pdu, hdr, start)
        except PduError:
            raise SecurityFault(NCA_S_PROTO_ERROR) from None
        if not part.trailer.same_security(self.trailer):
            raise SecurityFault(NCA_S_FAULT_SEC_PKG_ERROR)
        if self.trailer.auth_level == LEVEL_CONNECT:
            return bytes(pdu[start : part.body_end])
        security = self._ctx.security_context if self._ctx is not None else None
        assert security is not None
        try:
            return unprotect_stub(pdu, start, part, self.trailer.auth_level, security)
        except ValueError:
            raise SecurityFault(NCA_S_FAULT_SEC_PKG_ERROR) from None

    def responses(self, call_id: int, context_id: int, stub: bytes, max_frag: int) -> list[bytes]:
        """The response PDUs of a call, protected as the association requires (sign them just before
        sending: the verifiers carry sequence numbers)."""
        if self.level >= LEVEL_PKT_INTEGRITY and self.trailer is not None and self._ctx is not None:
            security = self._ctx.security_context
            assert security is not None
            return protected_responses(call_id, context_id, stub, max_frag, self.trailer, security)
        return encode_responses(call_id, context_id, stub, max_frag)


@dataclass(frozen=True, slots=True)
class BindAuth:
    """What a bind / alter_context's authentication asks of the transport: send ``refusal`` instead of
    the ack (and close the association when ``close``), or append ``token`` to the ack."""

    refusal: bytes | None = None
    close: bool = False
    token: bytes | None = None
    header_sign: int = 0


def bind_auth(security: AssociationSecurity, pdu: bytes, hdr: PduHeader) -> BindAuth:
    """Run the authentication carried by a bind or alter_context PDU (none: nothing to do)."""
    if not hdr.auth_length:
        return BindAuth()
    part = split_auth(pdu, hdr, HEADER_SIZE + 12)
    if hdr.ptype == PType.BIND:
        try:
            token = security.bind(part)
        except BindRefused as e:
            log.info("DCE/RPC bind refused: %s", e)
            return BindAuth(refusal=encode_bind_nak(hdr.call_id, e.reason))
    else:
        try:
            token = security.alter(part)
        except SecurityFault as e:
            log.info("DCE/RPC alter_context refused: %s", security.error)
            return BindAuth(refusal=encode_fault(hdr.call_id, e.status), close=True)
    # NTLMSSP always signs the whole PDU, header included: echo the client's header-signing flag
    return BindAuth(token=token, header_sign=hdr.flags & PFC_SUPPORT_HEADER_SIGN)


def with_bind_auth(security: AssociationSecurity, ack: bytes, auth: BindAuth) -> bytes:
    """The bind_ack / alter_context_resp ``ack`` with the acceptor's token in a sec_trailer."""
    if not auth.token or security.trailer is None:
        return ack
    return append_auth(ack, security.trailer, auth.token, flags=auth.header_sign)
