#!/usr/bin/env bash
# Starts and stops the `apogee standalone` an interop suite runs against:
#
#   broker-control.sh start|stop|restart        (default restart)
#
# Stops apogee (SIGINT, up to 15 s, then SIGKILL) and/or starts it on the same data
# directory and ports, appending to the same log, and waits for its ready line. The suites'
# run.sh write a `restart-broker.sh` that sets the environment below and runs this script;
# its path reaches the tests (they restart the broker with it).
#
#   BIN DATA LOG PID_FILE RUST_LOG NAMESRV_PORT BROKER_PORT   required
#   APOGEE_BROKER_CONF                                         optional broker.conf (-c)
set -euo pipefail
: "${BIN:?}" "${DATA:?}" "${LOG:?}" "${PID_FILE:?}" "${RUST_LOG:?}" "${NAMESRV_PORT:?}" "${BROKER_PORT:?}"
APOGEE_BROKER_CONF=${APOGEE_BROKER_CONF:-}
READY='^apogee standalone: name server on \([^,]*\), broker on \([^ ]*\) .*'
alive() { # not gone and not a zombie waiting for its parent
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [[ $state != Z ]]
}
stop() {
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null || true)
    alive "$pid" || return 0
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        alive "$pid" || { echo "restart-broker: apogee $pid stopped"; return 0; }
        sleep 0.1
    done
    echo "restart-broker: apogee $pid still running 15 s after SIGINT; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
    echo "restart-broker: apogee $pid survived SIGKILL" >&2
    return 1
}
start() {
    local pid before now ready=
    # A restart reuses the addresses the previous start reported (matters with port 0).
    if [[ $NAMESRV_PORT == 0 || $BROKER_PORT == 0 ]] && [[ -f $LOG ]]; then
        local last
        last=$(grep "^apogee standalone: name server on" "$LOG" | tail -n 1 || true)
        if [[ -n $last ]]; then
            NAMESRV_PORT=$(sed -n "s/$READY/\1/p" <<<"$last"); NAMESRV_PORT=${NAMESRV_PORT##*:}
            BROKER_PORT=$(sed -n "s/$READY/\2/p" <<<"$last"); BROKER_PORT=${BROKER_PORT##*:}
        fi
    fi
    before=$(grep -c "^apogee standalone: name server on" "$LOG" 2>/dev/null || true)
    # stdout carries only the ready line, stderr the log; both go to the log file, and
    # nothing stays attached to our caller's pipes.
    local conf=()
    [[ -n $APOGEE_BROKER_CONF ]] && conf=(-c "$APOGEE_BROKER_CONF")
    RUST_LOG=$RUST_LOG NO_COLOR=1 "$BIN" standalone "${conf[@]}" \
        --data-dir "$DATA" \
        --namesrv-listen "127.0.0.1:$NAMESRV_PORT" \
        --broker-listen "127.0.0.1:$BROKER_PORT" \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    for _ in $(seq 1 600); do
        if ! alive "$pid"; then
            echo "restart-broker: apogee exited before it was ready; its log:" >&2
            tail -n 50 "$LOG" >&2
            return 2
        fi
        now=$(grep -c "^apogee standalone: name server on" "$LOG" 2>/dev/null || true)
        if ((${now:-0} > ${before:-0})); then
            ready=$(grep "^apogee standalone: name server on" "$LOG" | tail -n 1)
            break
        fi
        sleep 0.1
    done
    [[ -n $ready ]] || { echo "restart-broker: apogee not ready within 60 s" >&2; tail -n 50 "$LOG" >&2; return 2; }
    echo "restart-broker: apogee $pid ready: $ready"
}
case ${1:-restart} in
    start) start ;;
    stop) stop ;;
    restart) stop && start ;;
    *) echo "usage: $0 [start|stop|restart]" >&2; exit 64 ;;
esac
