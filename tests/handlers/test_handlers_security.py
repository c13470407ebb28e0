"""Handler-side helpers around security: the file-system type probe of ``fsio`` (which decides how
descriptors and attributes are stored). The security rules themselves live in ``sofs.security``
and are tested in ``tests/security``."""
from __future__ import annotations

from sofs.handlers.fsio import fs_type


def test_fs_type_from_mountinfo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mi = tmp_path / "mountinfo"
    mi.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                  "30 22 0:5 / /dev/shm rw - tmpfs tmpfs rw\n"
                  "40 22 0:50 / /mnt/ceph rw - ceph 10.0.0.1:/ rw\n")
    assert fs_type("/dev/shm/x", str(mi)) == "tmpfs"
    assert fs_type("/mnt/ceph/vol", str(mi)) == "ceph"
    assert fs_type("/home/u", str(mi)) == "ext4"
