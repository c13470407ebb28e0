"""SESSION_SETUP and LOGOFF ([MS-SMB2] 3.3.5.5, 3.3.5.6) and the 3.1.1 pre-auth integrity hash.

Authentication is NTLMv2 in SPNEGO through :mod:`sofs.auth.ntlm`; on success the session keys are
derived ([MS-SMB2] 3.3.5.5.3) and the signer/ciphers built once for the life of the session.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sofs.auth.ntlm import AuthError
from sofs.crypto.kdf import derive_keys
from sofs.crypto.preauth import PREAUTH_ZERO, preauth_hash
from sofs.crypto.signing import make_signer
from sofs.crypto.transform import NonceCounter, make_cipher
from sofs.engine.state import Channel, ConnectionState, Session, SessionState
from sofs.handlers.base import ConnectionHandoff, ConnectionRelay, Ctx, Reply, SmbError, reply
from sofs.wire.constants import (
    Cipher,
    Command,
    Dialect,
    GlobalCaps,
    HeaderFlags,
    SecurityMode,
    SessionFlags,
    SessionSetupFlags,
    SigningAlgorithm,
)
from sofs.wire.messages.session import (
    LogoffRequest,
    LogoffResponse,
    SessionSetupRequest,
    SessionSetupResponse,
)
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.session")

_MORE = int(NtStatus.MORE_PROCESSING_REQUIRED)
MAX_CHANNELS = 32  # per session, as Windows (smb2.multichannel.generic.num_channels)


ANONYMOUS_SESSION_KEY = bytes(16)
"""Key material of anonymous (null) sessions when the NTLM exchange yields none. With KEY_EXCH the
auth layer should give the NTLMSSP exported key, RC4K(Z(16), EncryptedRandomSessionKey) ([MS-NLMP]
3.3.2: an anonymous SessionBaseKey is Z(16)), which is what Samba clients derive SMB keys from: a null
session can then sign and, once the connection has seen an authenticated session, encrypt
(smb2.session.anon-signing*/anon-encryption*)."""


async def handle_session_setup(ctx: Ctx, req: SessionSetupRequest) -> Reply:
    server, conn, hdr = ctx.server, ctx.conn, ctx.header
    if req.flags & SessionSetupFlags.BINDING:
        return await _bind(ctx, req, _check_binding(ctx, req))
    if hdr.session_id == 0:
        session = Session(server.new_session_id(), conn, dialect=conn.dialect, created_at=time.time())
        session.preauth_hash = conn.preauth_hash
        server.sessions[session.session_id] = session
        conn.sessions[session.session_id] = session
    else:
        found = server.sessions.get(hdr.session_id)
        if found is None or (found.connection is not conn and conn not in found.channels):
            _sign_setup_errors(ctx, found)
            raise SmbError(NtStatus.USER_SESSION_DELETED)
        session = found
        _verify_setup_signature(ctx, session)
        if session.state is not SessionState.IN_PROGRESS and session.auth is None:
            # re-authentication ([MS-SMB2] 3.3.5.5.2): start a fresh exchange on the same session
            session.preauth_hash = conn.preauth_hash
    ctx.session = session
    _sign_setup_errors(ctx, session)
    # an expired session re-authenticates like a valid one ([MS-SMB2] 3.3.5.5.3; Samba: the
    # NETWORK_SESSION_EXPIRED status of smbXsrv_session is cleared by the new authentication)
    reauth = session.state is not SessionState.IN_PROGRESS
    if session.auth is None:
        session.auth = server.acceptor.new_context()
    if conn.dialect == Dialect.SMB3_1_1:
        session.preauth_hash = preauth_hash(session.preauth_hash, ctx.msg)
    try:
        out_token = session.auth.step(bytes(req.security_buffer))
    except AuthError as e:
        log.info("connection %d: session setup failed: %s", conn.conn_id, e)
        session.auth = None
        if reauth:
            # a failed re-authentication deletes the session (smb2.session.reauth6)
            await end_session(server, session, disconnected=False)
        else:
            _drop(ctx, session)
        raise SmbError(e.status or NtStatus.LOGON_FAILURE, str(e)) from None
    if not session.auth.complete:
        return Reply((SessionSetupResponse(0, out_token or b"").encode(),), _MORE)
    if (server.config.encrypt_data and server.config.reject_unencrypted
            and (getattr(session.auth, "is_anonymous", False) or getattr(session.auth, "is_guest", False))):
        # Samba: "reject guest session as encryption is required" (null/guest sessions cannot encrypt
        # with a secret key)
        session.auth = None
        if reauth:
            await end_session(server, session, disconnected=False)
        else:
            _drop(ctx, session)
        raise SmbError(NtStatus.ACCESS_DENIED, "encryption required: no null/guest sessions")
    flags = _reauthenticated(session) if reauth else _complete(ctx, session, req)
    if req.previous_session_id and req.previous_session_id != session.session_id and not reauth:
        await _close_previous(ctx, session, req.previous_session_id)
    return reply(SessionSetupResponse(flags, out_token or b"").encode())


def _sign_setup_errors(ctx: Ctx, session: Session | None) -> None:
    """A SESSION_SETUP signed with an established session's key gets signed answers, errors included
    (Samba ``do_signing``; the smb2.session.bind_negative_* and reauth tests check the signatures)."""
    if session is None:
        return
    session.sign_setup_responses = session.signer is not None and not ctx.encrypted and (
        ctx.header.is_signed or session.signing_required)


def _verify_setup_signature(ctx: Ctx, session: Session) -> None:
    """SESSION_SETUP on an established session (re-authentication, binding) is verified like any
    request, with this connection's key (the channel's once bound): [MS-SMB2] 3.3.5.2.4; Samba checks
    it in ``smbd_smb2_request_dispatch`` (smb2.session.bind_negative_*: a second bind is ACCESS_DENIED)."""
    if session.signer is None or ctx.encrypted:
        return
    if not (ctx.header.is_signed or session.signing_required):
        return
    signer = session.signer_for(ctx.conn)
    if not ctx.header.is_signed or not signer.verify(ctx.msg):
        session.sign_setup_responses = False
        raise SmbError(NtStatus.ACCESS_DENIED, "SESSION_SETUP not signed with the session's key")


def _drop(ctx: Ctx, session: Session) -> None:
    if session.state is not SessionState.VALID:
        ctx.server.sessions.pop(session.session_id, None)
        ctx.conn.sessions.pop(session.session_id, None)
        ctx.session = None


def _check_binding(ctx: Ctx, req: SessionSetupRequest) -> Session:
    """The session a binding request may join ([MS-SMB2] 3.3.5.5), checked in the order of Windows /
    Samba (``smbd_smb2_session_setup_send``) so each mismatch gets its own status
    (smb2.session.bind_negative_*)."""
    conn, hdr = ctx.conn, ctx.header
    if hdr.session_id == 0:
        raise SmbError(NtStatus.INVALID_PARAMETER, "binding without a SessionId")
    session = ctx.server.sessions.get(hdr.session_id)
    if session is None:
        _hand_off_binding(ctx)
    if session is None or session.state is not SessionState.VALID:
        raise SmbError(NtStatus.USER_SESSION_DELETED, "binding to an unknown session")
    ctx.session = session
    _verify_setup_signature(ctx, session)
    _sign_setup_errors(ctx, session)
    first = session.connection
    s_alg, c_alg = signing_algorithm_of(first), signing_algorithm_of(conn)
    gmac = SigningAlgorithm.AES_GMAC
    if s_alg >= gmac and c_alg != s_alg:
        raise SmbError(NtStatus.REQUEST_OUT_OF_SEQUENCE, "binding with another signing algorithm")
    if c_alg >= gmac and s_alg != c_alg:
        raise SmbError(NtStatus.NOT_SUPPORTED, "binding with another signing algorithm")
    if conn.dialect < Dialect.SMB3_0:
        raise SmbError(NtStatus.REQUEST_NOT_ACCEPTED, "binding on an SMB 2 connection")
    if not conn.server_capabilities & GlobalCaps.MULTI_CHANNEL:
        raise SmbError(NtStatus.REQUEST_NOT_ACCEPTED, "multichannel not offered")
    if not hdr.is_signed or ctx.encrypted:
        raise SmbError(NtStatus.INVALID_PARAMETER, "unsigned binding request")
    if first.dialect != conn.dialect or first.cipher_id != conn.cipher_id:
        raise SmbError(NtStatus.INVALID_PARAMETER, "binding with another dialect or cipher")
    if conn is first or conn in session.channels:
        raise SmbError(NtStatus.REQUEST_NOT_ACCEPTED, "connection already bound to the session")
    if session.is_anonymous or session.is_guest:
        raise SmbError(NtStatus.NOT_SUPPORTED, "binding to a guest/anonymous session")
    if 1 + len(session.channels) >= MAX_CHANNELS and conn.conn_id not in session.bound:
        raise SmbError(NtStatus.INSUFFICIENT_RESOURCES, "too many channels")
    return session


def _hand_off_binding(ctx: Ctx) -> None:
    """A binding request ([MS-SMB2] 3.3.5.5.2) for a session another worker process made, or another
    cluster node (its id says which): the connection moves to that worker, or is carried to that node,
    unless it already moved once or carries more than this request. A session id naming no one
    answers USER_SESSION_DELETED here, as any unknown session."""
    peers, relay, conn, hdr = ctx.server.workers, ctx.server.channels, ctx.conn, ctx.header
    if (conn.migrated and not conn.carried_in) or conn.sessions or conn.bound_sessions or ctx.encrypted:
        return
    if hdr.next_command or hdr.flags & HeaderFlags.RELATED_OPERATIONS:
        return
    node = relay.holder_of(hdr.session_id) if relay is not None and not conn.migrated else None
    if node is not None:  # another node's session (a node's workers each carry their own)
        raise ConnectionRelay(node)
    if peers is not None:  # this node's (or server's) session of another worker process
        worker = peers.owner_of(hdr.session_id)
        if worker is not None:
            raise ConnectionHandoff(worker)


async def _bind(ctx: Ctx, req: SessionSetupRequest, session: Session) -> Reply:
    """Bind this connection to ``session`` ([MS-SMB2] 3.3.5.5.2, 3.3.5.5.3): a new authentication of
    the same user; the channel signs with a key derived from it (3.1.1: and this connection's pre-auth
    hash); encryption keys stay the session's."""
    conn = ctx.conn
    ch = session.bound.get(conn.conn_id)
    if ch is None:
        ch = session.bound[conn.conn_id] = Channel(conn, preauth_hash=conn.preauth_hash)
        conn.bound_sessions[session.session_id] = session  # so a lost connection unbinds it
    if ch.auth is None:
        ch.auth = ctx.server.acceptor.new_context()
    if conn.dialect == Dialect.SMB3_1_1:
        ch.preauth_hash = preauth_hash(ch.preauth_hash, ctx.msg)
    try:
        out_token = ch.auth.step(bytes(req.security_buffer))
    except AuthError as e:
        _unbind(session, conn)
        raise SmbError(e.status or NtStatus.LOGON_FAILURE, f"binding: {e}") from None
    if not ch.auth.complete:
        return Reply((SessionSetupResponse(0, out_token or b"").encode(),), _MORE)
    auth, ch.auth = ch.auth, None
    if (getattr(auth, "is_anonymous", False) or getattr(auth, "is_guest", False)
            or str(getattr(auth.user, "name", "")).lower() != _user_name(session)):
        _unbind(session, conn)
        raise SmbError(NtStatus.ACCESS_DENIED, "binding as another user")
    keys = derive_keys(conn.dialect, bytes(auth.session_key),
                       ch.preauth_hash if conn.dialect == Dialect.SMB3_1_1 else None, None)
    ch.signer = make_signer(conn.dialect, conn.signing_algorithm, keys.signing_key)
    session.channels.append(conn)
    conn.authenticated_session = True
    log.info("connection %d: bound to session 0x%x (channel %d)", conn.conn_id, session.session_id,
             len(session.channels) + 1)
    flags = SessionFlags.ENCRYPT_DATA if session.encrypt_data else 0
    return reply(SessionSetupResponse(int(flags), out_token or b"").encode())


def _unbind(session: Session, conn: ConnectionState) -> None:
    session.bound.pop(conn.conn_id, None)
    conn.bound_sessions.pop(session.session_id, None)


def signing_algorithm_of(conn: ConnectionState) -> int:
    """The signing algorithm a connection's sessions use ([MS-SMB2] 3.1.4.1)."""
    if conn.dialect >= Dialect.SMB3_1_1 and conn.signing_algorithm is not None:
        return int(conn.signing_algorithm)
    if conn.dialect >= Dialect.SMB3_0:
        return int(SigningAlgorithm.AES_CMAC)
    return int(SigningAlgorithm.HMAC_SHA256)


async def _close_previous(ctx: Ctx, session: Session, previous_id: int) -> None:
    """[MS-SMB2] 3.3.5.5.3: a PreviousSessionId of the same user is logged off (durable opens kept).
    A session this process does not have may be another worker process's (its id names the worker:
    the main process routes the logoff there) or another node's (the client reconnected elsewhere,
    its old connection not yet seen gone there): each volume's coordinator has the node holding
    opens of it end it, so the client's durable reconnects that follow find them disconnected."""
    server, user = ctx.server, _user_name(session)
    if previous_id in server.sessions:
        await end_previous_session(server, previous_id, user, session)
        return
    if server.workers is not None and user and await server.workers.logoff_previous(previous_id, user):
        return
    for vol in {id(v): v for v in server.volumes.values()}.values():
        try:
            await vol.svc.end_session(previous_id, user)
        except Exception as e:  # noqa: BLE001 - the reconnects that follow fail as without it
            log.warning("volume %s: ending previous session 0x%x failed: %s", vol.name, previous_id, e)


async def end_previous_session(server: Any, previous_id: int, user: str, new: Session | None = None) -> bool:
    """End this process's session ``previous_id`` if it is ``user``'s (lower-case name; see
    :func:`_close_previous`). True when it did."""
    old = server.sessions.get(previous_id)
    if old is None or old is new or not old.valid or old.is_anonymous or old.is_guest:
        return False
    if not user or _user_name(old) != user:
        return False
    log.info("session 0x%x replaced by a new session of its user", previous_id)
    await end_session(server, old, disconnected=True)
    return True


def _user_name(session: Session) -> str:
    return str(getattr(session.user, "name", "")).lower()


def _take_identity(session: Session) -> Any:
    """Move the finished authentication's identity onto the session; return the auth context."""
    auth = session.auth
    session.auth = None
    session.user = auth.user
    session.is_guest = bool(getattr(auth, "is_guest", False))
    session.is_anonymous = bool(getattr(auth, "is_anonymous", False))
    session.expires_at = getattr(auth, "expires_at", None)
    return auth


def _identity_flags(session: Session) -> int:
    """SessionFlags IS_NULL / IS_GUEST of the session's identity ([MS-SMB2] 2.2.6)."""
    if session.is_anonymous:
        return int(SessionFlags.IS_NULL)
    if session.is_guest:
        return int(SessionFlags.IS_GUEST)
    return 0


def _expiry_note(session: Session) -> str:
    if session.expires_at is None:
        return ""
    return f", expires in {session.expires_at - time.time():.0f} s"


def _reauthenticated(session: Session) -> int:
    """Re-authentication done: the session keys stay those of the first authentication (Windows,
    Samba); only the user may change."""
    _take_identity(session)
    session.state = SessionState.VALID
    log.info("session 0x%x re-authenticated as %s%s", session.session_id, getattr(session.user, "name", ""),
             _expiry_note(session))
    flags = _identity_flags(session)
    if session.encrypt_data:
        flags |= SessionFlags.ENCRYPT_DATA
    return int(flags)


def _complete(ctx: Ctx, session: Session, req: SessionSetupRequest) -> int:
    """Authentication done: derive keys, set signing/encryption, mark the session valid."""
    server, conn = ctx.server, ctx.conn
    auth = _take_identity(session)
    flags = _identity_flags(session)
    if session.is_anonymous:
        # null sessions never require signing; they encrypt only once the connection has seen an
        # authenticated session (Samba ``got_authenticated_session``)
        _derive(session, conn.dialect, conn.cipher_id, conn.signing_algorithm,
                bytes(auth.session_key) or ANONYMOUS_SESSION_KEY,
                server_supports_encryption=_encryption_possible(ctx))
    elif not session.is_guest:
        conn.authenticated_session = True
        _derive(session, conn.dialect, conn.cipher_id, conn.signing_algorithm, bytes(auth.session_key),
                server_supports_encryption=_encryption_possible(ctx))
        session.signing_required = bool(
            server.config.require_signing or req.security_mode & SecurityMode.SIGNING_REQUIRED)
        if server.config.encrypt_data and session.encryptor is not None:
            session.encrypt_data = True
            flags |= SessionFlags.ENCRYPT_DATA
    session.state = SessionState.VALID
    user = getattr(session.user, "name", "anonymous")
    log.info("connection %d: session 0x%x user %s (%s%s%s%s)", conn.conn_id, session.session_id, user,
             "guest" if session.is_guest else "anonymous" if session.is_anonymous else "authenticated",
             ", signing" if session.signing_required else "", ", encrypted" if session.encrypt_data else "",
             _expiry_note(session))
    return int(flags)


def _encryption_possible(ctx: Ctx) -> bool:
    conn = ctx.conn
    if conn.dialect == Dialect.SMB3_1_1:
        return conn.cipher_id != 0
    return conn.dialect >= Dialect.SMB3_0 and bool(conn.server_capabilities & GlobalCaps.ENCRYPTION)


def _derive(session: Session, dialect: int, cipher_id: int, signing_alg: int | None, key: bytes,
            server_supports_encryption: bool) -> None:
    cipher = cipher_id or (Cipher.AES_128_CCM if server_supports_encryption else None)
    keys = derive_keys(dialect, key, session.preauth_hash if dialect == Dialect.SMB3_1_1 else None, cipher)
    session.session_key = keys.session_key
    session.signing_key = keys.signing_key
    session.application_key = keys.application_key
    session.signer = make_signer(dialect, signing_alg, keys.signing_key)
    if server_supports_encryption and cipher:
        session.encryptor = make_cipher(cipher, keys.encryption_key)
        session.decryptor = make_cipher(cipher, keys.decryption_key)
        session.nonces = NonceCounter(session.encryptor.nonce_size, os.urandom(8))


async def handle_logoff(ctx: Ctx, req: LogoffRequest) -> Reply:
    session = ctx.session
    assert session is not None
    await end_session(ctx.server, session, disconnected=False)
    return reply(LogoffResponse().encode())


async def end_session(server, session: Session, disconnected: bool,  # type: ignore[no-untyped-def]
                      keep_durable: bool = True) -> None:
    """Tear a session down: its handles close (durable ones stay disconnected at their volume's
    coordinator, [MS-SMB2] 3.3.5.5.3 / 3.3.5.6, unless ``keep_durable`` is False: Close-SmbSession),
    it leaves the tables."""
    from sofs.handlers.opens import session_ended

    try:
        await session_ended(server, session, keep_durable=keep_durable)
    except Exception:
        log.exception("ending the handles of session 0x%x failed", session.session_id)
    session.trees.clear()
    session.state = SessionState.EXPIRED
    server.sessions.pop(session.session_id, None)
    session.connection.sessions.pop(session.session_id, None)


def preauth_on_wire(ctx: Ctx, status: int) -> Callable[[bytes], None] | None:
    """Pre-auth integrity hook ([MS-SMB2] 3.3.5.4, 3.3.5.5): fold responses into the running hash."""
    if ctx.conn.dialect != Dialect.SMB3_1_1:
        return None
    if ctx.header.command == Command.NEGOTIATE:
        if status != 0:
            return None
        conn, request = ctx.conn, bytes(ctx.msg)

        def on_negotiate(resp: bytes) -> None:
            conn.preauth_hash = preauth_hash(PREAUTH_ZERO, request, resp)

        return on_negotiate
    session = ctx.session
    if session is None or status != _MORE:
        return None
    ch = session.bound.get(ctx.conn.conn_id)
    if ch is not None and ch.signer is None:
        binding = ch

        def on_bind(resp: bytes) -> None:
            binding.preauth_hash = preauth_hash(binding.preauth_hash, resp)

        return on_bind

    def on_setup(resp: bytes) -> None:
        session.preauth_hash = preauth_hash(session.preauth_hash, resp)

    return on_setup
