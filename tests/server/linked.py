"""A MemClient's share whose volume is coordinated behind a real coordinator link on loopback (as
on a worker process or a cluster node that does not coordinate the volume); for tests and
bench/perf_micro.py's ``-linked`` kinds."""
from __future__ import annotations

from memclient import MemClient

from sofs.handlers.volume import ProcessSink, VolumeClient
from sofs.handlestate.coordinator import VolumeCoordinator
from sofs.server.cluster_volumes import Router
from sofs.server.coordlink_client import RemoteService
from sofs.server.coordlink_server import LinkServer

SECRET = b"s" * 32


async def remote_share(c: MemClient, share: str = "data") -> tuple[LinkServer, VolumeCoordinator, RemoteService]:
    """Make the share ``share`` of ``c``'s server use a coordinator in a LinkServer (as another node)."""
    link = LinkServer(SECRET)
    await link.start("127.0.0.1", 0)
    coord = VolumeCoordinator(share)
    link.register(share, coord)
    server = c.proto.server
    vol = VolumeClient(share, None, -1)  # type: ignore[arg-type]
    router = Router(vol)
    vol.svc = router  # type: ignore[assignment]
    rs = await RemoteService.connect("127.0.0.1", link.port, secret=SECRET, name="n2", volume=share,
                                     sink=ProcessSink(server, vol))
    vol.endpoint = rs.endpoint
    router.set(rs)
    server.shares[share].volume = vol
    server.volumes[share] = vol
    return link, coord, rs
