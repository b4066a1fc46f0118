#!/bin/bash
# Measures startup after kill -9: produce COUNT 1 KiB messages into a fresh
# standalone broker (async flush), kill -9 it, restart and time until
# "broker started". Usage: scripts/crash-restart.sh STORE_DIR COUNT
D=$1; N=$2
mkdir -p "$(dirname "$D")"
B="$(cd "$(dirname "$0")/.." && pwd)/target/release"
$B/mqbroker --standalone --flush async --listen 127.0.0.1:20911 --namesrv-listen 127.0.0.1:19876 --store-dir $D > $D.log1 2>&1 &
P=$!
sleep 1
$B/mqbench produce -n 127.0.0.1:19876 -t Rec --create-topic 8 --producers 2 --inflight 4 --batch 32 --count $N --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print('produced', d['messages'], 'msgs', round(d['mb_per_sec']), 'MB/s')"
kill -9 $P; wait $P 2>/dev/null
du -sh $D/commitlog | cat
S=$(date +%s.%N)
$B/mqbroker --standalone --flush async --listen 127.0.0.1:20911 --namesrv-listen 127.0.0.1:19876 --store-dir $D > $D.log2 2>&1 &
P=$!
until grep -q "broker started" $D.log2; do sleep 0.01; done
E=$(date +%s.%N)
echo "startup after kill -9: $(python3 -c "print(round(($E-$S)*1000))") ms"
grep -E "recover|scan" $D.log2 | cut -c1-220 | head -5
kill -TERM $P; wait $P
