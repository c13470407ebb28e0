#!/usr/bin/env bash
# bench/put_compare.sh — smbclient put only, Samba and sofs taking turns (order rotating), for work on
# the write path: a round takes seconds where interleaved.sh takes minutes. Run as root.
#
# Knobs: ROUNDS (6), SIZE_MB (512), MODE (plain | sign | encrypt), SAMBA_PORT (4450), SOFS_PORT (4455),
#        BEFORE_PYTHONPATH: also a second sofs ("before", port SOFS_PORT+2) importing sofs from there.
#        PERF=1: `perf record -g` of this sofs during one extra put, report in $STATE/perf.txt.
# Prints one line per round (MB/s, wall time of the whole smbclient run) and the median ratios.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
bench_state /dev/shm/sofs-put-state
SIZE_MB=${SIZE_MB:-512}
SRC=$STATE/src
head -c "${SIZE_MB}M" /dev/urandom >"$SRC"
case ${MODE:-plain} in
  plain) OPT=();;
  sign) OPT=(--option='client signing=required');;
  encrypt) OPT=(--option='client smb encrypt=required');;
  *) echo "MODE must be plain, sign or encrypt" >&2; exit 2;;
esac
samba_start
sofs_start "$SOFS_PORT" "$STATE/sofs" "$STATE/sofs.log"
SOFS_PID=${BENCH_PIDS[-1]}
declare -A PORT=([samba]=$SAMBA_PORT [sofs]=$SOFS_PORT)
WHO=(samba sofs)
if [ -n "${BEFORE_PYTHONPATH:-}" ]; then
  PORT[before]=$((SOFS_PORT + 2))
  sofs_start "${PORT[before]}" "$STATE/before" "$STATE/before.log" \
    env PYTHONPATH="$BEFORE_PYTHONPATH" .venv/bin/sofs serve
  WHO=(samba before sofs)
fi
torture_client_files

put() { # port -> MB/s of one smbclient put (connection set-up included)
  local t0 t1
  t0=$(date +%s.%N)
  smbclient //127.0.0.1/share -p "$1" -s "$STATE/client.conf" -A "$STATE/auth.txt" "${OPT[@]}" \
    -c "put $SRC bigfile-put" >/dev/null 2>&1 || { echo NA; return; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v s="$SIZE_MB" 'BEGIN { printf "%.0f", s * 1.048576 / (b - a) }'
}

for w in "${WHO[@]}"; do put "${PORT[$w]}" >/dev/null; done  # warm-up: the file exists, pages allocated
RES=$STATE/results.txt
for r in $(seq 1 "${ROUNDS:-6}"); do
  k=$(( (r - 1) % ${#WHO[@]} )) line="round $r"
  for w in "${WHO[@]:k}" "${WHO[@]:0:k}"; do line="$line $w=$(put "${PORT[$w]}")"; done
  echo "$line" | tee -a "$RES"
done
python3 - "$RES" <<'EOF'
import statistics, sys
rows = [dict(kv.split("=") for kv in line.split()[2:]) for line in open(sys.argv[1])]
for who in ("before", "sofs"):
    rs = [float(r[who]) / float(r["samba"]) for r in rows if who in r and "NA" not in (r[who], r["samba"])]
    if rs:
        print(f"{who}/samba median {statistics.median(rs):.2f}  per round " + " ".join(f"{x:.2f}" for x in rs))
EOF
if [ "${PERF:-0}" = 1 ]; then
  perf record -e cpu-clock -g -p "$SOFS_PID" -o "$STATE/perf.data" -- sleep 3 >/dev/null 2>&1 &
  sleep 0.2; put "$SOFS_PORT" >/dev/null; sleep 3
  perf report -i "$STATE/perf.data" --no-children --sort dso,sym --stdio >"$STATE/perf.txt" 2>/dev/null
  grep -E '^ +[0-9]' "$STATE/perf.txt" | head -15
  echo "perf report: $STATE/perf.txt"
fi
