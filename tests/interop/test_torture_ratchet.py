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


@pytest.mark.interop
def test_smbtorture_ratchet() -> None:
    if shutil.which("smbtorture") is None:
        pytest.fail("smbtorture is not installed: run scripts/setup.sh")
    wanted = read_list()
    if not wanted:
        pytest.skip("ratchet list is empty")
    root = tmpfs_dir("sofs-torture-")
    srv = start_sofs(root, shares=SHARES)
    try:
        failures = []
        for share, tests in wanted.items():
            results = run_torture(srv.port, share, tests, root / f"out-{share}")
            for t in tests:
                res, reason = results.get(t, ("missing", "no result"))
                if res != "success":
                    failures.append(f"{t} [{share}]: {res}: {reason}")
        assert srv.proc.poll() is None, "the server died during the smbtorture run"
        assert not failures, "smbtorture regressions:\n" + "\n".join(failures)
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)
