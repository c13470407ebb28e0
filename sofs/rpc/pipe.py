"""Named pipe endpoints of IPC$ ([MS-SMB2] 3.3.5.9 pipes, [MS-FSCC] FSCTL_PIPE_TRANSCEIVE).

A :class:`NamedPipe` is one open of ``\\srvsvc`` or ``\\wkssvc``: a pure, message-mode byte pipe
with a DCE/RPC server behind it. The SMB handlers map WRITE → :meth:`NamedPipe.write`, READ →
:meth:`NamedPipe.read`, IOCTL FSCTL_PIPE_TRANSCEIVE → :meth:`NamedPipe.transceive`.

DCE/RPC-level authentication (a bind with a sec_trailer, as ``rpcclient -S``/smbtorture ``[sign]`` or
``[seal]`` send inside the SMB session) is served as on TCP (:mod:`sofs.rpc.dcerpc_security`).

Read semantics (message mode): each response PDU is one message; a read returns bytes of the first
queued message only, with STATUS_BUFFER_OVERFLOW when part of that message is left for the next
read, and ``(b"", STATUS_PIPE_EMPTY)`` when nothing is queued (a handler may instead keep the READ
pending until data arrives; our services always answer synchronously inside ``write``).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from sofs.rpc.dcerpc import (
    BIND_NAK_PROTOCOL_VERSION_NOT_SUPPORTED,
    HEADER_SIZE,
    NCA_S_FAULT_NDR,
    NCA_S_OP_RNG_ERROR,
    NCA_S_PROTO_ERROR,
    NCA_S_UNKNOWN_IF,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    RESULT_ACCEPTANCE,
    Bind,
    ContextElement,
    ContextResult,
    PduError,
    PduHeader,
    PType,
    Request,
    RpcFault,
    SyntaxId,
    encode_bind_ack,
    encode_bind_nak,
    encode_fault,
    negotiate_context,
)
from sofs.rpc.dcerpc_auth import split_auth
from sofs.rpc.dcerpc_security import Acceptor, AssociationSecurity, bind_auth, with_bind_auth
from sofs.rpc.ndr import NdrError
from sofs.rpc.srvsvc import ShareInfoSource, SrvsvcService
from sofs.rpc.wkssvc import WkssvcService
from sofs.wire.status import NtStatus

MAX_FRAG = 4280  # what Windows and Samba offer for ncacn_np
MAX_REQUEST = 1 << 20  # reassembled request stub limit


class RpcService(Protocol):
    """A DCE/RPC interface served on a pipe."""

    syntax: SyntaxId
    pipe_name: str

    def call(self, opnum: int, stub: bytes) -> bytes:
        """Run ``opnum`` on NDR ``stub``; return the response stub or raise RpcFault / NdrError."""
        ...


class NamedPipe:
    """One open of an RPC pipe (pure: no I/O, no clock)."""

    def __init__(self, service: RpcService, assoc_group_id: int = 0x53F0, acceptor: Acceptor | None = None) -> None:
        self.service = service
        self.security = AssociationSecurity(acceptor)
        self._assoc_group_id = assoc_group_id
        self._in = bytearray()
        self._out: deque[bytes] = deque()
        self._head_pos = 0
        self._contexts: set[int] = set()
        self._max_xmit = MAX_FRAG
        self._partial: tuple[int, int, int, bytearray] | None = None  # call_id, ctx, opnum, stub

    # --- byte pipe ---------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Feed client bytes; complete PDUs are processed at once. Returns the bytes accepted."""
        self._in += data
        while len(self._in) >= HEADER_SIZE:
            frag_length = int.from_bytes(self._in[8:10], "little")
            if frag_length < HEADER_SIZE:
                hdr = PduHeader.decode(self._in)
                self._in.clear()
                self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
                break
            if len(self._in) < frag_length:
                break
            pdu = bytes(self._in[:frag_length])
            del self._in[:frag_length]
            self._process(pdu)
        return len(data)

    def read(self, max_len: int) -> tuple[bytes, int]:
        """Up to ``max_len`` bytes of the next message, and the NTSTATUS for the READ response."""
        if not self._out:
            return b"", NtStatus.PIPE_EMPTY
        head = self._out[0]
        chunk = head[self._head_pos : self._head_pos + max_len]
        self._head_pos += len(chunk)
        if self._head_pos >= len(head):
            self._out.popleft()
            self._head_pos = 0
            return chunk, NtStatus.SUCCESS
        return chunk, NtStatus.BUFFER_OVERFLOW

    def transceive(self, data: bytes | bytearray | memoryview, max_out: int) -> tuple[bytes, int]:
        """FSCTL_PIPE_TRANSCEIVE: write ``data`` then read one message (BUFFER_OVERFLOW if longer)."""
        self.write(data)
        if not self._out:
            return b"", NtStatus.SUCCESS
        return self.read(max_out)

    def available(self) -> int:
        """Bytes readable now (FSCTL_PIPE_PEEK ReadDataAvailable)."""
        return sum(len(m) for m in self._out) - self._head_pos

    # --- DCE/RPC -----------------------------------------------------------------------------
    def _process(self, pdu: bytes) -> None:
        hdr = PduHeader.decode(pdu)
        if hdr.version != 5 or hdr.version_minor > 1 or hdr.drep[0] & 0xF0 != 0x10:
            if hdr.ptype in (PType.BIND, PType.ALTER_CONTEXT):
                self._out.append(encode_bind_nak(hdr.call_id, BIND_NAK_PROTOCOL_VERSION_NOT_SUPPORTED))
            else:
                self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        try:
            if hdr.ptype in (PType.BIND, PType.ALTER_CONTEXT):
                self._bind(pdu, hdr)
            elif hdr.ptype == PType.REQUEST:
                self._request(pdu, hdr)
            elif hdr.ptype == PType.AUTH3:
                if hdr.auth_length:  # [C706] rpc_auth_3: header, 4 octets of padding, sec_trailer, token
                    self.security.auth3(split_auth(pdu, hdr, HEADER_SIZE))
            elif hdr.ptype in (PType.CO_CANCEL, PType.ORPHANED, PType.SHUTDOWN):
                if hdr.ptype == PType.ORPHANED:
                    self._partial = None
            else:
                self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
        except PduError:
            self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))

    def _negotiate(self, ctx: ContextElement) -> ContextResult:
        res = negotiate_context(ctx, self.service.syntax)
        if res.result == RESULT_ACCEPTANCE:
            self._contexts.add(ctx.context_id)
        return res

    def _bind(self, pdu: bytes, hdr: PduHeader) -> None:
        bind = Bind.decode(pdu)
        alter = hdr.ptype == PType.ALTER_CONTEXT
        auth = bind_auth(self.security, pdu, hdr)
        if auth.refusal is not None:
            self._out.append(auth.refusal)
            return
        if not alter:
            self._max_xmit = max(512, min(bind.max_recv_frag, MAX_FRAG))
            if bind.assoc_group_id:
                self._assoc_group_id = bind.assoc_group_id
        results = [self._negotiate(c) for c in bind.contexts]
        sec_addr = "" if alter else f"\\PIPE\\{self.service.pipe_name}"
        ack = encode_bind_ack(hdr.call_id, self._max_xmit, max(512, min(bind.max_xmit_frag, MAX_FRAG)),
                              self._assoc_group_id, sec_addr, results, alter_context=alter)
        self._out.append(with_bind_auth(self.security, ack, auth))

    def _request(self, pdu: bytes, hdr: PduHeader) -> None:
        req = Request.decode(pdu, hdr)
        try:
            stub = self.security.request_stub(pdu, hdr)
        except RpcFault as e:  # a SecurityFault also fails the association: its later calls fault too
            self._out.append(encode_fault(hdr.call_id, e.status))
            return
        if req.context_id not in self._contexts:
            self._out.append(encode_fault(hdr.call_id, NCA_S_UNKNOWN_IF, req.context_id))
            return
        first, last = bool(req.flags & PFC_FIRST_FRAG), bool(req.flags & PFC_LAST_FRAG)
        if first:
            self._partial = (req.call_id, req.context_id, req.opnum, bytearray(stub))
        elif self._partial is None or self._partial[0] != req.call_id:
            self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        else:
            self._partial[3].extend(stub)
        if len(self._partial[3]) > MAX_REQUEST:
            self._partial = None
            self._out.append(encode_fault(hdr.call_id, NCA_S_PROTO_ERROR))
            return
        if not last:
            return
        call_id, ctx_id, opnum, stub = self._partial
        self._partial = None
        self._dispatch(call_id, ctx_id, opnum, bytes(stub))

    def _dispatch(self, call_id: int, ctx_id: int, opnum: int, stub: bytes) -> None:
        try:
            out = self.service.call(opnum, stub)
        except RpcFault as e:
            self._out.append(encode_fault(call_id, e.status, ctx_id, did_not_execute=e.status == NCA_S_OP_RNG_ERROR))
            return
        except NdrError:
            self._out.append(encode_fault(call_id, NCA_S_FAULT_NDR, ctx_id))
            return
        self._out.extend(self.security.responses(call_id, ctx_id, out, self._max_xmit))


PIPE_NAMES = ("srvsvc", "wkssvc")


def open_pipe(
    name: str,
    *,
    shares: ShareInfoSource,
    server_name: str,
    domain_name: str,
    server_comment: str = "",
    assoc_group_id: int = 0x53F0,
    acceptor: Acceptor | None = None,
) -> NamedPipe | None:
    """A new pipe endpoint for a CREATE of ``name`` on IPC$, or None (→ OBJECT_NAME_NOT_FOUND).
    ``acceptor`` checks DCE/RPC-level authentication (binds with a sec_trailer; refused without it).

    Accepts ``srvsvc``, ``\\srvsvc``, ``PIPE\\srvsvc`` (any case); likewise wkssvc.
    """
    key = name.replace("/", "\\").strip("\\").lower()
    key = key.removeprefix("pipe\\")
    factories: dict[str, Callable[[], RpcService]] = {
        "srvsvc": lambda: SrvsvcService(shares, server_name, server_comment),
        "wkssvc": lambda: WkssvcService(server_name, domain_name),
    }
    factory = factories.get(key)
    return NamedPipe(factory(), assoc_group_id, acceptor) if factory else None
