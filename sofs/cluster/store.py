"""`ClusterStore`: the contract every cluster-state backend must keep.

Modelled on Patroni's ``AbstractDCS`` and on the etcd v3 data model. The failover logic
(`sofs.cluster.agent`, `sofs.cluster.client`) only ever talks to this interface; backends are the
embedded SQLite store (`store_embedded`, one machine) and etcd (`store_etcd`, several machines). One
contract test suite (``tests/cluster/contract_store.py``) runs against every backend.

Data model
----------
- Keys are ``str`` (UTF-8 on the wire, ``/``-separated by convention); values are ``bytes``.
- The store has one global **revision** counter. Every successful mutation (put, delete, a
  transaction that changed something, a lease expiry that deleted keys) increments it by exactly one;
  all keys changed by that mutation carry the new revision as their ``mod_revision``. Revisions never
  go backwards and are never reused, even across deletes (so comparing ``mod_revision`` is ABA-safe).
- ``KV.version`` counts writes since the key was (re)created: 1 on creation, +1 per put, back to 0
  (absent) when deleted. It is informational; **compare-and-set compares ``mod_revision``**, never
  ``version`` (a re-created key has version 1 again, its ``mod_revision`` is new).
- A key may be attached to a lease. When the lease ends (revoked, or expired because its holder
  stopped calling :meth:`ClusterStore.keepalive` for ``ttl`` seconds) every key attached to it is
  deleted in one revision, and watchers see a ``delete`` event for each.

Guarantees every backend must give
----------------------------------
1. **Linearizable single-key operations.** ``get`` after a successful write (from any client,
   any process) sees that write or a later one.
2. **Atomic compare-and-set.** Of several concurrent ``create``/``cas`` calls on the same key with
   the same expectation, at most one returns ``True``; the losers return ``False`` and change nothing.
3. **Atomic transactions.** ``txn`` evaluates all compares and applies all ops of the chosen branch
   in one revision; no other client observes a partial result.
4. **Leases expire.** A lease not kept alive expires no earlier than ``ttl`` seconds after its last
   successful grant/keepalive, and no later than ``ttl`` + the backend's granularity (embedded: the
   next store operation by any client or the background reaper after expiry; etcd: ~1 s). A backend
   may round ``ttl`` up (etcd: whole seconds, minimum set by the server); ``grant`` returns the id
   and :meth:`ClusterStore.lease_ttl` tells the granted TTL.
5. **Watch is ordered and gap-free.** Events of a prefix arrive in revision order, each revision at
   most once; events of one transaction share a revision. With ``start_revision=r`` every event with
   revision ``>= r`` is delivered (if the backend no longer has that history it raises
   :class:`WatchCompacted` and the caller reloads a snapshot). Without it, delivery starts with the
   first change made after the iterator's first ``__anext__`` began. A watcher that falls behind is
   never silently skipped ahead: it gets all events or an exception.
6. **Unavailability is loud.** When the backend cannot be reached within the client's timeout an
   operation raises :class:`StoreUnavailable`. For writes the outcome is then *unknown* (it may have
   been applied); callers re-read before acting on it. Nothing ever returns stale data silently.

Time: the embedded backend takes its clock as an argument so tests drive leases with a fake clock.
Closing: ``close()`` is idempotent; every operation after it raises :class:`StoreClosed`.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import NewType, Self

LeaseId = NewType("LeaseId", int)
"""Lease identifier, a positive int. ``None`` (not 0) means "no lease" in this API."""


class StoreError(Exception):
    """Base class of every error raised by a ClusterStore."""


class StoreUnavailable(StoreError):
    """The backend could not be reached (timeout, connection refused, no leader, lost quorum).

    For a write the outcome is unknown: re-read before concluding anything.
    """


class StoreClosed(StoreUnavailable):
    """The store client was closed with :meth:`ClusterStore.close`."""


class LeaseNotFound(StoreError):
    """The lease does not exist (never granted, revoked, or already expired)."""


class WatchCompacted(StoreError):
    """``start_revision`` is older than the history the backend still keeps; reload a snapshot."""

    def __init__(self, message: str, compact_revision: int) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


@dataclass(frozen=True, slots=True)
class KV:
    """One key's current value and metadata (etcd ``mvccpb.KeyValue``)."""

    key: str
    value: bytes
    mod_revision: int
    """Store revision of the last write to this key; the token for :meth:`ClusterStore.cas`."""
    create_revision: int
    """Store revision at which this incarnation of the key was created."""
    version: int
    """Writes since creation (1 = just created)."""
    lease: LeaseId | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """Result of :meth:`ClusterStore.list`: a consistent snapshot at ``revision``.

    Watch from ``revision + 1`` to see every later change without a gap.
    """

    kvs: tuple[KV, ...]
    revision: int


class EventType(enum.Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change seen by :meth:`ClusterStore.watch`.

    ``kv`` is the key after the change; for ``DELETE`` its value is ``b""``, ``version`` 0 and
    ``mod_revision`` the revision of the delete.
    """

    type: EventType
    kv: KV

    @property
    def key(self) -> str:
        return self.kv.key

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


# ---- transactions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of :meth:`ClusterStore.txn`; all given fields must hold.

    - ``mod_revision=r``: the key's ``mod_revision`` equals ``r``; ``r == 0`` means "key absent".
    - ``value=v``: the key exists and its value equals ``v``.
    With neither field set the compare is "key exists".
    """

    key: str
    mod_revision: int | None = None
    value: bytes | None = None


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    lease: LeaseId | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


Op = Put | Delete


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    """True when every compare held and ``on_success`` was applied, else ``on_failure`` was."""
    revision: int
    """Store revision after the transaction (unchanged if the applied branch changed nothing)."""


# ---- the interface --------------------------------------------------------------------------------


class ClusterStore(abc.ABC):
    """Abstract cluster state store. All methods are coroutines except :meth:`watch`.

    A ClusterStore object is one client of a (possibly shared) store; many clients in many processes
    may use the same store at once, and the guarantees in the module docstring hold across them.
    """

    # -- reads --
    @abc.abstractmethod
    async def get(self, key: str) -> KV | None:
        """The key's current KV, or None if absent."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> Listing:
        """Every key starting with ``prefix`` (``""`` = all), sorted by key, in one snapshot."""

    # -- writes --
    @abc.abstractmethod
    async def put(self, key: str, value: bytes, lease: LeaseId | None = None) -> int:
        """Unconditionally set ``key``; returns the new store revision.

        ``lease`` attaches the key to that lease (None detaches it). Raises :class:`LeaseNotFound`
        if the lease does not exist.
        """

    @abc.abstractmethod
    async def create(self, key: str, value: bytes, lease: LeaseId | None = None) -> bool:
        """Create ``key`` only if absent. True if created, False if it already existed."""

    @abc.abstractmethod
    async def cas(
        self, key: str, value: bytes, expected_revision: int, lease: LeaseId | None = None
    ) -> bool:
        """Set ``key`` only if its ``mod_revision`` equals ``expected_revision`` (0 = absent).

        True if written, False (nothing changed) otherwise.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete ``key``; True if it existed."""

    @abc.abstractmethod
    async def cas_delete(self, key: str, expected_revision: int) -> bool:
        """Delete ``key`` only if its ``mod_revision`` equals ``expected_revision``."""

    @abc.abstractmethod
    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix`` (must be non-empty) in one revision; returns the count."""

    @abc.abstractmethod
    async def txn(
        self, compares: Sequence[Compare], on_success: Sequence[Op], on_failure: Sequence[Op] = ()
    ) -> TxnResult:
        """If every compare holds apply ``on_success`` else ``on_failure``, atomically.

        Meant for a few keys (backends may cap it; etcd's default is 128 ops). An op on a key may
        appear at most once per branch. Raises :class:`LeaseNotFound` if a Put names a missing lease
        (then nothing is applied).
        """

    # -- leases --
    @abc.abstractmethod
    async def grant(self, ttl_s: float) -> LeaseId:
        """Create a lease that expires ``ttl_s`` seconds (rounded up by the backend) from now."""

    @abc.abstractmethod
    async def keepalive(self, lease: LeaseId) -> float:
        """Renew: the lease now expires a full TTL from now. Returns the TTL in seconds.

        Raises :class:`LeaseNotFound` if it already expired or was revoked (then its keys are gone
        and the holder must start over: grant a new lease and re-create its keys).
        """

    @abc.abstractmethod
    async def revoke(self, lease: LeaseId) -> None:
        """End the lease now, deleting its keys. Revoking an unknown lease is not an error."""

    @abc.abstractmethod
    async def lease_ttl(self, lease: LeaseId) -> float | None:
        """Seconds left before the lease expires, or None if it does not exist."""

    # -- watch --
    @abc.abstractmethod
    def watch(self, prefix: str, start_revision: int | None = None) -> AsyncIterator[WatchEvent]:
        """Changes to keys under ``prefix``, in revision order, until the iterator is closed.

        Use as ``async with contextlib.aclosing(store.watch(p, rev + 1)) as events: async for ev in
        events: ...``. Raises :class:`WatchCompacted` (history gone) or :class:`StoreUnavailable`
        from ``__anext__``; the caller then reloads a snapshot and watches again.
        """

    # -- lifecycle --
    @abc.abstractmethod
    async def revision(self) -> int:
        """The current store revision."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections/threads. Idempotent. Leases are *not* revoked by closing."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
