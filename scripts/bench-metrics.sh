#!/usr/bin/env bash
# What a Prometheus scraper costs the hot path: bench P1 (64 sync senders, 1 KiB, async
# flush) against a fresh `apogee standalone`, alternately without and with a scraper that
# GETs /metrics every second (docs/console.md, docs/perf.md).
#
#   scripts/bench-metrics.sh [--pairs 3] [--duration 20] [--warmup 3] [--out DIR] [--no-build]
#
# Each pair runs both variants on fresh brokers, in alternating order; prints each run's
# msg/s and p99, the mean of each variant and their ratio, and the scrape times. Loopback
# only; the broker is ours. Not part of CI (a few minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/apogee
PAIRS=3
DURATION=20
WARMUP=3
OUT=${TMPDIR:-/tmp}/apogee-bench-metrics-$(date +%Y%m%d-%H%M%S)
BUILD=1
while (($#)); do
    case $1 in
        --pairs) PAIRS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
if ((BUILD)); then
    log "building apogee (release)"
    (cd "$ROOT" && cargo build --release --quiet)
fi
read -r NS BROKER WEB <<<"$(python3 "$ROOT/interop/pick-ports.py" 3)"
[[ -n ${WEB:-} ]] || { echo "no free ports" >&2; exit 2; }
PID=
SCRAPER=
cleanup() {
    [[ -n $SCRAPER ]] && kill "$SCRAPER" 2>/dev/null || true
    [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
}
trap cleanup EXIT

# run NAME SCRAPE(0|1): one P1 run on a fresh broker; appends "NAME msg/s p99" to results.
run() {
    local name=$1 scrape=$2
    rm -rf "$OUT/data"
    "$BIN" standalone --data-dir "$OUT/data" --namesrv-listen "127.0.0.1:$NS" \
        --broker-listen "127.0.0.1:$BROKER" --console-listen "127.0.0.1:$WEB" \
        >"$OUT/$name.out" 2>"$OUT/$name.log" &
    PID=$!
    for _ in $(seq 1 100); do
        curl -sf "127.0.0.1:$WEB/api/info" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ((scrape)); then
        (while true; do
            curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$WEB/metrics" >>"$OUT/$name.scrapes" || true
            sleep 1
        done) &
        SCRAPER=$!
    fi
    "$BIN" bench produce -n "127.0.0.1:$NS" -w 64 -s 1024 -d "$DURATION" --warmup "$WARMUP" --json \
        >"$OUT/$name.json" 2>"$OUT/$name.bench.log"
    if [[ -n $SCRAPER ]]; then kill "$SCRAPER" 2>/dev/null || true; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=; fi
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    python3 - "$OUT/$name.json" "$name" >>"$OUT/results" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
r = json.loads(line)
print(sys.argv[2], r["send_tps"], r["p99_us"])
PY
    log "$name: $(tail -n 1 "$OUT/results")"
}

: >"$OUT/results"
for i in $(seq 1 "$PAIRS"); do
    if ((i % 2)); then run "plain-$i" 0; run "scraped-$i" 1; else run "scraped-$i" 1; run "plain-$i" 0; fi
done
python3 - "$OUT" <<'PY'
import glob, os, statistics, sys
out = sys.argv[1]
rows = [l.split() for l in open(os.path.join(out, "results")) if l.strip()]
plain = [float(r[1]) for r in rows if r[0].startswith("plain")]
scraped = [float(r[1]) for r in rows if r[0].startswith("scraped")]
times = [float(t) for f in glob.glob(os.path.join(out, "*.scrapes")) for t in open(f) if t.strip()]
p99 = {k: [float(r[2]) for r in rows if r[0].startswith(k)] for k in ("plain", "scraped")}
print(f"p99 (µs) without: {p99['plain']}, with: {p99['scraped']}")
print(f"P1 without scraper: {', '.join(f'{v:.0f}' for v in plain)} msg/s (mean {statistics.mean(plain):.0f})")
print(f"P1 with /metrics every 1 s: {', '.join(f'{v:.0f}' for v in scraped)} msg/s (mean {statistics.mean(scraped):.0f})")
print(f"ratio with/without: {statistics.mean(scraped) / statistics.mean(plain):.3f}")
if times:
    times.sort()
    print(f"scrapes: {len(times)}, median {1000 * statistics.median(times):.1f} ms, max {1000 * times[-1]:.1f} ms")
PY
echo "runs in $OUT" >&2
