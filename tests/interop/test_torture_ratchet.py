"""The smbtorture ratchet: every test listed in ``tests/torture/passing.txt`` must keep passing.

Like Samba's ``selftest/knownfail`` turned around: the list holds what sofs passes today (grown as
features land, never shrunk to make CI green). The run starts a real ``sofs serve`` on loopback with
the fixture shares (``share``, ``ca``, ...) on tmpfs and runs each listed test in its own smbtorture
process through ``scripts/torture.sh``. Tests that pass but are not listed are printed, so the list
can be extended.

Lines are ``TEST`` or ``TEST  # comment``; ``share=NAME`` after the test name runs it on another
share (default ``share``).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, USERS, start_sofs, tmpfs_dir

LIST = Path(ROOT) / "tests" / "torture" / "passing.txt"
TORTURE = Path(ROOT) / "scripts" / "torture.sh"

# Fixture shares smbtorture tests connect to by name (as in samba-up.sh).
SHARES = {
    "share": "",
    "ca": "continuously_available = true",
    "hideunread": 'folder_enumeration_mode = "AccessBased"',
    # smb2.ioctl.bug14788.*: tree connect must succeed, then handle-less FSCTLs on that tree. Samba's
    # selftest makes it a mode-0000 directory (tcon still succeeds); sofs needs no option for that.
    "noperm": "",
}


def read_list() -> dict[str, list[str]]:
    by_share: dict[str, list[str]] = {}
    for raw in LIST.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *opts = line.split()
        share = "share"
        for o in opts:
            if o.startswith("share="):
                share = o.split("=", 1)[1]
        by_share.setdefault(share, []).append(name)
    return by_share


def run_torture(port: int, share: str, tests: list[str], outdir: Path) -> dict[str, tuple[str, str]]:
    env = dict(os.environ)
    outdir.mkdir(parents=True, exist_ok=True)
    env["TORTURE_OUTDIR"] = str(outdir)
    env["TORTURE_TIMEOUT"] = env.get("TORTURE_TIMEOUT", "60")
    env["TORTURE_OPTS"] = (f"--option=torture:user2name=bob --option=torture:user2password={USERS['bob']} "
                           + env.get("TORTURE_OPTS", ""))
    subprocess.run(["bash", str(TORTURE), "127.0.0.1", str(port), share, "alice", USERS["alice"], *tests],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=False)
    results: dict[str, tuple[str, str]] = {}
    with open(outdir / "results.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            results[row["test"]] = (row["result"], row["reason"])
    return results


WORKERS = int(os.environ.get("RATCHET_WORKERS", "3"))


def run_worker(index: int, jobs: list[tuple[str, str]],
               prepare: Callable[[Path], None] | None = None) -> list[str]:
    """One sofs server of its own (own shares, own port) running its slice of the list; ``prepare(root)``
    runs before the server starts (tests/ceph: the shares become CephFS mount points)."""
    root = tmpfs_dir(f"sofs-torture-{index}-")
    if prepare is not None:
        prepare(root)
    srv = start_sofs(root, shares=SHARES)
    failures: list[str] = []
    try:
        by_share: dict[str, list[str]] = {}
        for share, test in jobs:
            by_share.setdefault(share, []).append(test)
        for share, tests in by_share.items():
            results = run_torture(srv.port, share, tests, root / f"out-{share}")
            for t in tests:
                res, reason = results.get(t, ("missing", "no result"))
                if res != "success":
                    failures.append(f"{t} [{share}]: {res}: {reason}")
        if srv.proc.poll() is not None:
            failures.append(f"worker {index}: the server died during the run")
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
    return failures


@pytest.mark.interop
@pytest.mark.timeout(2400)
def test_smbtorture_ratchet() -> None:
    if shutil.which("smbtorture") is None:
        pytest.fail("smbtorture is not installed: run scripts/setup.sh")
    wanted = read_list()
    if not wanted:
        pytest.skip("ratchet list is empty")
    jobs = [(share, t) for share, tests in wanted.items() for t in tests]
    slices = [jobs[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        failures = [f for part in pool.map(run_worker, range(WORKERS), slices) for f in part]
    assert not failures, "smbtorture regressions:\n" + "\n".join(sorted(failures))
