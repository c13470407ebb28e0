"""File-share witness against a private Samba on loopback (real SMB client: smbprotocol)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from etcd_fixture import free_ports
from samba_fixture import PASSWORD, USER, PrivateSamba, samba_skip_reason
from test_cluster_witness_contract import WitnessContract, WitnessHarness

from sofs.cluster.witness import from_config
from sofs.cluster.witness_fileshare import FileShareWitness, parse_unc, unc_port

TTL = 1.0
_skip = samba_skip_reason()


def test_parse_unc() -> None:
    assert parse_unc(r"\\srv\w") == ("srv", r"\\srv\w")
    assert parse_unc("//srv/w/sub/") == ("srv", r"\\srv\w\sub")
    with pytest.raises(ValueError):
        parse_unc(r"\\srv")
    with pytest.raises(ValueError):
        parse_unc("srv/share")
    assert parse_unc(r"\\127.0.0.1:4450\w") == ("127.0.0.1", r"\\127.0.0.1\w")
    assert unc_port(r"\\127.0.0.1:4450\w") == 4450 and unc_port(r"\\srv\w") is None
    w = from_config({"type": "fileshare", "share": r"\\127.0.0.1:4450\w", "username": "u", "password": "p"})
    assert isinstance(w, FileShareWitness) and w.port == 4450 and w.unc == r"\\127.0.0.1\w"
    assert from_config(w.config()).config() == w.config()


@pytest.fixture(scope="module")
def samba() -> Iterator[PrivateSamba]:
    if _skip:
        pytest.skip(_skip)
    with PrivateSamba() as s:
        yield s


@pytest.mark.interop
class TestFileShareWitness(WitnessContract):
    @pytest.fixture
    def wh(self, samba: PrivateSamba) -> WitnessHarness:
        dead_port = free_ports(1)[0]
        return WitnessHarness(
            make=lambda: FileShareWitness(samba.share.replace("127.0.0.1", f"127.0.0.1:{samba.port}"),
                                          username=USER, password=PASSWORD, ttl=TTL, timeout=3.0),
            unreachable=lambda: FileShareWitness(samba.share, username=USER, password=PASSWORD,
                                                 port=dead_port, ttl=TTL, timeout=1.0),
            ttl=TTL,
        )


@pytest.mark.interop
def test_server_stopped_after_claim(samba: PrivateSamba) -> None:
    """The share goes away under a holder: renew fails within the timeout, probe says unreachable."""
    async def main() -> None:
        w = FileShareWitness(samba.share, username=USER, password=PASSWORD, port=samba.port,
                             ttl=TTL, timeout=2.0)
        claim = await w.acquire("gone", "n1", 1)
        assert claim is not None
        samba.stop()
        try:
            assert await w.renew(claim) is None
            st = await w.probe()
            assert not st.reachable
        finally:
            samba.start()
            await w.close()
    asyncio.run(main())
