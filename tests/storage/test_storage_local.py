"""The embedded default's storage cmdlets tell the truth: one local file system, one copy, no S2D."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sofs.cli.cmdlet_cmd import main
from sofs.management.services.storage import StorageService


def run(state: Path, *argv: str) -> tuple[int, str, str]:
    async def factory(kind: str) -> Any:
        if kind == "storage":
            return StorageService(state, "local", "c1", ["n1", "n2", "n3"])
        if kind == "shares":
            class NoShares:
                async def get_shares(self) -> list[Any]:
                    return []
            return NoShares()
        raise AssertionError(kind)

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), service_factory=factory, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_local_disks_and_pool_are_what_they_are(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "Get-PhysicalDisk", "-AsJson")
    assert code == 0, err
    assert '"BusType": "File System"' in out and '"StorageNode": "n1,n2,n3"' in out
    code, out, _ = run(tmp_path, "Get-StoragePool")
    assert "Primordial" in out and "S2D" not in out
    code, _, err = run(tmp_path, "Enable-ClusterStorageSpacesDirect")
    assert code != 0 and "one copy, no mirror" in err and "--storage ceph" in err


def test_local_volumes_are_single_copies(tmp_path: Path) -> None:
    (tmp_path / "ClusterStorage" / "Volume1").mkdir(parents=True)  # what `sofs demo` makes
    code, _, err = run(tmp_path, "New-Volume", "-FriendlyName", "Volume2", "-Size", "1GB",
                       "-ResiliencySettingName", "Mirror")
    assert code != 0 and "one copy, no mirror" in err
    assert not (tmp_path / "ClusterStorage" / "Volume2").exists()
    code, out, err = run(tmp_path, "New-Volume", "-FriendlyName", "Volume2", "-ResiliencySettingName", "Simple")
    assert code == 0, err
    assert (tmp_path / "ClusterStorage" / "Volume2").is_dir()
    code, out, _ = run(tmp_path, "Get-VirtualDisk", "-AsJson")
    assert out.count('"ResiliencySettingName": "Simple"') == 2
    assert '"NumberOfDataCopies": 1' in out and '"FaultDomainRedundancy": 0' in out
    code, out, _ = run(tmp_path, "Get-StorageJob")
    assert (code, out.strip()) == (0, "")
    code, _, err = run(tmp_path, "Resize-VirtualDisk", "-FriendlyName", "Volume1", "-Size", "2GB")
    assert code != 0 and "local directory" in err
    code, _, err = run(tmp_path, "Remove-VirtualDisk", "-FriendlyName", "Volume1")
    assert code != 0 and "does not delete" in err
    assert (tmp_path / "ClusterStorage" / "Volume1").is_dir()
    code, _, err = run(tmp_path, "Get-VirtualDisk", "-FriendlyName", "Nope")
    assert code != 0 and "ObjectNotFound" in err


def test_new_volume_bad_input(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "New-Volume", "-FriendlyName", "a/b")
    assert code != 0 and "not a valid FriendlyName" in err
    code, _, err = run(tmp_path, "New-Volume", "-FriendlyName", "V", "-FileSystem", "FAT32")
    assert code != 0 and "FAT32" in err
