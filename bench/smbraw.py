"""A small asyncio SMB 3.1.1 client for benchmarks: just enough protocol to log on (NTLM through
pyspnego), connect a tree and then send pre-encoded requests as fast as one Python process can.

Everything is encoded with sofs's own wire codecs (``sofs.wire``) and signed with its crypto
(``sofs.crypto``): NEGOTIATE with the pre-auth integrity context, SESSION_SETUP (preauth hash over
the exchange, keys derived as [MS-SMB2] 3.3.5.5.3), TREE_CONNECT (always signed in 3.1.1). Any
number of requests may be outstanding; responses are matched by MessageId (interim
STATUS_PENDING responses are skipped). Signing of the later requests is optional (``sign``).

Not a general client: no credits accounting beyond asking for plenty, no encryption, no compound
requests, no reconnects. Used by ``bench/ca_openclose.py``.
"""
from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import spnego

from sofs.crypto.kdf import derive_keys
from sofs.crypto.preauth import PREAUTH_ZERO, preauth_hash
from sofs.crypto.signing import make_signer
from sofs.wire.constants import Cipher, Command, HashAlgorithm, HeaderFlags, SigningAlgorithm
from sofs.wire.header import HEADER_SIZE, SIGNATURE_OFFSET, Header
from sofs.wire.messages import (
    EncryptionCapabilities,
    NegotiateRequest,
    NegotiateResponse,
    PreauthIntegrityCapabilities,
    SessionSetupRequest,
    SessionSetupResponse,
    SigningCapabilities,
    TreeConnectRequest,
)

STATUS_PENDING = 0x00000103
STATUS_MORE_PROCESSING = 0xC0000016
SESSION_FLAG_BINDING = 0x01  # [MS-SMB2] 2.2.5 SMB2_SESSION_FLAG_BINDING
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class SmbError(Exception):
    def __init__(self, status: int, what: str) -> None:
        super().__init__(f"{what}: status 0x{status:08x}")
        self.status = status


class _Proto(asyncio.Protocol):
    """Length-prefixed frames in, futures by MessageId out."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            size = int.from_bytes(buf[pos + 1:pos + 4], "big")
            if n - pos - 4 < size:
                break
            frame = bytes(buf[pos + 4:pos + 4 + size])
            pos += 4 + size
            status = _U32.unpack_from(frame, 8)[0]
            if status == STATUS_PENDING and _U32.unpack_from(frame, 16)[0] & HeaderFlags.ASYNC_COMMAND:
                continue  # interim response; the final one follows
            mid = _U64.unpack_from(frame, 24)[0]
            fut = self.waiting.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionResetError("connection closed")
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(self.lost)
        self.waiting.clear()


class RawClient:
    """One connection, one session, one tree. ``await RawClient.open(...)`` then ``send``."""

    def __init__(self, proto: _Proto) -> None:
        self.proto = proto
        self.mid = 0
        self.session_id = 0
        self.tree_id = 0
        self.signer: Any = None
        self.sign_all = False
        self.dialect = 0
        self.share_capabilities = 0
        self.client_guid = os.urandom(16)

    @classmethod
    async def open(cls, host: str, port: int, user: str, password: str, share: str, *,
                   sign: bool = True) -> RawClient:
        loop = asyncio.get_running_loop()
        _t, proto = await loop.create_connection(_Proto, host, port)
        c = cls(proto)
        await c._negotiate()
        await c._session_setup(user, password)
        await c._tree_connect(rf"\\{host}\{share}")
        c.sign_all = sign
        return c

    @classmethod
    async def open_channel(cls, first: RawClient, host: str, port: int, user: str, password: str) -> RawClient:
        """A second channel of ``first``'s session ([MS-SMB2] 3.2.4.1.7 binding, multichannel): a new
        connection with the same ClientGuid, SESSION_SETUP with the BINDING flag signed with the
        session's key; the channel then signs with its own key. The tree connect is the session's."""
        loop = asyncio.get_running_loop()
        _t, proto = await loop.create_connection(_Proto, host, port)
        c = cls(proto)
        c.client_guid = first.client_guid
        await c._negotiate()
        c.session_id, c.signer = first.session_id, first.signer
        await c._session_setup(user, password, flags=SESSION_FLAG_BINDING)
        c.tree_id, c.sign_all, c.share_capabilities = first.tree_id, first.sign_all, first.share_capabilities
        return c

    def close(self) -> None:
        if self.proto.transport is not None:
            self.proto.transport.close()

    # --- framing --------------------------------------------------------------------------
    def build(self, command: int, body: bytes, *, sign: bool | None = None, credits: int = 64) -> tuple[int, bytes]:
        """The full SMB2 message (no transport prefix) with the next MessageId."""
        mid = self.mid
        self.mid += 1
        h = Header(command=command, credit_charge=1, credits=credits, message_id=mid,
                   session_id=self.session_id, tree_id=self.tree_id)
        msg = bytearray(h.encode())
        msg += body
        if (self.sign_all if sign is None else sign) and self.signer is not None:
            self.sign(msg)
        return mid, bytes(msg)

    def sign(self, msg: bytearray) -> None:
        flags = _U32.unpack_from(msg, 16)[0] | HeaderFlags.SIGNED
        _U32.pack_into(msg, 16, flags)
        msg[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 16] = bytes(16)
        msg[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 16] = self.signer.sign(bytes(msg))

    def send_msg(self, mid: int, msg: bytes | bytearray) -> asyncio.Future[bytes]:
        """Send one message; the future resolves to the whole response message."""
        if self.proto.lost is not None:
            raise self.proto.lost
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.proto.waiting[mid] = fut
        assert self.proto.transport is not None
        self.proto.transport.write(len(msg).to_bytes(4, "big") + msg)
        return fut

    async def call(self, command: int, body: bytes, **kw: Any) -> bytes:
        mid, msg = self.build(command, body, **kw)
        return await self.send_msg(mid, msg)

    # --- log on ---------------------------------------------------------------------------
    async def _negotiate(self) -> None:
        ctxs = (PreauthIntegrityCapabilities((HashAlgorithm.SHA_512,), os.urandom(32)),
                EncryptionCapabilities((Cipher.AES_128_GCM,)),
                SigningCapabilities((SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC)))
        body = NegotiateRequest((0x0300, 0x0302, 0x0311), 1, 0x7F, self.client_guid, ctxs).encode()
        mid, req = self.build(Command.NEGOTIATE, body, sign=False)
        resp = await self.send_msg(mid, req)
        neg = NegotiateResponse.decode(resp)
        self.dialect = neg.dialect_revision
        self.signing_alg: int | None = None
        for c in neg.negotiate_contexts:
            if isinstance(c, SigningCapabilities):
                self.signing_alg = c.signing_algorithms[0]
        self.preauth = preauth_hash(PREAUTH_ZERO, req, resp) if self.dialect == 0x0311 else PREAUTH_ZERO

    async def _session_setup(self, user: str, password: str, flags: int = 0) -> None:
        ntlm = spnego.client(user, password, protocol="ntlm")
        token = ntlm.step()
        pre = self.preauth
        while True:
            assert token is not None
            mid, req = self.build(Command.SESSION_SETUP, SessionSetupRequest(flags, 1, 0, 0, 0, token).encode(),
                                  sign=bool(flags & SESSION_FLAG_BINDING))
            pre = preauth_hash(pre, req)
            resp = await self.send_msg(mid, req)
            h = Header.decode(resp)
            self.session_id = h.session_id
            if h.status != STATUS_MORE_PROCESSING:
                break
            pre = preauth_hash(pre, resp)
            token = ntlm.step(bytes(SessionSetupResponse.decode(resp).security_buffer))
        if h.status != 0:
            raise SmbError(h.status, "SESSION_SETUP")
        keys = derive_keys(self.dialect, ntlm.session_key, pre if self.dialect == 0x0311 else None,
                           Cipher.AES_128_GCM)
        self.signer = make_signer(self.dialect, self.signing_alg, keys.signing_key)

    async def _tree_connect(self, path: str) -> None:
        resp = await self.call(Command.TREE_CONNECT, TreeConnectRequest(0, path).encode(), sign=True)
        h = Header.decode(resp)
        if h.status != 0:
            raise SmbError(h.status, f"TREE_CONNECT {path}")
        self.tree_id = h.tree_id
        self.share_capabilities = _U32.unpack_from(resp, HEADER_SIZE + 8)[0]
