"""Cross-decode srvsvc/wkssvc/DCE-RPC with Samba's own NDR code (python3-samba, system Python)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _samba_available() -> bool:
    if not shutil.which(SYSTEM_PYTHON):
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import samba.dcerpc.srvsvc, samba.ndr"], check=False, capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _samba_available(), reason="python3-samba not installed (apt-get install python3-samba)")
def test_samba_decodes_what_we_encode() -> None:
    proc = subprocess.run(
        [SYSTEM_PYTHON, os.path.join(HERE, "samba_oracle.py"), ROOT],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK ") and int(proc.stdout.split()[1]) > 100
