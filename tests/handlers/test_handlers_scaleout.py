"""The scale-out share rules of sofs.handlers.scaleout (pure: tables)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sofs.handlers.create_contexts import CreateContexts
from sofs.handlers.scaleout import (
    STYPE_CLUSTER_SOFS,
    downgrade_create,
    is_scaleout,
    scaleout_grant,
    share_capabilities,
    share_type,
)
from sofs.wire.constants import Dialect, OplockLevel, ShareCaps
from sofs.wire.messages.create import CreateRequest
from sofs.wire.messages.create_contexts import LeaseV2


@dataclass
class Cfg:
    continuously_available: bool = False
    scope_name: str = "*"


R, H, W = 1, 2, 4


@pytest.mark.parametrize("oplock,lease,want", [
    (OplockLevel.BATCH, None, (OplockLevel.II, None)),
    (OplockLevel.EXCLUSIVE, None, (OplockLevel.II, None)),
    (OplockLevel.II, None, (OplockLevel.II, None)),
    (OplockLevel.NONE, None, (OplockLevel.NONE, None)),
    (OplockLevel.LEASE, R | H | W, (OplockLevel.LEASE, R)),
    (OplockLevel.LEASE, R | H, (OplockLevel.LEASE, R)),
    (OplockLevel.LEASE, R, (OplockLevel.LEASE, R)),
    (OplockLevel.LEASE, 0, (OplockLevel.LEASE, 0)),
])
def test_scaleout_grant(oplock: int, lease: int | None, want: tuple[int, int | None]) -> None:
    assert scaleout_grant(oplock, lease) == want


def test_claims_only_for_role_shares_on_cluster_nodes() -> None:
    role_ca, role, plain_ca = Cfg(True, "SOFS"), Cfg(False, "SOFS"), Cfg(True, "*")
    s3, s21 = Dialect.SMB3_1_1, Dialect.SMB2_1
    assert share_capabilities(role_ca, s3, True) == ShareCaps.SCALEOUT | ShareCaps.CLUSTER | \
        ShareCaps.CONTINUOUS_AVAILABILITY
    assert share_capabilities(role, s3, True) == ShareCaps.SCALEOUT | ShareCaps.CLUSTER
    assert share_capabilities(plain_ca, s3, True) == ShareCaps.CONTINUOUS_AVAILABILITY
    assert share_capabilities(role_ca, s3, False) == ShareCaps.CONTINUOUS_AVAILABILITY  # standalone server
    assert share_capabilities(role_ca, s21, True) == 0
    assert share_type(role, True) == STYPE_CLUSTER_SOFS and share_type(role, False) == 0
    assert share_type(plain_ca, True) == 0
    assert is_scaleout(role, True) and not is_scaleout(plain_ca, True)


def test_downgrade_create_rewrites_request_and_lease() -> None:
    req = CreateRequest(name="f", requested_oplock_level=OplockLevel.LEASE)
    ctx = CreateContexts(lease=LeaseV2(b"k" * 16, R | H | W))
    req2, ctx2 = downgrade_create(req, ctx)
    assert req2.requested_oplock_level == OplockLevel.LEASE and ctx2.lease is not None
    assert ctx2.lease.lease_state == R and ctx2.lease.lease_key == b"k" * 16
    req3, _ = downgrade_create(CreateRequest(name="f", requested_oplock_level=OplockLevel.BATCH), CreateContexts())
    assert req3.requested_oplock_level == OplockLevel.II
