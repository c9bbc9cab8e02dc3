#!/usr/bin/env bash
# Interop: the official Apache RocketMQ admin CLI, mqadmin (MQAdminStartup from
# org.apache.rocketmq:rocketmq-tools, unchanged), run as subprocesses against
# `apogee standalone`; check.py parses what it prints and checks it.
#
#   interop/mqadmin/run.sh                                # both tool lines (4.9.8 and 5.5.0)
#   INTEROP_PROFILES=rocketmq-5 interop/mqadmin/run.sh
#   INTEROP_MQADMIN_ONLY='topicStatus,clusterList' interop/mqadmin/run.sh
#   APOGEE_BIN=/path/to/apogee interop/mqadmin/run.sh     # skip the cargo build
#
# Environment:
#   APOGEE_BIN         broker binary (default: cargo build --release, then
#                      ${CARGO_TARGET_DIR:-<repo>/target}/release/apogee)
#   INTEROP_PROFILES   Maven profiles, in order (default "rocketmq-4 rocketmq-5")
#   INTEROP_MVN_ARGS   extra Maven arguments (e.g. -Drocketmq.tools.version=5.3.3)
#   INTEROP_MQADMIN_ONLY  comma-separated scenario names (check.py --list shows them)
#   APOGEE_NAMESRV_PORT / APOGEE_BROKER_PORT / INTEROP_TAP_PORT   fixed loopback ports
#                      (default: free ports below the kernel's ephemeral range, picked here)
#   RUST_LOG           broker log filter (default apogee=info)
#   APOGEE_BROKER_CONF extra broker.conf lines (a file), appended to the one written here
#   INTEROP_KEEP_DATA  non-empty: keep the broker's data directory (its path is printed)
#
# The tools' classpath comes from Maven (pom.xml: `dependency:build-classpath`, one profile
# per line, cached in target/<tag>/classpath.txt while pom.xml and INTEROP_MVN_ARGS are
# unchanged); java/MqadminMain.java (runs MQAdminStartup.main and exits when it returns) and
# java/Clients.java (the official Java client of the same line, as the consumer / producer
# some scenarios need online) are compiled against it with javac.
#
# mqadmin reaches the broker through ../wiretap.py: the broker registers 127.0.0.2:<port>
# (brokerIP1) and the relay listens there; a second relay fronts the name server. check.py
# reads the relay's log to tell which request codes each command's requests got, so a
# REQUEST_CODE_NOT_SUPPORTED is reported with the code refused. Everything stays in target/:
# apogee-broker.log, wiretap.log, <tag>/commands.log (every command and its whole output),
# <tag>/results.json, <tag>/home (ROCKETMQ_HOME and user.home of the JVMs: their logs).
#
# Prints one verdict per scenario and profile, then "mqadmin: N passed, N failed"; exits
# non-zero if a scenario failed or the broker died.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
START=$SECONDS
PROFILES=${INTEROP_PROFILES:-"rocketmq-4 rocketmq-5"}
read -r -a MVN_EXTRA <<<"${INTEROP_MVN_ARGS:-}"

for tool in java javac mvn python3; do
    command -v "$tool" >/dev/null || { echo "mqadmin: $tool is needed" >&2; exit 2; }
done

if [[ -n ${APOGEE_BIN:-} ]]; then
    BIN=$APOGEE_BIN
else
    echo "mqadmin: building apogee (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/apogee
fi
[[ -x $BIN ]] || { echo "mqadmin: no executable apogee at $BIN" >&2; exit 2; }

tag_of() { echo "v${1#rocketmq-}"; }

# The tools' classpath and our two classes, per profile (before the broker starts).
mkdir -p "$HERE/target"
setup_start=$SECONDS
for profile in $PROFILES; do
    tag=$(tag_of "$profile")
    out=$HERE/target/$tag
    mkdir -p "$out/home/conf" "$out/classes"
    key="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1) $profile ${INTEROP_MVN_ARGS:-}"
    cached=0
    if [[ -f $out/classpath.txt && -f $out/classpath.key && $(cat "$out/classpath.key") == "$key" ]]; then
        cached=1
        IFS=: read -r -a jars <"$out/classpath.txt" || true # no newline at its end
        for jar in "${jars[@]}"; do [[ -f $jar ]] || { cached=0; break; }; done
    fi
    if ((!cached)); then
        echo "mqadmin: resolving rocketmq-tools for $profile (mvn dependency:build-classpath)" >&2
        rm -f "$out/classpath.txt"
        if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never dependency:build-classpath -P "$profile" \
                -Dmdep.outputFile="$out/classpath.txt" "${MVN_EXTRA[@]}" >"$out/mvn.log" 2>&1) ||
            [[ ! -s $out/classpath.txt ]]; then
            cat "$out/mvn.log" >&2
            echo "mqadmin: could not resolve the $profile classpath" >&2
            echo "mqadmin: 0 passed, 1 failed (classpath)"
            exit 1
        fi
        echo "$key" >"$out/classpath.key"
    fi
    version=$(grep -o 'rocketmq-tools-[0-9][^/]*\.jar' "$out/classpath.txt" | head -n 1 | sed 's/rocketmq-tools-\(.*\)\.jar/\1/')
    echo "$version" >"$out/version.txt"
    if ! javac -nowarn -encoding UTF-8 -cp "$(cat "$out/classpath.txt")" -d "$out/classes" "$HERE"/java/*.java 2>"$out/javac.log"; then
        cat "$out/javac.log" >&2
        echo "mqadmin: java/*.java do not compile against rocketmq-tools $version" >&2
        echo "mqadmin: 0 passed, 1 failed (javac)"
        exit 1
    fi
    # MQAdminStartup (4.x) configures logback from $ROCKETMQ_HOME/conf/logback_tools.xml and
    # runs no command without it; the 4.x client honours -Dlogback.configurationFile too.
    # 5.x has its own shaded logback writing under ${user.home}/logs/rocketmqlogs.
    cat >"$out/home/conf/logback_tools.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by interop/mqadmin/run.sh: the tools' and the Java clients' logs, WARN and up. -->
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${user.home}/logs/tools.log</file>
    <append>true</append>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5p [%t] %c - %m%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
EOF
    echo "mqadmin: $profile = rocketmq-tools $version" >&2
done
echo "mqadmin: setup (classpaths, javac) took $((SECONDS - setup_start)) s" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-mqadmin.XXXXXX")
BROKER_LOG=$HERE/target/apogee-broker.log
TAP_LOG=$HERE/target/wiretap.log
TAP_SUMMARY=$HERE/target/wiretap-summary.json
RESTART_CMD=$WORK/restart-broker.sh
PID_FILE=$WORK/broker.pid
TAP_PID=

read -r p1 p2 p3 <<<"$(python3 "$HERE/../pick-ports.py" 3)" || true
NAMESRV_PORT=${APOGEE_NAMESRV_PORT:-${p1:-}}
BROKER_PORT=${APOGEE_BROKER_PORT:-${p2:-}}
TAP_NS_PORT=${INTEROP_TAP_PORT:-${p3:-}}
[[ -n $NAMESRV_PORT && -n $BROKER_PORT && -n $TAP_NS_PORT ]] ||
    { echo "mqadmin: could not pick free loopback ports" >&2; exit 2; }

CONF=$WORK/broker.conf
{
    printf 'brokerIP1=127.0.0.2\n'
    [[ -n ${APOGEE_BROKER_CONF:-} ]] && cat "$APOGEE_BROKER_CONF"
} >"$CONF"

# shellcheck source=../restart-script.sh
source "$HERE/../restart-script.sh"
write_restart_script "$RESTART_CMD" mqadmin "$CONF"

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
        echo "mqadmin: broker data kept in $WORK/data" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$BROKER_LOG" "$TAP_LOG" "$TAP_SUMMARY"
if ! "$RESTART_CMD" start >/dev/null; then
    echo "mqadmin: apogee did not start" >&2
    exit 2
fi
NAMESRV=$(sed -n 's/^apogee standalone: name server on \([^,]*\), broker on.*/\1/p' "$BROKER_LOG" | head -n 1)
[[ -n $NAMESRV ]] || { echo "mqadmin: no ready line in $BROKER_LOG" >&2; exit 2; }
echo "mqadmin: $(grep -m1 '^apogee standalone:' "$BROKER_LOG")" >&2

python3 "$HERE/../wiretap.py" \
    "namesrv,127.0.0.1:$TAP_NS_PORT=$NAMESRV" \
    "broker,127.0.0.2:$BROKER_PORT=127.0.0.1:$BROKER_PORT" \
    --log "$TAP_LOG" --summary "$TAP_SUMMARY" >"$WORK/wiretap.out" 2>&1 &
TAP_PID=$!
for _ in $(seq 1 50); do grep -q ready "$WORK/wiretap.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/wiretap.out" || { echo "mqadmin: wiretap did not start" >&2; cat "$WORK/wiretap.out" >&2; exit 2; }

# The broker registers 127.0.0.2:<port> (brokerIP1); wait until the name server has it.
for _ in $(seq 1 100); do
    python3 - "127.0.0.1:$TAP_NS_PORT" "127.0.0.2:$BROKER_PORT" <<'PY' && break
import json, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
header = json.dumps({"code": 106, "flag": 0, "language": "JAVA", "opaque": 1,
                     "serializeTypeCurrentRPC": "JSON", "version": 399, "extFields": {}}).encode()
try:
    s = socket.create_connection((host, int(port)), timeout=2)
    s.sendall(struct.pack(">II", 4 + len(header), len(header)) + header)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    sys.exit(0 if sys.argv[2].encode() in data else 1)
except OSError:
    sys.exit(1)
PY
    sleep 0.1
done

passed=0
failed=0
for profile in $PROFILES; do
    tag=$(tag_of "$profile")
    out=$HERE/target/$tag
    rm -f "$out/results.json" "$out/commands.log"
    echo "mqadmin: ---- $profile (rocketmq-tools $(cat "$out/version.txt"), namesrv 127.0.0.1:$TAP_NS_PORT) ----" >&2
    set +e
    APOGEE_BIN=$BIN python3 "$HERE/check.py" --tag "$tag" --version "$(cat "$out/version.txt")" \
        --classpath "$out/classpath.txt" --classes "$out/classes" --home "$out/home" \
        --namesrv "127.0.0.1:$TAP_NS_PORT" --broker-addr "127.0.0.2:$BROKER_PORT" \
        --tap-log "$TAP_LOG" --results "$out/results.json" --log "$out/commands.log" \
        ${INTEROP_MQADMIN_ONLY:+--only "$INTEROP_MQADMIN_ONLY"}
    status=$?
    set -e
    if [[ -f $out/results.json ]]; then
        read -r p f < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=sum(x["status"]=="PASS" for x in r); print(p, len(r)-p)' "$out/results.json")
    else
        p=0 f=1
    fi
    if ((status != 0 && f == 0)); then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
done

broker_died=0
pid=$(cat "$PID_FILE" 2>/dev/null || true)
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null || grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; then
    echo "mqadmin: apogee died during the run; last log lines:" >&2
    tail -n 50 "$BROKER_LOG" >&2
    broker_died=1
fi
stop_tap
"$RESTART_CMD" stop >/dev/null || true

echo "mqadmin: ---- summary ----"
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    [[ -f $out/results.json ]] || continue
    python3 - "$out/results.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    line = f"mqadmin {r['tag']} ({r['version']}): {r['status']} {r['scenario']}"
    if r["refused_names"]:
        line += "  [REQUEST_CODE_NOT_SUPPORTED: " + ", ".join(r["refused_names"]) + "]"
    elif r["message"]:
        line += "  (" + r["message"].splitlines()[0][:160] + ")"
    print(line)
PY
done
if [[ -f $TAP_SUMMARY ]]; then
    python3 - "$TAP_SUMMARY" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["requests"] if any(k.startswith("3:") for k in r["responses"])]
if rows:
    print("mqadmin: request codes answered REQUEST_CODE_NOT_SUPPORTED (wiretap, whole run):")
    for r in rows:
        print(f"  {r['peer']:8} {r['direction']:15} code {r['code']:<4} {r['responses']}")
PY
fi
echo "mqadmin: logs: $BROKER_LOG, $TAP_LOG, $HERE/target/<tag>/commands.log" >&2
echo "mqadmin: wall time $((SECONDS - START)) s" >&2
echo "mqadmin: $passed passed, $failed failed$( ((broker_died)) && echo ' (broker died)')"
if ((failed > 0 || broker_died || passed == 0)); then
    exit 1
fi
