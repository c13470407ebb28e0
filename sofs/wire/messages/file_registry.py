"""Command → request class for the file-operation commands (merged into ``messages.__init__``)."""
from __future__ import annotations

from sofs.wire.constants import Command
from sofs.wire.messages.close import CloseRequest, CloseResponse, FlushRequest, FlushResponse
from sofs.wire.messages.create import CreateRequest, CreateResponse
from sofs.wire.messages.io import ReadRequest, ReadResponse, WriteRequest, WriteResponse
from sofs.wire.messages.query import (
    QueryDirectoryRequest,
    QueryDirectoryResponse,
    QueryInfoRequest,
    QueryInfoResponse,
    SetInfoRequest,
    SetInfoResponse,
)

__all__ = ["FILE_REQUEST_TYPES", "FILE_RESPONSE_TYPES"]

FILE_REQUEST_TYPES: dict[int, type] = {
    Command.CREATE: CreateRequest,
    Command.CLOSE: CloseRequest,
    Command.FLUSH: FlushRequest,
    Command.READ: ReadRequest,
    Command.WRITE: WriteRequest,
    Command.QUERY_DIRECTORY: QueryDirectoryRequest,
    Command.QUERY_INFO: QueryInfoRequest,
    Command.SET_INFO: SetInfoRequest,
}

FILE_RESPONSE_TYPES: dict[int, type] = {
    Command.CREATE: CreateResponse,
    Command.CLOSE: CloseResponse,
    Command.FLUSH: FlushResponse,
    Command.READ: ReadResponse,
    Command.WRITE: WriteResponse,
    Command.QUERY_DIRECTORY: QueryDirectoryResponse,
    Command.QUERY_INFO: QueryInfoResponse,
    Command.SET_INFO: SetInfoResponse,
}
