"""NEGOTIATE: dialect, capabilities, 3.1.1 negotiate contexts ([MS-SMB2] 3.3.5.3, 3.3.5.4).

Also the SMB1 multi-protocol NEGOTIATE upgrade ([MS-SMB2] 3.3.5.3.1): an SMB1 negotiate that offers
"SMB 2.???" gets an SMB2 NEGOTIATE response with dialect 0x02FF; one offering only "SMB 2.002" gets
dialect 2.0.2 directly.
"""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from sofs.engine.connection import Outgoing
from sofs.engine.state import ConnectionState
from sofs.handlers.base import Ctx, Reply, SmbError, reply
from sofs.handlers.sessions_status import dialect_name
from sofs.wire.constants import (
    Cipher,
    Command,
    Dialect,
    GlobalCaps,
    HashAlgorithm,
    SecurityMode,
    SigningAlgorithm,
)
from sofs.wire.header import Header
from sofs.wire.messages.negotiate import (
    EncryptionCapabilities,
    NegotiateRequest,
    NegotiateResponse,
    PreauthIntegrityCapabilities,
    SigningCapabilities,
    find_context,
)
from sofs.wire.smb1 import smb1_upgrade_dialect
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

log = logging.getLogger("sofs.negotiate")

SUPPORTED_DIALECTS = (Dialect.SMB3_1_1, Dialect.SMB3_0_2, Dialect.SMB3_0, Dialect.SMB2_1, Dialect.SMB2_0_2)
SUPPORTED_CIPHERS = frozenset({Cipher.AES_128_GCM, Cipher.AES_128_CCM, Cipher.AES_256_GCM, Cipher.AES_256_CCM})
SUPPORTED_SIGNING = frozenset({SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC, SigningAlgorithm.HMAC_SHA256})
SMALL_MTU = 65536


def filetime_now() -> int:
    return int(time.time() * 10_000_000) + 116444736000000000


def select_dialect(offered: tuple[int, ...]) -> int | None:
    """Highest dialect both sides support."""
    for d in SUPPORTED_DIALECTS:
        if d in offered:
            return int(d)
    return None


def select_first(client_order: tuple[int, ...], supported: frozenset[int]) -> int | None:
    """The first of the client's list we support (clients list their preference first)."""
    for c in client_order:
        if c in supported:
            return c
    return None


def server_capabilities(server: ServerState, dialect: int, client_caps: int) -> int:
    caps = 0
    if dialect >= Dialect.SMB2_1:
        caps |= GlobalCaps.LEASING | GlobalCaps.LARGE_MTU
    if Dialect.SMB3_0 <= dialect < Dialect.SMB3_1_1 and client_caps & GlobalCaps.ENCRYPTION:
        caps |= GlobalCaps.ENCRYPTION
    if dialect >= Dialect.SMB3_0 and server.persistent_handles:
        caps |= GlobalCaps.PERSISTENT_HANDLES
    if dialect >= Dialect.SMB3_0 and server.multichannel:
        caps |= GlobalCaps.MULTI_CHANNEL  # session binding: sofs.handlers.session._bind
    if (dialect >= Dialect.SMB3_0 and client_caps & GlobalCaps.DIRECTORY_LEASING
            and server.directory_leasing):
        # only to clients that offer it, as Samba (smbd_smb2_request_process_negprot): impacket offers
        # none and breaks when a server announces it (its create() then needs a parent lease key)
        caps |= GlobalCaps.DIRECTORY_LEASING
    return int(caps)


def security_mode(server: ServerState) -> int:
    mode = SecurityMode.SIGNING_ENABLED
    if server.config.require_signing:
        mode |= SecurityMode.SIGNING_REQUIRED
    return int(mode)


async def handle_negotiate(ctx: Ctx, req: NegotiateRequest) -> Reply:
    conn = ctx.conn
    if conn.negotiated:
        from sofs.handlers.base import ConnectionAbort

        raise ConnectionAbort("second NEGOTIATE on a negotiated connection")
    dialect = select_dialect(req.dialects)
    if dialect is None:
        raise SmbError(NtStatus.NOT_SUPPORTED, f"no common dialect in {req.dialects}")
    server = ctx.server
    conn.dialect = dialect
    conn.client_guid = bytes(req.client_guid)
    conn.client_capabilities = req.capabilities
    conn.client_security_mode = req.security_mode
    conn.client_dialects = tuple(req.dialects)
    conn.server_security_mode = security_mode(server)
    conn.server_capabilities = server_capabilities(server, dialect, req.capabilities)
    large = dialect >= Dialect.SMB2_1
    conn.supports_multi_credit = large
    cfg = server.config
    conn.max_read_size = cfg.max_read_size if large else SMALL_MTU
    conn.max_write_size = cfg.max_write_size if large else SMALL_MTU
    conn.max_transact_size = cfg.max_transact_size if large else SMALL_MTU
    contexts: list[object] = []
    if dialect == Dialect.SMB3_1_1:
        contexts = _negotiate_contexts_311(conn, req)
    elif dialect >= Dialect.SMB3_0 and conn.server_capabilities & GlobalCaps.ENCRYPTION:
        conn.cipher_id = Cipher.AES_128_CCM
    conn.negotiated = True
    resp = NegotiateResponse(
        security_mode=conn.server_security_mode,
        dialect_revision=dialect,
        server_guid=cfg.server_guid,
        capabilities=conn.server_capabilities,
        max_transact_size=conn.max_transact_size,
        max_read_size=conn.max_read_size,
        max_write_size=conn.max_write_size,
        system_time=filetime_now(),
        server_start_time=0,
        security_buffer=server.acceptor.initial_token(),
        negotiate_contexts=tuple(contexts),  # type: ignore[arg-type]
    )
    log.info("connection %d negotiated dialect %s", conn.conn_id, dialect_name(dialect))
    return reply(resp.encode())


def _negotiate_contexts_311(conn: ConnectionState, req: NegotiateRequest) -> list[object]:
    """[MS-SMB2] 3.3.5.4: pre-auth integrity (mandatory), encryption and signing selection."""
    ctxs = req.negotiate_contexts
    pre = find_context(ctxs, PreauthIntegrityCapabilities)
    if pre is None or HashAlgorithm.SHA_512 not in pre.hash_algorithms:  # type: ignore[attr-defined]
        raise SmbError(NtStatus.INVALID_PARAMETER, "3.1.1 NEGOTIATE without SHA-512 pre-auth integrity")
    out: list[object] = [PreauthIntegrityCapabilities((HashAlgorithm.SHA_512,), os.urandom(32))]
    enc = find_context(ctxs, EncryptionCapabilities)
    if enc is not None:
        cipher = select_first(enc.ciphers, SUPPORTED_CIPHERS)  # type: ignore[attr-defined]
        conn.cipher_id = cipher or 0
        out.append(EncryptionCapabilities((conn.cipher_id,)))
    sig = find_context(ctxs, SigningCapabilities)
    if sig is not None:
        alg = select_first(sig.signing_algorithms, SUPPORTED_SIGNING)  # type: ignore[attr-defined]
        conn.signing_algorithm = SigningAlgorithm.AES_CMAC if alg is None else alg
        out.append(SigningCapabilities((conn.signing_algorithm,)))
    return out


def handle_smb1_negotiate(server: ServerState, conn: ConnectionState, dialects: list[str]) -> Outgoing:
    """[MS-SMB2] 3.3.5.3.1 multi-protocol negotiate: answer an SMB1 NEGOTIATE with an SMB2 one."""
    from sofs.handlers.base import ConnectionAbort

    dialect = smb1_upgrade_dialect(dialects)
    if dialect is None:
        raise ConnectionAbort(f"SMB1-only client (dialects {dialects})")
    conn.window.consume(0, 1)
    conn.smb1_upgraded = True
    conn.server_security_mode = security_mode(server)
    if dialect == Dialect.SMB2_0_2:
        conn.dialect = dialect
        conn.negotiated = True
        conn.max_read_size = conn.max_write_size = conn.max_transact_size = SMALL_MTU
    resp = NegotiateResponse(
        security_mode=conn.server_security_mode,
        dialect_revision=dialect,
        server_guid=server.config.server_guid,
        capabilities=0,
        max_transact_size=SMALL_MTU,
        max_read_size=SMALL_MTU,
        max_write_size=SMALL_MTU,
        system_time=filetime_now(),
        security_buffer=server.acceptor.initial_token(),
    )
    hdr = Header(command=Command.NEGOTIATE, credits=conn.window.grant(1), message_id=0)
    return Outgoing(hdr, (resp.encode(),))

