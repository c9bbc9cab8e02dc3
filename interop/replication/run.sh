#!/usr/bin/env bash
# Replication interop: RocketMQ's classic master/slave HA between Apogee and the Java broker
# (Apache RocketMQ 5.3.3), in both directions.
#
#   interop/replication/run.sh                 # scenarios 1 and 2 (need an Apogee with HA)
#   interop/replication/run.sh --java-only     # the same flow, Java master + Java slave
#   interop/replication/run.sh --scenario 2    # one scenario (1, 2 or java; repeatable)
#
# Scenarios (one fresh loopback-only network namespace and data directory each):
#   1  Java name server + Apogee master (brokerId 0) + Java slave (brokerId 1)
#   2  Java name server + Java master (brokerId 0) + Apogee slave (brokerId 1)
#   java  Java name server + Java master + Java slave (--java-only: checks the harness itself)
# Each: start the name server, the master, then the slave (same brokerName, own store and
# ports); create the topic on both brokers; send REPL_COUNT messages to the master with the
# Java client (a probe first: from a SYNC_MASTER, SEND_OK means the slave acknowledged);
# wait until every queue's max offset on the slave equals the master's; stop the master
# (kill -9); wait until the route lists only brokerId 1; read everything from the slave with
# a fresh DefaultLitePullConsumer (CONSUME_FROM_FIRST_OFFSET) and check that every key
# arrived, with its body, tag, queue, queue offset and offsetMsgId as the master reported.
#
# Prints one PASS/FAIL line per check, then a summary; exits 1 if anything failed.
#
# Needs: root (ip netns), Java 17, Maven (Maven Central on first run, for the driver in
# this directory), python3, and the Java broker jars: scripts/peers/java.sh install (run
# automatically if missing). Everything but Maven runs inside the namespaces, which have
# only `lo`.
#
# Environment:
#   APOGEE_BIN          Apogee binary (default <repo>/target/release/apogee; not built here)
#   REPL_COUNT          messages per scenario (default 10000)
#   REPL_QUEUES         queues of the topic (default 8)
#   REPL_MASTER_ROLE    SYNC_MASTER (default) or ASYNC_MASTER
#   REPL_FLUSH          ASYNC_FLUSH (default) or SYNC_FLUSH, both brokers
#   REPL_STOP_SIGNAL    how the master is stopped: KILL (default) or TERM
#   REPL_HA_MASTER_ADDRESS  non-empty: write haMasterAddress=127.0.0.1:<master HA port> into
#                       the slave's broker.conf (default: the slave learns it from the name
#                       server's answer to its registration)
#   REPL_NAMESRV        java (default) or apogee: which name server to run
#   REPL_KEEP_DATA      non-empty: keep the stores (their path is printed)
#   RUST_LOG            Apogee's log filter (default apogee=info)
#   REPL_JAVA_LOG_LEVEL level of the Java brokers', name server's and clients' logs (default WARN)
#   BROKER_HEAP / NAMESRV_HEAP / CLIENT_HEAP   Java heaps (default 512m / 256m / 256m)
#   JAVA                java binary (default java)
# Logs: interop/replication/target/logs/<scenario>/ (broker and name server output, the
# driver's stderr per step, Java broker logs at WARN).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEER_NAME=replication
# alive, spawn, wait_port, broker_registered, ensure_netns, delete_netns
# shellcheck source=../../scripts/peers/common.sh
source "$ROOT/scripts/peers/common.sh"

JAVA=${JAVA:-java}
VERSION=${ROCKETMQ_JAVA_VERSION:-5.3.3}
LIB=$PEERS_DIR/java/$VERSION/lib
COUNT=${REPL_COUNT:-10000}
QUEUES=${REPL_QUEUES:-8}
MASTER_ROLE=${REPL_MASTER_ROLE:-SYNC_MASTER}
FLUSH=${REPL_FLUSH:-ASYNC_FLUSH}
STOP_SIGNAL=${REPL_STOP_SIGNAL:-KILL}
NAMESRV_KIND=${REPL_NAMESRV:-java}
RUST_LOG=${RUST_LOG:-apogee=info}
BIN=${APOGEE_BIN:-$ROOT/target/release/apogee}

CLUSTER=ReplCluster
BROKER_NAME=repl-a
NAMESRV_PORT=9876
MASTER_PORT=10911 # HA 10912; the Java broker also listens on port-2 (its "fast" port)
SLAVE_PORT=10921  # HA 10922

case $MASTER_ROLE in SYNC_MASTER | ASYNC_MASTER) ;; *) die "REPL_MASTER_ROLE: SYNC_MASTER or ASYNC_MASTER" ;; esac
case $FLUSH in SYNC_FLUSH | ASYNC_FLUSH) ;; *) die "REPL_FLUSH: SYNC_FLUSH or ASYNC_FLUSH" ;; esac
case $STOP_SIGNAL in KILL | TERM) ;; *) die "REPL_STOP_SIGNAL: KILL or TERM" ;; esac
case $NAMESRV_KIND in java | apogee) ;; *) die "REPL_NAMESRV: java or apogee" ;; esac
[[ $COUNT =~ ^[1-9][0-9]*$ && $QUEUES =~ ^[1-9][0-9]*$ ]] || die "REPL_COUNT/REPL_QUEUES: positive integers"

SCENARIOS=()
JAVA_ONLY=0
while (($#)); do
    case $1 in
        --java-only) JAVA_ONLY=1; shift ;;
        --scenario) SCENARIOS+=("${2:?--scenario needs 1, 2 or java}"); shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
done
if ((${#SCENARIOS[@]} == 0)); then
    if ((JAVA_ONLY)); then SCENARIOS=(java); else SCENARIOS=(1 2); fi
fi
needs_apogee=0
[[ $NAMESRV_KIND == apogee ]] && needs_apogee=1
for s in "${SCENARIOS[@]}"; do
    case $s in 1 | 2) needs_apogee=1 ;; java) ;; *) die "unknown scenario '$s' (1, 2 or java)" ;; esac
done

# ---- prerequisites ----

[[ $(id -u) == 0 ]] || die "needs root (ip netns add / exec)"
for tool in ip python3 "$JAVA" mvn; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if ((needs_apogee)); then
    [[ -x $BIN ]] || die "no executable Apogee at $BIN (build it, or set APOGEE_BIN)"
    BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
fi
if [[ ! -f $LIB/.complete ]]; then
    note "Java RocketMQ $VERSION not installed; running scripts/peers/java.sh install"
    ROCKETMQ_JAVA_VERSION=$VERSION "$ROOT/scripts/peers/java.sh" install >&2
fi

# The driver (ReplCheck): rebuilt when its sources or pom are newer than the jar.
DRIVER_JAR=$HERE/target/apogee-interop-replication-0.1.0.jar
if [[ ! -f $DRIVER_JAR || ! -d $HERE/target/lib ]] ||
    [[ -n $(find "$HERE/pom.xml" "$HERE/src" -newer "$DRIVER_JAR" -type f 2>/dev/null | head -n 1) ]]; then
    note "building the driver (mvn package; log in target/mvn.log)"
    mkdir -p "$HERE/target"
    if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never package dependency:copy-dependencies) \
        >"$HERE/target/mvn.log" 2>&1; then
        tail -n 30 "$HERE/target/mvn.log" >&2
        die "mvn package failed"
    fi
fi
DRIVER_CP="$HERE/target/classes:$HERE/target/lib/*"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apogee-replication.XXXXXX")
LOGS=$HERE/target/logs
RESULTS=$WORK/results.txt
: >"$RESULTS"

# ---- per-scenario state ----
NS='' DATA='' LABEL='' SDIR='' SLOG=''

result() { # result PASS|FAIL check detail
    local line="$1 [$LABEL] $2: $3"
    echo "$line"
    echo "$line" >>"$RESULTS"
}

# TERM, then KILL after 5 s; only the pids this script wrote.
stop_pid_file() {
    local f=$1 pid i
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$f"
}

end_scenario() {
    [[ -n $DATA && -d $DATA ]] || return 0
    local name
    for name in driver slave master namesrv; do
        stop_pid_file "$DATA/$name.pid"
    done
    if [[ -n $NS ]] && ip netns list | awk '{print $1}' | grep -qx -- "$NS"; then
        if [[ -n $(ip netns pids "$NS" 2>/dev/null) ]]; then
            note "namespace $NS still has processes ($(ip netns pids "$NS" | tr '\n' ' ')); left in place"
        else
            delete_netns "$NS"
        fi
    fi
    NS='' DATA=''
}

cleanup() {
    end_scenario || true
    if [[ -n ${REPL_KEEP_DATA:-} ]]; then
        note "data kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn (common.sh) + forget the job, so that bash does not report "Killed" when we stop it.
spawn_bg() {
    spawn "$@"
    disown -a 2>/dev/null || true
}

# ---- broker configuration ----

# write_conf FILE KIND(java|apogee) ROLE(master|slave) DIR
write_conf() {
    local file=$1 kind=$2 role=$3 dir=$4 id port broker_role
    if [[ $role == master ]]; then
        id=0 port=$MASTER_PORT broker_role=$MASTER_ROLE
    else
        id=1 port=$SLAVE_PORT broker_role=SLAVE
    fi
    {
        echo "# Written by interop/replication/run.sh: $kind $role of $BROKER_NAME."
        echo "brokerClusterName=$CLUSTER"
        echo "brokerName=$BROKER_NAME"
        echo "brokerId=$id"
        echo "brokerRole=$broker_role"
        echo "flushDiskType=$FLUSH"
        echo "listenPort=$port"
        echo "haListenPort=$((port + 1))"
        echo "namesrvAddr=127.0.0.1:$NAMESRV_PORT"
        echo "brokerIP1=127.0.0.1"
        echo "storePathRootDir=$dir/store"
        echo "autoCreateTopicEnable=true"
        echo "autoCreateSubscriptionGroup=true"
        if [[ $role == slave ]]; then
            # The Java slave answers pulls with PULL_RETRY_IMMEDIATELY unless this is set.
            echo "slaveReadEnable=true"
            [[ -n ${REPL_HA_MASTER_ADDRESS:-} ]] && echo "haMasterAddress=127.0.0.1:$((MASTER_PORT + 1))"
        fi
        if [[ $kind == java ]]; then
            # The HA address the Java master registers is brokerIP2:haListenPort.
            echo "brokerIP2=127.0.0.1"
            echo "storePathCommitLog=$dir/store/commitlog"
        fi
    } >"$file"
}

java_logback() {
    sed "s/@LEVEL@/${REPL_JAVA_LOG_LEVEL:-WARN}/" >"$1" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by interop/replication/run.sh: one file per process. -->
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${rmq.peer.logfile}</file>
    <append>true</append>
    <encoder class="ch.qos.logback.classic.encoder.PatternLayoutEncoder">
      <pattern>%d{yyyy-MM-dd HH:mm:ss.SSS} %-5p [%t] %c - %m%n</pattern>
    </encoder>
  </appender>
  <root level="@LEVEL@">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
EOF
}

# JVM flags as scripts/peers/java.sh (RocketMQ's runserver.sh/runbroker.sh for Java >= 9).
java_common() { # java_common HOME LOGFILE
    local home=$1 logfile=$2
    JAVA_COMMON=(
        -server -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:-UseLargePages
        -XX:+IgnoreUnrecognizedVMOptions
        --add-opens java.base/java.nio=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
        "-Duser.home=$home" "-Drocketmq.home.dir=$home"
        "-Dlogback.configurationFile=$home/conf/rmq.logback.xml"
        "-Drmq.peer.logfile=$logfile"
        -cp "$home/conf:$LIB/*"
    )
}

start_namesrv() {
    local dir=$DATA/namesrv log=$SLOG/namesrv.out
    mkdir -p "$dir"
    if [[ $NAMESRV_KIND == java ]]; then
        mkdir -p "$dir/home/conf"
        java_logback "$dir/home/conf/rmq.logback.xml"
        java_common "$dir/home" "$SLOG/namesrv.log"
        local heap=${NAMESRV_HEAP:-256m}
        spawn_bg namesrv "$log" env ROCKETMQ_HOME="$dir/home" "$JAVA" "-Xms$heap" "-Xmx$heap" \
            "${JAVA_COMMON[@]}" org.apache.rocketmq.namesrv.NamesrvStartup
    else
        spawn_bg namesrv "$log" env HOME="$dir" RUST_LOG="$RUST_LOG" NO_COLOR=1 \
            "$BIN" namesrv --listen "127.0.0.1:$NAMESRV_PORT" --no-kv-file
    fi
    wait_port "$NS" "$NAMESRV_PORT" "$SPAWNED_PID" 60 || {
        tail -n 20 "$log" >&2 || true
        return 1
    }
}

# start_broker KIND ROLE: spawn, then wait for the ready line (Apogee) and the registration.
start_broker() {
    local kind=$1 role=$2 port dir=$DATA/$2 log=$SLOG/$2.out
    [[ $role == master ]] && port=$MASTER_PORT || port=$SLAVE_PORT
    mkdir -p "$dir/store"
    write_conf "$dir/broker.conf" "$kind" "$role" "$dir"
    cp "$dir/broker.conf" "$SLOG/$role.broker.conf"
    : >"$log"
    if [[ $kind == java ]]; then
        mkdir -p "$dir/home/conf"
        java_logback "$dir/home/conf/rmq.logback.xml"
        java_common "$dir/home" "$SLOG/$role.log"
        local heap=${BROKER_HEAP:-512m}
        spawn_bg "$role" "$log" env ROCKETMQ_HOME="$dir/home" "$JAVA" "-Xms$heap" "-Xmx$heap" \
            "${JAVA_COMMON[@]}" -XX:MaxDirectMemorySize=1g \
            org.apache.rocketmq.broker.BrokerStartup -c "$dir/broker.conf"
    else
        spawn_bg "$role" "$log" env HOME="$dir" RUST_LOG="$RUST_LOG" NO_COLOR=1 \
            "$BIN" broker -c "$dir/broker.conf"
    fi
    local pid=$SPAWNED_PID i
    if [[ $kind == apogee ]]; then
        # Apogee's only stdout line: "apogee broker listening on ADDR (advertised as ADDR)…".
        for ((i = 0; i < 600; i++)); do
            alive "$pid" || { note "apogee $role exited before its ready line"; tail -n 30 "$log" >&2; return 1; }
            grep -q '^apogee broker listening on ' "$log" && break
            sleep 0.1
        done
        grep -q '^apogee broker listening on ' "$log" ||
            { note "apogee $role: no ready line within 60 s"; tail -n 30 "$log" >&2; return 1; }
    fi
    local rc=0
    NAMESRV_ADDR=127.0.0.1:$NAMESRV_PORT BROKER_ADDR=127.0.0.1:$port \
        wait_registered "$NS" "$pid" 120 || rc=$?
    if ((rc != 0)); then
        note "$kind $role $([[ $rc == 2 ]] && echo "exited" || echo "did not register within 120 s")"
        tail -n 30 "$log" "$SLOG/$role.log" >&2 2>/dev/null || true
        return 1
    fi
}

# driver STEP ARGS...: ReplCheck inside the namespace; PASS/FAIL lines to stdout and results.
driver() {
    local step=$1
    shift
    local out=$SLOG/driver-$step.out err=$SLOG/driver-$step.err rc=0
    ip netns exec "$NS" "$JAVA" "-Xmx${CLIENT_HEAP:-256m}" \
        "-Duser.home=$DATA/client-home" \
        "-Drocketmq.log.root=$SLOG/client-logs" "-Drocketmq.log.level=${REPL_JAVA_LOG_LEVEL:-WARN}" \
        "-Drocketmq.client.logRoot=$SLOG/client-logs" "-Drocketmq.client.logLevel=${REPL_JAVA_LOG_LEVEL:-WARN}" \
        "-Drocketmq.client.localOffsetStoreDir=$DATA/client-home/offsets" \
        -cp "$DRIVER_CP" dev.apogee.interop.replication.ReplCheck "$step" \
        --namesrv "127.0.0.1:$NAMESRV_PORT" --label "$LABEL" "$@" \
        </dev/null >"$out" 2>"$err" &
    local dpid=$!
    echo "$dpid" >"$DATA/driver.pid" # so that an interrupted run stops it too
    wait "$dpid" || rc=$?
    rm -f "$DATA/driver.pid"
    grep -E '^(PASS|FAIL) ' "$out" | tee -a "$RESULTS" || true
    if ((rc != 0)) && ! grep -q '^FAIL ' "$out"; then
        result FAIL "$step" "driver exited $rc without a verdict (see $err)"
    fi
    ((rc != 0)) && { note "$step failed; last driver lines:"; tail -n 15 "$err" >&2 || true; }
    return $rc
}

# ---- one scenario ----

run_scenario() {
    local id=$1 mkind skind
    case $id in
        1) mkind=apogee skind=java ;;
        2) mkind=java skind=apogee ;;
        java) mkind=java skind=java ;;
    esac
    LABEL=s$id
    SDIR=$WORK/$LABEL
    SLOG=$LOGS/$LABEL
    DATA=$SDIR
    NS=apogee-repl-$$-$id
    rm -rf "$SLOG"
    mkdir -p "$SDIR" "$SLOG"
    local t0=$SECONDS ts
    local master=127.0.0.1:$MASTER_PORT slave=127.0.0.1:$SLAVE_PORT
    local topic=ReplTopic_$LABEL probe=ReplProbe_$LABEL
    echo "replication: ---- scenario $id: $NAMESRV_KIND name server, $mkind $MASTER_ROLE $master, $skind SLAVE $slave ($COUNT messages) ----"

    ensure_netns "$NS" >&2
    local lo
    lo=$(ip netns exec "$NS" ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
    if [[ $lo == "lo " ]]; then
        result PASS "namespace" "$NS has only loopback"
    else
        result FAIL "namespace" "$NS has interfaces: $lo"
        return
    fi

    ts=$SECONDS
    if start_namesrv; then
        result PASS "start name server" "$NAMESRV_KIND on 127.0.0.1:$NAMESRV_PORT in $((SECONDS - ts)) s"
    else
        result FAIL "start name server" "$NAMESRV_KIND did not come up (see $SLOG/namesrv.out)"
        return
    fi
    # The master first: a slave learns the master's HA address from the name server's
    # answer to its registration, which has it only if the master registered before.
    ts=$SECONDS
    if start_broker "$mkind" master; then
        result PASS "start master" "$mkind brokerId 0 $MASTER_ROLE on $master, registered in $((SECONDS - ts)) s"
    else
        result FAIL "start master" "$mkind did not start or register (see $SLOG/master.out)"
        return
    fi
    ts=$SECONDS
    if start_broker "$skind" slave; then
        result PASS "start slave" "$skind brokerId 1 SLAVE on $slave, registered in $((SECONDS - ts)) s"
    else
        result FAIL "start slave" "$skind did not start or register (see $SLOG/slave.out)"
        return
    fi

    local common=(--broker-name "$BROKER_NAME" --topic "$topic")
    driver setup "${common[@]}" --master "$master" --slave "$slave" --probe-topic "$probe" \
        --queues "$QUEUES" --timeout 90 || return 0
    driver produce --topic "$topic" --probe-topic "$probe" --count "$COUNT" \
        --out "$SDIR/sent.tsv" --timeout 150 || return 0
    # A failed catch-up is reported, and the consume still runs (it says how much is missing).
    driver catchup "${common[@]}" --master "$master" --slave "$slave" --queues "$QUEUES" \
        --count "$COUNT" --timeout 90 || true

    local mpid
    mpid=$(cat "$DATA/master.pid")
    if alive "$mpid"; then
        kill "-$STOP_SIGNAL" "$mpid" 2>/dev/null || true
        local i
        for ((i = 0; i < 600; i++)); do alive "$mpid" || break; sleep 0.1; done
        if alive "$mpid"; then
            # What holds it (a process killed with SIGKILL runs no code of its own any more):
            # each thread's state and kernel wait channel.
            local t states=''
            for t in /proc/"$mpid"/task/*; do
                states+=" $(basename "$t"):$(cut -d' ' -f3 "$t/stat" 2>/dev/null)/$(cat "$t/wchan" 2>/dev/null)"
            done
            result FAIL "stop master" "$mkind master (pid $mpid) still running 60 s after SIG$STOP_SIGNAL; threads:$states"
            return
        fi
        rm -f "$DATA/master.pid"
        result PASS "stop master" "$mkind master (pid $mpid) stopped with SIG$STOP_SIGNAL"
    else
        result FAIL "stop master" "$mkind master (pid $mpid) had already died (see $SLOG/master.out)"
    fi

    driver failover "${common[@]}" --slave "$slave" --timeout 60 || return 0
    driver consume --topic "$topic" --group "repl_consumer_${LABEL}_$$" --in "$SDIR/sent.tsv" \
        --count "$COUNT" --queues "$QUEUES" --timeout 120 || true

    local spid
    spid=$(cat "$DATA/slave.pid")
    if alive "$spid"; then
        result PASS "slave alive" "$skind slave (pid $spid) still running at the end"
    else
        result FAIL "slave alive" "$skind slave (pid $spid) died (see $SLOG/slave.out)"
    fi
    echo "replication: scenario $id took $((SECONDS - t0)) s"
}

T0=$SECONDS
for id in "${SCENARIOS[@]}"; do
    run_scenario "$id" || true
    end_scenario
    if [[ -n ${REPL_KEEP_DATA:-} ]]; then :; else rm -rf "${WORK:?}/s$id"; fi
done

echo "replication: ---- summary ($((SECONDS - T0)) s; logs in $LOGS) ----"
total_fail=0
for id in "${SCENARIOS[@]}"; do
    p=$(grep -c "^PASS \[s$id\]" "$RESULTS" || true)
    f=$(grep -c "^FAIL \[s$id\]" "$RESULTS" || true)
    case $id in
        1) desc="Apogee master -> Java slave" ;;
        2) desc="Java master -> Apogee slave" ;;
        java) desc="Java master -> Java slave" ;;
    esac
    if ((f == 0 && p > 0)); then v=PASS; else v=FAIL; total_fail=$((total_fail + 1)); fi
    echo "$v scenario $id ($desc): $p checks passed, $f failed"
    grep "^FAIL \[s$id\]" "$RESULTS" | sed 's/^/    /' || true
done
if ((total_fail > 0)); then
    echo "replication: $total_fail of ${#SCENARIOS[@]} scenario(s) FAILED"
    exit 1
fi
echo "replication: all ${#SCENARIOS[@]} scenario(s) passed"
