#!/usr/bin/env bash
# A master with a ~1 GiB backlog (900,000 1 KiB messages, async flush),
# then a new slave with an empty store: seconds and MB/s until its flush
# covers the master's log end. Compare with machine-limits.sh --disk-only.
# Usage: scripts/bench-catchup.sh [BIN-DIR]. Ports 19876, 20911/2, 20921/2.
set -u
B=${1:-target/release}
work=$(mktemp -d /tmp/catchup.XXXX)
ns=127.0.0.1:19876
RUST_LOG=warn $B/mqbroker --standalone --flush async --store-dir $work/m --listen 127.0.0.1:20911 --ha-listen 127.0.0.1:20912 \
  --namesrv-listen $ns -n $ns 2>$work/m.log &
mp=$!
for _ in $(seq 100); do $B/mqadmin -n $ns clusterList 2>/dev/null | grep -q 20911 && break; sleep 0.1; done
$B/mqadmin -n $ns updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null
$B/mqbench produce -n $ns -t AB --size 1024 --producers 4 --inflight 8 --batch 32 --count 900000 --json >/dev/null 2>&1
end=$($B/mqadmin -n $ns brokerStatus -b 127.0.0.1:20911 | awk '/commit_log_max_offset/ {print $3}')
start=$(date +%s.%N)
RUST_LOG=warn $B/mqbroker --broker-id 1 --flush async --store-dir $work/s --listen 127.0.0.1:20921 --ha-listen 127.0.0.1:20922 \
  -n $ns --master-addr 127.0.0.1:20912 2>$work/s.log &
sp=$!
while true; do
  off=$($B/mqadmin -n $ns haStatus -b 127.0.0.1:20911 --json 2>/dev/null | python3 -c "import json,sys; j=json.load(sys.stdin); print(j['slaves'][0]['flushed'] if j['slaves'] else 0)" 2>/dev/null || echo 0)
  [ "${off:-0}" -ge "$end" ] && break
  sleep 0.05
done
t=$(python3 -c "import time; print(time.time()-$start)")
python3 -c "print('backlog bytes $end, catch-up %.2f s, %.0f MB/s' % ($t, $end/$t/1e6))"
kill -TERM $sp $mp; wait
rm -rf $work
