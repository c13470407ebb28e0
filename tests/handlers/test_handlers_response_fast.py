"""Response packing shortcuts of CREATE and WRITE, against the generic path."""
from __future__ import annotations

import pytest

from sofs.handlers import durable
from sofs.handlestate.durable import DurableGrant
from sofs.wire.messages.create import encode_create_response
from sofs.wire.messages.create_contexts import encode_create_contexts


@pytest.mark.parametrize("g", [DurableGrant(2, True, 60_000), DurableGrant(2, False, 0), DurableGrant(1, False, 0)])
def test_encoded_grant_chain_is_the_generic_encoding(g: DurableGrant) -> None:
    chain = durable.grant_chain(g)
    assert chain == encode_create_contexts([durable.grant_context(g)])
    assert durable.grant_chain(g) is chain  # built once
    fields = (0, 1, 2, 3, 4, 4, 4096, 10, 0x20, bytes(range(16)))
    assert encode_create_response(*fields, chain) == encode_create_response(*fields, [durable.grant_context(g)])


@pytest.mark.parametrize("n", [0, 1, 4096, 0xFFFFFFFF])
def test_write_response_pack_matches_the_dataclass(n: int) -> None:
    from sofs.handlers import readwrite
    from sofs.wire.messages.io import WriteResponse

    assert readwrite._WRITE_RSP.pack(17, 0, n, 0, 0, 0) == WriteResponse(count=n, remaining=0).encode()
