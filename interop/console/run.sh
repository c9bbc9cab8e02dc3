#!/usr/bin/env bash
# The built-in web console in a real browser: starts `apogee standalone --console-listen`,
# seeds a topic, a lagging consumer group, a group whose members disagree and a dead
# letter, then drives Debian's Chromium (headless, through playwright-core) over every page
# of the console (test.mjs). Screenshots of every page are kept.
#
#   interop/console/run.sh                               # apogee from target/release
#   APOGEE_BIN=/path/to/apogee interop/console/run.sh
#   CONSOLE_URL=http://127.0.0.1:18080 interop/console/run.sh   # a console already running
#                                     # (nothing started; seeds through its name server)
#
# Environment:
#   APOGEE_BIN           apogee binary (default <repo>/target/release/apogee; not built here)
#   CONSOLE_URL          use this console instead of starting one
#   CONSOLE_SCREENSHOTS  where the PNGs go (default <repo>/target/console-screenshots)
#   CONSOLE_KEEP_DATA    non-empty: keep the standalone's data directory
#
# Prints "ok"/"FAIL" per check, then "console: N passed, N failed"; exits non-zero on any
# failed check or when something could not be set up.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
START=$SECONDS
BIN=${APOGEE_BIN:-$ROOT/target/release/apogee}
SHOTS=${CONSOLE_SCREENSHOTS:-$ROOT/target/console-screenshots}
say() { echo "console: $*" >&2; }
die() { say "$*"; exit 2; }

[[ -x $BIN ]] || die "no executable apogee at $BIN (build it, or set APOGEE_BIN)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed"
command -v curl >/dev/null || die "curl is needed"

# Debian's Chromium (playwright-core downloads no browser).
if [[ ! -x /usr/bin/chromium ]]; then
    say "installing chromium (apt-get)"
    SUDO=
    ((EUID == 0)) || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null ||
        die "apt-get install chromium failed"
fi
if [[ ! -f $HERE/node_modules/playwright-core/package.json ]]; then
    say "npm ci"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-console.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n ${CONSOLE_KEEP_DATA:-} ]]; then say "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${CONSOLE_URL:-} ]]; then
    URL=${CONSOLE_URL%/}
else
    read -r P1 P2 P3 <<<"$(python3 "$HERE/../pick-ports.py" 3)" || true
    [[ -n ${P3:-} ]] || die "could not pick free loopback ports"
    URL=http://127.0.0.1:$P3
    "$BIN" standalone --data-dir "$WORK/data" --namesrv-listen "127.0.0.1:$P1" \
        --broker-listen "127.0.0.1:$P2" --console-listen "127.0.0.1:$P3" >"$WORK/apogee.log" 2>&1 &
    PIDS+=($!)
    say "apogee standalone pid ${PIDS[0]}, console $URL (log $WORK/apogee.log)"
fi

INFO=
for _ in $(seq 1 100); do
    INFO=$(curl -sf "$URL/api/info" 2>/dev/null) && break
    if [[ -z ${CONSOLE_URL:-} ]] && ! kill -0 "${PIDS[0]}" 2>/dev/null; then
        tail -n 20 "$WORK/apogee.log" >&2
        die "apogee standalone exited"
    fi
    sleep 0.2
done
[[ -n $INFO ]] || die "$URL/api/info did not answer"
NAMESRV=$(node -e 'console.log(JSON.parse(process.argv[1]).namesrv)' "$INFO")
say "console up: $INFO"

admin() { "$BIN" admin "$@" --json -n "$NAMESRV"; }
field() { node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(eval("v"+process.argv[1]))' "$1"; }

# ---- seed ----
CLUSTER=
for _ in $(seq 1 50); do
    CLUSTER=$(admin clusterList 2>/dev/null | field '[0].cluster' 2>/dev/null) && [[ $CLUSTER != undefined ]] && break
    CLUSTER=
    sleep 0.2
done
[[ -n $CLUSTER ]] || die "no broker registered with $NAMESRV"
RUN=$$
TOPIC=ConsoleTopic$RUN
TOPIC2=ConsoleOther$RUN
GROUP=ConsoleGroup$RUN
MIXED=ConsoleMixed$RUN
admin updateTopic -c "$CLUSTER" -t "$TOPIC" -r 4 -w 4 >/dev/null
admin updateTopic -c "$CLUSTER" -t "$TOPIC2" -r 2 -w 2 >/dev/null
admin updateSubGroup -c "$CLUSTER" -g "$GROUP" >/dev/null
admin updateSubGroup -c "$CLUSTER" -g "$MIXED" >/dev/null
for i in 1 2 3 4 5; do
    admin sendMessage -t "$TOPIC" -p "console test body $i" -k "key-$i" -c tagA >/dev/null
done

# The group consumes the first five, then stops being allowed to pull (consumeEnable=false)
# while its member stays online, so the next messages are lag.
# Consumers and the pending message are traced (the Java client's enableMsgTrace format).
consume() { "$BIN" bench consume -n "$NAMESRV" -t "$1" -g "$2" --no-create --from-first --trace -d 600 >"$WORK/consume-$2-$1.log" 2>&1 & PIDS+=($!); }
consume "$TOPIC" "$GROUP"
consumed=
for _ in $(seq 1 75); do
    consumed=$(admin consumerProgress -g "$GROUP" 2>/dev/null |
        node -e 'const p=JSON.parse(require("fs").readFileSync(0,"utf8"));const s=p.queues.filter(q=>!q.topic.startsWith("%")).reduce((a,q)=>a+q.consumerOffset,0);console.log(s>=5?"yes":"")') || true
    [[ $consumed == yes ]] && break
    sleep 0.2
done
[[ $consumed == yes ]] || die "group $GROUP did not consume the first messages"
admin updateSubGroup -c "$CLUSTER" -g "$GROUP" -s false >/dev/null
"$BIN" bench produce -n "$NAMESRV" -t "$TOPIC" --no-create -q 40 -w 4 -s 100 --keys >"$WORK/produce.log" 2>&1 ||
    die "bench produce failed: $(tail -n 3 "$WORK/produce.log")"
PENDING_ID=$(admin sendMessage -t "$TOPIC" -p "still pending" -k pending-key --trace | field '.msgId')

# Two members of one group that subscribe to different topics: the console must warn.
consume "$TOPIC" "$MIXED"
consume "$TOPIC2" "$MIXED"

# A dead letter, stored straight into the group's DLQ topic.
admin updateTopic -c "$CLUSTER" -t "%DLQ%$GROUP" -r 1 -w 1 >/dev/null
admin sendMessage -t "%DLQ%$GROUP" -p "a dead letter" -k dlq-key >/dev/null

for _ in $(seq 1 75); do
    n=$(admin consumerConnection -g "$MIXED" 2>/dev/null | field '.connectionSet.length' 2>/dev/null) || true
    [[ ${n:-0} -ge 2 ]] && break
    sleep 0.2
done
say "seeded in $((SECONDS - START)) s: topic $TOPIC, group $GROUP (lagging), group $MIXED (mixed), DLQ %DLQ%$GROUP"

mkdir -p "$SHOTS"
set +e
(cd "$HERE" && CONSOLE_URL=$URL NAMESRV=$NAMESRV APOGEE_BIN=$BIN SHOTS=$SHOTS TOPIC=$TOPIC GROUP=$GROUP \
    MIXED=$MIXED CLUSTER=$CLUSTER PENDING_ID=$PENDING_ID node test.mjs)
status=$?
set -e
say "screenshots in $SHOTS; wall time $((SECONDS - START)) s"
if [[ -z ${CONSOLE_URL:-} ]] && ! kill -0 "${PIDS[0]}" 2>/dev/null; then
    say "apogee died during the run"; tail -n 30 "$WORK/apogee.log" >&2; exit 1
fi
exit $status
