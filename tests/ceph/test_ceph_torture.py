"""The smbtorture ratchet on Ceph-backed shares: every test in ``tests/torture/ceph_passing.txt`` must pass
against a ``sofs serve`` whose fixture shares (``share``, ``ca``, ``hideunread``, ``noperm``) are CephFS
directories served through ``CephVfs``.

The default run takes a representative slice (``CEPH_DEFAULT_EVERY``: every 5th listed test, each group
represented) to keep CI short; ``-m slow`` runs the whole list. Tests of the main ratchet that are not in
the Ceph list are listed with their cause in ``tests/torture/ceph_differences.txt``.
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ceph_fixture import ceph_share_dir, shared_ceph
from conftest import ROOT

sys.path.insert(0, str(Path(ROOT) / "tests" / "interop"))
from test_torture_ratchet import SHARES, run_worker

LIST = Path(ROOT) / "tests" / "torture" / "ceph_passing.txt"
CEPH_DEFAULT_EVERY = 5
WORKERS = int(os.environ.get("RATCHET_WORKERS", "2"))


def read_list(path: Path) -> list[tuple[str, str]]:
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *opts = line.split()
        share = next((o.split("=", 1)[1] for o in opts if o.startswith("share=")), "share")
        out.append((share, name))
    return out


def representative(jobs: list[tuple[str, str]], every: int) -> list[tuple[str, str]]:
    """Every ``every``-th test of each smbtorture group (at least one per group), in list order."""
    by_group: dict[str, list[tuple[str, str]]] = {}
    for job in jobs:
        by_group.setdefault(".".join(job[1].split(".")[:2]), []).append(job)
    picked = {j for tests in by_group.values() for j in tests[::every]}
    return [j for j in jobs if j in picked]


def ceph_shares(root: Path) -> None:
    c = shared_ceph()
    for name in SHARES:
        ceph_share_dir(c, root / "shares" / name)


def _run(jobs: list[tuple[str, str]]) -> None:
    if shutil.which("smbtorture") is None:
        pytest.fail("smbtorture is not installed: run scripts/setup.sh")
    shared_ceph()
    slices = [jobs[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(WORKERS) as pool:
        failures = [f for part in pool.map(functools.partial(run_worker, prepare=ceph_shares), range(WORKERS),
                                           slices) for f in part]
    assert not failures, "smbtorture regressions on Ceph:\n" + "\n".join(sorted(failures))


@pytest.mark.interop
@pytest.mark.timeout(1800)
def test_smbtorture_ceph_representative() -> None:
    _run(representative(read_list(LIST), CEPH_DEFAULT_EVERY))


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.timeout(5400)
def test_smbtorture_ceph_full() -> None:
    _run(read_list(Path(os.environ.get("SOFS_CEPH_TORTURE_LIST", str(LIST)))))
