"""SmbShare cmdlets through the CLI entry point against a real embedded cluster store."""
from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sofs.cli.cmdlet_cmd import main
from sofs.cluster.store_embedded import open_embedded
from sofs.config import ShareConfig
from sofs.management.services.shares import PREFIX, ShareService


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def run(state: Path, *argv: str) -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        assert kind == "shares"
        return ShareService(await open_embedded(state), state_dir=state)

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def stored(state: Path, name: str) -> dict[str, Any]:
    async def body() -> dict[str, Any]:
        st = await open_embedded(state)
        try:
            kv = await st.get(PREFIX + name.lower())
            assert kv is not None
            return dict(json.loads(kv.value))
        finally:
            await st.close()
    return asyncio.run(body())


def test_new_share_on_a_missing_folder_is_refused_or_created(state: Path) -> None:
    path = r"C:\ClusterStorage\Volume1\Shares\New"
    code, _, err = run(state, "New-SmbShare", "-Name", "New", "-Path", path)
    local = state / "ClusterStorage" / "Volume1" / "Shares" / "New"
    assert code == 1 and f"does not exist (on this machine: {local})" in err and "-CreatePath" in err, err
    code, _, err = run(state, "New-SmbShare", "-Name", "New", "-Path", path, "-CreatePath")
    assert code == 0 and local.is_dir(), err
    code, _, err = run(state, "New-SmbShare", "-Name", "Odd", "-Path", r"D:\Data")
    assert code == 1 and "not on a cluster volume" in err, err
    code, _, err = run(state, "New-SmbShare", "-Name", "Up", "-Path", r"C:\ClusterStorage\..\x", "-CreatePath")
    assert code == 1 and "not valid" in err, err


def test_reference_workflow_share(state: Path) -> None:
    path = r"C:\ClusterStorage\Volume1\Shares\VMS"
    (state / "ClusterStorage" / "Volume1" / "Shares" / "VMS").mkdir(parents=True)
    code, out, err = run(state, "New-SmbShare", "-Name", "VMS", "-Path", path, "-FullAccess",
                         "DOMAIN\\HyperVHosts$", "-ContinuouslyAvailable", "$true", "-EncryptData", "$true",
                         "-FolderEnumerationMode", "AccessBased")
    assert code == 0, err
    assert out == ("\nName ScopeName Path                                 Description\n"
                   "---- --------- ----                                 -----------\n"
                   f"VMS  *         {path}\n\n")
    doc = stored(state, "vms")
    cfg = ShareConfig(**{k: v for k, v in doc.items() if k in ShareConfig.__dataclass_fields__})
    assert cfg.continuously_available and cfg.encrypt_data and cfg.access_based_enumeration
    assert cfg.full_access == ["DOMAIN\\HyperVHosts$"] and cfg.path == path

    code, out, err = run(state, "Grant-SmbShareAccess", "-Name", "VMS", "-AccountName", "DOMAIN\\SQL",
                         "-AccessRight", "Change", "-Force")
    assert code == 0, err
    assert "VMS  *         DOMAIN\\SQL          Allow             Change" in out
    code, out, _ = run(state, "Get-SmbShareAccess", "VMS", "-AsJson")
    assert [(e["AccountName"], e["AccessRight"]) for e in json.loads(out)] == [
        ("DOMAIN\\HyperVHosts$", "Full"), ("DOMAIN\\SQL", "Change")]
    run(state, "Grant-SmbShareAccess", "VMS", "DOMAIN\\SQL", "-AccessRight", "Read")
    assert stored(state, "VMS")["change_access"] == [] and stored(state, "VMS")["read_access"] == ["DOMAIN\\SQL"]
    run(state, "Block-SmbShareAccess", "VMS", "Guest")
    assert stored(state, "VMS")["no_access"] == ["Guest"]
    code, out, _ = run(state, "Revoke-SmbShareAccess", "VMS", "DOMAIN\\SQL", "-Force")
    assert code == 0 and "DOMAIN\\SQL" not in out and "Deny" in out
    code, out, _ = run(state, "Get-SmbShare", "-Name", "V*", "|", "Format-List", "Name,ContinuouslyAvailable")
    assert out == "\nName                  : VMS\nContinuouslyAvailable : True\n\n"
    code, _, _ = run(state, "Remove-SmbShare", "VMS", "-Force")
    assert code == 0
    code, _, err = run(state, "Get-SmbShare", "VMS")
    assert code == 1 and "No MSFT_SmbShare objects found with property 'Name' equal to 'VMS'" in err


def test_share_errors(state: Path, tmp_path: Path) -> None:
    assert run(state, "New-SmbShare", "data", str(tmp_path))[0] == 0
    code, _, err = run(state, "New-SmbShare", "DATA", str(tmp_path))
    assert code == 1 and "already been shared" in err
    code, _, err = run(state, "New-SmbShare", "x", "/nonexistent/sofs/path")
    assert code == 1 and "'/nonexistent/sofs/path' does not exist" in err
    code, _, err = run(state, "New-SmbShare", "a/b", str(tmp_path))
    assert code == 1 and "invalid characters" in err
    code, _, err = run(state, "Grant-SmbShareAccess", "data", "bob", "-AccessRight", "Owner")
    assert code == 2 and 'does not belong to the set "Full,Change,Read"' in err
    code, _, err = run(state, "New-SmbShare", "y", str(tmp_path), "-EncryptData")
    assert code == 2 and "quoted" in err  # `$true` eaten by the shell: say so
    code, out, _ = run(state, "Get-SmbShareAccess", "data")
    assert "data *         Everyone    Allow             Full" in out
    code, _, err = run(state, "Revoke-SmbShareAccess", "data", "Everyone")
    assert code == 1 and "Everyone: Full is implied" in err
