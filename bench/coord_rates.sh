#!/usr/bin/env bash
# bench/coord_rates.sh — issue 13 acceptance 5 (run as root): CREATE+CLOSE and LOCK+UNLOCK pairs per second
# on a plain share through a node that does NOT coordinate its volume (every open/close/lock is a round
# trip over the coordinator link), through the coordinator node itself (in-process calls), on a
# standalone `sofs serve`, and on a private Samba's plain share, in rotating order round by round
# (bench/ca_openclose.py with the raw client, bench/smbraw.py).
#
# Knobs: ROUNDS (3), SECONDS_PER (4), LOADS ("1:1 2:2", procs:conns), OPS ("openclose lock"),
#        NODE_WORKERS (1: SMB processes per node, `sofs cluster up --workers`; with 2, the connections of
#        a load spread over a node's main process and its worker, least loaded first).
# State (Samba's and sofs's shares, the cluster) lives on /dev/shm.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
bench_state /dev/shm/sofs-coord-rates
samba_start
sofs_start "$SOFS_PORT" "$STATE/share" "$STATE/sofs.log"
CL=$STATE/cluster
mkdir -p "$CL/ClusterStorage/Volume1/share"; chmod 777 "$CL/ClusterStorage/Volume1/share"
printf '[[user]]\nname = "%s"\npassword = "%s"\n' "$USER_NAME" "$PASS" >"$CL/smb.toml"
NODE_PORT=$(.venv/bin/python -c 'import sys; sys.path.insert(0, "tests/cluster")
from cluster_proc import free_port_on; print(free_port_on(["127.0.0.11", "127.0.0.12", "127.0.0.13"]))')
.venv/bin/sofs cluster up 3 --name rates --state-dir "$CL" --smb-port "$NODE_PORT" --workers "${NODE_WORKERS:-1}" \
  >"$STATE/up.log" 2>&1 ||
  { cat "$STATE/up.log"; exit 1; }
trap '.venv/bin/sofs cluster down --state-dir "$CL" >/dev/null 2>&1; bench_cleanup' EXIT
if [ "${NODE_WORKERS:-1}" -gt 1 ]; then  # the workers take connections once started
  for n in n1 n2 n3; do
    for _ in $(seq 300); do grep -q "serving with ${NODE_WORKERS} worker processes" "$CL/$n.log" && break; sleep 0.2; done
  done
fi
export SOFS_CLUSTER_DIR=$CL
.venv/bin/sofs New-SmbShare -Name share -Path 'C:\ClusterStorage\Volume1\share' -FullAccess "$USER_NAME" >/dev/null
for _ in $(seq 100); do
  COORD=$(.venv/bin/sofs Get-ClusterSharedVolume -AsJson 2>/dev/null | .venv/bin/python -c \
    'import json,sys; d=json.load(sys.stdin); print(d["Node"] if d.get("State") == "Online" else "")' 2>/dev/null)
  [ -n "$COORD" ] && break; sleep 0.2
done
ADDR_OF() { .venv/bin/sofs Get-ClusterNode -Name "$1" -AsJson | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Address"])'; }
OTHER=$( [ "$COORD" = n1 ] && echo n2 || echo n1 )
echo "# volume coordinator: $COORD ($(ADDR_OF "$COORD")); non-coordinator: $OTHER ($(ADDR_OF "$OTHER"))"
for op in ${OPS:-openclose lock}; do
  for load in ${LOADS:-1:1 2:2}; do
    echo "== $op: ${load%%:*} process(es) x ${load##*:} connection(s)"
    .venv/bin/python bench/ca_openclose.py --op "$op" \
      --target "samba-plain=127.0.0.1:$SAMBA_PORT/share:$USER_NAME:$PASS" \
      --target "standalone=127.0.0.1:$SOFS_PORT/share:$USER_NAME:$PASS" \
      --target "coordinator=$(ADDR_OF "$COORD"):$NODE_PORT/share:$USER_NAME:$PASS" \
      --target "other-node=$(ADDR_OF "$OTHER"):$NODE_PORT/share:$USER_NAME:$PASS" \
      --procs "${load%%:*}" --conns "${load##*:}" --seconds "${SECONDS_PER:-4}" --rounds "${ROUNDS:-3}"
  done
done
