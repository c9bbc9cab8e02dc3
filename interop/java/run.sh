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
#   APOGEE_NAMESRV_PORT / APOGEE_BROKER_PORT   fixed loopback ports (default: 0, i.e. the
#                      kernel picks free ones; the ready line tells which)
#   RUST_LOG           broker log filter (default apogee=info); the log is kept in
#                      interop/java/target/apogee-broker.log
#   INTEROP_KEEP_DATA  non-empty: keep the broker's data directory (its path is printed)
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-interop.XXXXXX")
mkdir -p "$HERE/target"
BROKER_LOG=$HERE/target/apogee-broker.log
BROKER_PID=

stop_broker() {
    if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -INT "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$BROKER_PID" 2>/dev/null; then
            kill -KILL "$BROKER_PID" 2>/dev/null || true
        fi
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    BROKER_PID=
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
RUST_LOG=${RUST_LOG:-apogee=info} NO_COLOR=1 "$BIN" standalone \
    --data-dir "$WORK/data" \
    --namesrv-listen "127.0.0.1:${APOGEE_NAMESRV_PORT:-0}" \
    --broker-listen "127.0.0.1:${APOGEE_BROKER_PORT:-0}" \
    >"$BROKER_LOG" 2>&1 &
BROKER_PID=$!

NAMESRV=
for _ in $(seq 1 600); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "interop: apogee exited before it was ready; its log:" >&2
        tail -n 50 "$BROKER_LOG" >&2
        exit 2
    fi
    # The ready line; logs may share the stream (apogee's tracing writes to stdout today).
    NAMESRV=$(sed -n 's/^apogee standalone: name server on \([^,]*\), broker on.*/\1/p' \
        "$BROKER_LOG" 2>/dev/null || true)
    [[ -n $NAMESRV ]] && break
    sleep 0.1
done
[[ -n $NAMESRV ]] || { echo "interop: apogee not ready within 60 s" >&2; tail -n 50 "$BROKER_LOG" >&2; exit 2; }
echo "interop: $(grep -m1 '^apogee standalone:' "$BROKER_LOG")" >&2

passed=0
failed=0
mvn_failed=0
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    rm -rf "$out/surefire-reports" "$out/interop-summary.txt" "$out/rocketmq-logs" "$out/rocketmq-offsets"
    echo "interop: ---- $profile (namesrv $NAMESRV) ----" >&2
    if ! (cd "$HERE" && APOGEE_NAMESRV=$NAMESRV mvn -q -B -Dstyle.color=never test -P "$profile" \
            -Dapogee.namesrv="$NAMESRV" "${MVN_EXTRA[@]}"); then
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
if ! kill -0 "$BROKER_PID" 2>/dev/null; then
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
