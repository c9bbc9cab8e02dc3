#!/usr/bin/env bash
# The same mqadmin scenarios (check.py) against Apache RocketMQ's own Java broker, to see
# what "the same kind of output" is. For comparison by hand; NOT part of CI
# (scripts/test-all.sh does not run it).
#
#   interop/mqadmin/compare-java.sh              # after interop/mqadmin/run.sh (classpaths)
#   INTEROP_PROFILES=rocketmq-5 INTEROP_MQADMIN_ONLY=clusterList interop/mqadmin/compare-java.sh
#
# The broker (scripts/peers/java.sh: RocketMQ $ROCKETMQ_JAVA_VERSION, default 5.3.3, name
# server 127.0.0.1:9876, broker 127.0.0.1:10911) runs only inside a network namespace that
# has nothing but loopback, and so do check.py and every mqadmin / client JVM it starts
# (`ip netns exec`): nothing reaches or is reached from outside the namespace. Needs root.
# No wiretap here (java.sh's broker registers 127.0.0.1, with no relay in between): refused
# request codes are read from the exceptions mqadmin prints.
#
# Results: target/<tag>/results-java.json and commands-java.log; then, per scenario, the
# verdict against Apogee (target/<tag>/results.json, from the last run.sh) next to the one
# against the Java broker.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILES=${INTEROP_PROFILES:-"rocketmq-4 rocketmq-5"}
PEER=$ROOT/scripts/peers/java.sh
NS=${INTEROP_MQADMIN_NETNS:-apogee-mqadmin-cmp}
DATA=$(mktemp -d "${TMPDIR:-/tmp}/apogee-mqadmin-java.XXXXXX")
export BROKER_HEAP=${BROKER_HEAP:-1g}

tag_of() { echo "v${1#rocketmq-}"; }
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    [[ -f $out/classpath.txt && -f $out/classes/MqadminMain.class ]] ||
        { echo "compare-java: no $out/classpath.txt or classes: run interop/mqadmin/run.sh first" >&2; exit 2; }
done

"$PEER" install
cleanup() {
    "$PEER" stop --data "$DATA" >&2 || true
    [[ -n ${INTEROP_KEEP_DATA:-} ]] || rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$PEER" start --ns "$NS" --flush async --data "$DATA"

status=0
for profile in $PROFILES; do
    tag=$(tag_of "$profile")
    out=$HERE/target/$tag
    rm -f "$out/results-java.json" "$out/commands-java.log"
    echo "compare-java: ---- $profile (rocketmq-tools $(cat "$out/version.txt")) against the Java broker ----" >&2
    ip netns exec "$NS" python3 "$HERE/check.py" --tag "$tag" --version "$(cat "$out/version.txt")" \
        --classpath "$out/classpath.txt" --classes "$out/classes" --home "$out/home" \
        --namesrv 127.0.0.1:9876 --broker-addr 127.0.0.1:10911 \
        --results "$out/results-java.json" --log "$out/commands-java.log" \
        ${INTEROP_MQADMIN_ONLY:+--only "$INTEROP_MQADMIN_ONLY"} || status=1
done

echo "compare-java: ---- Apogee (last run.sh) vs the Java broker ----"
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    python3 - "$out/results.json" "$out/results-java.json" <<'PY'
import json, os, sys
apogee = {r["scenario"]: r for r in json.load(open(sys.argv[1]))} if os.path.exists(sys.argv[1]) else {}
java = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else []
for r in java:
    a = apogee.get(r["scenario"])
    why = (r["message"] or "").splitlines()[0][:120] if r["status"] == "FAIL" else ""
    print(f"{r['tag']} {r['scenario']:36} apogee {a['status'] if a else '-':4}  java {r['status']:4} {why}")
PY
done
# Output shapes: for each command both runs made (first run of it per scenario), the table
# headers (#...) and the key names of `key: value` / `key = value` lines that differ.
echo "compare-java: ---- output shapes that differ (apogee: commands.log, java: commands-java.log) ----"
for profile in $PROFILES; do
    out=$HERE/target/$(tag_of "$profile")
    [[ -f $out/commands.log && -f $out/commands-java.log ]] || continue
    python3 - "$out/commands.log" "$out/commands-java.log" <<'PY'
import re, sys
def blocks(path):
    out, cur = {}, None
    for ln in open(path, errors="replace"):
        m = re.match(r"\[(\S+) (\S+)\] mqadmin (\S+)", ln)
        if m:
            cur = m.groups()
            out.setdefault(cur, []).append([])
        elif ln.startswith("["):
            cur = None
        elif cur and ln.startswith("  out|"):
            out[cur][-1].append(ln[7:].rstrip("\n"))
    return out
def shape(lines):
    headers = [l.split() for l in lines if l.startswith("#")]
    keys = {m.group(1) for m in (re.match(r"^(\w+)\s*[:=]\s", l) for l in lines) if m}
    return headers, keys
apogee, java = blocks(sys.argv[1]), blocks(sys.argv[2])
for k, runs in apogee.items():
    if k not in java:
        continue
    (ha, ka), (hj, kj) = shape(runs[0]), shape(java[k][0])
    if ha == hj and ka == kj:
        continue
    print(f"{k[0]} {k[1]} {k[2]}:")
    if ha != hj:
        print(f"   headers apogee {ha[:2]}\n   headers java   {hj[:2]}")
    if ka - kj:
        print(f"   keys only apogee ({len(ka - kj)}): {' '.join(sorted(ka - kj))}")
    if kj - ka:
        print(f"   keys only java ({len(kj - ka)}): {' '.join(sorted(kj - ka))}")
PY
done
exit $status
