"""SMB2 message bodies ([MS-SMB2] 2.2) and the Command → class tables the engine dispatches on.

``REQUEST_TYPES[command].decode(msg)`` decodes a request (``msg`` = one whole SMB2 message, header
included, see :mod:`sofs.wire.codec`); ``RESPONSE_TYPES`` is the reverse direction for our test
client. Both merge the file-operation commands of ``file_registry`` when it is importable.
"""
from __future__ import annotations

from sofs.wire.constants import Command
from sofs.wire.messages.ioctl import NO_FILE_ID, IoctlRequest, IoctlResponse
from sofs.wire.messages.lock import LockElement, LockRequest, LockResponse
from sofs.wire.messages.misc import (
    ECHO_BODY,
    CancelRequest,
    EchoRequest,
    EchoResponse,
    ErrorContext,
    ErrorResponse,
)
from sofs.wire.messages.negotiate import (
    CompressionCapabilities,
    EncryptionCapabilities,
    NegotiateContext,
    NegotiateRequest,
    NegotiateResponse,
    NetnameNegotiateContextId,
    PreauthIntegrityCapabilities,
    RawNegotiateContext,
    RdmaTransformCapabilities,
    SigningCapabilities,
    TransportCapabilities,
    find_context,
)
from sofs.wire.messages.notify import (
    ChangeNotifyRequest,
    ChangeNotifyResponse,
    FileNotifyInformation,
    decode_file_notify_information,
    encode_file_notify_information,
)
from sofs.wire.messages.oplock import (
    BreakAcknowledgment,
    BreakServerMessage,
    LeaseBreakAcknowledgment,
    LeaseBreakNotification,
    LeaseBreakResponse,
    OplockBreakAcknowledgment,
    OplockBreakNotification,
    OplockBreakResponse,
)
from sofs.wire.messages.session import (
    LogoffRequest,
    LogoffResponse,
    SessionSetupRequest,
    SessionSetupResponse,
)
from sofs.wire.messages.tree import (
    TreeConnectContext,
    TreeConnectRequest,
    TreeConnectResponse,
    TreeDisconnectRequest,
    TreeDisconnectResponse,
)

REQUEST_TYPES: dict[int, type] = {
    Command.NEGOTIATE: NegotiateRequest,
    Command.SESSION_SETUP: SessionSetupRequest,
    Command.LOGOFF: LogoffRequest,
    Command.TREE_CONNECT: TreeConnectRequest,
    Command.TREE_DISCONNECT: TreeDisconnectRequest,
    Command.LOCK: LockRequest,
    Command.IOCTL: IoctlRequest,
    Command.CANCEL: CancelRequest,
    Command.ECHO: EchoRequest,
    Command.CHANGE_NOTIFY: ChangeNotifyRequest,
    Command.OPLOCK_BREAK: BreakAcknowledgment,
}
"""Command → request decoder (``.decode(msg)``). OPLOCK_BREAK yields an oplock or a lease ack."""

RESPONSE_TYPES: dict[int, type] = {
    Command.NEGOTIATE: NegotiateResponse,
    Command.SESSION_SETUP: SessionSetupResponse,
    Command.LOGOFF: LogoffResponse,
    Command.TREE_CONNECT: TreeConnectResponse,
    Command.TREE_DISCONNECT: TreeDisconnectResponse,
    Command.LOCK: LockResponse,
    Command.IOCTL: IoctlResponse,
    Command.ECHO: EchoResponse,
    Command.CHANGE_NOTIFY: ChangeNotifyResponse,
    Command.OPLOCK_BREAK: BreakServerMessage,
}
"""Command → success-response decoder (error bodies are :class:`ErrorResponse`)."""

try:
    from sofs.wire.messages.file_registry import FILE_REQUEST_TYPES
except ImportError:  # the file-operation half is not there yet
    pass
else:
    REQUEST_TYPES.update(FILE_REQUEST_TYPES)
try:
    from sofs.wire.messages.file_registry import FILE_RESPONSE_TYPES
except ImportError:
    pass
else:
    RESPONSE_TYPES.update(FILE_RESPONSE_TYPES)

__all__ = [
    "ECHO_BODY", "NO_FILE_ID", "REQUEST_TYPES", "RESPONSE_TYPES",
    "BreakAcknowledgment", "BreakServerMessage", "CancelRequest", "ChangeNotifyRequest",
    "ChangeNotifyResponse", "CompressionCapabilities", "EchoRequest", "EchoResponse",
    "EncryptionCapabilities", "ErrorContext", "ErrorResponse", "FileNotifyInformation", "IoctlRequest",
    "IoctlResponse", "LeaseBreakAcknowledgment", "LeaseBreakNotification", "LeaseBreakResponse",
    "LockElement", "LockRequest", "LockResponse", "LogoffRequest", "LogoffResponse", "NegotiateContext",
    "NegotiateRequest", "NegotiateResponse", "NetnameNegotiateContextId", "OplockBreakAcknowledgment",
    "OplockBreakNotification", "OplockBreakResponse", "PreauthIntegrityCapabilities",
    "RawNegotiateContext", "RdmaTransformCapabilities", "SessionSetupRequest", "SessionSetupResponse",
    "SigningCapabilities", "TransportCapabilities", "TreeConnectContext", "TreeConnectRequest",
    "TreeConnectResponse", "TreeDisconnectRequest", "TreeDisconnectResponse",
    "decode_file_notify_information", "encode_file_notify_information", "find_context",
]
