"""A real 3-node cluster (``sofs cluster up 3``, loopback, accounts alice and bob) for the per-parameter
behaviour tests, and the cmdlets run in this process against it with ``-Cluster <state dir>``."""
from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.management.cmdlets import lookup
from tests.conftest import USERS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from cluster_proc import free_port_on, sofs
from test_mgmt_dashboard import until  # noqa: F401  (the tests' one polling helper)

ADDR = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}


@dataclass
class Live:
    state: Path
    port: int

    def ps(self, *argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
        """Run one cmdlet line; ``-Cluster <state>`` is added to its first command."""
        words = list(argv)
        cut = words.index("|") if "|" in words else len(words)
        if any(p.name == "Cluster" for p in lookup(words[0]).params):
            words[cut:cut] = ["-Cluster", str(self.state)]
        out, err = io.StringIO(), io.StringIO()
        code = main(words, stdout=out, stderr=err, cwd=str(cwd or self.state))
        return code, out.getvalue(), err.getvalue()

    def ok(self, *argv: str, cwd: Path | None = None) -> str:
        code, out, err = self.ps(*argv, cwd=cwd)
        assert code == 0, f"{argv}: {err}"
        return out

    def json(self, *argv: str) -> list[dict[str, Any]]:
        out = self.ok(*argv, "-AsJson")
        data = json.loads(out) if out.strip() else []
        return data if isinstance(data, list) else [data]

    def refused(self, *argv: str) -> str:
        code, _, err = self.ps(*argv)
        assert code != 0, f"{argv} was accepted"
        return err


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    state = tmp_path_factory.mktemp("params") / "cluster"
    state.mkdir()
    (state / "smb.toml").write_text("".join(f'[[user]]\nname = "{u}"\npassword = "{p}"\n' for u, p in USERS.items()))
    port = free_port_on(list(ADDR.values()))
    r = sofs("cluster", "up", "3", "--name", f"prm{uuid.uuid4().hex[:4]}", "--state-dir", str(state),
             "--delay-ms", "200", "--threshold", "5", "--smb-port", str(port))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield Live(state, port)
    finally:
        sofs("cluster", "down", "--state-dir", str(state), "--timeout", "5")
