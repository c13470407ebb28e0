"""CREATE contexts: what the request asked for, and the response contexts we answer with.

[MS-SMB2] 3.3.5.9.x. Answered here: MxAc (maximal access, 3.3.5.9.5), QFid (on-disk id,
3.3.5.9.9), AlSi (allocation size, applied by the open), ExtA (EAs for a new file), SecD (security
descriptor for a new file), TWrp (no snapshots: OBJECT_NAME_NOT_FOUND as Samba without shadow
copies). Ignored as Windows does: unknown tags, AppInstanceId/Version (recorded for issue 5).

Extension points for durable handles and leases (issues 4/5): the parsed durable/lease payloads are
kept in :class:`CreateContexts` (``durable_v1``, ``durable_v2``, ``reconnect_v1``, ``reconnect_v2``,
``lease``); a handler registered in ``server.extensions["create_context_handlers"]`` (a list of
``f(ctx, req, contexts, open, action)`` returning a ``list[CreateContext]`` or an awaitable of one,
e.g. an ``async def``) may add response contexts after the open succeeds. Without one, durable requests are silently not granted (no response
context), which [MS-SMB2] allows; lease requests get no lease (oplock level NONE).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sofs.handlers.base import SmbError
from sofs.wire.errors import WireError
from sofs.wire.messages.create_contexts import (
    AllocationSize,
    AppInstanceId,
    AppInstanceVersion,
    CreateContext,
    CreateEaBuffer,
    CreateSdBuffer,
    DurableHandleReconnect,
    DurableHandleReconnectV2,
    DurableHandleRequest,
    DurableHandleRequestV2,
    LeaseV1,
    LeaseV2,
    MaximalAccessRequest,
    MaximalAccessResponse,
    QueryOnDiskIdRequest,
    QueryOnDiskIdResponse,
    TimewarpToken,
    contexts_by_name,
    decode_request_context,
    to_context,
)
from sofs.wire.status import NtStatus


@dataclass
class CreateContexts:
    """The typed request contexts of one CREATE (None = absent)."""

    maximal_access: MaximalAccessRequest | None = None
    query_on_disk_id: bool = False
    allocation_size: int | None = None
    eas: CreateEaBuffer | None = None
    sd: CreateSdBuffer | None = None
    timewarp: TimewarpToken | None = None
    durable_v1: DurableHandleRequest | None = None
    durable_v2: DurableHandleRequestV2 | None = None
    reconnect_v1: DurableHandleReconnect | None = None
    reconnect_v2: DurableHandleReconnectV2 | None = None
    lease: LeaseV1 | LeaseV2 | None = None
    app_instance_id: AppInstanceId | None = None
    app_instance_version: AppInstanceVersion | None = None
    raw: dict[bytes, CreateContext] = field(default_factory=dict)


_SLOTS: dict[type, str] = {
    MaximalAccessRequest: "maximal_access",
    CreateEaBuffer: "eas",
    CreateSdBuffer: "sd",
    TimewarpToken: "timewarp",
    DurableHandleRequest: "durable_v1",
    DurableHandleRequestV2: "durable_v2",
    DurableHandleReconnect: "reconnect_v1",
    DurableHandleReconnectV2: "reconnect_v2",
    LeaseV1: "lease",
    LeaseV2: "lease",
    AppInstanceId: "app_instance_id",
    AppInstanceVersion: "app_instance_version",
}


def parse_contexts(contexts: list[CreateContext], dialect: int = 0x0311) -> CreateContexts:
    """Decode the request contexts; INVALID_PARAMETER for duplicates or malformed payloads."""
    try:
        by_name = contexts_by_name(contexts)
    except WireError as e:
        raise SmbError(e.status, str(e)) from None
    out = CreateContexts(raw=by_name)
    for ctx in by_name.values():
        try:
            payload: Any = decode_request_context(ctx)
        except WireError as e:
            raise SmbError(e.status, str(e)) from None
        if isinstance(payload, QueryOnDiskIdRequest):
            out.query_on_disk_id = True
        elif isinstance(payload, AllocationSize):
            out.allocation_size = payload.allocation_size
        else:
            slot = _SLOTS.get(type(payload))
            if slot is not None:
                setattr(out, slot, payload)
    if (out.durable_v1 or out.reconnect_v1) and (out.durable_v2 or out.reconnect_v2):
        raise SmbError(NtStatus.INVALID_PARAMETER, "durable v1 and v2 contexts together")
    if dialect < 0x0210 and out.lease is not None:
        out.lease = None  # SMB 2.0.2 has no leases: the context is ignored
    return out


def maximal_access_response(maximal: int) -> CreateContext:
    """[MS-SMB2] 2.2.14.2.5 MxAc response (QueryStatus SUCCESS)."""
    return to_context(MaximalAccessResponse(NtStatus.SUCCESS, maximal))


def on_disk_id_response(file_id: int, volume_id: int) -> CreateContext:
    """[MS-SMB2] 2.2.14.2.9 QFid response: the 64-bit file id and the volume id."""
    return to_context(QueryOnDiskIdResponse(file_id, volume_id))
