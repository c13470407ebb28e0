#!/usr/bin/env bash
# bench/interleaved.sh — like bench/run.sh, but Samba and sofs take turns, round by round (run as root).
#
# On a shared machine the load changes within minutes; run.sh measures all of Samba, then all of sofs,
# so a load change between the halves shows up as a ratio. Here each round measures Samba then sofs
# with the same tests (bench.sh with RUNS=1, torture-bench.sh), and the summary prints, per
# measurement, the median Samba value, the median sofs value and the median of the per-round ratios.
#
# Knobs: ROUNDS (3), SAMBA_PORT (4450), SOFS_PORT (4455), BENCH_SIZE_MB (512), BENCH_TIME (5),
#        BENCH_CONFIGS ("1:1 4:1 4:8"), ONLY=bulk|torture, BENCH_OUT (./bench-out/il-<date>),
#        BEFORE_PYTHONPATH: also run a second sofs ("before", port SOFS_PORT+1) importing sofs from
#        there (e.g. a `git archive <commit> sofs` extract), in the same rounds;
#        IL_SERVERS: a script sourced instead of the default server start-up, which sets STATE, SHARE_NAME,
#        SAMBA_DIR / SOFS_DIR (local share dirs, or empty) and registers its cleanup (bench/ceph_compare.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${BENCH_OUT:-$ROOT/bench-out/il-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export BENCH_SIZE_MB=${BENCH_SIZE_MB:-512} BENCH_TIME=${BENCH_TIME:-5}
. bench/servers.sh
SHARE_NAME=share
if [ -n "${IL_SERVERS:-}" ]; then
  . "$IL_SERVERS"  # starts both servers itself (bench/ceph_compare.sh: both on CephFS)
else
  bench_state /dev/shm/sofs-il-state
  samba_start
  sofs_start "$SOFS_PORT" "$STATE/sofs-share" "$OUT/sofs.log"
fi
SAMBA_DIR=${SAMBA_DIR-$SHARE_ROOT/share} SOFS_DIR=${SOFS_DIR-$STATE/sofs-share}
WHO="samba sofs"
if [ -n "${BEFORE_PYTHONPATH:-}" ]; then
  sofs_start $((SOFS_PORT + 1)) "$STATE/before-share" "$OUT/before.log" \
    env PYTHONPATH="$BEFORE_PYTHONPATH" .venv/bin/sofs serve
  WHO="samba before sofs"
fi

read -ra SERVERS <<<"$WHO"
for r in $(seq 1 "${ROUNDS:-3}"); do
  # the order rotates round by round: a server that always ran last measured 5-20 % low (machine state
  # left by the runs before it), which an A/B with alternating order did not confirm
  k=$(( (r - 1) % ${#SERVERS[@]} ))
  for who in "${SERVERS[@]:k}" "${SERVERS[@]:0:k}"; do
    case $who in
      samba) port=$SAMBA_PORT dir=$SAMBA_DIR;;
      before) port=$((SOFS_PORT + 1)) dir=$STATE/before-share;;
      *) port=$SOFS_PORT dir=$SOFS_DIR;;
    esac
    if [ "${ONLY:-}" != torture ]; then
      RUNS=1 BENCH_SHARE_DIR=$dir BENCH_OUTDIR=$OUT/r$r-bulk-$who bash bench/bench.sh 127.0.0.1 "$port" "$SHARE_NAME" \
        "$USER_NAME" "$PASS" >"$OUT/r$r-bulk-$who.txt" 2>&1
    fi
    if [ "${ONLY:-}" != bulk ]; then
      BENCH_OUTDIR=$OUT/r$r-torture-$who bash bench/torture-bench.sh 127.0.0.1 "$port" "$SHARE_NAME" "$USER_NAME" "$PASS" \
        >"$OUT/r$r-torture-$who.txt" 2>&1
    fi
  done
done

python3 - "$OUT" "${ROUNDS:-3}" <<'EOF'
import csv, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
def bulk(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {f"{r['what']} {r['mode']} (MB/s)": num(r['median_MB_s'])
                for r in csv.DictReader(f, delimiter="\t") if r['mode'] != 'local'}
def torture(path):
    res = {}
    if not os.path.exists(path):
        return res
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        if len(p) < 5 or p[0] == "test" or p[3] == "wall_s":
            continue
        res[f"{p[0].replace('smb2.bench.', '')} {p[1]}x{p[2]} ({p[3]})"] = num(p[4])
    return res
per = {}
for r in range(1, rounds + 1):
    for who in ("samba", "before", "sofs"):
        vals = {**bulk(f"{out}/r{r}-bulk-{who}/summary.tsv"), **torture(f"{out}/r{r}-torture-{who}/results.tsv")}
        for k, v in vals.items():
            per.setdefault(k, {}).setdefault(who, []).append(v)
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else 0
def ratio(s, o):
    rs = [b / a for a, b in zip(s, o) if a and b]
    return med(rs), " ".join(f"{x:.2f}" for x in rs)
has_before = any("before" in d for d in per.values())
head = f"{'measurement':46} {'samba':>8}" + (f" {'before':>8} {'ratio':>6}" if has_before else "")
print(head + f" {'sofs':>8} {'ratio':>6}  per-round sofs/samba")
for k, d in per.items():
    s, o, b = d.get("samba", []), d.get("sofs", []), d.get("before", [])
    line = f"{k:46} {med(s):8.0f}"
    if has_before:
        line += f" {med(b):8.0f} {ratio(s, b)[0]:6.2f}"
    r, rounds_txt = ratio(s, o)
    print(line + f" {med(o):8.0f} {r:6.2f}  {rounds_txt}")
EOF
echo "raw results: $OUT"
