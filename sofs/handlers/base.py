"""What every handler sees: the request context, the reply type and the error type.

A handler is ``async def handle_x(ctx: Ctx, req: XRequest) -> Reply`` (one module per command group,
like Samba's ``smb2_*.c``). The central dispatcher (:mod:`sofs.handlers.dispatch`) has already checked
what the command table declares (session, tree connect, signing, encryption), decoded the request, and
resolved the compound-related ids; the handler parses nothing else and trusts ``req``.

Errors are raised as :class:`SmbError` (a peer fault, answered with that NTSTATUS and an ERROR
response body); any other exception is our bug: it is logged with the request and answered with
STATUS_INTERNAL_ERROR, the connection stays up.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sofs.engine.state import ConnectionState, Session, TreeConnect
from sofs.wire.codec import Buffer
from sofs.wire.header import Header
from sofs.wire.status import NtStatus

if TYPE_CHECKING:
    from sofs.server.state import ServerState

FILE_ID_RELATED = b"\xff" * 16
"""[MS-SMB2] 3.2.4.1.4: in a related compound request, "the FileId of the previous request"."""
ERROR_BODY = b"\x09\x00\x00\x00\x00\x00\x00\x00\x00"
"""[MS-SMB2] 2.2.2 ERROR response with no error data (StructureSize 9, one zero byte)."""
FLAGS_RELATED = 0x4  # [MS-SMB2] 2.2.1.2 SMB2_FLAGS_RELATED_OPERATIONS


def named_file_id(related: int, previous: bytes | None, fid: Buffer) -> bytes | None:
    """The FileId a request names by ``fid`` (``related``: nonzero for a related request, e.g. its
    header's ``flags & FLAGS_RELATED``): a related request's is the
    compound's previous FileId (``previous``) whatever it says, as Samba's compat_chain_fsp (Windows
    clients always send the 0xFF.. marker; smb2.compound_async.getinfo_middle); None for the marker
    with no previous FileId ([MS-SMB2] 3.3.5.2.7.2)."""
    if related:
        if previous is not None:
            return previous
        if fid == FILE_ID_RELATED:
            return None
    return fid if type(fid) is bytes else bytes(fid)


class SmbError(Exception):
    """A request fails with ``status``; ``body`` replaces the plain ERROR response body if given."""

    def __init__(self, status: int, message: str = "", body: bytes | None = None) -> None:
        super().__init__(message or NtStatus(status).name if status in NtStatus._value2member_map_
                         else message)
        self.status = int(status)
        self.body = body


class ConnectionAbort(Exception):
    """Raised by a handler when [MS-SMB2] says the connection must be dropped (no response)."""


class ConnectionHandoff(ConnectionAbort):
    """Raised by a handler when the request belongs to another worker process of the server (a
    binding SESSION_SETUP for a session it holds): the connection moves there, with this request."""

    def __init__(self, worker: int) -> None:
        super().__init__(f"to worker {worker}")
        self.worker = worker


class ConnectionRelay(ConnectionAbort):
    """Raised by a handler when the request belongs to another node of the cluster (a binding
    SESSION_SETUP, [MS-SMB2] 3.3.5.5.2, for a session that node holds): the connection is carried
    there with this request (:mod:`sofs.server.channel_relay`)."""

    def __init__(self, node: int) -> None:
        super().__init__(f"to cluster node {node}")
        self.node = node


@dataclass(slots=True)
class Reply:
    """A handler's answer: status (SUCCESS or a warning/info status with a body) and body pieces."""

    body: Sequence[Buffer]
    status: int = 0


def reply(body: Buffer, status: int = 0) -> Reply:
    return Reply((body,), status)


@dataclass(slots=True)
class ChainState:
    """What a related compound request inherits from the previous one ([MS-SMB2] 3.3.5.2.7.2).

    The rules are those of Windows as smbtorture's smb2.compound tests pin them (and Samba's
    ``smbd_smb2_request_dispatch``): a related request uses the *previous request's* session and tree
    (0 = the previous lookup failed, or there was no previous request: STATUS_INVALID_PARAMETER); once
    a CREATE in the compound failed, every later related request fails with the CREATE's status
    (``create_error``); the related FileId is the one the previous request used or created (reset by
    each unrelated request), STATUS_FILE_CLOSED when there is none.
    """

    session_id: int = 0
    tree_id: int = 0
    file_id: bytes | None = None
    status: int = 0
    create_error: int = 0
    index: int = 0
    last: bool = True  # the current request is the last of its compound


class Ctx:
    """Per-request context handed to handlers."""

    __slots__ = (
        "_go_async",
        "async_id",
        "cancel_requested",
        "chain",
        "conn",
        "driver",
        "encrypted",
        "header",
        "msg",
        "open",
        "server",
        "session",
        "tree",
    )

    def __init__(self, server: ServerState, conn: ConnectionState, header: Header, msg: memoryview,
                 chain: ChainState, encrypted: bool, driver: Any,
                 go_async: Callable[[Ctx], Awaitable[None]] | None = None) -> None:
        self.server = server
        self.conn = conn
        self.header = header
        self.msg = msg
        self.session: Session | None = None
        self.tree: TreeConnect | None = None
        self.open: Any = None  # the handle the request's FileId names, looked up by dispatch (opens.lookup_open)
        self.chain = chain
        self.encrypted = encrypted
        self.driver = driver  # the connection driver (sofs.server.connection.SmbConnection)
        self.async_id = 0
        self.cancel_requested = False  # a CANCEL arrived before the request went async
        self._go_async = go_async

    def file_id(self, fid: bytes) -> bytes:
        """Resolve a FileId (16 bytes), substituting the compound's previous FileId for the marker."""
        named = named_file_id(self.header.is_related, self.chain.file_id, fid)
        if named is None:
            raise SmbError(NtStatus.FILE_CLOSED, "related FileId without a previous one")
        return named

    def set_file_id(self, fid: bytes) -> None:
        """Record the FileId this request used/created, for the following related requests."""
        self.chain.file_id = fid

    async def go_async(self) -> None:
        """Send the interim STATUS_PENDING response now; the final one follows later ([MS-SMB2] 3.3.4.2).

        Raises SmbError(INTERNAL_ERROR) for a request that is not the last of a compound (only a
        CREATE may go async there, [MS-SMB2] 3.3.5.2.7 note; smb2.compound.interim2) and
        SmbError(CANCELLED) if a CANCEL for it arrived while it still ran synchronously.
        """
        if self.async_id == 0 and self._go_async is not None:
            await self._go_async(self)

    going_async = go_async
    """:class:`sofs.handlestate.api.AsyncHook`: the volume's coordinator is about to wait for another
    client (a break acknowledgment, a lock, a change)."""

    @property
    def dialect(self) -> int:
        return self.conn.dialect
