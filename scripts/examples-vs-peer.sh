#!/usr/bin/env bash
# Runs Apogee's example clients, unchanged, against a broker nobody on this team wrote:
# the quickstart pair (1000 messages to TopicTest, consumed and printed) and the ordered
# pair (orders keyed by id, each order's steps consumed in order), against the
# rocketmq-rust name server + broker (or Apache RocketMQ with PEER=java), inside a network
# namespace that has only loopback.
#
#   scripts/examples-vs-peer.sh            # PEER=rocketmq-rust (default) or PEER=java
#
# Not in CI: the peer takes ~18 minutes to build the first time (cached outside the repo by
# scripts/peers/*.sh install). Exits non-zero if any example fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEER=${PEER:-rocketmq-rust}
NS=${NS:-apogee-examples}
DATA=$(mktemp -d "${TMPDIR:-/tmp}/apogee-examples-XXXXXX")
EX=$ROOT/target/release/examples

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

(cd "$ROOT" && cargo build --release --quiet --examples)
"$ROOT/scripts/peers/$PEER.sh" install >&2
"$ROOT/scripts/peers/$PEER.sh" start --ns "$NS" --flush async --data "$DATA" >&2
trap '"$ROOT/scripts/peers/$PEER.sh" stop --data "$DATA" >&2 || true' EXIT

run() {
    local name=$1
    shift
    log "$name: $*"
    if ! ip netns exec "$NS" timeout 120 "$EX/$name" -n 127.0.0.1:9876 "$@" >"$DATA/$name.out" 2>"$DATA/$name.err"; then
        log "$name FAILED"; tail -20 "$DATA/$name.err" >&2; tail -5 "$DATA/$name.out" >&2
        return 1
    fi
    tail -2 "$DATA/$name.out" >&2
}

status=0
run producer --count 1000 || status=1
run consumer --count 1000 || status=1
consumed=$(grep -c '^Receive New Messages' "$DATA/consumer.out" || true)
distinct=$(grep '^Receive New Messages' "$DATA/consumer.out" | sed 's/.*body=//' | sort -u | wc -l)
log "quickstart: $consumed lines printed, $distinct distinct bodies (of 1000 sent)"
[[ $distinct -ge 1000 ]] || status=1
run ordered_producer --orders 10 || status=1
run ordered_consumer --count 40 || status=1
log "ordered: $(tail -1 "$DATA/ordered_consumer.out")"
if ((status)); then
    log "FAILED (outputs in $DATA)"
else
    log "all examples passed against $PEER (outputs in $DATA)"
fi
exit $status
