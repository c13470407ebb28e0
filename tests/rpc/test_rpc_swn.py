"""[MS-SWN]: the protocol checks (table) and the NDR cross-checked by Samba's own code (python3-samba)."""
from __future__ import annotations

import os
import subprocess

import pytest

from sofs.rpc import swn_ndr as n
from sofs.rpc.swn import check_register

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.parametrize("version,ex,net,ip,client,want", [
    (0, False, None, None, None, n.ERROR_REVISION_MISMATCH),
    (n.WITNESS_V2, False, "SOFS", "127.0.0.13", "C", n.ERROR_REVISION_MISMATCH),
    (n.WITNESS_V1, True, "SOFS", "127.0.0.13", "C", n.ERROR_REVISION_MISMATCH),
    (0xFFFFFFFF, True, None, None, None, n.ERROR_REVISION_MISMATCH),
    (n.WITNESS_V1, False, "", "", "", n.ERROR_INVALID_PARAMETER),
    (n.WITNESS_V1, False, "127.0.0.11", None, "C", n.ERROR_INVALID_PARAMETER),
    (n.WITNESS_V2, True, None, None, "C", n.ERROR_INVALID_PARAMETER),
    (n.WITNESS_V1, False, "SOFS", "127.0.0.13", "C", n.ERROR_SUCCESS),
    (n.WITNESS_V2, True, "SOFS", "127.0.0.13", "C", n.ERROR_SUCCESS),
])
def test_check_register(version: int, ex: bool, net: str | None, ip: str | None, client: str | None,
                        want: int) -> None:
    assert check_register(n.RegisterArgs(version, net, ip, client, ex=ex)) == want


def test_golden_resource_change() -> None:
    assert n.resource_change("a", n.RESOURCE_AVAILABLE) == bytes.fromhex("0c000000" "01000000" "6100" "0000")
    assert n.ipaddr_info_list([("10.0.0.1", n.IPADDR_ONLINE)]) == bytes.fromhex(
        "18000000" "00000000" "01000000" "09000000" "0a000001") + bytes(16)


def test_samba_decodes_what_we_encode() -> None:
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import samba.dcerpc.witness"], capture_output=True, check=False) \
        if os.path.exists(SYSTEM_PYTHON) else None
    if probe is None or probe.returncode != 0:
        pytest.skip("python3-samba not installed")
    proc = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "swn_oracle.py"), ROOT], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK ") and int(proc.stdout.split()[1]) >= 15
