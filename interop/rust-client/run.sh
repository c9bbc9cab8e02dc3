#!/usr/bin/env bash
# Interop: the rocketmq-client-rust crate, version 1.0.0 from crates.io, unchanged, against
# `apogee standalone`.
#
#   interop/rust-client/run.sh                          # every scenario
#   interop/rust-client/run.sh clustering tags          # some of them
#   APOGEE_BIN=/path/to/apogee interop/rust-client/run.sh   # skip the broker's cargo build
#
# Scenarios: send-modes clustering tags broadcast resume (see src/main.rs). Each runs in its
# own client process against one broker, started here on a fresh temporary data directory.
#
# Environment:
#   APOGEE_BIN        broker binary (default: cargo build --release in the repository, then
#                     ${CARGO_TARGET_DIR:-<repo>/target}/release/apogee)
#   APOGEE_NAMESRV_PORT / APOGEE_BROKER_PORT   fixed loopback ports (default 0: the kernel
#                     picks free ones; the ready line tells which)
#   RUST_LOG          broker log filter (default apogee=info; use apogee=debug to see every
#                     request); the log is kept in interop/rust-client/target/apogee-broker.log
#   INTEROP_LOG       client log filter (default warn); one log per scenario in
#                     interop/rust-client/target/client-<scenario>.log
#   INTEROP_MESSAGES (10000), INTEROP_ONEWAY_MESSAGES (10000), INTEROP_LANE_DEPTH (8192),
#   INTEROP_ASYNC_IN_FLIGHT (256), INTEROP_WAIT_SECS (60): see src/support.rs `Settings`
#   INTEROP_SCENARIO_TIMEOUT  hard limit per scenario process in seconds (default 900)
#   INTEROP_WIRETAP=1 relay the clients' connections through wiretap.py (needs python3): the
#                     broker advertises 127.0.0.2 (brokerIP1) and the relay listens there;
#                     every request code with its response code and remark is logged to
#                     interop/rust-client/target/wiretap.log
#
# Prints each scenario's summary and ends with "rust-interop: N passed, N failed"; exits
# non-zero if any scenario failed, timed out, or the broker died.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ALL="send-modes clustering tags broadcast resume"
if (($# > 0)); then SCENARIOS="$*"; else SCENARIOS=$ALL; fi

if [[ -n ${APOGEE_BIN:-} ]]; then
    BIN=$APOGEE_BIN
else
    echo "rust-interop: building apogee (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/apogee
fi
[[ -x $BIN ]] || { echo "rust-interop: no executable apogee at $BIN" >&2; exit 2; }

# The client crate is its own package and workspace, pinned by its Cargo.lock.
echo "rust-interop: building the interop client (cargo build --release --locked)" >&2
build_start=$SECONDS
(cd "$HERE" && cargo build --release --locked --quiet)
echo "rust-interop: client build took $((SECONDS - build_start)) s" >&2
CLIENT=${CARGO_TARGET_DIR:-$HERE/target}/release/rust-interop
[[ -x $CLIENT ]] || { echo "rust-interop: no client binary at $CLIENT" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-rust-interop.XXXXXX")
mkdir -p "$WORK/offsets"
LOGS=$HERE/target
mkdir -p "$LOGS"
BROKER_LOG=$LOGS/apogee-broker.log
BROKER_PID=
TAP_PID=

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
stop_tap() {
    if [[ -n $TAP_PID ]] && kill -0 "$TAP_PID" 2>/dev/null; then
        kill -TERM "$TAP_PID" 2>/dev/null || true
        wait "$TAP_PID" 2>/dev/null || true
    fi
    TAP_PID=
}
cleanup() {
    stop_tap
    stop_broker
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BROKER_ARGS=(--broker-listen "127.0.0.1:${APOGEE_BROKER_PORT:-0}")
if [[ -n ${INTEROP_WIRETAP:-} ]]; then
    # The relay needs the broker's port before it starts: take a free one from the kernel.
    port=${APOGEE_BROKER_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    printf 'brokerIP1=127.0.0.2\n' >"$WORK/broker.conf"
    BROKER_ARGS=(--broker-listen "127.0.0.1:$port" -c "$WORK/broker.conf")
fi

RUST_LOG=${RUST_LOG:-apogee=info} NO_COLOR=1 "$BIN" standalone \
    --data-dir "$WORK/data" \
    --namesrv-listen "127.0.0.1:${APOGEE_NAMESRV_PORT:-0}" \
    "${BROKER_ARGS[@]}" \
    >"$BROKER_LOG" 2>&1 &
BROKER_PID=$!

NAMESRV=
for _ in $(seq 1 600); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "rust-interop: apogee exited before it was ready; its log:" >&2
        tail -n 50 "$BROKER_LOG" >&2
        exit 2
    fi
    NAMESRV=$(sed -n 's/^apogee standalone: name server on \([^,]*\), broker on.*/\1/p' "$BROKER_LOG")
    [[ -n $NAMESRV ]] && break
    sleep 0.1
done
[[ -n $NAMESRV ]] || { echo "rust-interop: apogee not ready within 60 s" >&2; tail -n 50 "$BROKER_LOG" >&2; exit 2; }
echo "rust-interop: $(grep -m1 '^apogee standalone:' "$BROKER_LOG")" >&2

if [[ -n ${INTEROP_WIRETAP:-} ]]; then
    tap_ns=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    rm -f "$LOGS/wiretap.log"
    python3 "$HERE/../wiretap.py" "127.0.0.1:$tap_ns=$NAMESRV" "127.0.0.2:$port=127.0.0.1:$port" \
        --log "$LOGS/wiretap.log" >"$WORK/wiretap.out" 2>&1 &
    TAP_PID=$!
    for _ in $(seq 1 50); do grep -q ready "$WORK/wiretap.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$WORK/wiretap.out" || { echo "rust-interop: wiretap did not start" >&2; cat "$WORK/wiretap.out" >&2; exit 2; }
    echo "rust-interop: wiretap: name server via 127.0.0.1:$tap_ns, broker via 127.0.0.2:$port" >&2
    NAMESRV=127.0.0.1:$tap_ns
fi

RUN=r$(date +%s | tail -c 7)
passed=0
failed=0
failed_names=()
for scenario in $SCENARIOS; do
    client_log=$LOGS/client-$scenario.log
    echo "rust-interop: ---- $scenario (namesrv $NAMESRV) ----" >&2
    start=$SECONDS
    set +e
    # The dotted variable is the crate's knob for where broadcasting consumers keep offsets.
    env APOGEE_NAMESRV="$NAMESRV" INTEROP_RUN="${INTEROP_RUN:-$RUN}" \
        "rocketmq.client.localOffsetStoreDir=$WORK/offsets" \
        timeout --kill-after=10 "${INTEROP_SCENARIO_TIMEOUT:-900}" "$CLIENT" "$scenario" \
        2>"$client_log" | grep -v '^rust-interop: [0-9]* passed'
    status=${PIPESTATUS[0]}
    set -e
    if ((status == 0)); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names+=("$scenario")
        case $status in
            124 | 137) echo "SCENARIO $scenario: TIMEOUT after ${INTEROP_SCENARIO_TIMEOUT:-900} s" ;;
            1) ;; # the summary above says what failed
            *) echo "SCENARIO $scenario: client exited with status $status; last client log lines:"
               tail -n 20 "$client_log" | sed 's/^/    /' ;;
        esac
    fi
    echo "rust-interop: $scenario took $((SECONDS - start)) s (client log: $client_log)" >&2
done

broker_died=0
if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    echo "rust-interop: apogee died during the run; last log lines:" >&2
    tail -n 50 "$BROKER_LOG" >&2
    broker_died=1
fi
stop_tap
stop_broker
[[ -n ${INTEROP_WIRETAP:-} ]] && echo "rust-interop: wiretap log at $LOGS/wiretap.log" >&2
warns=$(grep -c -E ' (WARN|ERROR) ' "$BROKER_LOG" || true)
echo "rust-interop: broker log kept at $BROKER_LOG ($warns WARN/ERROR lines)" >&2

echo "rust-interop: $passed passed, $failed failed${failed_names:+ (${failed_names[*]})}"
if ((failed > 0 || broker_died || passed == 0)); then
    exit 1
fi
