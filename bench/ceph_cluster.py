"""bench/ceph_cluster.py up|down STATE_DIR [ADDRESS]: a private one-node Ceph for benchmarks (3 OSDs, one MDS).

``up`` bootstraps it (sofs.storage.ceph_cluster) unless STATE_DIR already holds one, starts it, makes the
CephFS directories /bench/samba and /bench/sofs, and prints ``conf keyring`` on stdout; ``down`` stops it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from sofs.storage.ceph_cluster import CephCluster
from sofs.storage.ceph_conf import CLIENT, FS_NAME
from sofs.vfs.ceph import CLIENT_OPTIONS
from sofs.vfs.cephlib import CephMount


def main() -> int:
    what, state = sys.argv[1], Path(sys.argv[2])
    c = CephCluster(state)
    if what == "down":
        print("stopped", len(c.stop()), "Ceph daemon(s)")
        return 0
    if c.exists():
        c.start()
        c.wait_ready(180)
    else:
        c.bootstrap([("b1", sys.argv[3] if len(sys.argv) > 3 else "127.0.0.172")], disks_per_node=3,
                    osd_size=16 << 30)
    c.client_keyring.chmod(0o644)  # smbd's children read it (bench only: a private loopback cluster)
    m = CephMount(str(c.conf), CLIENT, FS_NAME, {"keyring": str(c.client_keyring), **CLIENT_OPTIONS})
    for d in (b"/bench/samba", b"/bench/sofs"):
        try:
            m.mkdirs(d, 0o777)
        except FileExistsError:
            pass
    m.shutdown()
    print(c.conf, c.client_keyring)
    return 0


if __name__ == "__main__":
    sys.exit(main())
