#!/usr/bin/env bash
# Automatic failover, measured: three controller nodes (in NameServers),
# one broker group of three replicas in controller mode with sync
# replication, all on loopback. For each kill: an mqbench run, kill -9 of
# the master, the time until a fresh client's send is acknowledged (by the
# new master), an mqbench run on the group of two, the old master started
# again, an mqbench run once it is back in the in-sync set.
#
# Usage: scripts/bench-failover.sh [--kills N] [BIN-DIR] -- MQBENCH-ARGS…
#   e.g. scripts/bench-failover.sh --kills 5 -- produce --size 1024 \
#          --producers 4 --inflight 8 --batch 32 --duration 10
# MQBENCH-ARGS must not contain -n or -t (topic AB, 8 queues).
# Prints one line per kill and a summary: time to the first acknowledged
# send after the kill (median, max), throughput before / after / after
# the old master rejoined, and the ratios.
# Ports: NameServers 19876-19878, controllers 19976-19978, brokers 20911,
# 20921, 20931 (HA port + 1). Everything is removed on exit.
set -euo pipefail

kills=3
while [[ $# -gt 0 && "$1" == --* && "$1" != "--" ]]; do
    case "$1" in
        --kills) kills="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" >&2; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
bin="target/release"
if [[ $# -gt 0 && "$1" != "--" ]]; then bin="$1"; shift; fi
[[ "${1:-}" == "--" ]] || { sed -n '2,17p' "$0" >&2; exit 2; }
shift
for b in mqbroker mqnamesrv mqbench mqadmin; do
    [[ -x "$bin/$b" ]] || { echo "missing $bin/$b" >&2; exit 1; }
done
unset NAMESRV_ADDR

work=$(mktemp -d "${TMPDIR:-/tmp}/ferromq-failover.XXXXXX")
declare -A broker_pid=()
ctl_pids=()
cleanup() {
    set +e
    for p in "${broker_pid[@]}" "${ctl_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ns_list="127.0.0.1:19876;127.0.0.1:19877;127.0.0.1:19878"
ctl_list="127.0.0.1:19976;127.0.0.1:19977;127.0.0.1:19978"
peers="1-127.0.0.1:19976;2-127.0.0.1:19977;3-127.0.0.1:19978"
for i in 1 2 3; do
    RUST_LOG=warn "$bin/mqnamesrv" --listen "127.0.0.1:$((19875 + i))" --controller \
        --controller-id "$i" --controller-peers "$peers" --controller-dir "$work/ctl$i" \
        2>"$work/ctl$i.log" &
    ctl_pids+=($!)
done

start_broker() {
    local i="$1" port=$((20901 + 10 * $1))
    RUST_LOG=warn "$bin/mqbroker" --listen "127.0.0.1:$port" -n "$ns_list" \
        --broker-name broker-a --store-dir "$work/b$i" --controller-addr "$ctl_list" \
        --replication sync --flush sync --register-interval-ms 1000 2>>"$work/b$i.log" &
    broker_pid[$i]=$!
}

# The group as the controller has it, as JSON (empty when unknown).
group() { "$bin/mqadmin" getSyncStateSet -a "$ctl_list" -b broker-a --json 2>/dev/null || true; }

# Waits until the group's JSON satisfies a Python expression over `g`.
wait_group() {
    local what="$1" expr="$2" j
    for _ in $(seq 600); do
        j=$(group)
        if [[ -n "$j" ]] && python3 -c "import json,sys; g=json.loads(sys.argv[1]); sys.exit(0 if ($expr) else 1)" "$j" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for: $what" >&2
    exit 1
}

master_index() {
    group | python3 -c "import json,sys; g=json.load(sys.stdin); m=g['group']['master']; print((int(m['addr'].rsplit(':',1)[1]) - 20901) // 10)"
}

bench() {
    "$bin/mqbench" "$@" -n "$ns_list" -t AB --json 2>>"$work/bench.err" \
        | python3 -c "import json,sys; print(int(json.load(sys.stdin)['msgs_per_sec']))"
}

start_broker 1
wait_group "broker 1 master" "g['group']['master'] is not None"
start_broker 2
start_broker 3
wait_group "three replicas in sync" "len(g['group']['sync_state_set']) == 3"
for _ in $(seq 100); do
    "$bin/mqadmin" -n "$ns_list" updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null 2>&1 && break
    sleep 0.1
done

results=()
for k in $(seq "$kills"); do
    wait_group "three replicas in sync" "len(g['group']['sync_state_set']) == 3"
    before=$(bench "$@")
    m=$(master_index)
    epoch=$(group | python3 -c "import json,sys; print(json.load(sys.stdin)['group']['epoch'])")
    t0=$(date +%s.%N)
    kill -KILL "${broker_pid[$m]}"
    wait "${broker_pid[$m]}" 2>/dev/null || true
    # A fresh client each try, as a restarted application would be.
    until "$bin/mqbench" produce -n "$ns_list" -t AB --count 1 --size 64 >/dev/null 2>&1; do :; done
    t1=$(date +%s.%N)
    wait_group "a new master with its slave in sync" \
        "g['group']['epoch'] == $epoch + 1 and len(g['group']['sync_state_set']) == 2"
    after=$(bench "$@")
    start_broker "$m"
    wait_group "the old master back in sync" "len(g['group']['sync_state_set']) == 3"
    rejoined=$(bench "$@")
    outage=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    echo "kill $k: master broker $m, first acknowledged send after ${outage} s; msgs/s before $before, after $after (2 replicas), rejoined $rejoined (3 replicas)"
    results+=("$outage $before $after $rejoined")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
out = sorted(r[0] for r in rows)
print(f"{len(rows)} kills: first acknowledged send after a kill: median {statistics.median(out):.2f} s, max {out[-1]:.2f} s")
for i, name in ((2, "after (2 replicas)"), (3, "rejoined (3 replicas)")):
    ratios = [r[i] / r[1] for r in rows]
    print(f"{name} / before: " + " ".join(f"{x:.2f}" for x in ratios) + f" (mean {statistics.mean(ratios):.2f})")
'
