#!/usr/bin/env bash
# bench/ceph_compare.sh — sofs (CephVfs, libcephfs) beside Samba 4.22 with vfs_ceph, both serving the same
# private CephFS (one node, 3 OSDs on sparse files under /var/tmp, size-3 pools), in rounds of rotating
# order (bench/interleaved.sh): smbclient get/put of BENCH_SIZE_MB (512) plain/signed/encrypted and the
# smbtorture rate tests. Installs Debian's samba-vfs-ceph (bookworm-backports, Samba's version) if missing.
# Run as root. Knobs: those of interleaved.sh (ROUNDS, BENCH_CONFIGS, ONLY, ...), CEPH_STATE.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /usr/lib/x86_64-linux-gnu/samba/vfs/ceph.so ] && ! dpkg -s samba-vfs-ceph >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports samba-vfs-ceph >/dev/null
fi
export BENCH_SIZE_MB=${BENCH_SIZE_MB:-512}
IL_SERVERS=bench/ceph_servers.sh exec bash bench/interleaved.sh
