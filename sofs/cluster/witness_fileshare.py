"""File-share witness: ``Set-ClusterQuorum -FileShareWitness \\\\server\\share``.

One small file per cluster, ``\\\\server\\share\\sofs-<cluster_id>.witness``, holds a JSON
:class:`~sofs.cluster.witness.WitnessRecord` padded to a fixed size (so a rewrite never needs a
truncate). It is reached through a real SMB client, ``smbprotocol``'s ``smbclient`` module, with a
private connection cache per witness object (two objects = two SMB clients, as two nodes would be).

The compare-and-set protocol: every read-decide-write runs inside one open of the file with
**ShareAccess = 0** ([MS-SMB2] 2.2.13, [MS-FSA] 2.1.5.1.2 share-mode check). While one claimant
has the file open, any other open fails with STATUS_SHARING_VIOLATION at the server, so the server
serialises the claimants: this is a mutex enforced by the SMB server, not by the clients' clocks.
Inside the mutex the claimant reads the record, applies
:func:`~sofs.cluster.witness.decide_takeover` (the record must be unchanged for ``ttl`` on the
claimant's own monotonic clock before a live holder can be displaced), writes the new record and
closes. Why that is safe enough:

* two claimants never both write a takeover: the second one to get the file reads the first one's
  record (a new ``seq``, a live holder) and backs off;
* the holder counts on the vote only until ``ttl`` after the moment it *started* its last successful
  write; a challenger first sees that write after it completed and then waits more than ``ttl``, so
  only the clocks' rates must agree (no wall-clock comparison across machines);
* a client that dies inside the critical section loses its open when the server sees the TCP
  connection drop; a client that *hangs* inside it (milliseconds long) blocks the witness until the
  server drops that connection — the liveness cost of using share modes as the lock;
* writes go to the server synchronously (SMB2 WRITE completes after the server's write); a server
  crash after the reply can lose the record, and the next claimant then sees a free witness. A file
  share witness is a tie-breaker, not a database: WSFC accepts the same.

Blocking ``smbclient`` calls run in a thread (``asyncio.to_thread``), each bounded by ``timeout``.
On a timeout the SMB connections of this witness are aborted (socket closed), which wakes the
blocked thread: smbprotocol waits for a reply without a deadline once a session is up.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import smbclient  # type: ignore[import-untyped]
from smbprotocol.exceptions import SMBOSError  # type: ignore[import-untyped]
from smbprotocol.header import NtStatus  # type: ignore[import-untyped]

from sofs.cluster.witness import (
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    Observation,
    Witness,
    WitnessClaim,
    WitnessRecord,
    WitnessStatus,
    decide_takeover,
    next_record,
    released_record,
)

RECORD_SIZE = 512
_RETRY = 0.01


def parse_unc(share: str) -> tuple[str, str]:
    """``\\\\server\\share[\\dir]`` or ``//server/share`` → (server, normalised UNC path).

    sofs extension: ``\\\\server:port\\share`` names a non-default SMB port (see
    :func:`unc_port`); the port is dropped from the returned server and path."""
    s = share.replace("/", "\\").rstrip("\\")
    parts = [p for p in s.split("\\") if p]
    if not s.startswith("\\\\") or len(parts) < 2:
        raise ValueError(f"not a UNC share path: {share!r}")
    host = parts[0].rsplit(":", 1)[0] if ":" in parts[0] else parts[0]
    return host, "\\\\" + "\\".join([host, *parts[1:]])


def unc_port(share: str) -> int | None:
    """The port of ``\\\\server:port\\share``, or None."""
    host = next((p for p in share.replace("/", "\\").split("\\") if p), "")
    return int(host.rsplit(":", 1)[1]) if ":" in host else None


class FileShareWitness(Witness):
    """Witness file on an SMB share. ``username``/``password`` log on with NTLM (SPNEGO);
    ``port`` is the server's SMB port (default: the one in ``\\\\server:port\\share``, else 445)."""

    kind = "fileshare"

    def __init__(self, share: str, *, username: str | None = None, password: str | None = None,
                 port: int | None = None, ttl: float = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT,
                 cluster_id: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=ttl, timeout=timeout, cluster_id=cluster_id)
        self.share = share
        self.server, self.unc = parse_unc(share)
        self.username, self.password = username, password
        self.port: int = port or unc_port(share) or 445
        self._clock = clock
        self._cache: dict[str, Any] = {}  # private smbclient connection cache: our own SMB client
        self._seen: dict[str, Observation] = {}
        self._lock = asyncio.Lock()

    def file_for(self, cluster_id: str) -> str:
        return f"{self.unc}\\sofs-{cluster_id or 'cluster'}.witness"

    # -- blocking helpers ----------------------------------------------------------------------

    def _kw(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password, "port": self.port,
                "connection_cache": self._cache, "connection_timeout": max(1, int(self.timeout))}

    def _open_exclusive(self, path: str, deadline: float) -> Any:
        """Open ``path`` read/write with no sharing, creating it; retry sharing violations."""
        kw = self._kw()
        smbclient.register_session(self.server, **kw)
        while True:
            try:
                try:
                    return smbclient.open_file(path, mode="r+b", share_access=None, **kw)
                except SMBOSError as e:
                    if e.ntstatus != NtStatus.STATUS_OBJECT_NAME_NOT_FOUND:
                        raise
                    try:
                        with smbclient.open_file(path, mode="xb", share_access=None, **kw) as f:
                            f.write(WitnessRecord().encode().ljust(RECORD_SIZE))
                    except SMBOSError as e2:
                        if e2.ntstatus not in (NtStatus.STATUS_OBJECT_NAME_COLLISION,
                                               NtStatus.STATUS_SHARING_VIOLATION):
                            raise
                    continue
            except SMBOSError as e:
                if e.ntstatus != NtStatus.STATUS_SHARING_VIOLATION or time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY)

    def _transact(self, cluster_id: str,
                  decide: Callable[[WitnessRecord], WitnessRecord | None]) -> tuple[WitnessRecord, bool]:
        """Read the record under the share-mode mutex; write ``decide(record)`` if not None."""
        path = self.file_for(cluster_id)
        with self._open_exclusive(path, time.monotonic() + self.timeout) as f:
            rec = WitnessRecord.decode(f.read(RECORD_SIZE).rstrip(b" \x00"))
            new = decide(rec)
            if new is None:
                return rec, False
            f.seek(0)
            f.write(new.encode().ljust(RECORD_SIZE))
            return new, True

    def _acquire_sync(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        t0 = self._clock()
        seen = self._seen.setdefault(cluster_id, Observation())

        def decide(rec: WitnessRecord) -> WitnessRecord | None:
            if not decide_takeover(rec, node, self._clock(), seen, self.ttl):
                return None
            return next_record(rec, cluster_id, node, epoch)

        rec, wrote = self._transact(cluster_id, decide)
        if not wrote:
            return None
        seen.seq, seen.first_seen = rec.seq, self._clock()
        return WitnessClaim(cluster_id, node, epoch, rec.generation, t0 + self.ttl, str(rec.seq))

    def _release_sync(self, claim: WitnessClaim) -> None:
        self._transact(claim.cluster_id,
                       lambda rec: released_record(rec) if rec.node == claim.node else None)

    def _probe_sync(self) -> WitnessStatus:
        rec, _ = self._transact(self.cluster_id, lambda rec: None)
        detail = f"{self.file_for(self.cluster_id)} (port {self.port}): generation {rec.generation}, seq {rec.seq}"
        return WitnessStatus(self.kind, True, rec.node or None, rec.epoch if rec.node else None, detail)

    def _abort_sync(self) -> None:
        """Close our SMB sockets without a logoff (the server may be hung)."""
        conns, self._cache = list(self._cache.values()), {}
        for conn in conns:
            with contextlib.suppress(Exception):  # best effort teardown of a broken connection
                conn.disconnect(close=False)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)
            except TimeoutError:
                await asyncio.wait_for(asyncio.to_thread(self._abort_sync), 5)
                raise

    # -- Witness API ---------------------------------------------------------------------------

    async def acquire(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        self.cluster_id = self.cluster_id or cluster_id
        try:
            res = await self._run(self._acquire_sync, cluster_id, node, epoch)
        except Exception:  # noqa: BLE001 - any SMB/network failure means "no witness vote"
            return None
        return res if isinstance(res, WitnessClaim) else None

    async def release(self, claim: WitnessClaim) -> None:
        with contextlib.suppress(Exception):  # best effort: the TTL frees it anyway
            await self._run(self._release_sync, claim)

    async def probe(self) -> WitnessStatus:
        try:
            res = await self._run(self._probe_sync)
        except Exception as e:  # noqa: BLE001 - report, don't raise: Test-Cluster shows it
            return WitnessStatus(self.kind, False, detail=f"{self.unc} (port {self.port}): {e!r}")
        assert isinstance(res, WitnessStatus)
        return res

    async def close(self) -> None:
        await asyncio.to_thread(self._abort_sync)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "share": self.share, "username": self.username,
                "password": self.password, "port": self.port}


