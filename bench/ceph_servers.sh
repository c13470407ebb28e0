# bench/ceph_servers.sh — sourced by bench/interleaved.sh (IL_SERVERS): Samba with vfs_ceph and sofs with
# CephVfs, both serving a directory of the same private CephFS (bench/ceph_cluster.py) as share "cephfs".
bench_state /dev/shm/sofs-cephbench-state
CEPH_STATE=${CEPH_STATE:-/var/tmp/sofs-cephbench-ceph}
read -r CEPH_CONF _CEPH_KEYRING < <(.venv/bin/python bench/ceph_cluster.py up "$CEPH_STATE" | tail -1)
[ -n "$CEPH_CONF" ] || { echo "Ceph did not start" >&2; exit 1; }
ceph_cleanup() { bench_cleanup; .venv/bin/python bench/ceph_cluster.py down "$CEPH_STATE" >/dev/null 2>&1; }
trap ceph_cleanup EXIT
SMBD_EXTRA_GLOBAL=$(printf '\n[cephfs]\n    path = /bench/samba\n    vfs objects = ceph\n    ceph:config_file = %s\n    ceph:user_id = smb\n    ceph:filesystem = cephfs\n    read only = no\n' "$CEPH_CONF")
export SMBD_EXTRA_GLOBAL
samba_start
mkdir -p "$STATE/sofs-share"
printf '{"backend": "cephfs", "conf": "%s", "client": "smb", "keyring": "%s", "fs": "cephfs", "root": "/bench/sofs"}\n' \
  "$CEPH_CONF" "$_CEPH_KEYRING" >"$STATE/sofs-share/.sofs-mount.json"
.venv/bin/sofs serve -q --listen "127.0.0.1:$SOFS_PORT" --share "cephfs=$STATE/sofs-share" --user "$USER_NAME:$PASS" \
  >"$OUT/sofs.log" 2>&1 &
BENCH_PIDS+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$SOFS_PORT") 2>/dev/null && break; sleep 0.1; done
SHARE_NAME=cephfs SAMBA_DIR="" SOFS_DIR=""
