#!/usr/bin/env bash
# One mqbench run against a fresh standalone broker, with the CPU each side
# used per message: the unit of the paired A/B runs in docs/STORE.md and
# docs/PERFORMANCE.md (run the two variants alternately, several times).
#
# Usage: scripts/ab-run.sh BIN-DIR sync|async -- MQBENCH-ARGS…
#   e.g. BROKER_ARGS="--direct-io false" scripts/ab-run.sh target/release async -- \
#          produce --size 1024 --producers 4 --inflight 8 --batch 32 --count 2000000
# MQBENCH-ARGS must not contain -n or -t (the script adds them; topic AB,
# 8 queues). Environment: BROKER_ARGS (extra mqbroker arguments),
# BROKER_WORKERS / BENCH_WORKERS (Tokio worker threads of each process).
# Prints: label, msgs/s, errors, p99 µs, broker and mqbench CPU µs per
# message, seconds. Uses ports 19876 and 20911 and a temp store in /tmp.
set -euo pipefail
bin="$1"; flush="$2"; shift 3
ns=127.0.0.1:19876
work=$(mktemp -d /tmp/ferromq-ab.XXXX)
trap 'rm -rf "$work"' EXIT
env ${BROKER_WORKERS:+TOKIO_WORKER_THREADS=$BROKER_WORKERS} RUST_LOG=warn "$bin/mqbroker" --standalone \
    --flush "$flush" --store-dir "$work/store" --listen 127.0.0.1:20911 --namesrv-listen $ns -n $ns \
    ${BROKER_ARGS:-} 2>"$work/broker.log" &
pid=$!
for _ in $(seq 100); do "$bin/mqadmin" -n $ns clusterList 2>/dev/null | grep -q 20911 && break; sleep 0.1; done
"$bin/mqadmin" -n $ns updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null
hz=$(getconf CLK_TCK)
b0=$(awk '{print $14+$15}' /proc/$pid/stat)
TIMEFORMAT="%U %S"
{ time env ${BENCH_WORKERS:+TOKIO_WORKER_THREADS=$BENCH_WORKERS} "$bin/mqbench" "$@" -n $ns -t AB --json \
    2>"$work/bench.err" >"$work/out.json"; } 2>"$work/time"
b1=$(awk '{print $14+$15}' /proc/$pid/stat)
read -r u s <"$work/time"
python3 - "${LABEL:-${BROKER_ARGS:-default}}" "$b0" "$b1" "$hz" "$u" "$s" "$work/out.json" <<'PY'
import json, sys
label, b0, b1, hz, u, s, out = sys.argv[1], *map(float, sys.argv[2:7]), sys.argv[7]
j = json.load(open(out))
n = j['messages']
print(label, int(j['msgs_per_sec']), 'errors', j['errors'], 'p99', j['latency_us']['p99'],
      'broker us/msg %.2f' % ((b1 - b0) / hz / n * 1e6), 'bench us/msg %.2f' % ((u + s) / n * 1e6),
      'secs %.1f' % j['seconds'])
PY
kill -TERM $pid; wait $pid || true
