#!/usr/bin/env bash
# bench/workers_compare.sh — many clients against Samba, sofs with one process (--workers 1) and sofs
# with worker processes (--workers N), the three taking turns round by round in rotating order (run
# as root). Measures, per server:
#   read4k / read64k  smb2.bench.read (torture:io_size 4096 / 65536)      -> reads/s
#   openclose         smb2.bench.path-contention-shared (CREATE + CLOSE)  -> opens/s
#   echo              smb2.bench.echo                                     -> echoes/s
#   write4k / write64k CONNS x DEPTH libsmbclient writer processes (bench/smbc_write.py, Debian's
#                     python3-smbc; MODE=sign signs them)                  -> writes/s
#     each at every CONNS:DEPTH of BENCH_CONFIGS, plus the server's CPU per request: user + system
#     time of the server's whole process tree (workers, Samba's per-connection smbd processes, reaped
#     ones included: bench/tree_cpu.py) over the run, divided by rate x seconds, and the kernel's
#     (system time's) share of it; and the load generator's own CPU per request (same cores: what
#     the client takes is not left for the server);
#   put / get         PUT_CLIENTS smbclient processes at once, each writing (reading) its own file of
#                     PUT_MB MiB                                         -> MB/s all together
# The load generators (smbtorture, smbclient) run on the same machine and share its cores with the
# servers: on a 2-core machine --workers 2 competes with the client for the second core.
#
# Knobs: ROUNDS (3), BENCH_TIME (5 s per run), BENCH_CONFIGS ("4:8 16:8"), TESTS ("read4k read64k
#        openclose echo put get"), WORKERS (2: the N of the second sofs), PUT_CLIENTS (8), PUT_MB (64),
#        MODE (plain | sign | encrypt: smbtorture's benches, the libsmbclient writers (sign only) and
#        smbclient's put/get; PUT_CLIENTS=1 PUT_MB=512 is the issue's bulk),
#        SAMBA_PORT (4450), SOFS_PORT (4455; --workers N on SOFS_PORT+1), BENCH_STATE (its directory,
#        /dev/shm/sofs-workers-compare: another one and other ports to run beside another run)
# Prints one table: per test and configuration the median of each server, and the medians of the
# per-round ratios against Samba; raw rows (with the 1-minute load average after each run) in
# $STATE/results.tsv.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/servers.sh
T=${BENCH_TIME:-5} N=${WORKERS:-2} PUT_CLIENTS=${PUT_CLIENTS:-8} PUT_MB=${PUT_MB:-64}
bench_state "${BENCH_STATE:-/dev/shm/sofs-workers-compare}"
samba_start
SAMBA_PID=$(cat "$STATE/samba/smbd.pid")
sofs_start "$SOFS_PORT" "$STATE/w1" "$STATE/w1.log" .venv/bin/sofs serve --workers 1
W1_PID=${BENCH_PIDS[-1]}
sofs_start $((SOFS_PORT + 1)) "$STATE/wn" "$STATE/wn.log" .venv/bin/sofs serve --workers "$N"
WN_PID=${BENCH_PIDS[-1]}
sleep 5  # the other workers join once started (quiet: no log line to wait for); the warm-up follows
torture_client_files
declare -A PORT=([samba]=$SAMBA_PORT [w1]=$SOFS_PORT [wn]=$((SOFS_PORT + 1)))
declare -A PID=([samba]=$SAMBA_PID [w1]=$W1_PID [wn]=$WN_PID)
declare -A DIR=([samba]=$SHARE_ROOT/share [w1]=$STATE/w1 [wn]=$STATE/wn)
WHO=(samba w1 wn)
SRC=$STATE/src
case ${MODE:-plain} in
  plain) OPT=();;
  sign) OPT=(--option='client signing=required');;
  encrypt) OPT=(--option='client smb encrypt=required');;
  *) echo "MODE must be plain, sign or encrypt" >&2; exit 2;;
esac
head -c "${PUT_MB}M" /dev/urandom >"$SRC"

cpu() { python3 bench/tree_cpu.py --split "${PID[$1]}"; }  # "user system" seconds

per_req() { # rate cpu0 cpu1 seconds -> "rate  µs of CPU per request  system share %  client µs/request"
  local client; client=$(cat "$STATE/client.cpu" 2>/dev/null || echo "0 0")
  awk -v r="${1:-0}" -v a="$2" -v b="$3" -v t="$4" -v c="$client" 'BEGIN { split(a, A, " "); split(b, B, " ")
    split(c, C, " "); tot = (B[1] + B[2]) - (A[1] + A[2]); sys = B[2] - A[2]
    if (r > 0) printf "%d\t%.1f\t%.0f\t%.1f", r, tot * 1e6 / (r * t), (tot > 0 ? 100 * sys / tot : 0), (C[1] + C[2]) * 1e6 / (r * t)
    else printf "NA\tNA\tNA\tNA" }'
}
counted() { python3 bench/tree_cpu.py --run "$STATE/client.cpu" "$@"; }  # the client's CPU -> per_req

torture() { # who test conns depth -> "rate cpu_us_per_request"
  local who=$1 t=$2 np=$3 qd=$4 name=$2 extra=() c0 c1 rate
  case $t in
    read4k) name=read extra=(--option=torture:io_size=4096);;
    read64k) name=read extra=(--option=torture:io_size=65536);;
    openclose) name=path-contention-shared;;
  esac
  rm -f "$STATE/client.cpu"
  c0=$(cpu "$who")
  case $t in write4k|write64k)  # smbtorture has no write bench: libsmbclient writers (bench/smbc_write.py)
    rate=$(counted timeout $((T + 120)) /usr/bin/python3 bench/smbc_write.py --url "smb://127.0.0.1:${PORT[$who]}/share" \
      --user "$USER_NAME" --password "$PASS" --conns "$np" --depth "$qd" --seconds "$T" \
      --io-size $([ "$t" = write4k ] && echo 4096 || echo 65536) $([ "${MODE:-plain}" = sign ] && echo --sign) |
      sed -nE 's/^writes\/s ([0-9]+) errors 0$/\1/p')
    sleep 0.5; c1=$(cpu "$who")
    per_req "$rate" "$c0" "$c1" "$T"
    return;;
  esac
  rate=$(counted timeout $((T + 30)) smbtorture "//127.0.0.1/share" -p "${PORT[$who]}" -s "$STATE/client.conf" \
    -A "$STATE/auth.txt" "--option=torture:timelimit=$T" "--option=torture:nprocs=$np" \
    "--option=torture:qdepth=$qd" --option=torture:progress=no "${extra[@]}" "${OPT[@]}" "smb2.bench.$name" 2>&1 |
    tr '\r' '\n' | grep -E 'second: ' | tail -1 | sed -E 's/.*num\/s=([0-9]+),.*/\1/')
  sleep 0.5  # Samba's connection processes exit and are reaped (their time moves to cutime)
  c1=$(cpu "$who")
  per_req "$rate" "$c0" "$c1" "$T"
}

bulk() { # who put|get -> "MB/s cpu_us_per_MiB"
  local who=$1 op=$2 c0 c1 t0 t1 i pids=()
  c0=$(cpu "$who") t0=$(date +%s.%N)
  for i in $(seq 1 "$PUT_CLIENTS"); do
    if [ "$op" = put ]; then cmd="put $SRC bulk-$i"; else cmd="get bulk-$i /dev/null"; fi
    smbclient //127.0.0.1/share -p "${PORT[$who]}" -s "$STATE/client.conf" -A "$STATE/auth.txt" \
      "${OPT[@]}" -c "$cmd" >/dev/null 2>&1 &
    pids+=($!)
  done
  local bad=0
  for p in "${pids[@]}"; do wait "$p" || bad=1; done
  t1=$(date +%s.%N) c1=$(cpu "$who")
  [ "$bad" = 0 ] || { printf 'NA\tNA\tNA\tNA'; return; }
  awk -v a="$t0" -v b="$t1" -v n="$PUT_CLIENTS" -v s="$PUT_MB" -v c0="$c0" -v c1="$c1" \
    'BEGIN { split(c0, A, " "); split(c1, B, " "); tot = (B[1] + B[2]) - (A[1] + A[2]); sys = B[2] - A[2]
      printf "%.0f\t%.1f\t%.0f\tNA", n * s * 1.048576 / (b - a), tot * 1e6 / (n * s), (tot > 0 ? 100 * sys / tot : 0) }'
}

RES=$STATE/results.tsv
: >"$RES"
TESTS=${TESTS:-read4k read64k openclose echo put get}
for w in "${WHO[@]}"; do bulk "$w" put >/dev/null; done  # files for get; warm-up
for r in $(seq 1 "${ROUNDS:-3}"); do
  k=$(( (r - 1) % ${#WHO[@]} ))
  order=("${WHO[@]:k}" "${WHO[@]:0:k}")
  for t in $TESTS; do
    case $t in put|get) cfgs="$PUT_CLIENTS:1";; *) cfgs=${BENCH_CONFIGS:-4:8 16:8};; esac
    for cfg in $cfgs; do
      for w in "${order[@]}"; do
        case $t in put|get) v=$(bulk "$w" "$t");; *) v=$(torture "$w" "$t" "${cfg%%:*}" "${cfg##*:}");; esac
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$cfg" "$w" "$v" "$(cut -d' ' -f1 /proc/loadavg)" |
          tee -a "$RES" >&2
      done
    done
  done
done

echo "# $(nproc) cores, load at the end: $(cut -d' ' -f1-3 /proc/loadavg); clients on the same machine; ${T}s runs," \
  "${ROUNDS:-3} rounds, order rotating; sofs wN = --workers $N; put/get ${MODE:-plain}"
python3 - "$RES" "$N" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, t, cfg, who, v, cpu, sys_pct, client, _load = line.rstrip("\n").split("\t")
    if v != "NA":
        rows[(t, cfg, r)][who] = (float(v), float(cpu), float(sys_pct), float("nan") if client == "NA" else float(client))
n = sys.argv[2]
print(f"{'test':10} {'conns:depth':>11} {'samba':>8} {'sofs w1':>8} {'sofs w' + n:>8} {'w1/samba':>9} "
      f"{'w' + n + '/samba':>9}   {'CPU µs/req (MiB for put/get): samba w1 w' + n}   kernel %: samba w1 w{n}"
      f"   client µs/req: samba w1 w{n}")
keys = sorted({(t, c) for t, c, _ in rows}, key=lambda k: (k[0], [int(x) for x in k[1].split(':')]))
for t, cfg in keys:
    rounds = [v for (tt, cc, _), v in rows.items() if (tt, cc) == (t, cfg)]
    med = {w: statistics.median([v[w][0] for v in rounds if w in v] or [0]) for w in ("samba", "w1", "wn")}
    cpu = {w: statistics.median([v[w][1] for v in rounds if w in v] or [0]) for w in ("samba", "w1", "wn")}
    sys_pct = {w: statistics.median([v[w][2] for v in rounds if w in v] or [0]) for w in ("samba", "w1", "wn")}
    client = {w: statistics.median([v[w][3] for v in rounds if w in v] or [0]) for w in ("samba", "w1", "wn")}
    ratio = {w: statistics.median([v[w][0] / v["samba"][0] for v in rounds if w in v and "samba" in v] or [0])
             for w in ("w1", "wn")}
    print(f"{t:10} {cfg:>11} {med['samba']:8.0f} {med['w1']:8.0f} {med['wn']:8.0f} {ratio['w1']:9.2f} "
          f"{ratio['wn']:9.2f}   {cpu['samba']:6.1f} {cpu['w1']:6.1f} {cpu['wn']:6.1f}   "
          f"{sys_pct['samba']:3.0f} {sys_pct['w1']:3.0f} {sys_pct['wn']:3.0f}   "
          f"{client['samba']:6.1f} {client['w1']:6.1f} {client['wn']:6.1f}")
EOF
