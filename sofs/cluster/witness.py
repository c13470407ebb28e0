"""Quorum witnesses: the tie-breaking vote of a failover cluster.

A witness is an external arbiter that at most one node (and so at most one partition) holds at a
time. The node agent calls :meth:`Witness.acquire` periodically while it wants the witness vote and
:meth:`Witness.renew` to keep it; a holder that stops renewing loses the witness after ``ttl``
seconds, after which another node's ``acquire`` succeeds.

Contract (every backend, checked by ``tests/cluster/test_cluster_witness_*.py``):

* ``acquire(cluster_id, node, epoch)`` returns a :class:`WitnessClaim` when ``node`` now holds the
  witness (taking it, or renewing it when ``node`` already holds it), else ``None``. It never raises
  for ordinary failures (held by another node, witness unreachable, timeout): those return ``None``
  and are visible through :meth:`Witness.probe`. Every call is bounded by the witness ``timeout``.
* A claim is valid for the holder until ``claim.valid_until`` on the *holder's* ``time.monotonic()``
  clock; that deadline is computed from the moment *before* the write that granted it, so the holder
  stops counting on the vote no later than any other node could take it over.
* ``renew(claim)`` returns a fresh claim or ``None`` when the witness was lost (taken over, or
  unreachable long enough that the holder must assume it lost it).
* ``release(claim)`` gives the witness up at once (clean shutdown); never raises.
* ``probe()`` returns a :class:`WitnessStatus` for ``Test-Cluster`` / ``Get-ClusterQuorum``.

How takeover after a TTL is decided without trusting clocks across machines (file-share and disk
backends; the cloud backend uses the blob service's own lease timer): every write of the witness
record increments ``seq``. A challenger remembers when (on its own monotonic clock) it first saw the
current ``seq``; if the record has not changed for longer than ``ttl`` the holder has stopped
renewing and the challenger may take it. Only clock *rates* must agree, not clock values. That rule
is the pure function :func:`decide_takeover`.
"""
from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

DEFAULT_TTL = 10.0
DEFAULT_TIMEOUT = 5.0


class WitnessError(Exception):
    """A witness configuration error (bad ``from_config`` dict). Runtime failures return ``None``."""


@dataclass(frozen=True, slots=True)
class WitnessClaim:
    """Proof that ``node`` holds the witness for ``cluster_id``.

    ``generation`` increases every time the witness changes hands (a fencing token);
    ``valid_until`` is a deadline on the holder's ``time.monotonic()`` clock; ``token`` is
    backend-private (the blob lease id, the record ``seq``)."""

    cluster_id: str
    node: str
    epoch: int
    generation: int
    valid_until: float
    token: str = ""


@dataclass(frozen=True, slots=True)
class WitnessStatus:
    """What ``probe()`` saw: for Test-Cluster's "witness reachability" check and Get-ClusterQuorum."""

    kind: str
    reachable: bool
    holder: str | None = None
    epoch: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WitnessRecord:
    """The record the disk and file-share witnesses store (JSON, one small file)."""

    cluster_id: str = ""
    node: str = ""
    epoch: int = 0
    generation: int = 0
    seq: int = 0
    range_locked: bool = False  # disk witness: the holder holds the OFD holder-range lock

    def encode(self) -> bytes:
        d = {
            "cluster_id": self.cluster_id, "node": self.node, "epoch": self.epoch,
            "generation": self.generation, "seq": self.seq, "range_locked": self.range_locked,
        }
        return (json.dumps(d, sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, data: bytes) -> WitnessRecord:
        """An empty or unreadable file is a free witness (seq 0): a torn first write loses nothing."""
        try:
            d = json.loads(data.decode() or "{}")
            return cls(
                cluster_id=str(d.get("cluster_id", "")), node=str(d.get("node", "")),
                epoch=int(d.get("epoch", 0)), generation=int(d.get("generation", 0)),
                seq=int(d.get("seq", 0)), range_locked=bool(d.get("range_locked", False)),
            )
        except (ValueError, AttributeError, TypeError):
            return cls()

    @property
    def free(self) -> bool:
        return not self.node


@dataclass(slots=True)
class Observation:
    """A challenger's memory of the record it last saw: its ``seq`` and when it first saw it."""

    seq: int = -1
    first_seen: float = 0.0


def decide_takeover(record: WitnessRecord, me: str, now: float, seen: Observation, ttl: float,
                    holder_dead: bool = False) -> bool:
    """May ``me`` write itself into the witness record?  Pure; updates ``seen``.

    True when the witness is free, already ours, the holder is known dead (``holder_dead``: the disk
    witness saw the holder's OFD lock vanish), or the record has not changed for more than ``ttl``
    seconds of the challenger's clock ``now``."""
    if record.seq != seen.seq:
        seen.seq, seen.first_seen = record.seq, now
    if record.free or record.node == me or holder_dead:
        return True
    return now - seen.first_seen > ttl


def next_record(record: WitnessRecord, cluster_id: str, me: str, epoch: int,
                range_locked: bool = False) -> WitnessRecord:
    """The record ``me`` writes to take or renew the witness (generation bumps on a change of hands)."""
    generation = record.generation if record.node == me else record.generation + 1
    return WitnessRecord(cluster_id=cluster_id, node=me, epoch=epoch, generation=generation,
                         seq=record.seq + 1, range_locked=range_locked)


def released_record(record: WitnessRecord) -> WitnessRecord:
    """The record a holder writes on clean release: free, but keeping generation and epoch."""
    return WitnessRecord(cluster_id=record.cluster_id, epoch=record.epoch,
                         generation=record.generation, seq=record.seq + 1)


class Witness(abc.ABC):
    """Async quorum witness (see the module docstring for the contract).

    ``ttl``: seconds a holder keeps the witness without renewing; ``timeout``: bound on every
    call; ``cluster_id``: the cluster whose holder ``probe()`` reports (set by ``acquire`` if empty).
    """

    kind: ClassVar[str] = ""

    def __init__(self, *, ttl: float = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT,
                 cluster_id: str = "") -> None:
        self.ttl = float(ttl)
        self.timeout = float(timeout)
        self.cluster_id = cluster_id

    @abc.abstractmethod
    async def acquire(self, cluster_id: str, node: str, epoch: int) -> WitnessClaim | None: ...

    async def renew(self, claim: WitnessClaim) -> WitnessClaim | None:
        """Default: renewing is acquiring again as the same node with the same epoch."""
        return await self.acquire(claim.cluster_id, claim.node, claim.epoch)

    @abc.abstractmethod
    async def release(self, claim: WitnessClaim) -> None: ...

    @abc.abstractmethod
    async def probe(self) -> WitnessStatus: ...

    async def close(self) -> None:
        """Free client resources (connections, file descriptors). Does not release a claim."""

    def config(self) -> dict[str, Any]:
        """The dict ``from_config`` rebuilds this witness from (secrets included: store it with care)."""
        return {"type": self.kind, "ttl": self.ttl, "timeout": self.timeout}


def from_config(cfg: dict[str, Any], clock: Callable[[], float] | None = None) -> Witness:
    """Build a witness from its stored configuration.

    ``clock`` (default ``time.monotonic``) is the clock of ``WitnessClaim.valid_until`` and of TTL
    observation; inject the same clock the caller compares ``valid_until`` with.

    ``{"type": "disk", "path": "/vol/witness.lock"}``;
    ``{"type": "fileshare", "share": "\\\\server[:port]\\share", "username": ..., "password": ...,
    "port": 445}`` (port optional);
    ``{"type": "cloud", "account_name": ..., "access_key": ..., "endpoint": ...,
    "container": "sofs-witness"}`` (endpoint: a blob service URL, or a WSFC-style endpoint suffix
    such as ``core.windows.net``; optional). Every type also takes ``ttl``, ``timeout`` and ``cluster_id``.
    """
    kind = str(cfg.get("type", "")).lower()
    common: dict[str, Any] = {
        k: cfg[k] for k in ("ttl", "timeout", "cluster_id") if k in cfg and cfg[k] is not None
    }
    if clock is not None:
        common["clock"] = clock
    if kind == "disk":
        from sofs.cluster.witness_disk import DiskWitness
        w: Witness = DiskWitness(path=str(cfg["path"]), **common)
        return w
    if kind in ("fileshare", "file_share", "share"):
        from sofs.cluster.witness_fileshare import FileShareWitness
        port = cfg.get("port")
        w = FileShareWitness(
            share=str(cfg["share"]), username=cfg.get("username"), password=cfg.get("password"),
            port=int(port) if port else None, **common,
        )
        return w
    if kind == "cloud":
        from sofs.cluster.witness_cloud import CloudWitness
        w = CloudWitness(
            account_name=str(cfg["account_name"]), access_key=str(cfg["access_key"]),
            endpoint=cfg.get("endpoint"), container=str(cfg.get("container", "sofs-witness")), **common,
        )
        return w
    raise WitnessError(f"unknown witness type {kind!r}")
