#!/usr/bin/env bash
# Interop: the official Apache RocketMQ Go client (github.com/apache/rocketmq-client-go/v2,
# the version pinned in go.mod), unchanged, against `apogee standalone`.
#
#   interop/go/run.sh                                 # build apogee, start it, run every test
#   APOGEE_BIN=/path/to/apogee interop/go/run.sh      # skip the broker's cargo build
#   INTEROP_GO_RUN='TestAdmin|TestDelay' interop/go/run.sh   # some tests (go test -run)
#
# Environment:
#   APOGEE_BIN         broker binary (default: cargo build --release in the repository, then
#                      ${CARGO_TARGET_DIR:-<repo>/target}/release/apogee)
#   APOGEE_BROKER_CONF extra broker.conf lines (a file) appended to the one this script
#                      writes (brokerIP1=127.0.0.2, enablePropertyFilter=true)
#   APOGEE_NAMESRV_PORT / APOGEE_BROKER_PORT / INTEROP_TAP_PORT   fixed loopback ports
#                      (default: free ports below the kernel's ephemeral range, picked here,
#                      so that a restarted broker gets the same addresses back)
#   RUST_LOG           broker log filter (default apogee=info); the log is kept in
#                      interop/go/target/apogee-broker.log
#   ROCKETMQ_GO_LOG_LEVEL  Go client log level (default warn); its log is
#                      interop/go/target/rocketmq-client.log
#   INTEROP_GO_RUN     go test -run pattern (default: all tests)
#   INTEROP_WAIT_SECS  how long a test waits for messages (default 60)
#   INTEROP_GO_TIMEOUT go test -timeout (default 8m)
#   INTEROP_KEEP_DATA  non-empty: keep the broker's data directory (its path is printed)
#
# The Go client always talks to the broker through wiretap.py: the broker advertises
# 127.0.0.2 (brokerIP1) and the relay listens there, a second relay fronts the name server.
# Every request code the client sends (and every request the broker sends to the client)
# is recorded with the response codes it got; the table is printed at the end and any
# REQUEST_CODE_NOT_SUPPORTED (3) fails the run. Log: interop/go/target/wiretap.log, summary
# interop/go/target/wiretap-summary.json; the tags of every message in a pull response go to
# interop/go/target/wiretap-pulled-tags.tsv (APOGEE_WIRETAP_PULLED, read by TestTagFilter).
#
# The broker is started/stopped through $WORK/restart-broker.sh start|stop|restart (written
# below); its path reaches the tests as APOGEE_RESTART_CMD (TestResumeAfterBrokerRestart).
#
# Prints each test's verdict, then "go-interop: N passed, N failed", then the wiretap table;
# exits non-zero if a test failed, go test failed, a request got REQUEST_CODE_NOT_SUPPORTED,
# or the broker died.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
START=$SECONDS

command -v go >/dev/null || { echo "go-interop: no go toolchain on PATH" >&2; exit 2; }
command -v python3 >/dev/null || { echo "go-interop: python3 is needed (wiretap.py)" >&2; exit 2; }

if [[ -n ${APOGEE_BIN:-} ]]; then
    BIN=$APOGEE_BIN
else
    echo "go-interop: building apogee (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/apogee
fi
[[ -x $BIN ]] || { echo "go-interop: no executable apogee at $BIN" >&2; exit 2; }

# Compile the tests first (downloads the modules through the proxy on a fresh machine), so
# that the broker does not sit idle during the build and a build error is reported as such.
mkdir -p "$HERE/target"
echo "go-interop: building the tests (go test -c)" >&2
build_start=$SECONDS
if ! (cd "$HERE" && go test -c -o "$HERE/target/interop-go.test" .); then
    echo "go-interop: the Go tests do not build" >&2
    echo "go-interop: 0 passed, 1 failed (build)"
    exit 1
fi
echo "go-interop: test build took $((SECONDS - build_start)) s" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-go-interop.XXXXXX")
BROKER_LOG=$HERE/target/apogee-broker.log
TAP_LOG=$HERE/target/wiretap.log
TAP_SUMMARY=$HERE/target/wiretap-summary.json
TAP_PULLED=$HERE/target/wiretap-pulled-tags.tsv
CLIENT_LOG=$HERE/target/rocketmq-client.log
TEST_LOG=$HERE/target/go-test.log
RESTART_CMD=$WORK/restart-broker.sh
PID_FILE=$WORK/broker.pid
TAP_PID=

# Free loopback ports, also free on 127.0.0.2 for the broker relay (../pick-ports.py).
pick_ports() { python3 "$HERE/../pick-ports.py" "$1"; }
read -r p1 p2 p3 <<<"$(pick_ports 3)" || true
NAMESRV_PORT=${APOGEE_NAMESRV_PORT:-$p1}
BROKER_PORT=${APOGEE_BROKER_PORT:-$p2}
TAP_NS_PORT=${INTEROP_TAP_PORT:-$p3}
[[ -n $NAMESRV_PORT && -n $BROKER_PORT && -n $TAP_NS_PORT ]] ||
    { echo "go-interop: could not pick free loopback ports" >&2; exit 2; }

# The broker.conf: clients reach the broker through the relay on 127.0.0.2, and SQL92
# subscriptions need enablePropertyFilter.
CONF=$WORK/broker.conf
{
    printf 'brokerIP1=127.0.0.2\nenablePropertyFilter=true\n'
    [[ -n ${APOGEE_BROKER_CONF:-} ]] && cat "$APOGEE_BROKER_CONF"
} >"$CONF"

# The broker control script (../broker-control.sh, as for the Java suite): the tests run
# it (restart).
# shellcheck source=../restart-script.sh
source "$HERE/../restart-script.sh"
write_restart_script "$RESTART_CMD" go "$CONF"

broker_pid() { cat "$PID_FILE" 2>/dev/null || true; }
stop_tap() {
    if [[ -n $TAP_PID ]] && kill -0 "$TAP_PID" 2>/dev/null; then
        kill -TERM "$TAP_PID" 2>/dev/null || true
        wait "$TAP_PID" 2>/dev/null || true
    fi
    TAP_PID=
}
cleanup() {
    stop_tap
    "$RESTART_CMD" stop >/dev/null 2>&1 || true
    if [[ -n ${INTEROP_KEEP_DATA:-} ]]; then
        echo "go-interop: broker data kept in $WORK/data" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$BROKER_LOG" "$TAP_LOG" "$TAP_SUMMARY" "$TAP_PULLED" "$CLIENT_LOG" "$TEST_LOG"
rm -rf "$HERE/target/offsets"
if ! "$RESTART_CMD" start >/dev/null; then
    echo "go-interop: apogee did not start" >&2
    exit 2
fi
NAMESRV=$(sed -n 's/^apogee standalone: name server on \([^,]*\), broker on.*/\1/p' \
    "$BROKER_LOG" | head -n 1)
[[ -n $NAMESRV ]] || { echo "go-interop: no ready line in $BROKER_LOG" >&2; exit 2; }
echo "go-interop: $(grep -m1 '^apogee standalone:' "$BROKER_LOG")" >&2

python3 "$HERE/../wiretap.py" \
    "namesrv,127.0.0.1:$TAP_NS_PORT=$NAMESRV" \
    "broker,127.0.0.2:$BROKER_PORT=127.0.0.1:$BROKER_PORT" \
    --log "$TAP_LOG" --summary "$TAP_SUMMARY" --pulled "$TAP_PULLED" >"$WORK/wiretap.out" 2>&1 &
TAP_PID=$!
for _ in $(seq 1 50); do grep -q ready "$WORK/wiretap.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/wiretap.out" || { echo "go-interop: wiretap did not start" >&2; cat "$WORK/wiretap.out" >&2; exit 2; }
echo "go-interop: wiretap: name server via 127.0.0.1:$TAP_NS_PORT, broker via 127.0.0.2:$BROKER_PORT" >&2

# The dotted variable is the client's knob for where broadcasting consumers keep offsets.
TEST_ARGS=(-test.count=1 -test.v -test.timeout "${INTEROP_GO_TIMEOUT:-8m}")
[[ -n ${INTEROP_GO_RUN:-} ]] && TEST_ARGS+=(-test.run "$INTEROP_GO_RUN")
echo "go-interop: ---- go test (namesrv 127.0.0.1:$TAP_NS_PORT) ----" >&2
set +e
(cd "$HERE" && exec env APOGEE_NAMESRV="127.0.0.1:$TAP_NS_PORT" APOGEE_BROKER="127.0.0.2:$BROKER_PORT" \
    APOGEE_RESTART_CMD="$RESTART_CMD" APOGEE_GO_LOG_DIR="$HERE/target" APOGEE_WIRETAP_PULLED="$TAP_PULLED" \
    ROCKETMQ_GO_LOG_LEVEL="${ROCKETMQ_GO_LOG_LEVEL:-warn}" \
    "rocketmq.client.localOffsetStoreDir=$HERE/target/offsets" \
    "$HERE/target/interop-go.test" "${TEST_ARGS[@]}") 2>&1 | tee "$TEST_LOG"
go_status=${PIPESTATUS[0]}
set -e

broker_died=0
pid=$(broker_pid)
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null || grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; then
    echo "go-interop: apogee died during the run; last log lines:" >&2
    tail -n 50 "$BROKER_LOG" >&2
    broker_died=1
fi
stop_tap
"$RESTART_CMD" stop >/dev/null || true
warns=$(grep -c -E ' (WARN|ERROR) ' "$BROKER_LOG" || true)
echo "go-interop: broker log kept at $BROKER_LOG ($warns WARN/ERROR lines); client log $CLIENT_LOG; wiretap log $TAP_LOG" >&2

# Top-level verdicts (subtests are indented in -v output).
passed=$(grep -c -E '^--- PASS: ' "$TEST_LOG" || true)
failed=$(grep -c -E '^--- FAIL: ' "$TEST_LOG" || true)
echo "go-interop: ---- verdicts ----"
grep -E '^ *--- (PASS|FAIL|SKIP): ' "$TEST_LOG" || true
if ((go_status != 0 && failed == 0)); then
    echo "go-interop: go test exited with status $go_status without a failed test (panic or timeout?)"
    failed=$((failed + 1))
fi

echo "go-interop: $passed passed, $failed failed$( ((broker_died)) && echo ' (broker died)')"

# The wiretap table, and the REQUEST_CODE_NOT_SUPPORTED check.
not_supported=0
if [[ -f $TAP_SUMMARY ]]; then
    python3 - "$TAP_SUMMARY" <<'PY' || not_supported=1
import json, sys
s = json.load(open(sys.argv[1]))
print("go-interop: ---- wiretap: request code -> response codes ----")
print(f"{'peer':8} {'direction':15} {'request':42} responses")
bad = []
for r in s["requests"]:
    resp = ", ".join(f"{k} x{v}" for k, v in r["responses"].items())
    print(f"{r['peer']:8} {r['direction']:15} {r['request']:42} {resp}")
    for k, remark in r["remarks"].items():
        print(f"{'':68} {k} remark: {remark[:300]}")
    if any(k.startswith("3:") for k in r["responses"]):
        bad.append(f"{r['peer']} {r['direction']} {r['request']}")
tags = s.get("pulledTags", {})
if tags:
    print("go-interop: ---- wiretap: tags in the broker's pull responses, per group ----")
    for g in sorted(tags):
        print(f"{g:56} {tags[g]}")
if bad:
    print("go-interop: REQUEST_CODE_NOT_SUPPORTED for: " + "; ".join(bad))
    sys.exit(1)
PY
else
    echo "go-interop: no wiretap summary ($TAP_SUMMARY); see $WORK/wiretap.out" >&2
    not_supported=1
fi
echo "go-interop: wall time $((SECONDS - START)) s" >&2

if ((failed > 0 || go_status != 0 || not_supported || broker_died || passed == 0)); then
    exit 1
fi
