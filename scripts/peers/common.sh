# shellcheck shell=bash
# Shared helpers for scripts/peers/*.sh (sourced, not run).
#
# Everything installed or written lives outside the repository:
#   ${APOGEE_PEERS_DIR:-$HOME/.cache/apogee-peers}
# Every peer runs inside a network namespace that has only loopback, so nothing it does
# can reach (or be reached from) anything but the processes we start in that namespace.

# shellcheck disable=SC2034 # used by the scripts that source this file
PEERS_DIR=${APOGEE_PEERS_DIR:-$HOME/.cache/apogee-peers}

NAMESRV_ADDR=127.0.0.1:9876
BROKER_PORT=10911
BROKER_ADDR=127.0.0.1:$BROKER_PORT

die() { echo "${PEER_NAME:-peer}: $*" >&2; exit 1; }
note() { echo "${PEER_NAME:-peer}: $*" >&2; }

# Parse the common `start`/`stop` options into NS, FLUSH, DATA, QUEUES.
parse_opts() {
    NS='' FLUSH=async DATA='' QUEUES=8
    while (($#)); do
        case $1 in
            --ns) NS=${2:?--ns needs a name}; shift 2 ;;
            --flush) FLUSH=${2:?--flush needs async|sync}; shift 2 ;;
            --data) DATA=${2:?--data needs a directory}; shift 2 ;;
            --queues) QUEUES=${2:?--queues needs a number}; shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ $FLUSH == async || $FLUSH == sync ]] || die "--flush must be async or sync, not '$FLUSH'"
    [[ $QUEUES =~ ^[1-9][0-9]*$ ]] || die "--queues must be a positive integer, not '$QUEUES'"
}

# For `start`: create DATA and make it absolute (the configs written into it need that).
make_data_dir() {
    [[ -n $DATA ]] || die "start needs --data DIR"
    mkdir -p "$DATA"
    DATA=$(cd "$DATA" && pwd)
}

# Create the namespace (loopback only, brought up) unless it exists.
ensure_netns() {
    local ns=$1
    if ! ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
        ip netns add "$ns"
        # Remember that we made it, so that `stop` removes it again (and only then).
        echo "$ns" >"$DATA/netns.created"
        note "created network namespace $ns"
    fi
    ip netns exec "$ns" ip link set lo up
}

# Alive and not a zombie.
alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [[ $state != Z ]]
}

# Refuse to start over a peer that is still running from this data dir.
check_not_running() {
    local f pid
    for f in "$DATA"/*.pid; do
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        if alive "$pid"; then
            die "$(basename "$f" .pid) is still running (pid $pid) from $DATA; run stop first"
        fi
        rm -f "$f"
    done
}

# Start "$@" inside namespace $NS, detached (own session, stdin closed), output to $log;
# writes its pid to $DATA/$name.pid. `ip netns exec` and setsid both exec, so $! is the
# peer process itself.
spawn() {
    local name=$1 log=$2
    shift 2
    setsid ip netns exec "$NS" "$@" </dev/null >>"$log" 2>&1 &
    local pid=$!
    echo "$pid" >"$DATA/$name.pid"
    echo "$NS" >"$DATA/netns"
    # shellcheck disable=SC2034 # read by the caller
    SPAWNED_PID=$pid
}

# Wait until something listens on 127.0.0.1:$2 inside namespace $1 (or $3 dies).
wait_port() {
    local ns=$1 port=$2 pid=$3 timeout=${4:-120} i
    for ((i = 0; i < timeout * 10; i++)); do
        alive "$pid" || return 2
        if ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Ask the name server at 127.0.0.1:9876 in namespace $1 for its cluster info
# (RocketMQ remoting request GET_BROKER_CLUSTER_INFO = 106, JSON-serialized header) and
# succeed when the broker address 127.0.0.1:10911 is registered in it.
broker_registered() {
    ip netns exec "$1" python3 - "$NAMESRV_ADDR" "$BROKER_ADDR" <<'PY' 2>/dev/null
import json, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
want = sys.argv[2].encode()
header = json.dumps({"code": 106, "flag": 0, "language": "JAVA", "opaque": 1,
                     "serializeTypeCurrentRPC": "JSON", "version": 475,
                     "extFields": {}}).encode()
frame = struct.pack(">II", 4 + len(header), len(header)) + header
s = socket.create_connection((host, int(port)), timeout=3)
s.sendall(frame)
def read(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
total, = struct.unpack(">I", read(4))
rest = read(total)
sys.exit(0 if want in rest else 1)
PY
}

# Wait for the broker to show up in the name server's cluster info.
wait_registered() {
    local ns=$1 pid=$2 timeout=${3:-120} i
    for ((i = 0; i < timeout * 4; i++)); do
        alive "$pid" || return 2
        broker_registered "$ns" && return 0
        sleep 0.25
    done
    return 1
}

# stop --data DIR: TERM every pid in DIR/*.pid (broker first), KILL after $PEER_STOP_GRACE
# seconds (default 5).
stop_peer() {
    parse_opts "$@"
    [[ -n $DATA ]] || die "stop needs --data DIR"
    [[ -d $DATA ]] || { note "no data dir $DATA: nothing to stop"; return 0; }
    local f pid name i any=0 grace=${PEER_STOP_GRACE:-5}
    [[ $grace =~ ^[0-9]+$ ]] || die "PEER_STOP_GRACE must be whole seconds"
    for name in broker namesrv; do
        f=$DATA/$name.pid
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        if alive "$pid"; then
            any=1
            kill -TERM "$pid" 2>/dev/null || true
            local t0=$SECONDS
            for ((i = 0; i < grace * 10; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
            if alive "$pid"; then
                note "$name (pid $pid) still running $grace s after TERM; KILL"
                kill -KILL "$pid" 2>/dev/null || true
                for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
            fi
            note "stopped $name (pid $pid) in $((SECONDS - t0)) s"
        fi
        rm -f "$f"
    done
    ((any)) || note "nothing running from $DATA"
    # A namespace that `start` created goes away with the peer, unless something else still
    # runs in it (e.g. a benchmark client); `start` recreates it.
    if [[ -f $DATA/netns.created ]]; then
        local ns
        ns=$(cat "$DATA/netns.created")
        if [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; then
            note "namespace $ns still has processes ($(ip netns pids "$ns" | tr '\n' ' ')); left in place"
        else
            delete_netns "$ns"
            rm -f "$DATA/netns.created"
        fi
    fi
}

# A start that fails half-way: stop whatever it started (and the namespace it made), then die.
fail_start() {
    note "$*"
    stop_peer --data "$DATA" || true
    exit 1
}

# Delete the namespace recorded by the last start in DATA (optional helper).
delete_netns() {
    local ns=$1
    if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
        ip netns delete "$ns"
        note "deleted network namespace $ns"
    fi
}
