#!/usr/bin/env bash
# A million timers through one broker: `apogee bench produce` sends N timers (default
# 1 000 000) due --delay-ms after their send, on a fresh `apogee standalone`; then the
# real topic's stored messages are counted (apogee admin topicStatus: the sum of the queues'
# max offsets) until they reach N: each timer delivered, none twice (a repeat would push the
# count past N). Prints the send rate, when the last one was delivered, and the broker's RSS.
#
#   scripts/timers-million.sh [--count N] [--delay-ms 30000] [--no-build]
#
# Loopback only. Not part of CI (a minute or two).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/apogee
COUNT=1000000
DELAY=30000
BUILD=1
while (($#)); do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --delay-ms) DELAY=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
((BUILD)) && (cd "$ROOT" && cargo build --release --quiet)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-timers.XXXXXX")
read -r NS BROKER <<<"$(python3 "$ROOT/interop/pick-ports.py" 2)"
"$BIN" standalone --data-dir "$WORK/data" --namesrv-listen "127.0.0.1:$NS" \
    --broker-listen "127.0.0.1:$BROKER" --console-listen off >"$WORK/out" 2>"$WORK/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do grep -q "^apogee standalone" "$WORK/out" && break; sleep 0.1; done
stored() {
    "$BIN" admin topicStatus -n "127.0.0.1:$NS" -t TimersMillion --json 2>/dev/null |
        python3 -c 'import json,sys; print(sum(q["maxOffset"] for q in json.load(sys.stdin)))' 2>/dev/null || echo 0
}
"$BIN" admin updateTopic -n "127.0.0.1:$NS" -c DefaultCluster -t TimersMillion -r 8 -w 8 >/dev/null
t0=$(date +%s.%N)
"$BIN" bench produce -n "127.0.0.1:$NS" -t TimersMillion --no-create -w 64 -s 128 \
    --timer-delay-ms "$DELAY" -q "$COUNT" --json 2>"$WORK/bench.log" | tail -1 >"$WORK/sent.json"
t1=$(date +%s.%N)
echo "sent $COUNT timers in $(echo "$t1 - $t0" | bc) s ($(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["send_tps"]))' "$WORK/sent.json") msg/s); due $DELAY ms after each send"
echo "broker RSS with them pending: $(awk '/^VmRSS/ {print int($2/1024)}' /proc/$PID/status) MiB"
n=0
while :; do
    n=$(stored)
    now=$(date +%s.%N)
    if ((n >= COUNT)); then break; fi
    if (($(echo "$now - $t1 > $DELAY / 1000 + 120" | bc))); then
        echo "FAIL: only $n of $COUNT delivered 120 s after the last was due" >&2; exit 1
    fi
    sleep 0.5
done
echo "all $COUNT delivered $(echo "$now - $t1 - $DELAY / 1000" | bc) s after the last send was due"
sleep 3
n=$(stored)
if ((n != COUNT)); then echo "FAIL: $n stored in the topic, $COUNT sent (repeats)" >&2; exit 1; fi
echo "stored in the real topic: $n (none lost, none twice); broker RSS $(awk '/^VmRSS/ {print int($2/1024)}' /proc/$PID/status) MiB"
