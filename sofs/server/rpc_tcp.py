"""DCE/RPC over TCP (ncacn_ip_tcp, [C706] 12, [MS-RPCE] 2.1.1.1) for one interface: the Witness service.

Each connection is an association: bind / alter_context negotiate NDR 2.0 for the service's syntax
(:func:`sofs.rpc.dcerpc.negotiate_context`), requests are reassembled from their fragments and each
call runs as its own task, so a pending AsyncNotify never blocks the UnRegister or GetInterfaceList
sent after it on the same connection. Responses are written as the calls complete, each call's
fragments together.

Authentication ([MS-RPCE] 3.3.1.5.2): a bind without a sec_trailer makes an anonymous association; a
bind with one (NTLMSSP or SPNEGO/NTLM at CONNECT, PKT_INTEGRITY or PKT_PRIVACY, as Windows witness
clients use) is accepted with the security contexts of ``auth`` (the node's user accounts) and its
requests and responses are verified / signed / sealed (:mod:`sofs.rpc.dcerpc_security`). Without
``auth`` (a node that serves no SMB has no accounts) authenticated binds get a bind_nak.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from sofs.rpc.dcerpc import (
    HEADER_SIZE,
    NCA_S_FAULT_NDR,
    NCA_S_OP_RNG_ERROR,
    NCA_S_PROTO_ERROR,
    NCA_S_UNKNOWN_IF,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    RESULT_ACCEPTANCE,
    Bind,
    PduError,
    PduHeader,
    PType,
    Request,
    RpcFault,
    SyntaxId,
    encode_bind_ack,
    encode_fault,
    negotiate_context,
)
from sofs.rpc.dcerpc_auth import split_auth
from sofs.rpc.dcerpc_security import Acceptor, AssociationSecurity, SecurityFault, bind_auth, with_bind_auth
from sofs.rpc.ndr import NdrError

log = logging.getLogger("sofs.rpc.tcp")
MAX_FRAG = 5840
MAX_REQUEST = 1 << 20


class AsyncRpcService(Protocol):
    syntax: SyntaxId

    def call(self, opnum: int, stub: bytes) -> Awaitable[bytes]: ...


class RpcTcpProtocol(asyncio.Protocol):
    def __init__(self, service: AsyncRpcService, port: int, acceptor: Acceptor | None = None) -> None:
        self.service = service
        self.port = port
        self.security = AssociationSecurity(acceptor)
        self.transport: asyncio.Transport | None = None
        self._in = bytearray()
        self._contexts: set[int] = set()
        self._max_xmit = MAX_FRAG
        self._partial: dict[int, tuple[int, int, bytearray]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        for t in self._tasks:
            t.cancel()
        self.transport = None

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self._in += data
        while len(self._in) >= HEADER_SIZE:
            frag = int.from_bytes(self._in[8:10], "little")
            if frag < HEADER_SIZE:
                self._send(encode_fault(PduHeader.decode(self._in).call_id, NCA_S_PROTO_ERROR))
                if self.transport is not None:
                    self.transport.close()
                self._in.clear()
                return
            if len(self._in) < frag:
                return
            pdu = bytes(self._in[:frag])
            del self._in[:frag]
            try:
                self._pdu(pdu)
            except PduError as e:
                self._send(encode_fault(e.call_id, NCA_S_PROTO_ERROR))

    def _pdu(self, pdu: bytes) -> None:
        hdr = PduHeader.decode(pdu)
        if hdr.version != 5 or hdr.drep[0] & 0xF0 != 0x10:
            self._send(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        if hdr.ptype in (PType.BIND, PType.ALTER_CONTEXT):
            self._bind(pdu, hdr)
        elif hdr.ptype == PType.REQUEST:
            self._request(pdu, hdr)
        elif hdr.ptype == PType.AUTH3:
            if hdr.auth_length:  # [C706] rpc_auth_3: header, 4 octets of padding, sec_trailer, token
                self.security.auth3(split_auth(pdu, hdr, HEADER_SIZE))
        elif hdr.ptype not in (PType.CO_CANCEL, PType.ORPHANED, PType.SHUTDOWN):
            self._send(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))

    def _fault_and_close(self, call_id: int, status: int) -> None:
        """A security fault: the association's protection can no longer be trusted."""
        self._send(encode_fault(call_id, status))
        if self.transport is not None:
            self.transport.close()

    def _bind(self, pdu: bytes, hdr: PduHeader) -> None:
        bind = Bind.decode(pdu)
        alter = hdr.ptype == PType.ALTER_CONTEXT
        auth = bind_auth(self.security, pdu, hdr)
        if auth.refusal is not None:
            self._send(auth.refusal)
            if auth.close and self.transport is not None:
                self.transport.close()
            return
        if not alter:
            self._max_xmit = max(512, min(bind.max_recv_frag, MAX_FRAG))
        results = []
        for c in bind.contexts:
            res = negotiate_context(c, self.service.syntax)
            if res.result == RESULT_ACCEPTANCE:
                self._contexts.add(c.context_id)
            results.append(res)
        ack = encode_bind_ack(hdr.call_id, self._max_xmit, max(512, min(bind.max_xmit_frag, MAX_FRAG)),
                              bind.assoc_group_id or 0x12345, "" if alter else str(self.port), results,
                              alter_context=alter)
        self._send(with_bind_auth(self.security, ack, auth))

    def _request(self, pdu: bytes, hdr: PduHeader) -> None:
        req = Request.decode(pdu, hdr)
        try:
            stub = self.security.request_stub(pdu, hdr)
        except SecurityFault as e:
            self._fault_and_close(hdr.call_id, e.status)
            return
        except RpcFault as e:
            self._send(encode_fault(hdr.call_id, e.status))
            return
        if req.context_id not in self._contexts:
            self._send(encode_fault(hdr.call_id, NCA_S_UNKNOWN_IF, req.context_id))
            return
        if req.flags & PFC_FIRST_FRAG:
            self._partial[req.call_id] = (req.context_id, req.opnum, bytearray(stub))
        elif req.call_id in self._partial:
            self._partial[req.call_id][2].extend(stub)
        else:
            self._send(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        ctx_id, opnum, stub = self._partial[req.call_id]
        if len(stub) > MAX_REQUEST:
            del self._partial[req.call_id]
            self._send(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        if not req.flags & PFC_LAST_FRAG:
            return
        del self._partial[req.call_id]
        task = asyncio.create_task(self._dispatch(req.call_id, ctx_id, opnum, bytes(stub)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, call_id: int, ctx_id: int, opnum: int, stub: bytes) -> None:
        try:
            out = await self.service.call(opnum, stub)
        except RpcFault as e:
            self._send(encode_fault(call_id, e.status, ctx_id, did_not_execute=e.status == NCA_S_OP_RNG_ERROR))
            return
        except NdrError:
            self._send(encode_fault(call_id, NCA_S_FAULT_NDR, ctx_id))
            return
        except Exception:
            log.exception("RPC call %d failed", opnum)
            self._send(encode_fault(call_id, NCA_S_PROTO_ERROR, ctx_id, did_not_execute=False))
            return
        self._send(b"".join(self.security.responses(call_id, ctx_id, out, self._max_xmit)))


async def start_rpc_tcp(service_factory: Callable[[], AsyncRpcService], addresses: list[str],
                        port: int, auth: Callable[[], Acceptor | None] | None = None,
                        ) -> list[asyncio.base_events.Server]:
    """Listen on ``port`` of every address (one service object per connection); ``auth`` gives the
    acceptor for authenticated binds at each new connection (None: anonymous binds only)."""
    loop = asyncio.get_running_loop()
    servers = []

    def protocol() -> RpcTcpProtocol:
        return RpcTcpProtocol(service_factory(), port, auth() if auth is not None else None)

    for a in addresses:
        try:
            servers.append(await loop.create_server(protocol, a, port, reuse_address=True))
        except OSError as e:
            log.warning("RPC over TCP cannot listen on %s:%d: %s", a, port, e)
    return servers


async def stop_rpc_tcp(servers: list[asyncio.base_events.Server]) -> None:
    for s in servers:
        s.close()
        with contextlib.suppress(Exception):
            await s.wait_closed()
