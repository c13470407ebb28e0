"""An in-memory SMB2 client for tests: drives a real SmbConnection through a fake transport.

No sockets, no threads: requests are encoded with our wire codecs, handed to the protocol's
``get_buffer``/``buffer_updated``, and the bytes the server writes are parsed back. Signing and
session keys are computed with pyspnego's client + our crypto, so the server's checks are exercised.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import spnego

from sofs.config import ServerConfig, ShareConfig, UserConfig
from sofs.crypto.kdf import derive_keys
from sofs.crypto.preauth import PREAUTH_ZERO, preauth_hash
from sofs.crypto.signing import make_signer
from sofs.engine.framing import FrameReader, frame_header
from sofs.server.app import build_state
from sofs.server.connection import SmbConnection
from sofs.wire.constants import Cipher, Command, Dialect, HashAlgorithm, HeaderFlags, SigningAlgorithm
from sofs.wire.header import HEADER_SIZE, SIGNATURE_OFFSET, Header
from sofs.wire.messages import (
    EncryptionCapabilities,
    NegotiateRequest,
    PreauthIntegrityCapabilities,
    SessionSetupRequest,
    SessionSetupResponse,
    SigningCapabilities,
)
from sofs.wire.status import NtStatus


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 445)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def writelines(self, parts: list[Any]) -> None:
        for p in parts:
            self.out += p

    def write(self, data: bytes) -> None:
        self.out += data

    def abort(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


@dataclass
class Resp:
    header: Header
    msg: bytes

    @property
    def status(self) -> int:
        return self.header.status


@dataclass
class MemClient:
    proto: SmbConnection
    transport: FakeTransport
    reader: FrameReader = field(default_factory=FrameReader)
    next_mid: int = 0
    session_id: int = 0
    signer: Any = None
    preauth: bytes = PREAUTH_ZERO
    dialect: int = 0

    @classmethod
    def create(cls, share_path: str, **server_opts: Any) -> MemClient:
        cfg = ServerConfig(shares=[ShareConfig("data", share_path)], users=[UserConfig("alice", "secret")],
                           **server_opts)
        server = build_state(cfg)
        proto = SmbConnection(server)
        t = FakeTransport()
        proto.connection_made(t)  # type: ignore[arg-type]
        return cls(proto, t)

    @classmethod
    def attach(cls, other: MemClient) -> MemClient:
        """A second connection to the same server as ``other``."""
        proto = SmbConnection(other.proto.server)
        t = FakeTransport()
        proto.connection_made(t)  # type: ignore[arg-type]
        return cls(proto, t)

    def send_raw(self, frame_payload: bytes) -> None:
        data = frame_header(len(frame_payload)) + frame_payload
        pos = 0
        while pos < len(data) and not self.transport.closed:
            buf = self.proto.get_buffer(-1)
            n = min(len(buf), len(data) - pos)
            buf[:n] = data[pos:pos + n]
            pos += n
            self.proto.buffer_updated(n)

    async def settle(self) -> list[Resp]:
        for _ in range(50):
            await asyncio.sleep(0)
        frames = self.reader.feed(bytes(self.transport.out))
        self.transport.out.clear()
        out = []
        for f in frames:
            pos = 0
            while True:
                h = Header.decode(f, pos)
                end = pos + h.next_command if h.next_command else len(f)
                out.append(Resp(h, bytes(f[pos:end])))
                if not h.next_command:
                    break
                pos = end
        return out

    def request(self, command: int, body: bytes, credits: int = 32, sign: bool = False,
                tree_id: int = 0, flags: int = 0, charge: int = 1) -> bytes:
        h = Header(command=command, credit_charge=charge, credits=credits, message_id=self.next_mid,
                   session_id=self.session_id, tree_id=tree_id, flags=flags)
        self.next_mid += max(charge, 1)
        msg = bytearray(h.encode() + body)
        if sign and self.signer is not None:
            msg[16:20] = (int.from_bytes(msg[16:20], "little") | HeaderFlags.SIGNED).to_bytes(4, "little")
            msg[SIGNATURE_OFFSET:SIGNATURE_OFFSET + 16] = self.signer.sign(bytes(msg))
        return bytes(msg)

    async def call(self, command: int, body: bytes, **kw: Any) -> Resp:
        self.send_raw(self.request(command, body, **kw))
        resps = await self.settle()
        assert resps, "no response"
        return resps[-1]

    async def negotiate(self, dialects: tuple[int, ...] = (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)) -> Resp:
        ctxs: tuple[Any, ...] = ()
        if Dialect.SMB3_1_1 in dialects:
            ctxs = (PreauthIntegrityCapabilities((HashAlgorithm.SHA_512,), b"s" * 32),
                    EncryptionCapabilities((Cipher.AES_128_GCM,)),
                    SigningCapabilities((SigningAlgorithm.AES_GMAC, SigningAlgorithm.AES_CMAC)))
        req = self.request(Command.NEGOTIATE, NegotiateRequest(dialects, 1, 0x7F, b"c" * 16, ctxs).encode())
        self.send_raw(req)
        (resp,) = await self.settle()
        self.dialect = int.from_bytes(resp.msg[HEADER_SIZE + 4:HEADER_SIZE + 6], "little")
        self.preauth = preauth_hash(PREAUTH_ZERO, req, resp.msg)
        return resp

    async def login(self, user: str = "alice", password: str = "secret", previous_session_id: int = 0,
                    flags: int = 0, sign: bool = False) -> Resp:
        c = spnego.client(user, password, protocol="ntlm")
        token = c.step()
        pre = self.preauth
        while True:
            req = self.request(Command.SESSION_SETUP,
                               SessionSetupRequest(flags, 1, 0, 0, previous_session_id, token).encode(),
                               sign=sign)
            pre = preauth_hash(pre, req)
            self.send_raw(req)
            (resp,) = await self.settle()
            self.session_id = resp.header.session_id
            if resp.status != NtStatus.MORE_PROCESSING_REQUIRED:
                break
            pre = preauth_hash(pre, resp.msg)
            token = c.step(bytes(SessionSetupResponse.decode(resp.msg).security_buffer))
        if resp.status == 0:
            keys = derive_keys(self.dialect, c.session_key, pre if self.dialect == 0x0311 else None,
                               Cipher.AES_128_GCM)
            alg = SigningAlgorithm.AES_GMAC if self.dialect == 0x0311 else None
            self.signer = make_signer(self.dialect, alg, keys.signing_key)
        return resp
