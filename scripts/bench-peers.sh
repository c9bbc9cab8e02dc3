#!/usr/bin/env bash
# Paired benchmark of Apogee against peer brokers, on loopback inside a network namespace.
#
#   scripts/bench-peers.sh [--workloads "P1 P3"] [--peers "rocketmq-rust java"] [--pairs 3]
#                          [--duration 20] [--warmup 3] [--out DIR] [--no-build]
#
# For each workload it runs the same `apogee bench` command against Apogee and each peer in
# turn (A B C A B C …, --pairs rounds), each on a fresh data directory, measures the raw
# sequential write bandwidth of the same disk (dd, 1 GiB, fdatasync) once per round, and
# prints medians and ratios. Every run's JSON (plus broker CPU use) is kept in
# OUT/results.jsonl; the summary is OUT/summary.md. Not part of CI: the peers take ~20 min
# to install the first time (scripts/peers/*.sh install, cached outside the repo).
#
# Workloads (1 KiB messages; see docs/perf.md):
#   P1 sync sends, 64 senders, async flush          P2 batches of 32, 16 senders, async flush
#   P3 sync sends, 64 senders, SYNC_FLUSH           P4 end-to-end at 20 000 msg/s (p99)
#   P5 sync sends over 64 and over 1024 topics      P6 broker RSS idle / after 5 GiB sent
#   P7 process start -> first send accepted          P8 transactional sync sends (half +
#                                                       commit), 64 senders, async flush
#   T1 timers: 10 000 a second due (sent 5 s ahead, 256 B): lateness p50 / p99
#   T2 timers: broker RSS idle / with $TIMERS (default 10 M) pending (due in 2 days)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/apogee
PEERS_SCRIPTS=$ROOT/scripts/peers
WORKLOADS="P1"
PEERS="rocketmq-rust java"
PAIRS=3
DURATION=20
WARMUP=3
OUT=${TMPDIR:-/tmp}/apogee-bench-$(date +%Y%m%d-%H%M%S)
BUILD=1
NS=apogee-bench

while (($#)); do
    case $1 in
        --workloads) WORKLOADS=$2; shift 2 ;;
        --peers) PEERS=$2; shift 2 ;;
        --pairs) PAIRS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if ((BUILD)); then
    log "building apogee (release)"
    (cd "$ROOT" && cargo build --release --quiet)
fi
for peer in $PEERS; do
    "$PEERS_SCRIPTS/$peer.sh" install >&2
done

if ! ip netns list | awk '{print $1}' | grep -qx "$NS"; then
    ip netns add "$NS"
fi
ip netns exec "$NS" ip link set lo up
cleanup() {
    for d in "$OUT"/run-*; do
        [[ -d $d ]] && stop_system "$(cat "$d/system" 2>/dev/null || echo apogee)" "$d" || true
    done
}
trap cleanup EXIT

# ---- systems ------------------------------------------------------------------------------

# start_system SYSTEM FLUSH DIR: starts name server + broker; sets BROKER_PID.
start_system() {
    local system=$1 flush=$2 dir=$3
    mkdir -p "$dir"
    echo "$system" >"$dir/system"
    if [[ $system == apogee ]]; then
        local mode=ASYNC_FLUSH
        [[ $flush == sync ]] && mode=SYNC_FLUSH
        printf 'brokerName=broker-a\nflushDiskType=%s\n' "$mode" >"$dir/broker.conf"
        date +%s%3N >"$dir/start_ms"
        RUST_LOG=warn setsid ip netns exec "$NS" "$BIN" standalone --data-dir "$dir/data" \
            -c "$dir/broker.conf" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
        BROKER_PID=$!
        echo "$BROKER_PID" >"$dir/apogee.pid"
        local i
        for ((i = 0; i < 300; i++)); do
            grep -q "broker on" "$dir/stdout" 2>/dev/null && return 0
            kill -0 "$BROKER_PID" 2>/dev/null || { cat "$dir/stderr" >&2; return 1; }
            sleep 0.02
        done
        return 1
    fi
    date +%s%3N >"$dir/start_ms"
    "$PEERS_SCRIPTS/$system.sh" start --ns "$NS" --flush "$flush" --data "$dir" >"$dir/ready" 2>>"$dir/harness.log"
    BROKER_PID=$(cat "$dir/broker.pid")
}

stop_system() {
    local system=$1 dir=$2
    if [[ $system == apogee ]]; then
        local pid
        pid=$(cat "$dir/apogee.pid" 2>/dev/null || true)
        [[ -n $pid ]] || return 0
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$dir/apogee.pid"
    else
        "$PEERS_SCRIPTS/$system.sh" stop --data "$dir" >>"$dir/harness.log" 2>&1 || true
    fi
}

# CPU seconds (user + system) used so far by a process.
cpu_seconds() {
    local pid=$1
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat" 2>/dev/null || echo 0
}

rss_kib() {
    awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

disk_mb_s() {
    local f=$OUT/disk-probe
    local line
    line=$(dd if=/dev/zero of="$f" bs=1M count=1024 conv=fdatasync 2>&1 | tail -1)
    rm -f "$f"
    # "... bytes (1.1 GB, 1.0 GiB) copied, 2.5 s, 430 MB/s"
    awk -F', ' '{ split($NF, a, " "); v = a[1]; if (a[2] == "GB/s") v *= 1000; print v }' <<<"$line"
}

# ---- workloads ----------------------------------------------------------------------------

flush_of() { case $1 in P3) echo sync ;; *) echo async ;; esac; }

bench_args() {
    local w=$1 variant=${2:-}
    local common="-d $DURATION --warmup $WARMUP --json"
    case $w in
        P1) echo "produce -w 64 -s 1024 $common" ;;
        P2) echo "produce -w 16 -s 1024 -b 32 $common" ;;
        P3) echo "produce -w 64 -s 1024 --sync-flush $common" ;;
        P4) echo "e2e -w 64 -s 1024 --rate 20000 $common" ;;
        P5) echo "produce -w 64 -s 1024 --topics $variant $common" ;;
        P8) echo "produce -w 64 -s 1024 --transaction commit $common" ;;
        T1) echo "e2e -w 32 -s 256 --rate 10000 --timer-delay-ms 5000 $common" ;;
    esac
}

variants_of() { case $1 in P5) echo "64 1024" ;; *) echo "-" ;; esac; }

# run_one WORKLOAD VARIANT SYSTEM ROUND DISK
run_one() {
    local w=$1 variant=$2 system=$3 round=$4 disk=$5
    local dir=$OUT/run-$w-$variant-$system-$round
    rm -rf "$dir"
    log "$w${variant/-/} $system round $round: starting"
    if ! start_system "$system" "$(flush_of "$w")" "$dir"; then
        log "$system failed to start (see $dir)"
        stop_system "$system" "$dir"
        return 0
    fi
    sleep 1
    local cpu0 t0 json
    cpu0=$(cpu_seconds "$BROKER_PID")
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    json=$(ip netns exec "$NS" "$BIN" bench $(bench_args "$w" "$([[ $variant == - ]] || echo "$variant")") \
        2>"$dir/bench.log" | tail -1) || true
    local t1 cpu1 rss
    t1=$(date +%s.%N)
    cpu1=$(cpu_seconds "$BROKER_PID")
    rss=$(rss_kib "$BROKER_PID")
    stop_system "$system" "$dir"
    if [[ $json != \{* ]]; then
        log "$system: no result (see $dir/bench.log)"
        json='{}'
    fi
    python3 - "$json" "$w" "$variant" "$system" "$round" "$disk" "$cpu0" "$cpu1" "$t0" "$t1" "$rss" >>"$RESULTS" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
w, variant, system, rnd, disk, c0, c1, t0, t1, rss = sys.argv[2:]
r.update(workload=w, variant=variant, system=system, round=int(rnd), disk_mb_s=float(disk or 0),
         broker_cpu_cores=(float(c1) - float(c0)) / max(float(t1) - float(t0), 1e-9),
         broker_rss_kib=int(rss or 0))
print(json.dumps(r))
PY
    tail -1 "$RESULTS" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("   -> %s %s: %.0f msg/s, %.1f MB/s, p99 %s us, e2e p99 %s us, broker %.2f cores" % (r["system"], r["workload"], r.get("send_tps", 0), r.get("mb_per_s", 0), r.get("p99_us"), r.get("e2e_p99_us"), r["broker_cpu_cores"]))' >&2
    rm -rf "$dir/data" "$dir/store" "$dir/rocketmq-home/store" 2>/dev/null || true
}

# P6: RSS idle (5 s after start) and after 5 GiB sent in batches.
run_p6() {
    local system=$1 round=$2 disk=$3
    local dir=$OUT/run-P6---$system-$round
    rm -rf "$dir"
    start_system "$system" async "$dir" || { stop_system "$system" "$dir"; return 0; }
    sleep 5
    local idle
    idle=$(rss_kib "$BROKER_PID")
    ip netns exec "$NS" "$BIN" bench produce -w 16 -s 1024 -b 32 -q 5242880 --json \
        2>"$dir/bench.log" | tail -1 >"$dir/result.json" || true
    sleep 2
    local after
    after=$(rss_kib "$BROKER_PID")
    local anon
    anon=$(awk '/^RssAnon/ { print $2 }' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
    stop_system "$system" "$dir"
    printf '{"workload":"P6","variant":"-","system":"%s","round":%d,"disk_mb_s":%s,"rss_idle_kib":%s,"rss_after_kib":%s,"rss_anon_after_kib":%s}\n' \
        "$system" "$round" "${disk:-0}" "$idle" "$after" "$anon" >>"$RESULTS"
    log "   -> $system P6: idle $((idle / 1024)) MiB, after 5 GiB $((after / 1024)) MiB (anon $((anon / 1024)) MiB)"
    rm -rf "$dir/data" "$dir/store" 2>/dev/null || true
}

# T2: RSS idle (5 s after start) and with $TIMERS timers pending (due in 2 days).
run_t2() {
    local system=$1 round=$2 disk=$3
    local dir=$OUT/run-T2---$system-$round
    rm -rf "$dir"
    start_system "$system" async "$dir" || { stop_system "$system" "$dir"; return 0; }
    sleep 5
    local idle t0 t1
    idle=$(rss_kib "$BROKER_PID")
    t0=$(date +%s.%N)
    ip netns exec "$NS" "$BIN" bench produce -w 64 -s 128 --timer-delay-ms 172800000 \
        -q "${TIMERS:-10000000}" --json 2>"$dir/bench.log" | tail -1 >"$dir/result.json" || true
    t1=$(date +%s.%N)
    sleep 5
    local after anon sent
    after=$(rss_kib "$BROKER_PID")
    anon=$(awk '/^RssAnon/ { print $2 }' "/proc/$BROKER_PID/status" 2>/dev/null || echo 0)
    sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("messages", 0))' "$dir/result.json" 2>/dev/null || echo 0)
    stop_system "$system" "$dir"
    printf '{"workload":"T2","variant":"-","system":"%s","round":%d,"disk_mb_s":%s,"rss_idle_kib":%s,"rss_after_kib":%s,"rss_anon_after_kib":%s,"timers":%s,"seconds":%s}\n' \
        "$system" "$round" "${disk:-0}" "$idle" "$after" "$anon" "$sent" "$(echo "$t1 - $t0" | bc)" >>"$RESULTS"
    log "   -> $system T2: idle $((idle / 1024)) MiB, with $sent timers pending $((after / 1024)) MiB (anon $((anon / 1024)) MiB)"
    rm -rf "$dir/data" "$dir/store" "$dir/rocketmq-home/store" 2>/dev/null || true
}

# P7: from exec to the first accepted send.
run_p7() {
    local system=$1 round=$2 disk=$3
    local dir=$OUT/run-P7---$system-$round
    rm -rf "$dir"
    local since
    since=$(date +%s%3N)
    ( start_system "$system" async "$dir" ) &
    local starter=$!
    local json
    json=$(ip netns exec "$NS" "$BIN" bench probe --since-ms "$since" --timeout 120 --json 2>"$dir.probe.log" | tail -1) || true
    wait "$starter" || true
    stop_system "$system" "$dir"
    local ms
    ms=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("ms_since_start"))' "$json" 2>/dev/null || echo null)
    printf '{"workload":"P7","variant":"-","system":"%s","round":%d,"disk_mb_s":%s,"start_ms":%s}\n' \
        "$system" "$round" "${disk:-0}" "$ms" >>"$RESULTS"
    log "   -> $system P7: accepting sends $ms ms after exec"
    rm -rf "$dir" "$dir.probe.log"
}

# ---- main ---------------------------------------------------------------------------------

log "results in $OUT; workloads: $WORKLOADS; peers: $PEERS; $PAIRS rounds of $DURATION s (+$WARMUP s warm-up)"
uname -a >"$OUT/machine.txt"
nproc >>"$OUT/machine.txt"
for ((round = 1; round <= PAIRS; round++)); do
    disk=$(disk_mb_s)
    log "round $round: disk raw sequential write (1 GiB, dd conv=fdatasync) = $disk MB/s"
    for w in $WORKLOADS; do
        for system in apogee $PEERS; do
            case $w in
                P6) run_p6 "$system" "$round" "$disk" ;;
                P7) run_p7 "$system" "$round" "$disk" ;;
                T2) run_t2 "$system" "$round" "$disk" ;;
                *)
                    for v in $(variants_of "$w"); do
                        run_one "$w" "$v" "$system" "$round" "$disk"
                    done
                    ;;
            esac
        done
    done
done

python3 - "$RESULTS" >"$OUT/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
disk = med([r["disk_mb_s"] for r in rows if r.get("disk_mb_s")])
print(f"disk raw sequential write (dd 1 GiB + fdatasync), median: {disk} MB/s\n")
print("| workload | variant | system | runs | median msg/s | median MB/s | % of disk | median p99 | e2e p99 | broker cores | other |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
keys = sorted({(r["workload"], r["variant"], r["system"]) for r in rows})
base = {}
for w, v, s in keys:
    rs = [r for r in rows if (r["workload"], r["variant"], r["system"]) == (w, v, s)
          and (r.get("send_tps") is not None or w in ("P6", "P7", "T2"))]
    tps = med([r.get("send_tps") for r in rs])
    mb = med([r.get("mb_per_s") for r in rs])
    p99 = med([r.get("p99_us") for r in rs])
    e2e = med([r.get("e2e_p99_us") for r in rs])
    cores = med([r.get("broker_cpu_cores") for r in rs])
    other = ""
    if w == "P6":
        other = "RSS idle %.1f MiB, after 5 GiB %.1f MiB (anon %.1f MiB)" % (
            med([r["rss_idle_kib"] for r in rs]) / 1024, med([r["rss_after_kib"] for r in rs]) / 1024,
            med([r["rss_anon_after_kib"] for r in rs]) / 1024)
    if w == "P7":
        other = "start -> first send %s ms" % med([r.get("start_ms") for r in rs])
    if w == "T1":
        other = "lateness p50 %s us, p99 %s us" % (med([r.get("e2e_p50_us") for r in rs]), e2e)
    if w == "T2":
        other = "RSS idle %.1f MiB, with %s timers pending %.1f MiB (anon %.1f MiB), sent in %.0f s" % (
            med([r["rss_idle_kib"] for r in rs]) / 1024, med([r.get("timers") for r in rs]),
            med([r["rss_after_kib"] for r in rs]) / 1024, med([r["rss_anon_after_kib"] for r in rs]) / 1024,
            med([r.get("seconds") for r in rs]))
    if s == "apogee":
        base[(w, v)] = tps
    ratio = ""
    if s != "apogee" and tps and base.get((w, v)):
        ratio = " (apogee %.2fx)" % (base[(w, v)] / tps)
    pct = "%.0f%%" % (100 * mb / disk) if mb and disk else ""
    fmt = lambda x, f: (f % x) if x is not None else ""
    print(f"| {w} | {v} | {s} | {len(rs)} | {fmt(tps, '%.0f')}{ratio} | {fmt(mb, '%.1f')} | {pct} | {fmt(p99, '%d us')} | {fmt(e2e, '%d us')} | {fmt(cores, '%.2f')} | {other} |")
PY
cat "$OUT/summary.md"
