#!/usr/bin/env bash
# The transaction checker over a backlog of undecided halves: does serving suffer while the
# checker scans and checks them back? (docs/perf.md, transactions.)
#
#   scripts/bench-txn-backlog.sh [--halves 100000] [--duration 30] [--out DIR] [--no-build]
#
# 1. baseline: a fresh `apogee standalone`, `apogee bench produce -w 64 -s 1024` (P1) for
#    --duration seconds: msg/s and p99;
# 2. backlog: a fresh broker; --halves halves sent in transactions left unknown
#    (`--transaction unknown`); then, while a producer of their group stays connected and
#    answers every check-back "unknown" (so the checker keeps checking), the same P1 run.
#    It starts once the first checks are due (transactionTimeOut, 6 s, after the last half)
#    and covers the checker's first round (2 000 checks a second at most: 50 s for 100 000).
# Prints both runs' JSON lines, the broker's CPU use during each, and the number of checks
# the broker logged (RUST_LOG=apogee::actors::txn_checker=debug).
#
# Runs on loopback; the broker is ours. Not part of CI (a few minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/apogee
HALVES=100000
DURATION=30
OUT=${TMPDIR:-/tmp}/apogee-txn-backlog-$(date +%Y%m%d-%H%M%S)
BUILD=1
while (($#)); do
    case $1 in
        --halves) HALVES=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
if ((BUILD)); then
    log "building apogee (release)"
    (cd "$ROOT" && cargo build --release --quiet)
fi
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

cpu_seconds() { # utime + stime of a process, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# start NAME: a fresh broker on 127.0.0.1:19876 / :20911 with its log in $OUT/NAME.log.
start() {
    rm -rf "$OUT/$1-data"
    RUST_LOG=apogee=info,apogee::actors::txn_checker=debug "$BIN" standalone \
        --data-dir "$OUT/$1-data" --namesrv-listen 127.0.0.1:19876 \
        --broker-listen 127.0.0.1:20911 >"$OUT/$1.out" 2>"$OUT/$1.log" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q "^apogee standalone:" "$OUT/$1.out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "broker did not start" >&2
    exit 1
}
stop() { kill -INT "$PID"; wait "$PID" || true; PID=; }
p1() { # the P1 run; prints its JSON line
    "$BIN" bench produce -n 127.0.0.1:19876 -w 64 -s 1024 -d "$DURATION" --warmup 3 --json \
        2>"$OUT/$1-bench.log" | tail -1
}

log "baseline: P1 on a fresh broker"
start baseline
sleep 1
c0=$(cpu_seconds "$PID")
base=$(p1 baseline)
c1=$(cpu_seconds "$PID")
stop
echo "baseline $base broker_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}')"

log "backlog: $HALVES halves left unknown"
start backlog
sleep 1
"$BIN" bench produce -n 127.0.0.1:19876 -t ApogeeTxn -w 64 -s 1024 -q "$HALVES" \
    --transaction unknown --group bench_txn_backlog --json 2>"$OUT/halves.log" | tail -1
# A producer of the group stays connected and answers "unknown" to every check.
"$BIN" bench produce -n 127.0.0.1:19876 -t ApogeeTxn -w 1 -s 1024 --rate 1 \
    -d $((DURATION + 20)) --transaction unknown --group bench_txn_backlog \
    >"$OUT/answerer.log" 2>&1 &
ANSWERER=$!
sleep 7 # the first checks are due 6 s after a half was stored
checks0=$(grep -c "transaction check" "$OUT/backlog.log" || true)
c0=$(cpu_seconds "$PID")
loaded=$(p1 backlog)
c1=$(cpu_seconds "$PID")
checks1=$(grep -c "transaction check" "$OUT/backlog.log" || true)
kill "$ANSWERER" 2>/dev/null || true
wait "$ANSWERER" 2>/dev/null || true
stop
echo "backlog $loaded broker_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}') checks_during_run=$((checks1 - checks0)) checks_total=$checks1"
log "logs in $OUT"
