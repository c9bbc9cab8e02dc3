#!/usr/bin/env bash
# Benchmark campaign for classic master/slave replication (RocketMQ HA), Apogee and the Java
# broker (Apache RocketMQ 5.3.3): what a slave costs the sender, and how far it lags.
#
#   scripts/bench-replication.sh                       # everything, defaults below
#   REPL_KINDS=apogee BENCH_SECONDS=3 LAG_SECONDS=3 scripts/bench-replication.sh   # a smoke test
#
# Configurations, per broker kind (REPL_KINDS), each in a fresh loopback-only network
# namespace with fresh stores (name server, master, slave and the load generator all in it):
#   none   the master alone (brokerRole=ASYNC_MASTER, no slave running)
#   async  ASYNC_MASTER + SLAVE
#   sync   SYNC_MASTER + SLAVE (a send is answered once the slave has the record)
#   lag    ASYNC_MASTER + SLAVE at a fixed rate (LAG_RATE msg/s): the slave's lag
# A pair is always of one kind (Apogee name server + Apogee master + Apogee slave, or all
# Java). Every broker runs ASYNC_FLUSH. none/async/sync run `apogee bench produce -w
# BENCH_THREADS -s BENCH_SIZE` (synchronous sends, as bench-peers.sh's P1) for BENCH_SECONDS
# after BENCH_WARMUP; lag runs the same with `--rate LAG_RATE` for LAG_SECONDS.
#
# Before the measured run of a pair, a probe (BENCH_PROBE_COUNT messages) must reach the
# slave: its commit log must end where the master's does, within 60 s. Otherwise the
# configuration counts as failed (as does one whose brokers do not start or register).
# After the run the script waits (up to 60 s) for the slave to catch up again and reports
# how long that took: a pair whose slave did not end equal to its master is flagged.
#
# The lag is measured from outside, the same way for both kinds: a poller (python, inside
# the namespace) asks the master and the slave at the same moment for their runtime info
# (GET_BROKER_RUNTIME_INFO = 28, key `commitLogMaxOffset`: the end of the written commit
# log) every LAG_INTERVAL_MS on kept-open connections, each answer stamped with the
# midpoint of its round trip (monotonic clock). For each slave sample at time t with offset
# S (the samples of the first BENCH_WARMUP s after the master started to grow excluded, up
# to the master's last growth):
#   lag bytes = M(t) - S     with M the master's offset interpolated linearly at t
#   lag ms    = t - t_M(S)   with t_M(S) when the master's log reached S (interpolated)
# i.e. how long ago the master had written what the slave has now: no conversion by rate
# or message size needed (the records on disk are larger than the bodies). A broker reads
# its offset somewhere within the round trip of the request, so the estimate is good to
# about half the two round trips: reported as "resolution" (p99, ms), and lags below it
# are noise (on a loaded 2-core machine the answers take several ms). The same poller runs
# during async and sync too (lag at full speed; for sync it can only be the records in
# flight, at most BENCH_THREADS). GET_BROKER_HA_STATUS (907, haConnectionInfo[].diff) would
# give the master's own view, but that is the slave's last acknowledgement, not what the
# slave has, and `apogee admin haStatus` is not in every build; runtime info works
# unchanged for both kinds and both roles.
#
# Java SYNC_MASTER: RocketMQ 5 waits for the slave only with `inSyncReplicas` >= 2 (with the
# default 1 a SYNC_MASTER answers at once, like ASYNC_MASTER; see CommitLog.handleHA in
# 5.3.3). The script writes inSyncReplicas=REPL_JAVA_IN_SYNC_REPLICAS (default 2) into the
# Java SYNC_MASTER's broker.conf so that both kinds measure the same thing; set it to 1 to
# measure the Java broker as shipped. Apogee's SYNC_MASTER always waits.
#
# All processes share this machine's cores (`nproc`, printed with the results): the slave
# competes with the master and the load generator for CPU, which a real deployment (a
# slave on another host) does not have. The tables say so.
#
# Output: progress lines on stderr; at the end two markdown tables (send throughput; lag)
# ready for docs/perf.md on stdout, also in OUT/summary.md; every run's numbers in
# OUT/results.jsonl; logs, broker.conf and bench output in OUT/run-*/ (stores deleted after
# each run). Exits 1 if any configuration failed (did not start, did not replicate, or
# gave no bench result); the others still run.
#
# Needs: root (ip netns), python3, java 17 (REPL_KINDS with java; the jars are installed by
# scripts/peers/java.sh install when missing, from Maven Central), the release binary.
#
# Environment (defaults):
#   REPL_KINDS="apogee java"     broker kinds to run
#   REPL_CONFIGS="none async sync lag"
#   BENCH_ROUNDS=1               rounds of every configuration (the tables show medians)
#   BENCH_SECONDS=30  BENCH_WARMUP=3  BENCH_THREADS=64  BENCH_SIZE=1024  BENCH_QUEUES=8
#   BENCH_PROBE_COUNT=2000       messages sent (and replicated) before a pair's run
#   LAG_RATE=20000  LAG_SECONDS=$BENCH_SECONDS  LAG_INTERVAL_MS=50
#   REPL_JAVA_IN_SYNC_REPLICAS=2 (see above)
#   BENCH_OUT=${TMPDIR:-/tmp}/apogee-bench-repl-<date>   BENCH_KEEP_DATA= (non-empty: keep stores)
#   APOGEE_BIN=<repo>/target/release/apogee (not built here)   RUST_LOG=warn
#   JAVA=java  BROKER_HEAP=512m  NAMESRV_HEAP=256m (as interop/replication/run.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER_NAME=bench-replication
# alive, spawn, wait_port, wait_registered, ensure_netns, delete_netns, note, die
# shellcheck source=peers/common.sh
source "$ROOT/scripts/peers/common.sh"

KINDS=${REPL_KINDS:-apogee java}
CONFIGS=${REPL_CONFIGS:-none async sync lag}
ROUNDS=${BENCH_ROUNDS:-1}
SECS=${BENCH_SECONDS:-30}
WARMUP=${BENCH_WARMUP:-3}
THREADS=${BENCH_THREADS:-64}
SIZE=${BENCH_SIZE:-1024}
QUEUES=${BENCH_QUEUES:-8}
PROBE_COUNT=${BENCH_PROBE_COUNT:-2000}
LAG_RATE=${LAG_RATE:-20000}
LAG_SECS=${LAG_SECONDS:-$SECS}
LAG_INTERVAL_MS=${LAG_INTERVAL_MS:-50}
JAVA_ISR=${REPL_JAVA_IN_SYNC_REPLICAS:-2}
OUT=${BENCH_OUT:-${TMPDIR:-/tmp}/apogee-bench-repl-$(date +%Y%m%d-%H%M%S)}
BIN=${APOGEE_BIN:-$ROOT/target/release/apogee}
RUST_LOG=${RUST_LOG:-warn}
JAVA=${JAVA:-java}
VERSION=${ROCKETMQ_JAVA_VERSION:-5.3.3}
LIB=$PEERS_DIR/java/$VERSION/lib

CLUSTER=ReplBench
BROKER_NAME=repl-bench
TOPIC=ReplBenchTopic # not the cluster or broker name: Java counts those as system topics
NAMESRV_PORT=9876
MASTER_PORT=10911 # HA 10912 (the Java broker also listens on port-2)
SLAVE_PORT=10921  # HA 10922
MASTER=127.0.0.1:$MASTER_PORT
SLAVE=127.0.0.1:$SLAVE_PORT

for v in ROUNDS SECS WARMUP THREADS SIZE QUEUES PROBE_COUNT LAG_RATE LAG_SECS LAG_INTERVAL_MS JAVA_ISR; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((ROUNDS >= 1 && SECS >= 1 && LAG_SECS >= 1 && THREADS >= 1 && LAG_INTERVAL_MS >= 1)) ||
    die "BENCH_ROUNDS, BENCH_SECONDS, LAG_SECONDS, BENCH_THREADS, LAG_INTERVAL_MS must be >= 1"
needs_java=0
for k in $KINDS; do
    case $k in apogee) ;; java) needs_java=1 ;; *) die "REPL_KINDS: apogee and/or java, not '$k'" ;; esac
done
for c in $CONFIGS; do
    case $c in none | async | sync | lag) ;; *) die "REPL_CONFIGS: none async sync lag, not '$c'" ;; esac
done

# ---- prerequisites ----
[[ $(id -u) == 0 ]] || die "needs root (ip netns add / exec)"
for tool in ip python3; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $BIN ]] || die "no executable Apogee at $BIN (build it, or set APOGEE_BIN)"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if ((needs_java)); then
    command -v "$JAVA" >/dev/null || die "no java ($JAVA)"
    if [[ ! -f $LIB/.complete ]]; then
        note "Java RocketMQ $VERSION not installed; running scripts/peers/java.sh install"
        ROCKETMQ_JAVA_VERSION=$VERSION "$ROOT/scripts/peers/java.sh" install >&2
    fi
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
TOOL=$OUT/repl_tool.py
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- the poller / analyser (python, no dependencies) ----
cat >"$TOOL" <<'PY'
"""Runtime-info poller for scripts/bench-replication.sh.

  wait-synced MASTER SLAVE TIMEOUT_S        until both logs end at the same offset (> 0)
  poll MASTER SLAVE INTERVAL_MS STOPFILE OUT CATCHUP_TIMEOUT_S
        samples "m|s <t> <offset>" until STOPFILE exists ("stop <t>"), then until the slave
        has caught up ("caught <t>") or CATCHUP_TIMEOUT_S passed ("timeout <t>")
  analyze FILE WARMUP_S                      prints the lag statistics as JSON
"""
import bisect, json, math, os, re, select, socket, struct, sys, time

OFFSET = re.compile(rb'"commitLogMaxOffset"\s*:\s*"?(\d+)')


class Broker:
    """One kept-open connection; a request is sent, then its answer read as it arrives."""

    def __init__(self, addr):
        self.addr, self.sock, self.opaque = addr, None, 0
        self.buf, self.t0 = b"", 0.0

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def send(self):
        if self.sock is None:
            host, port = self.addr.rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)), timeout=3)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opaque += 1
        header = json.dumps({"code": 28, "flag": 0, "language": "JAVA", "opaque": self.opaque,
                             "serializeTypeCurrentRPC": "JSON", "version": 475,
                             "extFields": {}}).encode()
        self.buf = b""
        self.t0 = time.monotonic()
        self.sock.sendall(struct.pack(">II", 4 + len(header), len(header)) + header)

    def feed(self):
        """Reads what arrived; (midpoint, round trip, offset) once the answer is complete."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk
        if len(self.buf) < 4:
            return None
        total, = struct.unpack(">I", self.buf[:4])
        if len(self.buf) < 4 + total:
            return None
        t1 = time.monotonic()
        hlen = struct.unpack(">I", self.buf[4:8])[0] & 0xFFFFFF
        m = OFFSET.search(self.buf[8 + hlen:4 + total])
        if not m:
            raise ValueError("no commitLogMaxOffset in the answer")
        return ((self.t0 + t1) / 2, t1 - self.t0, int(m.group(1)))


def sample(brokers, timeout=3.0):
    """Asks every broker at once; [(midpoint, round trip, offset) or None] in order."""
    out = [None] * len(brokers)
    pending = {}
    for i, b in enumerate(brokers):
        try:
            b.send()
            pending[b.sock] = (i, b)
        except (OSError, EOFError, ValueError):
            b.close()
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(pending), [], [], left)
        for sock in ready:
            i, b = pending[sock]
            try:
                r = b.feed()
            except (OSError, EOFError, ValueError, struct.error):
                b.close()
                del pending[sock]
                continue
            if r is not None:
                out[i] = r
                del pending[sock]
    for i, b in pending.values():
        b.close()  # no answer in time: start over on a new connection
    return out


def wait_synced(master, slave, timeout):
    bs = [Broker(master), Broker(slave)]
    t0 = time.monotonic()
    last = (None, None)
    while time.monotonic() - t0 < timeout:
        a, b = sample(bs)
        last = (a and a[2], b and b[2])
        if a and b and a[2] > 0 and a[2] == b[2]:
            print(json.dumps({"ms": round((time.monotonic() - t0) * 1000), "master": a[2], "slave": b[2]}))
            return 0
        time.sleep(0.05)
    print(json.dumps({"ms": None, "master": last[0], "slave": last[1]}))
    return 1


def poll(master, slave, interval_ms, stopfile, out, catchup_timeout):
    bs = [Broker(master), Broker(slave)]
    interval = interval_ms / 1000.0
    stop_t = None
    prev_m = None
    with open(out, "w") as f:
        nxt = time.monotonic()
        while True:
            a, b = sample(bs)
            for kind, x in (("m", a), ("s", b)):
                if x:
                    f.write("%s %.6f %d %.6f\n" % (kind, x[0], x[2], x[1]))
            now = time.monotonic()
            if stop_t is None and os.path.exists(stopfile):
                stop_t = now
                f.write("stop %.6f\n" % now)
            elif stop_t is not None:
                # Caught up: the master did not move since the last sample and the slave has
                # all of it.
                if a and b and a[2] == prev_m and b[2] >= a[2]:
                    f.write("caught %.6f\n" % b[0])
                    return 0
                if now - stop_t > catchup_timeout:
                    f.write("timeout %.6f\n" % now)
                    return 1
            prev_m = a[2] if a else None
            f.flush()
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))


def quantile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, math.ceil(q * len(xs)) - 1))]


def analyze(path, warmup):
    ms_, ss = [], []
    stop = caught = timeout = None
    for line in open(path):
        p = line.split()
        if not p:
            continue
        if p[0] == "m":
            ms_.append((float(p[1]), int(p[2]), float(p[3])))
        elif p[0] == "s":
            ss.append((float(p[1]), int(p[2]), float(p[3])))
        elif p[0] == "stop":
            stop = float(p[1])
        elif p[0] == "caught":
            caught = float(p[1])
        elif p[0] == "timeout":
            timeout = float(p[1])
    res = {"lag_samples": 0}
    if not ms_ or not ss or stop is None:
        res["lag_error"] = "no samples (or no stop mark)"
        print(json.dumps(res))
        return
    ms_.sort()
    # Offsets never go down; keep the running maximum so that bisect works.
    ts, offs, rtts, hi = [], [], [], -1
    for t, o, rtt in ms_:
        hi = max(hi, o)
        ts.append(t)
        offs.append(hi)
        rtts.append(rtt)
    grow = next((t for t, o in zip(ts, offs) if o > offs[0]), None)
    res["master_final"] = offs[-1]
    res["slave_final"] = max(o for _, o, _ in ss)
    res["caught_up"] = caught is not None
    res["catchup_ms"] = round((caught - stop) * 1000) if caught is not None else None
    if grow is None:
        res["lag_error"] = "the master's log did not grow"
        print(json.dumps(res))
        return
    # The load: from the master's first growth (+ the warm-up) to its last growth before
    # the stop mark (the poller sees the mark up to one interval after the bench ended).
    last_grow = max((ts[i] for i in range(1, len(ts)) if offs[i] > offs[i - 1] and ts[i] <= stop),
                    default=stop)
    lo, hi_t = grow + warmup, min(stop, last_grow)

    def master_at(t):  # interpolated offset at t
        i = bisect.bisect_left(ts, t)
        if i <= 0:
            return offs[0]
        if i >= len(ts):
            return offs[-1]
        t0, t1, o0, o1 = ts[i - 1], ts[i], offs[i - 1], offs[i]
        return o0 + (o1 - o0) * (t - t0) / (t1 - t0) if t1 > t0 else o1

    def master_reached(o):  # interpolated time the master's log reached o
        i = bisect.bisect_left(offs, o)
        if i <= 0:
            return ts[0]
        if i >= len(offs):
            return None
        t0, t1, o0, o1 = ts[i - 1], ts[i], offs[i - 1], offs[i]
        return t0 + (t1 - t0) * (o - o0) / (o1 - o0) if o1 > o0 else t1

    lag_b, lag_ms, resolution = [], [], []
    for t, o, rtt in ss:
        if not (lo <= t <= hi_t):
            continue
        # When within its round trip each broker read its offset is unknown: half of both
        # round trips (the master's nearest sample) bounds the error of the estimate.
        i = min(max(bisect.bisect_left(ts, t), 0), len(ts) - 1)
        resolution.append((rtt + rtts[i]) / 2 * 1000)
        mo = master_at(t)
        lag_b.append(max(0.0, mo - o))
        if o >= mo:
            lag_ms.append(0.0)
        else:
            tr = master_reached(o)
            lag_ms.append(max(0.0, (t - tr) * 1000) if tr is not None else 0.0)
    span = hi_t - lo
    res.update(
        lag_samples=len(lag_b),
        lag_window_s=round(span, 2),
        master_mb_s=round((master_at(hi_t) - master_at(lo)) / span / 1e6, 2) if span > 0 else None,
        lag_ms_p50=quantile(lag_ms, 0.5), lag_ms_p99=quantile(lag_ms, 0.99),
        lag_ms_max=max(lag_ms) if lag_ms else None,
        lag_bytes_p50=quantile(lag_b, 0.5), lag_bytes_p99=quantile(lag_b, 0.99),
        lag_bytes_max=max(lag_b) if lag_b else None,
        lag_resolution_ms_p50=quantile(resolution, 0.5),
        lag_resolution_ms_p99=quantile(resolution, 0.99),
    )
    if timeout is not None and caught is None:
        res["catchup_timeout"] = True
    for k in list(res):
        if isinstance(res[k], float):
            res[k] = round(res[k], 2)
    print(json.dumps(res))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-synced":
        sys.exit(wait_synced(args[0], args[1], float(args[2])))
    if cmd == "poll":
        sys.exit(poll(args[0], args[1], float(args[2]), args[3], args[4], float(args[5])))
    if cmd == "analyze":
        analyze(args[0], float(args[1]))
        sys.exit(0)
    sys.exit("unknown command " + cmd)
PY

# ---- per-configuration state and cleanup ----
NS='' DATA='' KIND=''
FAILED=0

# stop_pid_file FILE SIGNAL: SIGNAL, then KILL after 10 s; only the pids this script wrote.
stop_pid_file() {
    local f=$1 sig=$2 pid i
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            note "pid $pid ($(basename "$f" .pid)) still running 10 s after SIG$sig; KILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$f"
}

end_config() {
    [[ -n $DATA && -d $DATA ]] || { NS='' DATA=''; return 0; }
    # Apogee shuts down on SIGINT (ctrl-c: flushes and stops cleanly); the JVMs on TERM.
    local name sig=INT
    [[ $KIND == java ]] && sig=TERM
    stop_pid_file "$DATA/bench.pid" INT
    stop_pid_file "$DATA/poller.pid" TERM
    for name in slave master namesrv; do
        stop_pid_file "$DATA/$name.pid" "$sig"
    done
    if [[ -n $NS ]] && ip netns list | awk '{print $1}' | grep -qx -- "$NS"; then
        if [[ -n $(ip netns pids "$NS" 2>/dev/null) ]]; then
            note "namespace $NS still has processes ($(ip netns pids "$NS" | tr '\n' ' ')); left in place"
        else
            delete_netns "$NS" 2>/dev/null || true
        fi
    fi
    if [[ -z ${BENCH_KEEP_DATA:-} ]]; then
        rm -rf "$DATA/namesrv/store" "$DATA/master/store" "$DATA/slave/store" 2>/dev/null || true
    fi
    NS='' DATA='' KIND=''
}
trap 'end_config || true' EXIT
trap 'exit 130' INT TERM

# spawn (common.sh) + forget the job, so that bash does not report "Killed" when we stop it.
spawn_bg() {
    spawn "$@"
    disown -a 2>/dev/null || true
}

# ---- brokers (as interop/replication/run.sh) ----

# write_conf FILE KIND ROLE(master|slave) DIR MASTER_ROLE
write_conf() {
    local file=$1 kind=$2 role=$3 dir=$4 master_role=$5 id port broker_role
    if [[ $role == master ]]; then
        id=0 port=$MASTER_PORT broker_role=$master_role
    else
        id=1 port=$SLAVE_PORT broker_role=SLAVE
    fi
    {
        echo "# Written by scripts/bench-replication.sh: $kind $role of $BROKER_NAME."
        echo "brokerClusterName=$CLUSTER"
        echo "brokerName=$BROKER_NAME"
        echo "brokerId=$id"
        echo "brokerRole=$broker_role"
        echo "flushDiskType=ASYNC_FLUSH"
        echo "listenPort=$port"
        echo "haListenPort=$((port + 1))"
        echo "namesrvAddr=127.0.0.1:$NAMESRV_PORT"
        echo "brokerIP1=127.0.0.1"
        echo "storePathRootDir=$dir/store"
        echo "autoCreateTopicEnable=true"
        echo "autoCreateSubscriptionGroup=true"
        [[ $role == slave ]] && echo "slaveReadEnable=true"
        if [[ $kind == java ]]; then
            # The HA address the Java master registers is brokerIP2:haListenPort.
            echo "brokerIP2=127.0.0.1"
            echo "storePathCommitLog=$dir/store/commitlog"
            if [[ $broker_role == SYNC_MASTER ]]; then
                echo "# RocketMQ 5 waits for a slave only with inSyncReplicas >= 2 (the master counts)."
                echo "inSyncReplicas=$JAVA_ISR"
            fi
        fi
    } >"$file"
}

java_logback() {
    cat >"$1" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/bench-replication.sh: WARN and above, one file per process. -->
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${rmq.peer.logfile}</file>
    <append>true</append>
    <encoder class="ch.qos.logback.classic.encoder.PatternLayoutEncoder">
      <pattern>%d{yyyy-MM-dd HH:mm:ss.SSS} %-5p [%t] %c - %m%n</pattern>
    </encoder>
  </appender>
  <root level="WARN">
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

start_namesrv() { # start_namesrv KIND
    local kind=$1 dir=$DATA/namesrv log=$DATA/logs/namesrv.out
    mkdir -p "$dir"
    if [[ $kind == java ]]; then
        mkdir -p "$dir/home/conf"
        java_logback "$dir/home/conf/rmq.logback.xml"
        java_common "$dir/home" "$DATA/logs/namesrv.log"
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

# start_broker KIND ROLE MASTER_ROLE: spawn, then wait for the ready line (Apogee) and the
# registration with the name server.
start_broker() {
    local kind=$1 role=$2 master_role=$3 port dir=$DATA/$2 log=$DATA/logs/$2.out
    [[ $role == master ]] && port=$MASTER_PORT || port=$SLAVE_PORT
    mkdir -p "$dir/store"
    write_conf "$dir/broker.conf" "$kind" "$role" "$dir" "$master_role"
    : >"$log"
    if [[ $kind == java ]]; then
        mkdir -p "$dir/home/conf"
        java_logback "$dir/home/conf/rmq.logback.xml"
        java_common "$dir/home" "$DATA/logs/$role.log"
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
        tail -n 30 "$log" "$DATA/logs/$role.log" >&2 2>/dev/null || true
        return 1
    fi
}

# CPU seconds (user + system) used so far by a process.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# record KEY=VALUE... : one JSON line into results.jsonl (values that parse as JSON stay
# JSON; the keys `bench` and `lag` hold objects that are merged in).
record() {
    python3 - "$@" >>"$RESULTS" <<'PY'
import json, sys
r = {}
for kv in sys.argv[1:]:
    k, _, v = kv.partition("=")
    try:
        v = json.loads(v)
    except ValueError:
        pass
    if k in ("bench", "lag") and isinstance(v, dict):
        r.update(v)
    else:
        r[k] = v
print(json.dumps(r))
PY
}

# bench_run NAME ARGS...: `apogee bench` inside the namespace, in the background (so that an
# interrupted run stops it too); stdout to $DATA/NAME.out, stderr to $DATA/logs/NAME.log.
bench_run() {
    local name=$1 rc=0
    shift
    ip netns exec "$NS" "$BIN" bench "$@" </dev/null >"$DATA/$name.out" 2>"$DATA/logs/$name.log" &
    local bpid=$!
    echo "$bpid" >"$DATA/bench.pid"
    wait "$bpid" || rc=$?
    rm -f "$DATA/bench.pid"
    return $rc
}

# ---- one configuration ----

# run_config KIND CONFIG ROUND IDX
run_config() {
    local kind=$1 config=$2 round=$3 idx=$4
    local label=$kind-$config-r$round master_role=ASYNC_MASTER slave=1
    case $config in
        none) slave=0 ;;
        sync) master_role=SYNC_MASTER ;;
    esac
    local desc="$kind $master_role$( ((slave)) && echo " + $kind SLAVE")"
    DATA=$OUT/run-$label
    NS=apogee-brepl-$$-$idx
    KIND=$kind
    rm -rf "$DATA"
    mkdir -p "$DATA/logs"
    log "---- $label: $desc ----"
    local fail_base=(kind="$kind" config="$config" round="$round" master_role="$master_role" slave="$slave" ok=false)

    ensure_netns "$NS" 2>/dev/null
    local links
    links=$(ip netns exec "$NS" ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
    if [[ $links != "lo " ]]; then
        log "$label: namespace $NS has interfaces other than lo ($links); refusing"
        record "${fail_base[@]}" error="namespace not loopback-only"
        FAILED=$((FAILED + 1))
        return 0
    fi

    local t0=$SECONDS
    if ! start_namesrv "$kind"; then
        log "$label: FAILED: name server did not start (see $DATA/logs)"
        record "${fail_base[@]}" error="name server did not start"
        FAILED=$((FAILED + 1))
        return 0
    fi
    if ! start_broker "$kind" master "$master_role"; then
        log "$label: FAILED: master did not start or register (see $DATA/logs)"
        record "${fail_base[@]}" error="master did not start"
        FAILED=$((FAILED + 1))
        return 0
    fi
    if ((slave)) && ! start_broker "$kind" slave "$master_role"; then
        log "$label: FAILED: slave did not start or register (see $DATA/logs)"
        record "${fail_base[@]}" error="slave did not start"
        FAILED=$((FAILED + 1))
        return 0
    fi
    log "$label: started in $((SECONDS - t0)) s"

    # The probe: creates the topic (QUEUES queues on the master) and, for a pair, must reach
    # the slave before the measured run.
    if ! bench_run probe produce -n "127.0.0.1:$NAMESRV_PORT" -t "$TOPIC" --queues "$QUEUES" \
        -w 4 -s "$SIZE" -q "$PROBE_COUNT" --json; then
        log "$label: FAILED: the probe sends failed (see $DATA/logs/probe.log)"
        record "${fail_base[@]}" error="probe failed"
        FAILED=$((FAILED + 1))
        return 0
    fi
    if ((slave)); then
        local synced
        synced=$(ip netns exec "$NS" python3 "$TOOL" wait-synced "$MASTER" "$SLAVE" 60) || {
            log "$label: FAILED: the slave did not replicate the probe within 60 s ($synced)"
            record "${fail_base[@]}" error="slave did not replicate the probe: $synced"
            FAILED=$((FAILED + 1))
            return 0
        }
        log "$label: probe replicated ($synced)"
    fi
    sleep 1

    local args=(produce -n "127.0.0.1:$NAMESRV_PORT" -t "$TOPIC" --queues "$QUEUES" -w "$THREADS"
        -s "$SIZE" --warmup "$WARMUP" --json)
    if [[ $config == lag ]]; then
        args+=(-d "$LAG_SECS" --rate "$LAG_RATE")
    else
        args+=(-d "$SECS")
    fi
    local mpid spid='' mcpu0 scpu0=0 w0
    mpid=$(cat "$DATA/master.pid")
    ((slave)) && spid=$(cat "$DATA/slave.pid")
    mcpu0=$(cpu_seconds "$mpid")
    [[ -n $spid ]] && scpu0=$(cpu_seconds "$spid")
    w0=$(date +%s.%N)
    local stopfile=$DATA/bench.done
    rm -f "$stopfile"
    if ((slave)); then
        ip netns exec "$NS" python3 "$TOOL" poll "$MASTER" "$SLAVE" "$LAG_INTERVAL_MS" \
            "$stopfile" "$DATA/lag.samples" 60 </dev/null >"$DATA/logs/poller.log" 2>&1 &
        echo $! >"$DATA/poller.pid"
    fi
    log "$label: apogee bench ${args[*]}"
    local brc=0
    bench_run bench "${args[@]}" || brc=$?
    local w1 mcpu1 scpu1=0
    w1=$(date +%s.%N)
    mcpu1=$(cpu_seconds "$mpid")
    [[ -n $spid ]] && scpu1=$(cpu_seconds "$spid")
    touch "$stopfile"
    local lag='{}'
    if ((slave)); then
        local ppid
        ppid=$(cat "$DATA/poller.pid")
        wait "$ppid" 2>/dev/null || true
        rm -f "$DATA/poller.pid"
        lag=$(python3 "$TOOL" analyze "$DATA/lag.samples" "$WARMUP" 2>>"$DATA/logs/poller.log") || lag='{}'
    fi
    local json
    json=$(tail -n 1 "$DATA/bench.out" 2>/dev/null || true)
    local alive_m=true alive_s=true
    alive "$mpid" || alive_m=false
    [[ -n $spid ]] && { alive "$spid" || alive_s=false; }
    if [[ $json != \{* ]]; then
        log "$label: FAILED: no bench result (exit $brc; see $DATA/logs/bench.log)"
        record "${fail_base[@]}" error="no bench result (exit $brc)" lag="$lag"
        FAILED=$((FAILED + 1))
        return 0
    fi
    local wall mcores scores
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')
    mcores=$(awk -v a="$mcpu0" -v b="$mcpu1" -v w="$wall" 'BEGIN { printf "%.3f", (b - a) / w }')
    scores=$(awk -v a="$scpu0" -v b="$scpu1" -v w="$wall" 'BEGIN { printf "%.3f", (b - a) / w }')
    record kind="$kind" config="$config" round="$round" master_role="$master_role" slave="$slave" \
        ok=true bench="$json" lag="$lag" master_cores="$mcores" \
        slave_cores="$( ((slave)) && echo "$scores" || echo null)" \
        master_alive="$alive_m" slave_alive="$alive_s" seconds_wall="$wall"
    tail -n 1 "$RESULTS" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
f = lambda k, d="%s": (d % r[k]) if r.get(k) is not None else "-"
line = "   -> %s: %s msg/s, p50 %s us, p99 %s us, failed %s, master %s cores" % (
    r["config"], f("send_tps", "%.0f"), f("p50_us"), f("p99_us"), f("failed"), f("master_cores"))
if r.get("slave"):
    line += ", slave %s cores; slave lag p99 %s ms / %s B (%s samples); caught up %s ms after" % (
        f("slave_cores"), f("lag_ms_p99", "%.1f"), f("lag_bytes_p99", "%.0f"), f("lag_samples"),
        f("catchup_ms"))
    if not r.get("caught_up"):
        line += " -- SLAVE DID NOT CATCH UP (master %s, slave %s)" % (f("master_final"), f("slave_final"))
print(line, file=sys.stderr)'
    if [[ $alive_m != true || $alive_s != true ]]; then
        log "$label: WARNING: a broker died during the run (master alive: $alive_m, slave alive: $alive_s)"
    fi
}

# ---- main ----

log "results in $OUT; kinds: $KINDS; configs: $CONFIGS; $ROUNDS round(s) of $SECS s (+$WARMUP s warm-up), lag at $LAG_RATE msg/s for $LAG_SECS s"
{
    uname -a
    echo "cores: $(nproc)"
    "$BIN" --version 2>/dev/null || true
    "$JAVA" -version 2>&1 | head -n 1 || true
} >"$OUT/machine.txt"
idx=0
for ((round = 1; round <= ROUNDS; round++)); do
    for kind in $KINDS; do
        for config in $CONFIGS; do
            idx=$((idx + 1))
            run_config "$kind" "$config" "$round" "$idx" || { FAILED=$((FAILED + 1)); log "$kind $config: aborted"; }
            end_config
        done
    done
done

python3 - "$RESULTS" "$(nproc)" "$THREADS" "$SIZE" "$SECS" "$WARMUP" "$LAG_RATE" "$LAG_SECS" \
    "$LAG_INTERVAL_MS" "$JAVA_ISR" "$ROUNDS" >"$OUT/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cores, threads, size, secs, warmup, rate, lag_secs, interval, isr, rounds = sys.argv[2:]
KIND = {"apogee": "Apogee", "java": "Java 5.3.3"}
CONF = {"none": "master alone (ASYNC_MASTER, no slave)", "async": "ASYNC_MASTER + SLAVE",
        "sync": "SYNC_MASTER + SLAVE", "lag": "ASYNC_MASTER + SLAVE"}

def med(rs, k):
    xs = [r[k] for r in rs if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
    return statistics.median(xs) if xs else None

def num(x, fmt="{:,.0f}"):
    return fmt.format(x).replace(",", " ") if x is not None else "–"

def ms(us):
    return "–" if us is None else ("%.2f ms" % (us / 1000) if us < 10000 else "%.0f ms" % (us / 1000))

def kib(b):
    return "–" if b is None else ("%.0f KiB" % (b / 1024) if b < 10 * 1024 * 1024 else "%.1f MiB" % (b / 1048576))

def group(kind, config):
    return [r for r in rows if r.get("kind") == kind and r.get("config") == config]

def status(rs):
    ok = [r for r in rs if r.get("ok")]
    bad = [r for r in rs if not r.get("ok")]
    return ok, bad

kinds = [k for k in ("apogee", "java") if any(r.get("kind") == k for r in rows)]
print(f"Both brokers of a pair, the name server and the load generator (`apogee bench`) ran on "
      f"the same {cores}-core machine, in one fresh loopback-only network namespace per "
      f"configuration, with fresh stores: the slave competes with the master and the sender "
      f"for CPU. ASYNC_FLUSH everywhere; {size} B messages; medians of {rounds} round(s).")
print()
print(f"**Send throughput, {threads} synchronous senders** ({secs} s after {warmup} s warm-up). "
      f"Slave lag: the slave's commit log behind the master's during the run, in time and bytes "
      f"(runtime info of both sampled every {interval} ms; ± the measurement's resolution, p99); "
      f"caught up: from the end of the load until the slave ends where the master does.")
print()
print("| broker | configuration | msg/s | vs. no slave | send p50 | send p99 | failed | master cores | slave cores | slave lag p99 | caught up after |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
ratios = []
for kind in kinds:
    base = med(status(group(kind, "none"))[0], "send_tps")
    got = {}
    for config in ("none", "async", "sync"):
        rs = group(kind, config)
        if not rs:
            continue
        ok, bad = status(rs)
        name = CONF[config]
        if kind == "java" and config == "sync":
            name += f" (inSyncReplicas={isr})"
        if not ok:
            print(f"| {KIND[kind]} | {name} | **failed**: {bad[0].get('error')} | | | | | | | | |")
            continue
        tps = med(ok, "send_tps")
        got[config] = tps
        vs = "1.00×" if config == "none" else (f"{tps / base:.2f}×" if base and tps else "–")
        lag = "–" if config == "none" else (
            f"{num(med(ok, 'lag_ms_p99'), '{:.1f}')} ms (±{num(med(ok, 'lag_resolution_ms_p99'), '{:.1f}')}) / "
            f"{kib(med(ok, 'lag_bytes_p99'))}")
        caught = "–"
        if config != "none":
            c = med(ok, "catchup_ms")
            caught = f"{num(c)} ms" if all(r.get("caught_up") for r in ok) else "**did not catch up**"
        flag = "" if len(bad) == 0 else f" ({len(bad)} failed)"
        print(f"| {KIND[kind]} | {name}{flag} | {num(tps)} | {vs} | {ms(med(ok, 'p50_us'))} | "
              f"{ms(med(ok, 'p99_us'))} | {num(med(ok, 'failed'))} | {num(med(ok, 'master_cores'), '{:.2f}')} | "
              f"{'–' if config == 'none' else num(med(ok, 'slave_cores'), '{:.2f}')} | {lag} | {caught} |")
    if got.get("none"):
        parts = [f"{c}/none = {got[c] / got['none']:.2f}" for c in ("sync", "async") if got.get(c)]
        if parts:
            ratios.append(f"{KIND[kind]}: " + ", ".join(parts))
print()
for r in ratios:
    print(f"- {r}")
if ratios:
    print()
lag_rows = [(k, group(k, "lag")) for k in kinds if group(k, "lag")]
if lag_rows:
    print(f"**Replication lag at {num(float(rate))} msg/s** (ASYNC_MASTER + SLAVE, {threads} "
          f"senders paced to the rate, {lag_secs} s after {warmup} s warm-up). Lag in ms: how "
          f"long before the sample the master had written what the slave had; in bytes: the "
          f"master's offset minus the slave's. Sampled every {interval} ms with "
          f"GET_BROKER_RUNTIME_INFO (`commitLogMaxOffset`) on both brokers at once; resolution: "
          f"half the two round trips, lags below it are noise.")
    print()
    print("| broker | achieved msg/s | send p99 | lag p50 | lag p99 | lag max | resolution p99 | lag p99 (bytes) | samples | master MB/s | master cores | slave cores | caught up after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, rs in lag_rows:
        ok, bad = status(rs)
        if not ok:
            print(f"| {KIND[kind]} | **failed**: {bad[0].get('error')} | | | | | | | | | | |")
            continue
        caught = f"{num(med(ok, 'catchup_ms'))} ms" if all(r.get("caught_up") for r in ok) else "**did not catch up**"
        print(f"| {KIND[kind]} | {num(med(ok, 'send_tps'))} | {ms(med(ok, 'p99_us'))} | "
              f"{num(med(ok, 'lag_ms_p50'), '{:.1f}')} ms | {num(med(ok, 'lag_ms_p99'), '{:.1f}')} ms | "
              f"{num(med(ok, 'lag_ms_max'), '{:.1f}')} ms | ±{num(med(ok, 'lag_resolution_ms_p99'), '{:.1f}')} ms | "
              f"{kib(med(ok, 'lag_bytes_p99'))} | "
              f"{num(med(ok, 'lag_samples'))} | {num(med(ok, 'master_mb_s'), '{:.1f}')} | "
              f"{num(med(ok, 'master_cores'), '{:.2f}')} | {num(med(ok, 'slave_cores'), '{:.2f}')} | {caught} |")
    print()
failed = [r for r in rows if not r.get("ok")]
if failed:
    print("Failed configurations: " + "; ".join(
        f"{r.get('kind')} {r.get('config')} round {r.get('round')}: {r.get('error')}" for r in failed))
PY
echo
cat "$OUT/summary.md"
echo
log "results: $OUT/results.jsonl, summary: $OUT/summary.md, logs: $OUT/run-*/logs"
if ((FAILED > 0)); then
    log "$FAILED configuration(s) FAILED"
    exit 1
fi
