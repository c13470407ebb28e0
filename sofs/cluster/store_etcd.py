"""`EtcdStore`: the :class:`~sofs.cluster.store.ClusterStore` contract on an etcd v3 cluster.

Transport: etcd's gRPC API through the generated stubs and protobuf messages that ``aetcd`` ships
(``aetcd.rpc``: ``KVStub``, ``LeaseStub``, ``WatchStub``, ``TxnRequest``…) over ``grpc.aio``
channels that this module owns. aetcd's high-level ``Client`` is not used: it talks to one
endpoint only and hides response headers (the store revision) and compare targets we need.

Endpoint failover: one channel per endpoint, one *current* endpoint. A call that fails with
UNAVAILABLE / DEADLINE_EXCEEDED moves the client to the next endpoint. It is retried there (until
the operation ``timeout``) when a retry cannot change the outcome:

* reads, ``put`` (a repeated unconditional put leaves the same value), lease grant/keepalive/
  revoke/time-to-live: always;
* conditional writes (``create``, ``cas``, ``delete``, ``cas_delete``, ``delete_prefix``,
  ``txn``): only when the failure proves the request never reached raft (connection refused or
  never connected, "no leader"). Otherwise they raise :class:`StoreUnavailable`: a retry of a write
  that may have been applied could report ``False`` for a CAS that in fact won.

Reads are linearizable (etcd's default ``serializable=False``): a member cut off from the leader
answers with an error, never with stale data. Watches carry the ``hasleader`` metadata so a member
that loses its leader cancels them; a broken watch is resumed on another endpoint from the revision
after the last delivered event (gap-free), or raises :class:`WatchCompacted` if that history is gone.
Lease TTLs are rounded up to whole seconds (etcd's unit) and raised to the server's minimum.
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from sofs.cluster.store import (
    KV,
    ClusterStore,
    Compare,
    Delete,
    EventType,
    LeaseId,
    LeaseNotFound,
    Listing,
    Op,
    Put,
    StoreClosed,
    StoreUnavailable,
    TxnResult,
    WatchCompacted,
    WatchEvent,
)

DEFAULT_TIMEOUT = 5.0
ATTEMPT_TIMEOUT = 2.0
_FAILOVER_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                   grpc.StatusCode.CANCELLED)
_UNSENT_MARKERS = ("failed to connect", "connection refused", "connections to all backends failing",
                   "no leader", "dns resolution failed", "connect failed")
_REVISION_PROBE = b"\x00sofs-revision-probe"


def prefix_end(prefix: bytes) -> bytes:
    """etcd range end covering every key that starts with ``prefix`` (``b"\\0"`` = to the end)."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\x00"


def _norm_endpoint(ep: str) -> str:
    for scheme in ("http://", "https://"):
        ep = ep.removeprefix(scheme)
    return ep.rstrip("/")


def _kv(m: Any) -> KV:
    return KV(key=m.key.decode(), value=bytes(m.value), mod_revision=m.mod_revision,
              create_revision=m.create_revision, version=m.version,
              lease=LeaseId(m.lease) if m.lease else None)


def _unsent(e: grpc.aio.AioRpcError) -> bool:
    """Did the call fail before etcd could have applied it?"""
    details = (e.details() or "").lower()
    return e.code() == grpc.StatusCode.UNAVAILABLE and any(m in details for m in _UNSENT_MARKERS)


def _raise_known(e: grpc.aio.AioRpcError) -> None:
    details = e.details() or ""
    if e.code() == grpc.StatusCode.NOT_FOUND and "lease not found" in details:
        raise LeaseNotFound(details) from e
    if e.code() == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        raise WatchCompacted(details, 0) from e


class EtcdStore(ClusterStore):
    """ClusterStore client of an etcd v3 cluster reached at ``endpoints`` ("host:port" or URLs).

    ``timeout`` bounds every operation including failover retries; ``attempt_timeout`` bounds one
    RPC on one endpoint."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
                 attempt_timeout: float = ATTEMPT_TIMEOUT) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        self.endpoints = [_norm_endpoint(e) for e in endpoints]
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self._cur = 0
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._closed = False

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def current_endpoint(self) -> str:
        """The endpoint the next call goes to (tests kill exactly this member)."""
        return self.endpoints[self._cur]

    def _channel(self, i: int) -> grpc.aio.Channel:
        ch = self._channels.get(i)
        if ch is None:
            ch = grpc.aio.insecure_channel(self.endpoints[i], options=[
                ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000),
                ("grpc.min_reconnect_backoff_ms", 100), ("grpc.enable_retries", 0),
            ])
            self._channels[i] = ch
        return ch

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("EtcdStore is closed")

    def _failover(self, failed: int) -> None:
        if self._cur == failed:
            self._cur = (failed + 1) % len(self.endpoints)

    async def _call(self, stub_cls: Callable[[grpc.aio.Channel], Any], method: str, request: Any,
                    *, retry_ambiguous: bool) -> Any:
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempts = 0
        while True:
            i = self._cur
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                fn = getattr(stub_cls(self._channel(i)), method)
                return await fn(request, timeout=min(remaining, self.attempt_timeout))
            except grpc.aio.AioRpcError as e:
                _raise_known(e)
                if e.code() not in _FAILOVER_CODES:
                    raise StoreUnavailable(f"etcd {self.endpoints[i]}: {e.code().name}: {e.details()}") from e
                self._failover(i)
                attempts += 1
                if not (retry_ambiguous or _unsent(e)):
                    raise StoreUnavailable(
                        f"etcd {self.endpoints[i]}: {e.details()} (write outcome unknown)") from e
                if loop.time() >= deadline:
                    raise StoreUnavailable(f"etcd unreachable: {e.details()}") from e
                if attempts % len(self.endpoints) == 0:
                    await asyncio.sleep(0.1)  # every endpoint failed once: let elections settle
            except TimeoutError as e:
                raise StoreUnavailable(f"etcd: no answer within {self.timeout}s") from e

    async def _range(self, req: Any) -> Any:
        return await self._call(rpc.KVStub, "Range", req, retry_ambiguous=True)

    async def _txn(self, req: Any) -> Any:
        return await self._call(rpc.KVStub, "Txn", req, retry_ambiguous=False)

    @staticmethod
    def _put_op(op: Put) -> Any:
        return rpc.RequestOp(request_put=rpc.PutRequest(
            key=op.key.encode(), value=op.value, lease=op.lease or 0))

    @staticmethod
    def _op(op: Op) -> Any:
        if isinstance(op, Put):
            return EtcdStore._put_op(op)
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=op.key.encode()))

    @staticmethod
    def _compares(c: Compare) -> list[Any]:
        key = c.key.encode()
        out = []
        if c.mod_revision is not None:
            out.append(rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                                   mod_revision=c.mod_revision))
        if c.value is not None:  # etcd fails a VALUE compare on an absent key: "exists and equals"
            out.append(rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.VALUE,
                                   value=c.value))
        if not out:
            out.append(rpc.Compare(key=key, result=rpc.Compare.GREATER, target=rpc.Compare.CREATE,
                                   create_revision=0))
        return out

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: str) -> KV | None:
        resp = await self._range(rpc.RangeRequest(key=key.encode()))
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str) -> Listing:
        p = prefix.encode() or b"\x00"
        resp = await self._range(rpc.RangeRequest(
            key=p, range_end=prefix_end(prefix.encode()),
            sort_order=rpc.RangeRequest.ASCEND, sort_target=rpc.RangeRequest.KEY))
        return Listing(tuple(_kv(m) for m in resp.kvs), resp.header.revision)

    async def revision(self) -> int:
        resp = await self._range(rpc.RangeRequest(key=_REVISION_PROBE, count_only=True))
        return int(resp.header.revision)

    # -- writes --------------------------------------------------------------------------------

    async def put(self, key: str, value: bytes, lease: LeaseId | None = None) -> int:
        resp = await self._call(rpc.KVStub, "Put", rpc.PutRequest(
            key=key.encode(), value=value, lease=lease or 0), retry_ambiguous=True)
        return int(resp.header.revision)

    async def create(self, key: str, value: bytes, lease: LeaseId | None = None) -> bool:
        return await self.cas(key, value, 0, lease)

    async def cas(self, key: str, value: bytes, expected_revision: int,
                  lease: LeaseId | None = None) -> bool:
        resp = await self._txn(rpc.TxnRequest(
            compare=self._compares(Compare(key, mod_revision=expected_revision)),
            success=[self._put_op(Put(key, value, lease))]))
        return bool(resp.succeeded)

    async def delete(self, key: str) -> bool:
        resp = await self._call(rpc.KVStub, "DeleteRange", rpc.DeleteRangeRequest(key=key.encode()),
                                retry_ambiguous=False)
        return bool(resp.deleted)

    async def cas_delete(self, key: str, expected_revision: int) -> bool:
        resp = await self._txn(rpc.TxnRequest(
            compare=self._compares(Compare(key, mod_revision=expected_revision)),
            success=[self._op(Delete(key))]))
        return bool(resp.succeeded and resp.responses[0].response_delete_range.deleted)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        p = prefix.encode()
        resp = await self._call(rpc.KVStub, "DeleteRange",
                                rpc.DeleteRangeRequest(key=p, range_end=prefix_end(p)),
                                retry_ambiguous=False)
        return int(resp.deleted)

    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op],
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        resp = await self._txn(rpc.TxnRequest(
            compare=[x for c in compares for x in self._compares(c)],
            success=[self._op(o) for o in on_success], failure=[self._op(o) for o in on_failure]))
        return TxnResult(bool(resp.succeeded), int(resp.header.revision))

    # -- leases --------------------------------------------------------------------------------

    async def grant(self, ttl_s: float) -> LeaseId:
        resp = await self._call(rpc.LeaseStub, "LeaseGrant",
                                rpc.LeaseGrantRequest(TTL=max(1, math.ceil(ttl_s))), retry_ambiguous=True)
        if resp.error:
            raise StoreUnavailable(f"etcd lease grant: {resp.error}")
        return LeaseId(resp.ID)

    async def keepalive(self, lease: LeaseId) -> float:
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            i = self._cur
            call = rpc.LeaseStub(self._channel(i)).LeaseKeepAlive(
                timeout=max(0.01, min(deadline - loop.time(), self.attempt_timeout)))
            try:
                await call.write(rpc.LeaseKeepAliveRequest(ID=lease))
                resp = await call.read()
            except grpc.aio.AioRpcError as e:
                _raise_known(e)
                self._failover(i)
                if e.code() not in _FAILOVER_CODES or loop.time() >= deadline:
                    raise StoreUnavailable(f"etcd keepalive: {e.details()}") from e
                await asyncio.sleep(0.05)
                continue
            finally:
                call.cancel()
            self._check_open()
            if resp is grpc.aio.EOF:
                self._failover(i)
                continue
            if resp.TTL <= 0:
                raise LeaseNotFound(f"lease {lease:x} expired or revoked")
            return float(resp.TTL)

    async def revoke(self, lease: LeaseId) -> None:
        try:
            await self._call(rpc.LeaseStub, "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease),
                             retry_ambiguous=True)
        except LeaseNotFound:
            pass

    async def lease_ttl(self, lease: LeaseId) -> float | None:
        resp = await self._call(rpc.LeaseStub, "LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=lease),
                                retry_ambiguous=True)
        if resp.TTL < 0:
            return None
        # etcd truncates the remaining time to whole seconds: 0 means "alive, under a second left"
        return max(float(resp.TTL), 0.001)

    # -- watch ---------------------------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int | None = None) -> AsyncIterator[WatchEvent]:
        self._check_open()
        p = prefix.encode()
        key, end = (p or b"\x00"), prefix_end(p)
        next_rev = start_revision
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            self._check_open()
            i = self._cur
            call = rpc.WatchStub(self._channel(i)).Watch(metadata=(("hasleader", "true"),))
            try:
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=key, range_end=end, start_revision=next_rev or 0)))
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        raise StoreUnavailable("etcd watch stream ended")
                    last_ok = loop.time()
                    if resp.compact_revision:
                        raise WatchCompacted(f"revision {next_rev} compacted", resp.compact_revision)
                    if resp.canceled:
                        raise StoreUnavailable(f"etcd watch canceled: {resp.cancel_reason}")
                    if resp.created and next_rev is None:
                        next_rev = resp.header.revision + 1
                    for ev in resp.events:
                        kv = _kv(ev.kv)
                        if ev.type == rpc.Event.DELETE:
                            yield WatchEvent(EventType.DELETE, KV(kv.key, b"", kv.mod_revision, 0, 0, None))
                        else:
                            yield WatchEvent(EventType.PUT, kv)
                        next_rev = kv.mod_revision + 1
            except (grpc.aio.AioRpcError, StoreUnavailable) as e:
                if isinstance(e, grpc.aio.AioRpcError):
                    _raise_known(e)
                self._failover(i)
                if self._closed:
                    raise StoreClosed("EtcdStore is closed") from e
                if loop.time() - last_ok > self.timeout:
                    raise StoreUnavailable(f"etcd watch: {e}") from e
                await asyncio.sleep(0.05)
            finally:
                call.cancel()

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()


async def open_etcd_store(endpoints: Sequence[str]) -> EtcdStore:
    """Module-level opener (picklable with ``functools.partial``) for child processes and config."""
    return EtcdStore(list(endpoints))
