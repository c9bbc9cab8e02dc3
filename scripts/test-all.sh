#!/usr/bin/env bash
# The full test suite: the crate's own tests, then the interop suites in which clients
# nobody on this team wrote (the official Java client 4.9.x and 5.x, rocketmq-client-rust
# 1.0.0, the official Go client rocketmq-client-go/v2, the official mqadmin of
# rocketmq-tools 4.9.8 and 5.5.0) run unchanged against
# `apogee standalone`; replication with the Java broker 5.3.3 in both directions; and the
# web console in a real browser (Debian's Chromium, headless).
#
#   scripts/test-all.sh              # everything
#   SKIP_INTEROP=1 scripts/test-all.sh   # the crate's tests only
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test"
cargo test

if [[ -n ${SKIP_INTEROP:-} ]]; then
    echo "== interop skipped (SKIP_INTEROP)"
    exit 0
fi

echo "== cargo build --release (the broker the interop suites run against)"
cargo build --release --quiet
export APOGEE_BIN="$PWD/target/release/apogee"

echo "== interop: Java client"
interop/java/run.sh

# The SYNC_FLUSH write path (records written by the group commit) differs from the default
# ASYNC one: the 5.x client's scenarios once more against a SYNC_FLUSH broker.
echo "== interop: Java client 5.x against a SYNC_FLUSH broker"
sync_conf=$(mktemp)
trap 'rm -f "$sync_conf"' EXIT
printf 'brokerName=broker-a\nflushDiskType=SYNC_FLUSH\n' >"$sync_conf"
INTEROP_PROFILES=rocketmq-5 APOGEE_BROKER_CONF=$sync_conf interop/java/run.sh

# ASYNC_FLUSH with the transient pool: records become readable when the committer thread
# writes them from its buffer, not when appended.
echo "== interop: Java client 5.x against a broker with transientStorePoolEnable"
pool_conf=$(mktemp)
trap 'rm -f "$sync_conf" "$pool_conf"' EXIT
printf 'brokerName=broker-a\ntransientStorePoolEnable=true\n' >"$pool_conf"
INTEROP_PROFILES=rocketmq-5 APOGEE_BROKER_CONF=$pool_conf interop/java/run.sh

if [[ -x interop/rust-client/run.sh ]]; then
    echo "== interop: rocketmq-client-rust"
    interop/rust-client/run.sh
fi

if [[ -x interop/go/run.sh ]]; then
    echo "== interop: Go client"
    interop/go/run.sh
fi

# The official admin CLI (MQAdminStartup of rocketmq-tools), unchanged: topic, group,
# offset, cluster, broker-config and message commands, their output checked.
if [[ -x interop/mqadmin/run.sh ]]; then
    echo "== interop: mqadmin (rocketmq-tools 4.9.8 and 5.5.0)"
    interop/mqadmin/run.sh
fi

# Replication with the Java broker (Apache RocketMQ 5.3.3, classic HA), both directions:
# an Apogee SYNC_MASTER followed by a Java slave, a Java SYNC_MASTER followed by an Apogee
# slave; every acknowledged message read back from the slave at the master's offsets after
# the master's kill -9. The Java brokers run in a loopback-only network namespace (root).
if [[ -x interop/replication/run.sh ]]; then
    echo "== interop: replication with the Java broker 5.3.3 (classic HA, both directions)"
    interop/replication/run.sh
fi

# The built-in web console, every page in headless Chromium (installed from Debian's
# packages if missing), a topic created and offsets reset through the UI; screenshots in
# $CONSOLE_SCREENSHOTS (default target/console-screenshots).
if [[ -x interop/console/run.sh ]]; then
    echo "== interop: web console (headless Chromium)"
    interop/console/run.sh
fi
