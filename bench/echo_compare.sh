#!/usr/bin/env bash
# bench/echo_compare.sh — smb2.bench.echo against Samba, sofs and the ECHO floor (bench/echo_floor.py),
# taking turns round by round (run as root). Prints, per configuration, the median rate of each server and
# the medians of the per-round ratios sofs/Samba and floor/Samba.
#
# Knobs: ROUNDS (3), BENCH_TIME (3 s per run), BENCH_CONFIGS ("1:1 4:1 4:8"), SAMBA_PORT (4450),
#        SOFS_PORT (4455; the floor server uses SOFS_PORT+1)
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=/dev/shm/sofs-echo-compare
rm -rf "$STATE"; mkdir -p "$STATE/share"; chmod 755 "$STATE"; chmod 777 "$STATE/share"
export SHARE_ROOT=$STATE/samba-shares
USER_NAME=sofs PASS='Passw0rd!'
SAMBA_PORT=${SAMBA_PORT:-4450} SOFS_PORT=${SOFS_PORT:-4455} FLOOR_PORT=$((${SOFS_PORT:-4455} + 1))
T=${BENCH_TIME:-3}

bash scripts/samba-up.sh "$STATE/samba" "$SAMBA_PORT" 127.0.0.1 >/dev/null || { echo "samba-up failed" >&2; exit 1; }
.venv/bin/sofs serve -q --listen "127.0.0.1:$SOFS_PORT" --share "share=$STATE/share" --user "$USER_NAME:$PASS" \
  >"$STATE/sofs.log" 2>&1 &
P1=$!
.venv/bin/python bench/echo_floor.py --listen "127.0.0.1:$FLOOR_PORT" --share "share=$STATE/share" \
  --user "$USER_NAME:$PASS" >"$STATE/floor.log" 2>&1 &
P2=$!
trap 'kill $P1 $P2 2>/dev/null; bash scripts/samba-down.sh "$STATE/samba" >/dev/null 2>&1' EXIT
for p in $SOFS_PORT $FLOOR_PORT; do
  for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
printf '[global]\n client min protocol = SMB2_02\n client max protocol = SMB3_11\n' >"$STATE/client.conf"
( umask 077; printf 'username = %s\npassword = %s\n' "$USER_NAME" "$PASS" >"$STATE/auth.txt" )

echo_rate() { # port nprocs qdepth -> echo/s
  timeout $((T + 30)) smbtorture "//127.0.0.1/share" -p "$1" -s "$STATE/client.conf" -A "$STATE/auth.txt" \
    "--option=torture:timelimit=$T" "--option=torture:nprocs=$2" "--option=torture:qdepth=$3" \
    --option=torture:progress=no smb2.bench.echo 2>&1 | tr '\r' '\n' | grep -E 'second: echo\[' | tail -1 |
    sed -E 's/.*num\/s=([0-9]+),.*/\1/'
}

RES=$STATE/results.tsv
: >"$RES"
for r in $(seq 1 "${ROUNDS:-3}"); do
  for cfg in ${BENCH_CONFIGS:-1:1 4:1 4:8}; do
    for who in samba sofs floor; do
      case $who in samba) port=$SAMBA_PORT;; sofs) port=$SOFS_PORT;; *) port=$FLOOR_PORT;; esac
      printf '%s\t%s\t%s\t%s\n' "$r" "$cfg" "$who" "$(echo_rate "$port" "${cfg%%:*}" "${cfg##*:}")" >>"$RES"
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
