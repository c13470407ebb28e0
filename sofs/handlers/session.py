"""SESSION_SETUP and LOGOFF ([MS-SMB2] 3.3.5.5, 3.3.5.6) and the 3.1.1 pre-auth integrity hash.

Authentication is NTLMv2 in SPNEGO through :mod:`sofs.auth.ntlm`; on success the session keys are
derived ([MS-SMB2] 3.3.5.5.3) and the signer/ciphers built once for the life of the session.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from sofs.auth.ntlm import AuthError
from sofs.crypto.kdf import derive_keys
from sofs.crypto.preauth import PREAUTH_ZERO, preauth_hash
from sofs.crypto.signing import make_signer
from sofs.crypto.transform import NonceCounter, make_cipher
from sofs.engine.state import Session, SessionState
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.wire.constants import (
    Cipher,
    Command,
    Dialect,
    GlobalCaps,
    SecurityMode,
    SessionFlags,
    SessionSetupFlags,
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


async def handle_session_setup(ctx: Ctx, req: SessionSetupRequest) -> Reply:
    server, conn, hdr = ctx.server, ctx.conn, ctx.header
    if req.flags & SessionSetupFlags.BINDING:
        # multichannel session binding is not offered (no MULTI_CHANNEL capability)
        raise SmbError(NtStatus.REQUEST_NOT_ACCEPTED, "session binding not supported")
    if hdr.session_id == 0:
        session = Session(server.new_session_id(), conn, dialect=conn.dialect, created_at=time.time())
        session.preauth_hash = conn.preauth_hash
        server.sessions[session.session_id] = session
        conn.sessions[session.session_id] = session
    else:
        found = server.sessions.get(hdr.session_id)
        if found is None or (found.connection is not conn):
            raise SmbError(NtStatus.USER_SESSION_DELETED)
        session = found
        if session.state is SessionState.VALID and session.auth is None:
            # re-authentication ([MS-SMB2] 3.3.5.5.2): start a fresh exchange on the same session
            session.preauth_hash = conn.preauth_hash
    ctx.session = session
    if session.auth is None:
        session.auth = server.acceptor.new_context()
    if conn.dialect == Dialect.SMB3_1_1:
        session.preauth_hash = preauth_hash(session.preauth_hash, ctx.msg)
    try:
        out_token = session.auth.step(bytes(req.security_buffer))
    except AuthError as e:
        _fail(ctx, session, e.status, str(e))
    if not session.auth.complete:
        return Reply((SessionSetupResponse(0, out_token or b"").encode(),), _MORE)
    flags = _complete(ctx, session, req)
    return reply(SessionSetupResponse(flags, out_token or b"").encode())


def _fail(ctx: Ctx, session: Session, status: int, why: str) -> None:
    log.info("connection %d: session setup failed: %s", ctx.conn.conn_id, why)
    session.auth = None
    if session.state is not SessionState.VALID:
        ctx.server.sessions.pop(session.session_id, None)
        ctx.conn.sessions.pop(session.session_id, None)
        ctx.session = None
    raise SmbError(status or NtStatus.LOGON_FAILURE, why)


def _complete(ctx: Ctx, session: Session, req: SessionSetupRequest) -> int:
    """Authentication done: derive keys, set signing/encryption, mark the session valid."""
    server, conn = ctx.server, ctx.conn
    auth = session.auth
    session.auth = None
    session.user = auth.user
    session.is_guest = bool(getattr(auth, "is_guest", False))
    session.is_anonymous = bool(getattr(auth, "is_anonymous", False))
    flags = 0
    if session.is_anonymous:
        flags |= SessionFlags.IS_NULL
    elif session.is_guest:
        flags |= SessionFlags.IS_GUEST
    else:
        _derive(session, conn.dialect, conn.cipher_id, conn.signing_algorithm, bytes(auth.session_key),
                server_supports_encryption=_encryption_possible(ctx))
        session.signing_required = bool(
            server.config.require_signing or req.security_mode & SecurityMode.SIGNING_REQUIRED)
        if server.config.encrypt_data and session.encryptor is not None:
            session.encrypt_data = True
            flags |= SessionFlags.ENCRYPT_DATA
    session.state = SessionState.VALID
    user = getattr(session.user, "name", "anonymous")
    log.info("connection %d: session 0x%x user %s (%s%s%s)", conn.conn_id, session.session_id, user,
             "guest" if session.is_guest else "authenticated",
             ", signing" if session.signing_required else "", ", encrypted" if session.encrypt_data else "")
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


async def end_session(server, session: Session, disconnected: bool) -> None:  # type: ignore[no-untyped-def]
    """Tear a session down: close its trees and opens (hooks), drop it from the tables."""
    for hook in server.extensions.get("on_session_end", []):
        try:
            res = hook(server, session, disconnected)
            if hasattr(res, "__await__"):
                await res
        except Exception:
            log.exception("session-end hook failed")
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

    def on_setup(resp: bytes) -> None:
        session.preauth_hash = preauth_hash(session.preauth_hash, resp)

    return on_setup
