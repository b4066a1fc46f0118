#!/usr/bin/env bash
# Where does the time go in one mqbench scenario? Starts a standalone broker
# on a temp store, runs mqbench with the given arguments, and while it runs:
#   * counts the broker's syscalls and context switches per message
#     (perf stat tracepoints), and
#   * samples the broker and mqbench with call graphs (perf record), then
#     prints the hottest symbols of each and the syscalls they sit under.
#
# Usage: scripts/profile.sh [--flush sync|async] [--bin-dir DIR] [--secs N]
#                           -- MQBENCH-ARGS…
#   e.g. scripts/profile.sh --flush sync -- produce --producers 64 --inflight 1
# MQBENCH-ARGS must not contain -n, -t or a stop condition: the script adds
# `-n <its NameServer> -t Profile --duration N+4` (N = --secs, default 6;
# sampling starts after 2 s). Needs perf (linux-perf) and root or
# perf_event_paranoid <= 1. Output and perf data go to target/profile/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
flush=sync
bin_dir="$root/target/release"
secs=6
while [[ $# -gt 0 ]]; do
    case "$1" in
        --flush) flush="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --secs) secs="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (mqbench arguments go after --)" >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "give the mqbench arguments after --" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

out="$root/target/profile/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
ns="127.0.0.1:${BENCH_NS_PORT:-19876}"
unset NAMESRV_ADDR
store="$(mktemp -d "${TMPDIR:-/tmp}/ferromq-profile-store.XXXXXX")"
broker_pid=""
cleanup() {
    [[ -n "$broker_pid" ]] && { kill -TERM "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; } || true
    rm -rf "$store"
}
trap cleanup EXIT

RUST_LOG=warn "$bin_dir/mqbroker" --standalone --flush "$flush" --store-dir "$store" \
    --listen "127.0.0.1:${BENCH_BROKER_PORT:-20911}" --namesrv-listen "$ns" -n "$ns" ${BROKER_ARGS:-} 2>"$out/broker.log" &
broker_pid=$!
for _ in $(seq 100); do
    "$bin_dir/mqadmin" -n "$ns" clusterList 2>/dev/null | grep -q DefaultCluster && break
    sleep 0.1
done
"$bin_dir/mqadmin" -n "$ns" updateTopic -t Profile -c DefaultCluster -r 8 -w 8 >/dev/null

"$bin_dir/mqbench" "$@" -n "$ns" -t Profile --duration $(( secs + 4 )) --json >"$out/report.json" &
bench_pid=$!
sleep 2
events=context-switches
for s in fdatasync pwrite64 writev write recvfrom read futex epoll_wait sendto; do
    events+=",syscalls:sys_enter_$s"
done
perf stat -x, -e "$events" -p "$broker_pid" -o "$out/broker-syscalls.csv" -- sleep "$secs" &
stat_pid=$!
perf record -F 499 --call-graph dwarf,16384 -p "$broker_pid" -o "$out/broker.perf" -- sleep "$secs" \
    >/dev/null 2>&1 &
perf record -F 499 --call-graph dwarf,16384 -p "$bench_pid" -o "$out/bench.perf" -- sleep "$secs" \
    >/dev/null 2>&1 || true
wait "$stat_pid" || true
wait "$bench_pid" || true
sleep 1

python3 - "$out" "$secs" <<'EOF'
import csv, json, sys
out, secs = sys.argv[1], float(sys.argv[2])
r = json.load(open(f"{out}/report.json"))
msgs = r["msgs_per_sec"] * secs
print(f"mqbench: {r['msgs_per_sec']:,.0f} msgs/s, latency p50 {r['latency_us']['p50']} µs, "
      f"p99 {r['latency_us']['p99']} µs ({r['errors']} errors)")
print(f"broker, per message over {secs:.0f} s (~{msgs:,.0f} messages):")
for row in csv.reader(open(f"{out}/broker-syscalls.csv")):
    if len(row) > 2 and row[0].strip().replace('.', '').isdigit():
        name = row[2].replace("syscalls:sys_enter_", "")
        print(f"  {name:18} {float(row[0]) / max(msgs, 1):8.3f}")
EOF
for who in broker bench; do
    echo "== $who: hottest symbols (self time)"
    perf report -i "$out/$who.perf" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -15 | cut -c1-150
    echo "== $who: time under each syscall (children)"
    perf report -i "$out/$who.perf" --children --sort symbol --stdio -g none 2>/dev/null \
        | grep -E '__x64_sys_' | awk '{print "  " $1, $4}' | head -10
done
echo "data in $out"
