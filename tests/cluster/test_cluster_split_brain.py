"""No split brain: a coordinator frozen past its heartbeat lease grants nothing and journals nothing
once it runs again (issue 13, acceptance 4).

Three real ``sofs node`` processes, a continuously available share on Volume1. A client D is
connected to the volume's coordinator C. C is frozen with SIGSTOP; the cluster declares it down and
another node takes the volume over at a higher epoch; a client B on a survivor opens g.vhdx with no
sharing. D sends a CREATE of g.vhdx for write to the frozen C (the request waits in C's socket), then
C gets SIGCONT. C's lease has run out while it was stopped, so its coordinator may not act: D's open
is answered by the volume's real coordinator (a sharing violation), never granted by C. C's journal
file (the generation it had open, unlinked by the new coordinator) does not grow by a byte after
SIGCONT; the volume's journal holds only records of the new epoch; the open-file listing holds B's
open and not D's.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from cluster_proc import node_pids, sofs

smbprotocol = pytest.importorskip("smbprotocol")
from smbprotocol.create_contexts import CreateContextName, SMB2CreateDurableHandleRequestV2
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, ShareAccess
from test_cluster_ca_failover import (
    ADDR,
    _connect,
    _coordinator,
    _until,
    cluster,  # noqa: F401 - the fixture
)

from sofs.handlestate.journal import load_dir
from tests.interop.test_ca_durable import RW, _ctx

pytestmark = pytest.mark.interop
SHARING_VIOLATION = 0xC0000043


def _csv(state: Path) -> dict[str, object]:
    r = sofs("Get-ClusterSharedVolume", "-AsJson", state=state)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def _journal_fd(pid: int, journal: Path) -> str:
    """/proc/PID/fd/N of the journal generation the process writes."""
    seen = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            seen.append(target := os.readlink(f"/proc/{pid}/fd/{fd}"))
            if target.startswith(str(journal / "journal.")):  # linked in as journal.<gen> from a .tmp name
                return f"/proc/{pid}/fd/{fd}"
    raise AssertionError(f"process {pid} has no journal of {journal} open: {seen}")


def test_a_frozen_coordinator_grants_and_journals_nothing(cluster: tuple[Path, int], tmp_path: Path) -> None:
    state, port = cluster
    coord = _until(lambda: _coordinator(state), 30, "the volume's coordinator")
    old_epoch = int(_csv(state)["Epoch"])  # type: ignore[call-overload]
    other = [n for n in sorted(ADDR) if n != coord]
    pid = node_pids(state)[coord]
    journal = state / "ClusterStorage" / "Volume1" / ".sofs" / "journal"

    conn_d, tree_d = _until(lambda: _connect(ADDR[coord], port, uuid.uuid4()), 30, f"tree connect on {coord}")
    # the stale coordinator's journal file, held open by the test too (it is unlinked after the takeover)
    stale = os.open(_journal_fd(pid, journal), os.O_RDONLY)
    os.kill(pid, signal.SIGSTOP)
    try:
        def moved() -> dict[str, object]:
            csv = _csv(state)
            if csv["Node"] == coord or csv["State"] != "Online":
                raise ValueError(f"still {csv['Node']} ({csv['State']})")
            return csv
        csv = _until(moved, 60, "another node coordinating Volume1")
        new_epoch = int(csv["Epoch"])  # type: ignore[call-overload]
        assert new_epoch > old_epoch
        conn_b, tree_b = _until(lambda: _connect(ADDR[other[-1]], port, uuid.uuid4(), "bob"), 30, "client B")
        g = Open(tree_b, "g.vhdx")
        dh = SMB2CreateDurableHandleRequestV2()
        dh["timeout"], dh["flags"], dh["create_guid"] = 0, 0x2, uuid.uuid4()  # persistent: journaled
        _until(lambda: g.create(ImpersonationLevel.Impersonation, RW, 0x80, 0,  # no sharing
                                CreateDisposition.FILE_OVERWRITE_IF, 0x40,
                                [_ctx(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)]),
               30, "B's open of g.vhdx")
        g.write(b"B was here", 0)
        size_stopped = os.fstat(stale).st_size

        outcome: list[object] = []

        def d_opens() -> None:
            try:
                Open(tree_d, "g.vhdx").create(ImpersonationLevel.Impersonation, RW, 0x80,
                                              ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
                                              CreateDisposition.FILE_OPEN_IF, 0x40)
                outcome.append("granted")
            except SMBResponseException as e:
                outcome.append(e.status)
            except (SMBException, OSError, ValueError) as e:  # the frozen node dropped the connection
                outcome.append(repr(e))

        t = threading.Thread(target=d_opens, daemon=True)
        t.start()
        time.sleep(0.5)  # the CREATE sits in the frozen node's socket
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join(60)
    assert not t.is_alive(), "D's CREATE never got an answer"
    assert outcome and outcome[0] != "granted", "the frozen coordinator granted an open after its lease ran out"
    assert outcome[0] in (SHARING_VIOLATION,) or isinstance(outcome[0], str), outcome
    print(f"\nD's CREATE through the unfrozen {coord}: {outcome[0]!r}")
    # the CREATE reached the unfrozen coordinator, which refused to act on it (its node then fences
    # itself, stops SMB — D's connection closes — and rejoins as a client of the new coordinator)
    log = (state / f"{coord}.log").read_text()
    assert f"not the coordinator (epoch {old_epoch})" in log, log[-3000:]

    time.sleep(3)  # C runs again: whatever it would append, it has had time to
    assert os.fstat(stale).st_size == size_stopped, "the stale coordinator appended to its journal"
    os.close(stale)
    copy = tmp_path / "journal-copy"  # read a copy: loading cleans up the live directory
    shutil.copytree(journal, copy, ignore=shutil.ignore_patterns("*.tmp", "probe*"))
    res = load_dir(copy)
    assert res.entries and min(e.epoch for e in res.entries) >= new_epoch, \
        sorted({e.epoch for e in res.entries})
    assert res.fenced == 0

    rows = sofs("Get-SmbOpenFile", "-AsJson", state=state)
    assert rows.returncode == 0, rows.stdout + rows.stderr
    listed = json.loads(rows.stdout or "[]")
    listed = listed if isinstance(listed, list) else [listed]
    g_rows = [r for r in listed if str(r.get("ShareRelativePath", "")).lower() == "g.vhdx"]
    assert [r["ClusterNodeName"] for r in g_rows] == [other[-1]], listed
    g.close()
    conn_b.disconnect()
    conn_d.disconnect()
