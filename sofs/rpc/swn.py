"""[MS-SWN] Witness service: the five calls over a backend that knows the cluster ([MS-SWN] 3.1.4).

The service decodes a call, applies the protocol's own checks (version, missing names: pure
:func:`check_register`) and asks the :class:`WitnessBackend` for the rest: the interface list, whether
the net name / IP address / share exist, storing and dropping registrations, and waiting for the next
notification of one registration. Calls are coroutines because AsyncNotify waits (other calls on the
same association go on meanwhile: the transport runs each call as its own task).
"""
from __future__ import annotations

import uuid
from typing import Protocol

from sofs.rpc import swn_ndr as n
from sofs.rpc.dcerpc import NCA_S_OP_RNG_ERROR, RpcFault


class WitnessBackend(Protocol):
    def interfaces(self) -> list[n.InterfaceInfo]:
        """Every interface of every node of the cluster, with its state (GetInterfaceList)."""
        ...

    def check_target(self, args: n.RegisterArgs) -> int:
        """ERROR_SUCCESS, or the error for an unknown net name / IP address / share."""
        ...

    async def register(self, args: n.RegisterArgs) -> uuid.UUID:
        """Store a registration (it must outlive this node); returns its id."""
        ...

    async def unregister(self, ident: uuid.UUID) -> bool:
        """Drop it; False when unknown."""
        ...

    async def next_notification(self, ident: uuid.UUID) -> tuple[int, list[bytes]] | None:
        """Wait for the registration's next notification: (message type, messages); None when the
        registration's wait limit (RegisterEx Timeout) passed first. Raises KeyError for an unknown (or
        meanwhile unregistered) registration."""
        ...


def check_register(args: n.RegisterArgs) -> int:
    """The protocol checks before any lookup ([MS-SWN] 3.1.4.2, 3.1.4.5): Register takes WITNESS_V1 only,
    RegisterEx WITNESS_V2 only; net name, IP address and client name must be given."""
    if args.version != (n.WITNESS_V2 if args.ex else n.WITNESS_V1):
        return n.ERROR_REVISION_MISMATCH
    if not args.net_name or not args.ip_address or not args.client_computer_name:
        return n.ERROR_INVALID_PARAMETER
    return n.ERROR_SUCCESS


class WitnessService:
    syntax = n.SWN_SYNTAX
    name = "witness"

    def __init__(self, backend: WitnessBackend) -> None:
        self.backend = backend

    async def call(self, opnum: int, stub: bytes) -> bytes:
        if opnum == n.OP_GET_INTERFACE_LIST:
            return n.encode_interface_list(self.backend.interfaces())
        if opnum in (n.OP_REGISTER, n.OP_REGISTER_EX):
            args = n.decode_register(stub, ex=opnum == n.OP_REGISTER_EX)
            status = check_register(args)
            if status == n.ERROR_SUCCESS:
                status = self.backend.check_target(args)
            if status != n.ERROR_SUCCESS:
                return n.encode_handle_result(bytes(20), status)
            ident = await self.backend.register(args)
            return n.encode_handle_result(n.new_handle(ident), n.ERROR_SUCCESS)
        if opnum == n.OP_UNREGISTER:
            ident = n.handle_id(n.decode_handle(stub))
            ok = ident is not None and await self.backend.unregister(ident)
            return n.encode_status(n.ERROR_SUCCESS if ok else n.ERROR_INVALID_PARAMETER)
        if opnum == n.OP_ASYNC_NOTIFY:
            ident = n.handle_id(n.decode_handle(stub))
            if ident is None:
                return n.encode_notify(0, [], n.ERROR_INVALID_PARAMETER)
            try:
                got = await self.backend.next_notification(ident)
            except KeyError:
                return n.encode_notify(0, [], n.ERROR_INVALID_PARAMETER)
            if got is None:
                return n.encode_notify(0, [], n.ERROR_TIMEOUT)
            return n.encode_notify(got[0], got[1])
        raise RpcFault(NCA_S_OP_RNG_ERROR)
