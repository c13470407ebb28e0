"""Cloud witness: ``Set-ClusterQuorum -CloudWitness -AccountName a -AccessKey k [-Endpoint e]``.

An Azure Blob **lease** through the ``azure-storage-blob`` SDK ([Azure Storage REST] Lease Blob):
blob ``<container>/<cluster_id>/witness``. Holding the witness = holding the blob's lease; the
blob service's own lease timer is the TTL, so no client clock is compared with another's.

* acquire: create container and blob if missing, then Lease Blob *acquire* with a proposed lease id
  derived from (cluster, node) (``uuid5``), so a node that restarts re-takes its own active lease
  instead of waiting it out; 409 ``LeaseAlreadyPresent`` = another node holds it → ``None``. The
  holder then writes ``node``/``epoch``/``generation`` into the blob's metadata under its lease.
* renew: Lease Blob *renew* (fails once another node acquired it).
* release: Lease Blob *release*; :meth:`CloudWitness.break_lease` breaks anyone's lease at once
  (an administrator changing the quorum configuration).

Azure leases last 15–60 s (or forever); ``ttl`` is clamped into 15..60. The claim is valid until
``ttl`` after the moment the acquire/renew request was *sent*, never later than the service's
expiry. The sync SDK runs in a thread (``asyncio.to_thread``) with ``retry_total=0`` and short
connection/read timeouts, and every call is bounded by ``timeout``.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient

from sofs.cluster.witness import DEFAULT_TIMEOUT, DEFAULT_TTL, Witness, WitnessClaim, WitnessStatus

MIN_LEASE, MAX_LEASE = 15, 60
_NS = uuid.UUID("5f0f5a4e-6b9e-4c1b-9d55-736f66732d77")  # namespace of sofs witness lease ids
DEVSTORE_ACCOUNT = "devstoreaccount1"
DEVSTORE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
"""Azurite's well-known development account key (public, from Microsoft's documentation)."""


def lease_id_for(cluster_id: str, node: str) -> str:
    return str(uuid.uuid5(_NS, f"{cluster_id}/{node}"))


def blob_endpoint(account_name: str, endpoint: str | None) -> str:
    """Blob service URL: a full ``http(s)://`` URL as given, else WSFC's ``-Endpoint`` meaning (the
    service suffix, default ``core.windows.net``) → ``https://<account>.blob.<suffix>``."""
    if endpoint and endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    return f"https://{account_name}.blob.{(endpoint or 'core.windows.net').strip('.')}"


class CloudWitness(Witness):
    """Blob-lease witness. ``endpoint`` is the blob service URL (Azurite:
    ``http://127.0.0.1:<port>/devstoreaccount1``); default ``https://<account>.blob.core.windows.net``."""

    kind = "cloud"

    def __init__(self, account_name: str, access_key: str, *, endpoint: str | None = None,
                 container: str = "sofs-witness", ttl: float = DEFAULT_TTL,
                 timeout: float = DEFAULT_TIMEOUT, cluster_id: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=min(max(round(ttl), MIN_LEASE), MAX_LEASE), timeout=timeout,
                         cluster_id=cluster_id)
        self.account_name, self.access_key = account_name, access_key
        self.endpoint = blob_endpoint(account_name, endpoint)
        self.container = container
        self._clock = clock
        self._service: BlobServiceClient | None = None

    # -- blocking helpers ----------------------------------------------------------------------

    def _svc(self) -> BlobServiceClient:
        if self._service is None:
            t = max(1, int(self.timeout))
            self._service = BlobServiceClient(
                self.endpoint, credential={"account_name": self.account_name, "account_key": self.access_key},
                retry_total=0, connection_timeout=t, read_timeout=t)
        return self._service

    def _blob(self, cluster_id: str) -> BlobClient:
        return self._svc().get_blob_client(self.container, f"{cluster_id or 'cluster'}/witness")

    def _ensure_blob(self, blob: BlobClient) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._svc().create_container(self.container)
        with contextlib.suppress(ResourceExistsError, HttpResponseError):
            # an existing (possibly leased) blob answers 409/412: it is there, which is all we need
            blob.upload_blob(b"", overwrite=False)

    def _acquire_sync(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        blob = self._blob(cluster_id)
        lease = BlobLeaseClient(blob, lease_id_for(cluster_id, node))
        t0 = self._clock()
        try:
            lease.acquire(lease_duration=int(self.ttl))
        except ResourceNotFoundError:
            self._ensure_blob(blob)
            t0 = self._clock()
            try:
                lease.acquire(lease_duration=int(self.ttl))
            except ResourceExistsError:
                return None
        except ResourceExistsError:  # 409 LeaseAlreadyPresent: someone else holds it
            return None
        meta = blob.get_blob_properties(lease=lease).metadata or {}
        generation = int(meta.get("generation", "0") or 0)
        if meta.get("node") != node:
            generation += 1
        blob.set_blob_metadata({"node": node, "epoch": str(epoch), "generation": str(generation)},
                               lease=lease)
        return WitnessClaim(cluster_id, node, epoch, generation, t0 + self.ttl, lease.id)

    def _renew_sync(self, claim: WitnessClaim) -> WitnessClaim | None:
        lease = BlobLeaseClient(self._blob(claim.cluster_id), claim.token)
        t0 = self._clock()
        try:
            lease.renew()
        except (ResourceExistsError, HttpResponseError):  # 409 LeaseIdMismatch: lost it
            return None
        return WitnessClaim(claim.cluster_id, claim.node, claim.epoch, claim.generation,
                            t0 + self.ttl, claim.token)

    def _release_sync(self, claim: WitnessClaim) -> None:
        with contextlib.suppress(AzureError):
            BlobLeaseClient(self._blob(claim.cluster_id), claim.token).release()

    def _probe_sync(self) -> WitnessStatus:
        blob = self._blob(self.cluster_id)
        where = f"{self.endpoint}/{self.container}/{blob.blob_name}"
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            self._svc().get_account_information()  # reachable and the key works: no claim yet
            return WitnessStatus(self.kind, True, None, None, f"{where}: not created yet")
        meta = props.metadata or {}
        leased = props.lease.state == "leased"
        detail = f"{where}: lease {props.lease.state}/{props.lease.status}, generation {meta.get('generation', 0)}"
        return WitnessStatus(self.kind, True, meta.get("node") if leased else None,
                             int(meta.get("epoch", "0")) if leased else None, detail)

    def _break_sync(self, cluster_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            BlobLeaseClient(self._blob(cluster_id)).break_lease(lease_break_period=0)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout)

    # -- Witness API ---------------------------------------------------------------------------

    async def acquire(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None:
        self.cluster_id = self.cluster_id or cluster_id
        try:
            res = await self._run(self._acquire_sync, cluster_id, node, epoch)
        except (AzureError, TimeoutError, OSError, ValueError):
            return None
        return res if isinstance(res, WitnessClaim) else None

    async def renew(self, claim: WitnessClaim) -> WitnessClaim | None:
        try:
            res = await self._run(self._renew_sync, claim)
        except (AzureError, TimeoutError, OSError, ValueError):
            return None
        return res if isinstance(res, WitnessClaim) else None

    async def release(self, claim: WitnessClaim) -> None:
        with contextlib.suppress(AzureError, TimeoutError, OSError):
            await self._run(self._release_sync, claim)

    async def break_lease(self, cluster_id: str | None = None) -> None:
        """Break whoever holds the lease, now (``Set-ClusterQuorum`` replacing this witness)."""
        await self._run(self._break_sync, cluster_id or self.cluster_id)

    async def probe(self) -> WitnessStatus:
        try:
            res = await self._run(self._probe_sync)
        except (AzureError, TimeoutError, OSError, ValueError) as e:
            msg = getattr(e, "message", None) or repr(e)
            return WitnessStatus(self.kind, False, detail=f"{self.endpoint}: {str(msg)[:200]}")
        assert isinstance(res, WitnessStatus)
        return res

    async def close(self) -> None:
        svc, self._service = self._service, None
        if svc is not None:
            await asyncio.to_thread(svc.close)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "account_name": self.account_name, "access_key": self.access_key,
                "endpoint": self.endpoint, "container": self.container}
