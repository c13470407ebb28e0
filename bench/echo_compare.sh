#!/usr/bin/env bash
# bench/echo_compare.sh — smb2.bench.echo against Samba, sofs and the ECHO floor (bench/echo_floor.py),
# taking turns round by round (run as root). Prints, per configuration, the median rate of each server and
# the medians of the per-round ratios sofs/Samba and floor/Samba.
#
# Knobs: ROUNDS (3), BENCH_TIME (3 s per run), BENCH_CONFIGS ("1:1 4:1 4:8"), SAMBA_PORT (4450),
#        SOFS_PORT (4455; the floor server uses SOFS_PORT+1)
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
FLOOR_PORT=$((SOFS_PORT + 1))
T=${BENCH_TIME:-3}
bench_state /dev/shm/sofs-echo-compare
samba_start
sofs_start "$SOFS_PORT" "$STATE/share" "$STATE/sofs.log"
sofs_start "$FLOOR_PORT" "$STATE/share" "$STATE/floor.log" .venv/bin/python bench/echo_floor.py
torture_client_files

RES=$STATE/results.tsv
: >"$RES"
for r in $(seq 1 "${ROUNDS:-3}"); do
  for cfg in ${BENCH_CONFIGS:-1:1 4:1 4:8}; do
    for who in samba sofs floor; do
      case $who in samba) port=$SAMBA_PORT;; sofs) port=$SOFS_PORT;; *) port=$FLOOR_PORT;; esac
      printf '%s\t%s\t%s\t%s\n' "$r" "$cfg" "$who" "$(torture_rate "$port" "${cfg%%:*}" "${cfg##*:}" echo)" >>"$RES"
    done
  done
done

python3 - "$RES" <<'EOF'
import collections, statistics, sys
vals = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, cfg, who, v = (line.rstrip("\n").split("\t") + [""])[:4]
    if v:
        vals[(cfg, r)][who] = float(v)
print(f"{'echo n x depth':16} {'samba':>8} {'sofs':>8} {'floor':>8} {'sofs/samba':>11} {'floor/samba':>12}")
for cfg in sorted({c for c, _ in vals}, key=lambda c: [int(x) for x in c.split(":")]):
    rounds = [v for (c, _), v in vals.items() if c == cfg and "samba" in v]
    med = {w: statistics.median([v[w] for v in rounds if w in v] or [0]) for w in ("samba", "sofs", "floor")}
    ratio = {w: statistics.median([v[w] / v["samba"] for v in rounds if w in v] or [0]) for w in ("sofs", "floor")}
    print(f"{cfg.replace(':', ' x '):16} {med['samba']:8.0f} {med['sofs']:8.0f} {med['floor']:8.0f} "
          f"{ratio['sofs']:11.2f} {ratio['floor']:12.2f}")
EOF
