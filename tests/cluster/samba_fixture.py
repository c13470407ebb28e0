"""A private Samba smbd on 127.0.0.1 for tests, through the repo's scripts/samba-up.sh/-down.sh.

State and share root live under ``/dev/shm/sofs-samba-<random>`` (mode 0755: smbd's children run as
the share user and must traverse every parent, see the script header). Needs root and ``smbd``;
:func:`samba_skip_reason` says why a test cannot run here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from etcd_fixture import free_ports

ROOT = Path(__file__).resolve().parents[2]
UP = ROOT / "scripts" / "samba-up.sh"
DOWN = ROOT / "scripts" / "samba-down.sh"
USER, PASSWORD = "sofs", "Passw0rd!"


def samba_skip_reason() -> str | None:
    if shutil.which("smbd") is None:
        return "smbd not installed (scripts/install-samba.sh)"
    if os.geteuid() != 0:
        return "private Samba needs root (creates Unix users)"
    return None


class PrivateSamba:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="sofs-samba-", dir="/dev/shm"))
        os.chmod(self.base, 0o755)
        self.state = self.base / "state"
        self.port = free_ports(1)[0]
        self.pid: int | None = None

    @property
    def share(self) -> str:
        """UNC path of the ordinary read/write share."""
        return r"\\127.0.0.1\share"

    def start(self) -> None:
        env = {**os.environ, "SHARE_ROOT": str(self.base / "shares")}
        out = subprocess.run(["bash", str(UP), str(self.state), str(self.port), "127.0.0.1"], env=env, check=False,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"samba-up.sh failed: {out.stderr}")
        self.pid = int(out.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.state.exists():
            subprocess.run(["bash", str(DOWN), str(self.state)], check=False, capture_output=True, timeout=60)
        self.pid = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cleanup()
