# Sourced by the interop suites' run.sh: writes the broker control script the suite and its
# tests use (`restart-broker.sh start|stop|restart`, default restart), which runs
# ./broker-control.sh with this suite's binary, data directory, log, pid file and ports.
#
#   write_restart_script PATH SUITE CONF    (uses BIN WORK BROKER_LOG PID_FILE
#                                            NAMESRV_PORT BROKER_PORT, RUST_LOG)
write_restart_script() {
    local path=$1 suite=$2 conf=$3
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by interop/$suite/run.sh: restart-broker.sh [start|stop|restart] (default restart)."
        printf 'export BIN=%q DATA=%q LOG=%q PID_FILE=%q RUST_LOG=%q\n' \
            "$BIN" "$WORK/data" "$BROKER_LOG" "$PID_FILE" "${RUST_LOG:-apogee=info}"
        printf 'export NAMESRV_PORT=%q BROKER_PORT=%q APOGEE_BROKER_CONF=%q\n' \
            "$NAMESRV_PORT" "$BROKER_PORT" "$conf"
        printf 'exec %q "$@"\n' "$here/broker-control.sh"
    } >"$path"
    chmod +x "$path"
}
