"""Get-SmbOpenFile over the status files the nodes publish and the persistent-handle journals."""
from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.handlestate.journal import PersistentHandleJournal, journal_dir, snapshot_records
from sofs.handlestate.listing import close_requests, control_dir
from sofs.handlestate.model import Open as HOpen
from sofs.handlestate.table import OpenTable
from sofs.management.errors import ManagementError
from sofs.management.services.openfiles import OpenFileService
from sofs.management.services.shares import ShareInfo

SHARE_PATH = r"C:\ClusterStorage\Volume1\Shares\VMS"


class FakeShares:
    def __init__(self, *shares: ShareInfo) -> None:
        self.shares = list(shares)

    async def get_shares(self, names: Any = None) -> list[ShareInfo]:
        return [s for s in self.shares if not names or s.name in names]


def _volume(state: Path) -> Path:
    root = state / "ClusterStorage" / "Volume1" / "Shares" / "VMS"
    (root / ".sofs").mkdir(parents=True)
    return root


def _status(root: Path, node: str, rows: list[dict[str, Any]]) -> None:
    (root / ".sofs" / f"handles.{node}.json").write_text(json.dumps({"share": "VMS", "node": node, "opens": rows}))


def _journal_open(root: Path, *opens: tuple[int, str]) -> None:
    """Persistent opens (id, volume-relative path) in the journal of the share's Cluster Shared Volume,
    as the volume's coordinator leaves them when it dies."""
    table = OpenTable()
    j = PersistentHandleJournal(journal_dir(root.parents[1]), 1, lambda: snapshot_records(table))
    j.load()
    j.start()
    table.journal = j
    for i, (pid, path) in enumerate(opens):
        table.add_open(HOpen(persistent_id=pid, volatile_id=7, file_id=99 + i, path=path, stream=None,
                             is_directory=False, granted_access=0x3, share_access=1, create_options=0x40,
                             session_id=1, tree_id=1, client_guid=b"g" * 16, owner_sid="S-1-5-21-1-2-3-1000",
                             durable=True, persistent=True))

    async def finish() -> None:
        await j.commit()
        await j.close()

    asyncio.run(finish())


def run(svc: OpenFileService, *argv: str) -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        assert kind == "openfiles"
        return svc

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_lists_status_rows_and_journal_only_opens(tmp_path: Path) -> None:
    root = _volume(tmp_path)
    fid = (0x1234).to_bytes(8, "little") + (5).to_bytes(8, "little")
    _status(root, "n1", [{"file_id": fid.hex(), "path": "vm1/disk.vhdx", "client": "127.0.0.5:50000",
                          "user": "alice", "session_id": "0x2a", "kind": "persistent", "state": "connected",
                          "locks": [[0, 10, "X"]], "lease": 7}])
    # no coordinator runs: only the journal tells; another share's open on the same volume is not listed
    _journal_open(root, (0x9999, r"Shares\VMS\vm2\disk.vhdx"), (0x8888, r"Shares\Other\x.vhdx"))
    svc = OpenFileService(FakeShares(ShareInfo("VMS", "*", SHARE_PATH, continuously_available=True)), tmp_path)
    rows = asyncio.run(svc.get_open_files())
    assert [(r.file_id, r.share_relative_path, r.cluster_node_name, r.state) for r in rows] == [
        (0x1234, r"vm1\disk.vhdx", "n1", "Connected"), (0x9999, r"vm2\disk.vhdx", "", "Journal")]
    first = rows[0]
    assert first.path == SHARE_PATH + r"\vm1\disk.vhdx" and first.client_computer_name == "127.0.0.5"
    assert first.session_id == 0x2A and first.client_user_name == "alice" and first.locks == 1
    assert first.durability == "Persistent" and first.continuously_available and first.lease_state == 7

    code, out, err = run(svc, "Get-SmbOpenFile", "-ClusterNodeName", "n1")
    assert code == 0, err
    assert "vm1\\disk.vhdx" in out and "vm2" not in out and "127.0.0.5" in out
    code, out, err = run(svc, "Get-SmbOpenFile", "-ClientUserName", "bob")
    assert code == 0 and out.strip() == "", out


def test_journal_rows_hidden_when_a_node_publishes_the_open(tmp_path: Path) -> None:
    root = _volume(tmp_path)
    _journal_open(root, (0x77, r"Shares\VMS\a.vhdx"))
    fid = (0x77).to_bytes(8, "little") + (9).to_bytes(8, "little")
    _status(root, "n1", [{"file_id": fid.hex(), "path": "a.vhdx", "kind": "persistent", "state": "connected"}])
    svc = OpenFileService(FakeShares(ShareInfo("VMS", "*", SHARE_PATH, continuously_available=True)), tmp_path)
    rows = asyncio.run(svc.get_open_files())
    assert [(r.file_id, r.state) for r in rows] == [(0x77, "Connected")]


def test_close_smb_open_file_requests(tmp_path: Path) -> None:
    root = _volume(tmp_path)
    fid = (0x1234).to_bytes(8, "little") + (5).to_bytes(8, "little")
    _status(root, "n1", [{"file_id": fid.hex(), "path": "a.vhdx", "kind": "", "state": "connected"}])
    _journal_open(root, (0x9999, r"Shares\VMS\b.vhdx"))  # its coordinator is down
    svc = OpenFileService(FakeShares(ShareInfo("VMS", "*", SHARE_PATH, continuously_available=True)), tmp_path)

    code, _out, err = run(svc, "Close-SmbOpenFile", "-FileId", "5", "-Force")
    assert code != 0 and "No open file with FileId 5" in err
    code, _out, err = run(svc, "Close-SmbOpenFile", "-FileId", str(0x9999))
    assert code != 0 and "no running server coordinates" in err, err

    # n1 does not act on the request here: the request file is there, and the cmdlet says it timed out
    with pytest.raises(ManagementError, match="still open"):
        asyncio.run(svc.close_open_file(0x1234, wait_s=0.3))
    assert close_requests(root, "n1") == [(0x1234, control_dir(root, "n1") / "close.0000000000001234")]

    async def node_acts() -> None:  # what the node does within a tick: close, republish, drop the request
        await asyncio.sleep(0.2)
        _status(root, "n1", [])
        for _, path in close_requests(root, "n1"):
            path.unlink()

    async def both() -> list[Any]:
        return (await asyncio.gather(svc.close_open_file(0x1234, wait_s=3), node_acts()))[0]

    assert [r.file_id for r in asyncio.run(both())] == [0x1234]
