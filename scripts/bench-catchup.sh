#!/usr/bin/env bash
# A master with a ~1 GB backlog (900,000 1 KiB messages, async flush),
# then a new slave with an empty store: seconds and MB/s from the slave's
# start until its flush covers the master's log end, and, with --disk, the
# disk's O_DIRECT sequential write measured right after
# (machine-limits.sh --disk-only) to rate it against.
#
# Usage: scripts/bench-catchup.sh [--count N] [--disk] [--out FILE.json]
#                                 [--store-parent DIR] [BIN-DIR]
#   --count N       backlog messages (default 900000)
#   --disk          measure the disk right after the catch-up
#   --out FILE      also write the figures as one JSON object
#   --store-parent  where the temp stores go (default $TMPDIR or /tmp)
# Ports: NameServer 19876, master 20911 (HA 20912), slave 20921 (HA 20922);
# BENCH_NS_PORT and BENCH_BROKER_PORT move them (slave = broker port + 10).
# Processes and stores are removed on exit, also on failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
count=900000
disk=0
out=""
store_parent="${TMPDIR:-/tmp}"
B=target/release
while [[ $# -gt 0 ]]; do
    case "$1" in
        --count) count="$2"; shift 2 ;;
        --disk) disk=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --store-parent) store_parent="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) B="$1"; shift ;;
    esac
done
for b in mqbroker mqbench mqadmin; do
    [[ -x "$B/$b" ]] || { echo "missing $B/$b" >&2; exit 1; }
done
unset NAMESRV_ADDR
ns="127.0.0.1:${BENCH_NS_PORT:-19876}"
m_port="${BENCH_BROKER_PORT:-20911}"
s_port=$(( m_port + 10 ))
master="127.0.0.1:$m_port"
work=$(mktemp -d "$store_parent/ferromq-catchup.XXXXXX")
pids=()
cleanup() {
    set +e
    local i
    for (( i=${#pids[@]}-1; i>=0; i-- )); do
        kill -TERM "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

RUST_LOG=warn "$B/mqbroker" --standalone --flush async --store-dir "$work/m" --listen "$master" \
    --ha-listen "127.0.0.1:$(( m_port + 1 ))" --namesrv-listen "$ns" -n "$ns" 2>"$work/m.log" &
pids+=($!)
up=0
for _ in $(seq 100); do
    "$B/mqadmin" -n "$ns" clusterList 2>/dev/null | grep -q ":$m_port" && { up=1; break; }
    sleep 0.1
done
[[ $up -eq 1 ]] || { echo "the master did not register within 10 s" >&2; cat "$work/m.log" >&2; exit 1; }
"$B/mqadmin" -n "$ns" updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null
"$B/mqbench" produce -n "$ns" -t AB --size 1024 --producers 4 --inflight 8 --batch 32 \
    --count "$count" --json >"$work/produce.json" 2>"$work/produce.err" \
    || { echo "mqbench failed:" >&2; cat "$work/produce.err" >&2; exit 1; }
# The log's end, and the master's flush up to it (haStatus's log_end is
# the flushed end, all a slave is served), before the slave starts.
end=$("$B/mqadmin" -n "$ns" brokerStatus -b "$master" | awk '/commit_log_max_offset/ {print $3}')
[[ -n "$end" ]] || { echo "no commit_log_max_offset in brokerStatus" >&2; exit 1; }
for _ in $(seq 100); do
    flushed=$("$B/mqadmin" -n "$ns" haStatus -b "$master" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['log_end'])")
    [[ "$flushed" -ge "$end" ]] && break
    sleep 0.05
done
start=$(date +%s.%N)
RUST_LOG=warn "$B/mqbroker" --broker-id 1 --flush async --store-dir "$work/s" --listen "127.0.0.1:$s_port" \
    --ha-listen "127.0.0.1:$(( s_port + 1 ))" -n "$ns" --master-addr "127.0.0.1:$(( m_port + 1 ))" \
    2>"$work/s.log" &
slave_pid=$!
pids+=("$slave_pid")
# Polls every 50 ms until the slave's flush covers the end; 10 minutes at most.
t=$(python3 - "$B/mqadmin" "$ns" "$master" "$end" "$start" "$slave_pid" <<'PY'
import json, os, subprocess, sys, time
adm, ns, master, end, start, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
while time.time() - start < 600:
    r = subprocess.run([adm, "-n", ns, "haStatus", "-b", master, "--json"], capture_output=True, text=True)
    if r.returncode == 0:
        s = json.loads(r.stdout)["slaves"]
        if s and s[0]["flushed"] >= end:
            print(f"{time.time() - start:.3f}")
            sys.exit(0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the slave exited")
    time.sleep(0.05)
sys.exit("the slave did not catch up within 600 s")
PY
) || { cat "$work/s.log" >&2; exit 1; }
disk_mb=null
if [[ $disk -eq 1 ]]; then
    # The brokers stay up but idle, as during the catch-up.
    disk_mb=$("$root/scripts/machine-limits.sh" --disk-only --dir "$store_parent")
fi
python3 - "$end" "$t" "$disk_mb" "$out" <<'PY'
import json, sys
end, t, disk, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
mb_s = end / t / 1e6
line = f"backlog bytes {end}, catch-up {t:.2f} s, {mb_s:.0f} MB/s"
r = {"backlog_bytes": end, "seconds": t, "mb_per_sec": round(mb_s, 1), "disk_mb_per_sec": None}
if disk != "null":
    r["disk_mb_per_sec"] = float(disk)
    line += f"; disk O_DIRECT sequential write right after {float(disk):.0f} MB/s, ratio {mb_s / float(disk):.2f}"
print(line)
if out:
    json.dump(r, open(out, "w"), indent=1)
PY
