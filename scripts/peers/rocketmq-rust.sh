#!/usr/bin/env bash
# rocketmq-rust (the Rust reimplementation of Apache RocketMQ, crates rocketmq-namesrv and
# rocketmq-broker 1.0.0) as a benchmark peer: one name server and one broker inside a
# loopback-only network namespace.
#
#   scripts/peers/rocketmq-rust.sh install
#   scripts/peers/rocketmq-rust.sh start --ns NAME --flush async|sync --data DIR [--queues N]
#   scripts/peers/rocketmq-rust.sh stop --data DIR
#
# install: cargo install --locked rocketmq-namesrv@1.0.0 rocketmq-broker@1.0.0 into
#   $APOGEE_PEERS_DIR/rocketmq-rust/bin (binaries rocketmq-namesrv-rust and
#   rocketmq-broker-rust). Skipped when both binaries exist. Takes ~18 min on 2 cores; runs
#   under nice -n 19 with CARGO_BUILD_JOBS=2 and a throwaway CARGO_TARGET_DIR
#   ($APOGEE_PEERS_DIR/rocketmq-rust-target, deleted after a successful install).
# start: name server on 127.0.0.1:9876 and broker on 127.0.0.1:10911 inside namespace NAME
#   (created if missing, with only `lo`, which is brought up). Writes DIR/broker.toml,
#   DIR/{namesrv,broker}.pid, logs to DIR/logs/*.log, the store to DIR/store. Waits until
#   the name server lists the broker, then prints
#     ready namesrv=127.0.0.1:9876 broker=127.0.0.1:10911 pid=<broker pid>
# stop: TERM both processes (broker first), KILL after 5 s ($PEER_STOP_GRACE); removes the
#   namespace if `start` created it and nothing else runs in it.
#
# Environment:
#   APOGEE_PEERS_DIR          install/cache dir (default $HOME/.cache/apogee-peers)
#   ROCKETMQ_RUST_VERSION     crate version (default 1.0.0)
#   RUST_LOG                  the peers' log filter (default warn)
set -euo pipefail
PEER_NAME=rocketmq-rust
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=${ROCKETMQ_RUST_VERSION:-1.0.0}
RDIR=$PEERS_DIR/rocketmq-rust
NAMESRV_BIN=$RDIR/bin/rocketmq-namesrv-rust
BROKER_BIN=$RDIR/bin/rocketmq-broker-rust

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 64
}

install() {
    if [[ -x $NAMESRV_BIN && -x $BROKER_BIN ]]; then
        note "already installed: $NAMESRV_BIN, $BROKER_BIN"
        return 0
    fi
    command -v cargo >/dev/null || die "cargo not found"
    mkdir -p "$PEERS_DIR"
    local t0=$SECONDS target=$PEERS_DIR/rocketmq-rust-target
    note "cargo install rocketmq-namesrv@$VERSION rocketmq-broker@$VERSION (~18 min on 2 cores)"
    CARGO_BUILD_JOBS=2 CARGO_TARGET_DIR=$target \
        nice -n 19 cargo install --locked --root "$RDIR" \
        "rocketmq-namesrv@$VERSION" "rocketmq-broker@$VERSION"
    [[ -x $NAMESRV_BIN && -x $BROKER_BIN ]] || die "cargo install finished but binaries are missing in $RDIR/bin"
    rm -rf "$target"
    note "installed in $((SECONDS - t0)) s: $NAMESRV_BIN, $BROKER_BIN"
}

# TOML string literal.
tq() { printf '"%s"' "$(sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1")"; }

# The broker's canonical TOML config. Sections [broker] (BrokerConfig, rocketmq-broker),
# [store] (MessageStoreConfig, rocketmq-store); every struct is deny_unknown_fields with
# camelCase keys, so a misspelt key fails the start instead of being ignored.
write_broker_toml() {
    local flush_type
    case $FLUSH in async) flush_type=ASYNC_FLUSH ;; sync) flush_type=SYNC_FLUSH ;; esac
    cat >"$DATA/broker.toml" <<EOF
# Written by scripts/peers/rocketmq-rust.sh start (rocketmq-broker $VERSION). One
# standalone master; everything not set here stays at the crate's defaults.
[broker]
namesrvAddr = $(tq "$NAMESRV_ADDR")
# The address registered with the name server (and dialled by clients): loopback in the
# namespace instead of the first local IP the crate would guess. (Key spelling: brokerIp1.)
brokerIp1 = "127.0.0.1"
listenPort = $BROKER_PORT
# Broker metadata (topics, offsets, ...) root; kept equal to store.storePathRootDir.
storePathRootDir = $(tq "$DATA/store")
# Producers may send to topics that do not exist yet (clients also cap the queue count of
# an auto-created topic with their own defaultTopicQueueNums, 4 in the Java client).
autoCreateTopicEnable = true
autoCreateSubscriptionGroup = true

[broker.brokerIdentity]
brokerClusterName = "DefaultCluster"
brokerName = "broker-a"
brokerId = 0

[broker.topicQueueConfig]
# Queues of auto-created topics (--queues).
defaultTopicQueueNums = $QUEUES

[broker.brokerServerConfig]
# Listen on loopback only (the namespace has nothing else anyway).
bindAddress = "127.0.0.1"

[store]
storePathRootDir = $(tq "$DATA/store")
# --flush $FLUSH: SYNC_FLUSH acknowledges a send after the commit log is fsynced.
flushDiskType = "$flush_type"
# Default true: appends wait for a micro-batch to fill (up to commitLogMicroBatchMaxWaitMicros,
# default 50) before being written; known to cap synchronous sends at ~1.4k msg/s on this
# machine. We compare against the peer at its best, so it is off.
commitLogMicroBatchEnabled = false
# rocketmq-rust measures disk use as (total - available) / total, counting the blocks the
# filesystem reserves as used (Java RocketMQ uses used / (used + available), as df does).
# On a filesystem with a large reservation it thus sees the disk as far fuller than it is and
# keeps sweeping for files to reclaim above diskMaxUsedSpaceRatio (default 75). 84 is the
# highest the crate accepts (it must stay below diskSpaceCleanForciblyRatio, 85, itself below
# diskSpaceWarningLevelRatio, 90; both are clamped at those values, so they cannot be
# raised): forced cleaning above 85 %, writes refused above 90 %.
diskMaxUsedSpaceRatio = 84
EOF
}

# Warn when the store's filesystem is close to the thresholds rocketmq-rust acts on.
check_disk() {
    local line total avail
    line=$(df -P -B1 "$DATA/store" | awk 'NR == 2 {print $2, $4}')
    read -r total avail <<<"$line"
    [[ -n $total && $total -gt 0 ]] || return 0
    local pct=$(((total - avail) * 100 / total))
    local gib=$((1024 * 1024 * 1024))
    local to_forcible=$(((avail - total * 15 / 100) / gib)) to_full=$(((avail - total / 10) / gib))
    if ((pct >= 70)); then
        note "WARNING: rocketmq-rust sees $DATA/store as ${pct}% used ((total - available) / total);"
        note "  it force-deletes commit log files above 85% (${to_forcible} GiB from now) and refuses writes above 90% (${to_full} GiB)"
    fi
}

start() {
    parse_opts "$@"
    [[ -n $NS && -n $DATA ]] || die "start needs --ns NAME and --data DIR"
    make_data_dir
    [[ -x $NAMESRV_BIN && -x $BROKER_BIN ]] || die "not installed: run $0 install"
    check_not_running
    ensure_netns "$NS"

    # ROCKETMQ_HOME must be set (the broker refuses to start otherwise) but nothing in it is
    # read when the config comes from -c; HOME is pointed into the data dir because both
    # binaries default files to ~ (namesrv kvConfig.json / namesrv.properties, ~/store,
    # ~/logs).
    local home=$DATA/rocketmq-home logs=$DATA/logs
    mkdir -p "$home/conf" "$DATA/home" "$logs" "$DATA/store"
    write_broker_toml
    check_disk
    # (The console log always carries ANSI colour codes: the crate hard-codes ansi=true.)
    local envs=(env "ROCKETMQ_HOME=$home" "HOME=$DATA/home" "RUST_LOG=${RUST_LOG:-warn}")

    spawn namesrv "$logs/namesrv.log" "${envs[@]}" "$NAMESRV_BIN" \
        --listenPort 9876 --bindAddress 127.0.0.1 --rocketmqHome "$home" \
        --kvConfigPath "$DATA/namesrv/kvConfig.json"
    local ns_pid=$SPAWNED_PID
    if ! wait_port "$NS" 9876 "$ns_pid" 60; then
        tail -n 30 "$logs/namesrv.log" >&2 || true
        fail_start "name server did not come up (pid $ns_pid)"
    fi

    spawn broker "$logs/broker.log" "${envs[@]}" "$BROKER_BIN" \
        -c "$DATA/broker.toml" -n "$NAMESRV_ADDR"
    local br_pid=$SPAWNED_PID rc=0
    wait_registered "$NS" "$br_pid" 120 || rc=$?
    if ((rc != 0)); then
        tail -n 30 "$logs/broker.log" >&2 || true
        if ((rc == 2)); then fail_start "broker exited before registering (pid $br_pid)"; fi
        fail_start "broker not registered with the name server within 120 s (pid $br_pid)"
    fi
    echo "ready namesrv=$NAMESRV_ADDR broker=$BROKER_ADDR pid=$br_pid"
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
case $cmd in
    install) install ;;
    start) start "$@" ;;
    stop) stop_peer "$@" ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd' (install|start|stop)" ;;
esac
