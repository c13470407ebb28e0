#!/usr/bin/env bash
# bench/run.sh — sofs and a private Samba side by side, in one run, on loopback (run as root).
#
# Starts Samba (scripts/samba-up.sh, port 4450) and sofs (port 4455), both serving a share on tmpfs,
# runs bench/bench.sh (smbclient 1 GiB get/put: plain, signed, encrypted) and bench/torture-bench.sh
# (smb2.bench.echo, path-contention open/close, oplock1) against each, and prints sofs/Samba ratios.
#
# Knobs: SAMBA_PORT (4450), SOFS_PORT (4455), RUNS (default 3), BENCH_SIZE_MB (default 1024), BENCH_TIME (default 10),
#        BENCH_CONFIGS (default "1:1 4:1 4:8"), ONLY=bulk|torture, BENCH_OUT (default ./bench-out/<date>)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${BENCH_OUT:-$ROOT/bench-out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
. bench/servers.sh
bench_state /dev/shm/sofs-bench-state
samba_start
sofs_start "$SOFS_PORT" "$STATE/sofs-share" "$OUT/sofs.log"

if [ "${ONLY:-}" != torture ]; then
  BENCH_SHARE_DIR=$SHARE_ROOT/share BENCH_OUTDIR=$OUT/bulk-samba bash bench/bench.sh 127.0.0.1 "$SAMBA_PORT" share "$USER_NAME" "$PASS" >"$OUT/bulk-samba.txt" 2>&1
  BENCH_SHARE_DIR=$STATE/sofs-share BENCH_OUTDIR=$OUT/bulk-sofs bash bench/bench.sh 127.0.0.1 "$SOFS_PORT" share "$USER_NAME" "$PASS" >"$OUT/bulk-sofs.txt" 2>&1
fi
if [ "${ONLY:-}" != bulk ]; then
  BENCH_OUTDIR=$OUT/torture-samba bash bench/torture-bench.sh 127.0.0.1 "$SAMBA_PORT" share "$USER_NAME" "$PASS" >"$OUT/torture-samba.txt" 2>&1
  BENCH_OUTDIR=$OUT/torture-sofs bash bench/torture-bench.sh 127.0.0.1 "$SOFS_PORT" share "$USER_NAME" "$PASS" >"$OUT/torture-sofs.txt" 2>&1
fi

python3 - "$OUT" <<'EOF'
import csv, os, sys
out = sys.argv[1]
def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))
def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
print(f"{'measurement':52} {'samba':>10} {'sofs':>10} {'ratio':>7}")
sam = {(r['what'], r['mode']): r for r in rows(f"{out}/bulk-samba/summary.tsv")}
for r in rows(f"{out}/bulk-sofs/summary.tsv"):
    k = (r['what'], r['mode'])
    if r['mode'] == 'local' or k not in sam:
        continue
    a, b = num(sam[k]['median_MB_s']), num(r['median_MB_s'])
    ratio = f"{b / a:.2f}" if a and b else "NA"
    print(f"{r['what'] + ' ' + r['mode'] + ' (MB/s)':52} {a or 0:10.0f} {b or 0:10.0f} {ratio:>7}")
hdr = ['test', 'nprocs', 'qdepth', 'metric', 'value', 'latency', 'result']
def trows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [l.rstrip('\n').split('\t') for l in f if l.strip()]
    return [dict(zip(hdr, l)) for l in lines if l and l[0] != 'test']
sam = {(r['test'], r['nprocs'], r['qdepth'], r['metric']): r for r in trows(f"{out}/torture-samba/results.tsv")}
for r in trows(f"{out}/torture-sofs/results.tsv"):
    k = (r['test'], r['nprocs'], r['qdepth'], r['metric'])
    if k not in sam:
        continue
    a, b = num(sam[k]['value']), num(r['value'])
    ratio = f"{b / a:.2f}" if a and b else "NA"
    if r['metric'] == 'wall_s' and a and b:
        ratio = f"{a / b:.2f}"
    name = f"{r['test'].replace('smb2.bench.', '')} {r['nprocs']}x{r['qdepth']} ({r['metric']})"
    print(f"{name:52} {a or 0:10.0f} {b or 0:10.0f} {ratio:>7}")
EOF
echo "raw results: $OUT"
