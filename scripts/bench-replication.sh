#!/usr/bin/env bash
# One mqbench run against a master broker alone, or with one slave that
# replicates it (sync or async), all on loopback: the A/B of replication's
# price in docs/PERFORMANCE.md. Alternate the modes several times.
#
# Usage: scripts/bench-replication.sh alone|sync|async [BIN-DIR] -- MQBENCH-ARGS…
#   e.g. scripts/bench-replication.sh sync -- produce --size 1024 \
#          --producers 4 --inflight 8 --batch 32 --duration 10
# MQBENCH-ARGS must not contain -n or -t (topic AB, 8 queues). Both brokers
# flush sync; `sync` runs the master with --replication sync (2 in-sync
# replicas). Prints: mode, msgs/s, errors, p99 µs, then the master's
# haStatus. Ports 19876, 20911/20912 (master), 20921/20922 (slave); temp
# stores in /tmp.
set -euo pipefail
mode="$1"; shift
bin="target/release"
if [[ "${1:-}" != "--" ]]; then bin="$1"; shift; fi
shift
ns=127.0.0.1:19876
work=$(mktemp -d /tmp/ferromq-rep.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; rm -rf "$work"; }
trap cleanup EXIT
rep=()
[[ "$mode" == sync ]] && rep=(--replication sync)
RUST_LOG=warn "$bin/mqbroker" --standalone --flush sync --store-dir "$work/master" \
    --listen 127.0.0.1:20911 --ha-listen 127.0.0.1:20912 --namesrv-listen $ns -n $ns \
    "${rep[@]}" 2>"$work/master.log" &
pids+=($!)
for _ in $(seq 100); do "$bin/mqadmin" -n $ns clusterList 2>/dev/null | grep -q 20911 && break; sleep 0.1; done
if [[ "$mode" != alone ]]; then
    RUST_LOG=warn "$bin/mqbroker" --broker-id 1 --flush sync --store-dir "$work/slave" \
        --listen 127.0.0.1:20921 --ha-listen 127.0.0.1:20922 -n $ns \
        --master-addr 127.0.0.1:20912 2>"$work/slave.log" &
    pids+=($!)
    for _ in $(seq 200); do
        "$bin/mqadmin" -n $ns haStatus -b 127.0.0.1:20911 2>/dev/null | grep -q ' true$' && break
        sleep 0.1
    done
fi
"$bin/mqadmin" -n $ns updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null
"$bin/mqbench" "$@" -n $ns -t AB --json 2>"$work/bench.err" >"$work/out.json"
python3 - "$mode" "$work/out.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
print(sys.argv[1], int(j['msgs_per_sec']), 'errors', j['errors'], 'p99', j['latency_us']['p99'])
PY
[[ "$mode" != alone ]] && "$bin/mqadmin" -n $ns haStatus -b 127.0.0.1:20911
exit 0
