#!/usr/bin/env bash
# Interop: the official Apache RocketMQ Java client, unchanged, against `apogee standalone`.
#
#   interop/java/run.sh                      # both client lines (4.9.8 and 5.x)
#   INTEROP_PROFILES=rocketmq-5 interop/java/run.sh
#   APOGEE_BIN=/path/to/apogee interop/java/run.sh     # skip the cargo build
#
# Environment:
#   APOGEE_BIN         broker binary to use (default: cargo build --release, then
#                      ${CARGO_TARGET_DIR:-<repo>/target}/release/apogee)
#   INTEROP_PROFILES   Maven profiles to run, in order (default "rocketmq-4 rocketmq-5")
#   INTEROP_MVN_ARGS   extra Maven arguments (e.g. -Drocketmq.client.version=5.3.3,
#                      -Dtest=ClusteringTest)
#   APOGEE_NAMESRV_PORT / APOGEE_BROKER_PORT   fixed loopback ports (default: two free
#                      ports below the kernel's ephemeral range, picked by this script, so
#                      that a restarted broker gets the same addresses back; 0 = the kernel
#                      picks, and a restart reuses what the ready line told)
#   RUST_LOG           broker log filter (default apogee=info); the log is kept in
#                      interop/java/target/apogee-broker.log
#   INTEROP_KEEP_DATA  non-empty: keep the broker's data directory (its path is printed)
#   APOGEE_BROKER_CONF a broker.conf for the broker (`standalone -c`), e.g. one with
#                      flushDiskType=SYNC_FLUSH to run the suite against the sync path
#
# The broker is started and stopped through $WORK/restart-broker.sh (written below, it runs
# ../broker-control.sh:
# `restart-broker.sh start|stop|restart`, default restart), whose path reaches the tests as
# -Dapogee.restartCmd and APOGEE_RESTART_CMD (BrokerRestartTest restarts the broker on the
# same data directory and ports); the current broker PID is kept in $WORK/broker.pid.
# The binary's absolute path reaches the tests as -Dapogee.bin and APOGEE_BIN (TraceTest
# runs `apogee admin queryMsgTraceById`).
#
# Prints each scenario's summary and ends with "interop: N passed, N failed";
# exits non-zero if any test failed or the broker died.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILES=${INTEROP_PROFILES:-"rocketmq-4 rocketmq-5"}
read -r -a MVN_EXTRA <<<"${INTEROP_MVN_ARGS:-}"
# Each profile builds into target/<tag> (v4, v5) unless -Dinterop.tag=… overrides it.
TAG_OVERRIDE=$(sed -n 's/.*-Dinterop\.tag=\([^ ]*\).*/\1/p' <<<"${INTEROP_MVN_ARGS:-}")
tag_of() { echo "${TAG_OVERRIDE:-v${1#rocketmq-}}"; }

if [[ -n ${APOGEE_BIN:-} ]]; then
    BIN=$APOGEE_BIN
else
    echo "interop: building apogee (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/apogee
fi
[[ -x $BIN ]] || { echo "interop: no executable apogee at $BIN" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") # the tests run it from interop/java

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-interop.XXXXXX")
mkdir -p "$HERE/target"
BROKER_LOG=$HERE/target/apogee-broker.log
RESTART_CMD=$WORK/restart-broker.sh
PID_FILE=$WORK/broker.pid

# Two free loopback ports (../pick-ports.py); empty if python3 is missing or none is free.
pick_ports() {
    command -v python3 >/dev/null 2>&1 || return 0
    python3 "$HERE/../pick-ports.py" 2 2>/dev/null || true
}
NAMESRV_PORT=${APOGEE_NAMESRV_PORT:-}
BROKER_PORT=${APOGEE_BROKER_PORT:-}
if [[ -z $NAMESRV_PORT || -z $BROKER_PORT ]]; then
    read -r p1 p2 <<<"$(pick_ports)" || true
    NAMESRV_PORT=${NAMESRV_PORT:-${p1:-0}}
    BROKER_PORT=${BROKER_PORT:-${p2:-0}}
fi

# The broker control script: the tests run it (restart) while this script runs Maven.
# shellcheck source=../restart-script.sh
source "$HERE/../restart-script.sh"
write_restart_script "$RESTART_CMD" java "${APOGEE_BROKER_CONF:-}"

broker_pid() { cat "$PID_FILE" 2>/dev/null || true; }
stop_broker() {
    "$RESTART_CMD" stop >/dev/null || true
}
cleanup() {
    stop_broker
    if [[ -n ${INTEROP_KEEP_DATA:-} ]]; then
        echo "interop: broker data kept in $WORK/data" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$BROKER_LOG" # never read a previous run's ready line
if ! "$RESTART_CMD" start >/dev/null; then
    echo "interop: apogee did not start" >&2
    exit 2
fi
# The ready line (apogee's only stdout line; its log goes to stderr, into the same file).
NAMESRV=$(sed -n 's/^apogee standalone: name server on \([^,]*\), broker on.*/\1/p' \
    "$BROKER_LOG" | head -n 1)
[[ -n $NAMESRV ]] || { echo "interop: no ready line in $BROKER_LOG" >&2; exit 2; }
echo "interop: $(grep -m1 '^apogee standalone:' "$BROKER_LOG")" >&2

passed=0
failed=0
mvn_failed=0
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    rm -rf "$out/surefire-reports" "$out/interop-summary.txt" "$out/rocketmq-logs" "$out/rocketmq-offsets"
    echo "interop: ---- $profile (namesrv $NAMESRV) ----" >&2
    if ! (cd "$HERE" && APOGEE_NAMESRV=$NAMESRV APOGEE_RESTART_CMD=$RESTART_CMD APOGEE_BIN=$BIN \
            mvn -q -B -Dstyle.color=never test -P "$profile" \
            -Dapogee.namesrv="$NAMESRV" -Dapogee.restartCmd="$RESTART_CMD" \
            -Dapogee.bin="$BIN" "${MVN_EXTRA[@]}"); then
        mvn_failed=1
    fi
    # Count from Surefire's XML reports (mvn -q hides its summary line).
    p=0 f=0
    for report in "$out"/surefire-reports/TEST-*.xml; do
        [[ -f $report ]] || continue
        head=$(grep -m1 -o '<testsuite [^>]*>' "$report")
        attr() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$head"; }
        t=$(attr tests) e=$(attr errors) x=$(attr failures) s=$(attr skipped)
        f=$((f + ${e:-0} + ${x:-0}))
        p=$((p + ${t:-0} - ${e:-0} - ${x:-0} - ${s:-0}))
    done
    echo "interop: $profile: $p passed, $f failed" >&2
    passed=$((passed + p))
    failed=$((failed + f))
done

broker_died=0
pid=$(broker_pid)
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null || grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; then
    echo "interop: apogee died during the run; last log lines:" >&2
    tail -n 50 "$BROKER_LOG" >&2
    broker_died=1
fi
stop_broker
echo "interop: broker log kept at $BROKER_LOG" >&2

echo "interop: ---- summary ----"
for profile in $PROFILES; do
    summary=$HERE/target/$(tag_of "$profile")/interop-summary.txt
    [[ -f $summary ]] && cat "$summary"
done

echo "interop: $passed passed, $failed failed"
if ((failed > 0 || mvn_failed || broker_died || passed == 0)); then
    exit 1
fi
