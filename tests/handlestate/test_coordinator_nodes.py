"""The coordinator with one client connected through several serving processes (nodes): where its
breaks go. Fake sinks as in :mod:`test_coordinator`; smbtorture checks the same across real nodes
(tests/cluster/test_cluster_torture.py)."""
from __future__ import annotations

from test_coordinator import RD, WR, Sink, admit_req, caller, run

from sofs.handlestate.api import LeaseRequest
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.handlestate.oplocks import LEASE

R, RH, RWH = 0x1, 0x3, 0x7
CLIENT = b"c" * 16


def test_a_lease_break_goes_to_the_process_of_the_clients_first_open_of_the_file() -> None:
    """smb2.lease.v2_complex1 with the client's two connections on two nodes: LEASE2 was opened
    only through the second node, but its break goes to the client's first connection (Windows,
    Samba), i.e. to the node where the client opened the file first."""
    async def body() -> None:
        c = VolumeCoordinator("vol", timeout_ns=10**12)
        a, b = Sink("n1"), Sink("n2")
        ep1, ep2 = c.attach(a, "n1"), c.attach(b, "n2")
        k1, k2 = b"1" * 16, b"2" * 16
        h = await c.admit(admit_req(caller(ep1, CLIENT), access=RD | WR, oplock=LEASE,
                                    lease=LeaseRequest(k1, R, 2)), None)
        h3 = await c.admit(admit_req(caller(ep2, CLIENT), access=RD | WR, oplock=LEASE,
                                     lease=LeaseRequest(k2, R, 2)), None)
        assert h.lease is not None and h3.lease is not None and h3.lease.state == R
        # a write through h breaks the other lease's read caching; the holder is the same client
        await c.contend_write(h.persistent_id)
        assert [x[0] for x in a.lease_breaks] == [k2] and b.lease_breaks == []
        # and a write through h3 breaks LEASE1, on the first connection too
        await c.contend_write(h3.persistent_id)
        assert [x[0] for x in a.lease_breaks] == [k2, k1] and b.lease_breaks == []
        # once the client's first open is gone, its other node gets the breaks
        await c.close(h.persistent_id)
        h4 = await c.admit(admit_req(caller(ep1, b"d" * 16), access=RD, oplock=LEASE,
                                     lease=LeaseRequest(b"4" * 16, R, 2)), None)
        await c.admit(admit_req(caller(ep2, CLIENT), access=RD, oplock=LEASE, lease=LeaseRequest(k1, R, 2)), None)
        await c.contend_write(h4.persistent_id)
        assert [x[0] for x in b.lease_breaks] == [k1]  # LEASE2 holds nothing any more
        c.table.check_invariants()
    run(body)


def test_the_break_of_another_client_is_not_redirected() -> None:
    async def body() -> None:
        c = VolumeCoordinator("vol", timeout_ns=10**12)
        a, b = Sink("n1"), Sink("n2")
        ep1, ep2 = c.attach(a, "n1"), c.attach(b, "n2")
        await c.admit(admit_req(caller(ep1, b"d" * 16), access=RD, oplock=LEASE,
                                lease=LeaseRequest(b"4" * 16, R, 2)), None)
        w = await c.admit(admit_req(caller(ep2, CLIENT), access=RD | WR, oplock=LEASE,
                                    lease=LeaseRequest(b"2" * 16, R, 2)), None)
        other = await c.admit(admit_req(caller(ep1, b"e" * 16), access=RD | WR), None)
        await c.contend_write(other.persistent_id)
        assert [x[0] for x in b.lease_breaks] == [b"2" * 16]
        assert [x[0] for x in a.lease_breaks] == [b"4" * 16]
        assert w.lease is not None
    run(body)
