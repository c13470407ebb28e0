"""Test-Cluster: real validation checks of a cluster (or of would-be nodes), with progress output.

Every check is an async function ``check(env) -> (status, detail)``; :func:`run_checks` wraps each into
a :class:`CheckResult` (name, category, status, detail, duration). Statuses: ``Pass``, ``Warn``,
``Fail``, ``Skip`` (Windows' "Not Applicable"). All I/O goes through :class:`CheckEnv` fields
(``connect``, ``now``, ``store``, ``probe_witness``) so tests can inject fakes; the defaults are real
(TCP connects on loopback, the cluster store, the witness's own ``probe()``).

Checks (categories as in the Windows validation wizard):

- Inventory / "List cluster nodes": the requested nodes are known (cluster member or resolvable).
- Network / "Validate node reachability": the node's heartbeat lease is alive in the store (state not
  Down) and its address answers a TCP SYN (a refusal also proves the host is reachable).
- Network / "Validate SMB port": the SMB port accepts connections on every node.
- System Configuration / "Validate clock skew": node-reported time (heartbeat record, refreshed at least
  every ``heartbeat_refresh_s``) vs the local clock; detects clocks ahead and behind.
- Cluster Configuration / "Validate cluster store": put, get, failing CAS, CAS, delete round-trip.
- Quorum / "Validate witness": the configured witness answers ``probe()``; a warning when none is
  configured with an even number of voters.
- Storage / "Validate volume paths": every volume path exists, is writable, and has free space.
"""
from __future__ import annotations

import asyncio
import errno
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO

PASS, WARN, FAIL, SKIP = "Pass", "Warn", "Fail", "Skip"
MIN_FREE_BYTES = 1 << 30  # below this a volume gets a warning
SKEW_WARN_S = 5.0
SKEW_FAIL_S = 300.0  # Kerberos' default tolerance
SKEW_SLACK_S = 1.0  # scheduling + store latency between a node's write and our read


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """A node to validate: its name, address and SMB port; heartbeat fields when the store knows it."""

    name: str
    address: str
    smb_port: int = 445
    member: bool = False
    state: str = ""
    last_heartbeat: float | None = None  # node's wall clock at its last heartbeat (unix seconds)
    heartbeat_refresh_s: float = 0.0  # the node rewrites last_heartbeat at least this often (0: unknown)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report (``Test-Cluster`` output objects)."""

    PS_TABLE: ClassVar[tuple[str, ...]] = ("category", "name", "status")
    name: str
    category: str
    status: str
    detail: str
    duration_ms: float = 0.0


async def tcp_probe(host: str, port: int, timeout: float) -> str:
    """``"open"`` (accepted), ``"refused"`` (host answered RST) or ``"unreachable: <why>"``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "unreachable: timed out"
    except OSError as e:
        if e.errno == errno.ECONNREFUSED:
            return "refused"
        return f"unreachable: {e.strerror or e}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return "open"


@dataclass
class CheckEnv:
    """Everything the checks look at; built by the Test-Cluster cmdlet from the live cluster."""

    nodes: list[NodeTarget]
    unknown_nodes: list[str] = field(default_factory=list)  # requested but neither member nor resolvable
    store: Any = None  # a sofs.cluster.store.ClusterStore, or None when no cluster is reachable
    witness: dict[str, Any] | None = None  # sofs.cluster.witness.from_config dict, None = no witness
    probe_witness: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
    volume_paths: list[str] = field(default_factory=list)
    heartbeat_delay_s: float = 1.0
    heartbeat_threshold: int = 10
    now: Callable[[], float] = time.time
    connect: Callable[[str, int, float], Awaitable[str]] = tcp_probe
    timeout: float = 2.0


CheckFn = Callable[[CheckEnv], Awaitable[tuple[str, str]]]


async def check_inventory(env: CheckEnv) -> tuple[str, str]:
    lines = [f"{n.name}: {n.address}:{n.smb_port}" + (" (cluster member)" if n.member else "") for n in env.nodes]
    if env.unknown_nodes:
        lines += [f"{n}: not a cluster member and the name does not resolve" for n in env.unknown_nodes]
        return FAIL, "\n".join(lines)
    if not env.nodes:
        return FAIL, "No nodes to validate (pass -Node, or run against a running cluster)."
    return PASS, "\n".join(lines)


async def check_reachability(env: CheckEnv) -> tuple[str, str]:
    if not env.nodes:
        return SKIP, "No nodes."
    lines, bad, partial = [], 0, 0
    answers = await asyncio.gather(*(env.connect(n.address, n.smb_port, env.timeout) for n in env.nodes))
    for n, ans in zip(env.nodes, answers, strict=True):
        net_ok = not ans.startswith("unreachable")
        if n.member:
            # the heartbeat key lives on a lease of TTL delay x threshold: present <=> not Down
            hb_ok = n.state in ("Up", "Paused", "Joining")
            hb = f"heartbeat lease {'alive' if hb_ok else 'expired'} (state {n.state or 'unknown'})"
        else:
            hb_ok, hb = True, "not a member (no heartbeat expected)"
        lines.append(f"{n.name} ({n.address}): network {'answers' if net_ok else ans}; {hb}")
        if not net_ok and not hb_ok:
            bad += 1
        elif not (net_ok and hb_ok):
            partial += 1
    return (FAIL if bad else WARN if partial else PASS), "\n".join(lines)


async def check_smb_port(env: CheckEnv) -> tuple[str, str]:
    if not env.nodes:
        return SKIP, "No nodes."
    answers = await asyncio.gather(*(env.connect(n.address, n.smb_port, env.timeout) for n in env.nodes))
    lines = [f"{n.name}: {n.address}:{n.smb_port} {'listening' if a == 'open' else a}"
             for n, a in zip(env.nodes, answers, strict=True)]
    return (PASS if all(a == "open" for a in answers) else FAIL), "\n".join(lines)


async def check_clock_skew(env: CheckEnv) -> tuple[str, str]:
    """Each node writes its wall clock into its heartbeat record (``last_heartbeat``) at least every
    ``heartbeat_refresh_s`` seconds, and we read it at most one SameSubnetDelay (+ slack) after that.

    A time in the future means that node's clock is ahead of ours by at least the difference. A time
    older than ``refresh + delay + slack`` means its clock is behind by at least the excess (or the
    node is hung and not yet Down). A node that does not publish ``heartbeat_refresh_s`` (older
    version: record rewritten only on change) can only be checked for being ahead."""
    reported = [n for n in env.nodes if n.last_heartbeat is not None]
    if not reported:
        return SKIP, "No node has reported its time to the cluster store."
    now = env.now()
    worst, lines = 0.0, []
    for n in reported:
        assert n.last_heartbeat is not None
        age = now - n.last_heartbeat
        bound = n.heartbeat_refresh_s + env.heartbeat_delay_s + SKEW_SLACK_S
        if age < 0:
            lines.append(f"{n.name}: clock at least {-age:.3f}s ahead of this machine")
            worst = max(worst, -age)
        elif n.heartbeat_refresh_s <= 0:
            lines.append(f"{n.name}: time sample {age:.1f}s old; the node does not refresh it, so only "
                         "a clock ahead can be detected")
        elif age > bound:
            lines.append(f"{n.name}: clock at least {age - bound:.3f}s behind this machine (time sample "
                         f"{age:.1f}s old, refreshed every {n.heartbeat_refresh_s:g}s), or the node is hung")
            worst = max(worst, age - bound)
        else:
            lines.append(f"{n.name}: within {bound:.1f}s (time sample {age:.3f}s old)")
    status = FAIL if worst > SKEW_FAIL_S else WARN if worst > SKEW_WARN_S else PASS
    lines.append(f"largest measured skew {worst:.3f}s (warn > {SKEW_WARN_S:g}s, fail > {SKEW_FAIL_S:g}s)")
    return status, "\n".join(lines)


async def check_store(env: CheckEnv) -> tuple[str, str]:
    if env.store is None:
        return FAIL, "No cluster store is reachable."
    st = env.store
    key = f"/sofs/health/{uuid.uuid4().hex}"
    steps: list[str] = []
    try:
        rev = await st.put(key, b"ping")
        steps.append(f"put revision {rev}")
        kv = await st.get(key)
        if kv is None or kv.value != b"ping":
            return FAIL, "\n".join(steps + ["read back a different value"])
        steps.append("get returned the written value")
        if await st.cas(key, b"stale", 0):  # 0 = "expect absent": must lose against the existing key
            return FAIL, "\n".join(steps + ["compare-and-set with a stale revision succeeded"])
        steps.append("cas expecting an absent key refused")
        if not await st.cas(key, b"pong", kv.mod_revision):
            return FAIL, "\n".join(steps + ["compare-and-set with the current revision failed"])
        steps.append("cas with the current revision applied")
        await st.delete(key)
        steps.append("delete ok")
    except Exception as e:  # noqa: BLE001 - a failed health check is a result, not a crash
        return FAIL, "\n".join(steps + [f"{type(e).__name__}: {e}"])
    return PASS, "\n".join(steps)


async def check_witness(env: CheckEnv) -> tuple[str, str]:
    voters = sum(1 for n in env.nodes if n.member)
    if not env.witness:
        if voters and voters % 2 == 0:
            return WARN, (f"No witness is configured and the cluster has {voters} voting nodes; a witness " \
                         "is recommended (Set-ClusterQuorum -FileShareWitness / -CloudWitness / -DiskWitness).")
        return SKIP, "No witness configured (node majority)."
    if env.probe_witness is None:
        return FAIL, "No witness prober available."
    kind = env.witness.get("type", "?")
    try:
        status = await asyncio.wait_for(env.probe_witness(env.witness), env.timeout + 5)
    except Exception as e:  # noqa: BLE001 - any probe failure is a Fail result
        return FAIL, f"{kind} witness: probe raised {type(e).__name__}: {e}"
    reachable = bool(getattr(status, "reachable", False))
    holder = getattr(status, "holder", None)
    detail = f"{kind} witness: {'reachable' if reachable else 'unreachable'}" + \
             (f"; held by {holder}" if holder else "") + \
             (f"; {status.detail}" if getattr(status, "detail", "") else "")
    return (PASS if reachable else FAIL), detail


def volume_status(path: str) -> tuple[str, str]:
    """One volume path: exists, writable (create+delete a probe file), free space."""
    if not os.path.isdir(path):
        return FAIL, f"{path}: does not exist or is not a directory"
    probe = os.path.join(path, f".sofs-validate-{uuid.uuid4().hex}")
    try:
        with open(probe, "wb") as f:
            f.write(b"x")
        os.unlink(probe)
    except OSError as e:
        return FAIL, f"{path}: not writable ({e.strerror})"
    free = shutil.disk_usage(path).free
    low = free < MIN_FREE_BYTES
    return (WARN if low else PASS), f"{path}: writable, {free / (1 << 30):.1f} GB free" + (" (low)" if low else "")


async def check_volumes(env: CheckEnv) -> tuple[str, str]:
    if not env.volume_paths:
        return SKIP, "No volume paths to check."
    found = [await asyncio.to_thread(volume_status, p) for p in env.volume_paths]
    statuses = {s for s, _ in found}
    status = FAIL if FAIL in statuses else WARN if WARN in statuses else PASS
    return status, "\n".join(d for _, d in found)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    category: str
    fn: CheckFn


CHECKS: tuple[Check, ...] = (
    Check("List cluster nodes", "Inventory", check_inventory),
    Check("Validate node reachability", "Network", check_reachability),
    Check("Validate SMB port", "Network", check_smb_port),
    Check("Validate clock skew", "System Configuration", check_clock_skew),
    Check("Validate cluster store", "Cluster Configuration", check_store),
    Check("Validate witness", "Quorum", check_witness),
    Check("Validate volume paths", "Storage", check_volumes),
)
CATEGORIES = tuple(dict.fromkeys(c.category for c in CHECKS))


def select_checks(include: Sequence[str] | None = None, ignore: Sequence[str] | None = None) -> list[Check]:
    """``-Include``/``-Ignore`` match a category or a test name (case-insensitive). Unknown -> ValueError.

    "Scale-Out File Server" (the reference workflow's -Include) selects every check.
    """
    def matches(c: Check, words: Sequence[str]) -> bool:
        return any(w.lower() in (c.category.lower(), c.name.lower(), "scale-out file server") for w in words)

    known = {c.category.lower() for c in CHECKS} | {c.name.lower() for c in CHECKS} | {"scale-out file server"}
    for w in (*(include or ()), *(ignore or ())):
        if w.lower() not in known:
            raise ValueError(f"The test or category '{w}' is not known. Known categories: "
                             f"{', '.join(CATEGORIES)}, Scale-Out File Server.")
    out = [c for c in CHECKS if not include or matches(c, include)]
    return [c for c in out if not ignore or not matches(c, ignore)]


class Progress:
    """``[3/7] Validate clock skew ...``: redrawn in place on a TTY, one plain line per step otherwise."""

    def __init__(self, stream: TextIO | None, total: int, tty: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.tty = bool(tty if tty is not None else (stream is not None and stream.isatty()))

    def step(self, i: int, name: str) -> None:
        if self.stream is None:
            return
        text = f"[{i}/{self.total}] {name} ..."
        if self.tty:
            width = 30
            done = width * (i - 1) // max(self.total, 1)
            self.stream.write(f"\r\x1b[K[{'#' * done}{'.' * (width - done)}] {text}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


async def run_checks(env: CheckEnv, checks: Sequence[Check], progress: Progress | None = None,
                     clock: Callable[[], float] = time.monotonic) -> list[CheckResult]:
    """Run ``checks`` in order; a check that raises becomes a Fail with the exception text."""
    results: list[CheckResult] = []
    for i, c in enumerate(checks, 1):
        if progress:
            progress.step(i, c.name)
        t0 = clock()
        try:
            status, detail = await c.fn(env)
        except Exception as e:  # noqa: BLE001 - a crashing check is a Fail, the run goes on
            status, detail = FAIL, f"check raised {type(e).__name__}: {e}"
        results.append(CheckResult(c.name, c.category, status, detail, round((clock() - t0) * 1000, 1)))
    if progress:
        progress.done()
    return results


def overall(results: Sequence[CheckResult]) -> str:
    """Windows' summary wording: Validated / ConditionallyApproved (warnings) / Failed."""
    if any(r.status == FAIL for r in results):
        return "Failed"
    if any(r.status == WARN for r in results):
        return "ConditionallyApproved"
    return "Validated"


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: sofs Test-Cluster -Node n1,n2")
