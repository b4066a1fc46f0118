#!/usr/bin/env bash
# One mqbench run against a master broker alone, or with one slave that
# replicates it (sync or async): the A/B of replication's price in
# docs/PERFORMANCE.md. Alternate the modes several times.
#
# Usage: scripts/bench-replication.sh [OPTIONS] alone|sync|async [BIN-DIR] -- MQBENCH-ARGS…
#   e.g. scripts/bench-replication.sh async -- produce --size 1024 \
#          --producers 4 --inflight 8 --batch 32 --duration 10
# Options:
#   --slave-host loopback|netns  where the slave runs (default loopback):
#                   netns puts it on a host of its own, a network namespace
#                   joined to this one by a veth pair (10.199.X.0/24, the
#                   master at .1, the slave at .2); needs root and iproute2.
#                   Master, NameServer and mqbench stay here.
#   --no-lag        do not sample the master's haStatus during the run
#   --lag-interval-ms N   sampling period (default 50)
#   --out DIR       keep mqbench's report (bench.json), the haStatus samples
#                   (lag.jsonl), the final haStatus and a summary
#                   (result.json) in DIR
#   --store-parent DIR    where the temp stores go (default $TMPDIR or /tmp)
#
# MQBENCH-ARGS must not contain -n or -t (topic AB, 8 queues). Both brokers
# flush sync; `sync` runs the master with --replication sync (2 in-sync
# replicas). While mqbench runs, `mqadmin haStatus --json` is sampled every
# 50 ms in every mode (alone too, so all modes carry the same sampling
# load, ~2.5 ms of CPU per sample); with a slave the script prints the
# slave's lag_bytes and lag_ms (p50, p99, max over the samples), the
# master's log rate during the samples, lag_bytes p99 as milliseconds of
# that rate, and how long the slave took to catch up after the run.
# Samples during mqbench's --warmup are left out of the figures.
# Prints: mode, msgs/s, errors, p99 µs, CPU seconds of master and slave and
# the machine's busy and iowait share during the run, the lag line, the
# final haStatus.
# Ports: NameServer 19876, master 20911 (HA 20912), slave 20921 (HA 20922);
# BENCH_NS_PORT and BENCH_BROKER_PORT move them (slave = broker port + 10).
# Processes, stores and the namespace are removed on exit, also on failure.
set -euo pipefail

usage() { sed -n '2,36p' "$0" >&2; }
slave_host=loopback
lag=1
interval_ms=50
out=""
store_parent="${TMPDIR:-/tmp}"
while [[ $# -gt 0 && "$1" == --* && "$1" != "--" ]]; do
    case "$1" in
        --slave-host) case "$2" in loopback|netns) slave_host="$2" ;;
                      *) echo "--slave-host takes loopback or netns" >&2; exit 2 ;; esac; shift 2 ;;
        --no-lag) lag=0; shift ;;
        --lag-interval-ms) interval_ms="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --store-parent) store_parent="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage; exit 2 ;;
    esac
done
mode="${1:-}"
case "$mode" in alone|sync|async) shift ;; *) usage; exit 2 ;; esac
bin="target/release"
if [[ $# -gt 0 && "$1" != "--" ]]; then bin="$1"; shift; fi
[[ "${1:-}" == "--" ]] || { usage; exit 2; }
shift
for b in mqbroker mqbench mqadmin; do
    [[ -x "$bin/$b" ]] || { echo "missing $bin/$b" >&2; exit 1; }
done
unset NAMESRV_ADDR

ns_port="${BENCH_NS_PORT:-19876}"
m_port="${BENCH_BROKER_PORT:-20911}"
s_port=$(( m_port + 10 ))
work=$(mktemp -d "$store_parent/ferromq-rep.XXXXXX")
pids=()
sampler=""
bench_pid=""
netns=""
veth=""

# SIGTERM, SIGKILL if it is still there after 20 s; waits for it.
stop_pid() {
    local p="$1" _
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 200); do
        # Gone, or a zombie waiting for `wait`.
        [[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)" == Z ]] && break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    set +e
    [[ -n "$bench_pid" ]] && stop_pid "$bench_pid"
    if [[ -n "$sampler" ]]; then kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; fi
    # Slave first, so the master does not wait for it on the way out.
    local i
    for (( i=${#pids[@]}-1; i>=0; i-- )); do stop_pid "${pids[$i]}"; done
    if [[ -n "$netns" ]]; then
        for p in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip link del "$veth" 2>/dev/null
        ip netns del "$netns" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

master_ip=127.0.0.1
slave_ip=127.0.0.1
slave_cmd=()
if [[ "$slave_host" == netns && "$mode" != alone ]]; then
    command -v ip >/dev/null || { echo "--slave-host netns needs iproute2 (ip)" >&2; exit 1; }
    # A /24 in 10.199.0.0/16 that no interface here uses (the tests'
    # namespace hosts take 10.200.X.0/24).
    octet=""
    for k in $(seq 0 254); do
        x=$(( ($$ + k) % 254 + 1 ))
        if ! ip -4 addr show | grep -q "inet 10\.199\.$x\."; then octet=$x; break; fi
    done
    [[ -n "$octet" ]] || { echo "no free /24 in 10.199.0.0/16" >&2; exit 1; }
    netns="fqbench-$$"
    veth="fqb$$"
    ip netns add "$netns"
    ip link add "$veth" type veth peer name eth0 netns "$netns"
    ip addr add "10.199.$octet.1/24" dev "$veth"
    ip link set "$veth" up
    ip -n "$netns" addr add "10.199.$octet.2/24" dev eth0
    ip -n "$netns" link set lo up
    ip -n "$netns" link set eth0 up
    master_ip="10.199.$octet.1"
    slave_ip="10.199.$octet.2"
    slave_cmd=(ip netns exec "$netns")
fi
ns="$master_ip:$ns_port"
master="$master_ip:$m_port"

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }

rep=()
[[ "$mode" == sync ]] && rep=(--replication sync)
RUST_LOG=warn "$bin/mqbroker" --standalone --flush sync --store-dir "$work/master" \
    --listen "$master" --ha-listen "$master_ip:$(( m_port + 1 ))" --namesrv-listen "$ns" -n "$ns" \
    "${rep[@]}" 2>"$work/master.log" &
master_pid=$!
pids+=("$master_pid")
up=0
for _ in $(seq 100); do
    if "$bin/mqadmin" -n "$ns" clusterList 2>/dev/null | grep -q ":$m_port"; then up=1; break; fi
    kill -0 "$master_pid" 2>/dev/null || break
    sleep 0.1
done
[[ $up -eq 1 ]] || { echo "the master did not register within 10 s" >&2; cat "$work/master.log" >&2; exit 1; }
slave_pid=""
if [[ "$mode" != alone ]]; then
    RUST_LOG=warn "${slave_cmd[@]}" "$bin/mqbroker" --broker-id 1 --flush sync --store-dir "$work/slave" \
        --listen "$slave_ip:$s_port" --ha-listen "$slave_ip:$(( s_port + 1 ))" -n "$ns" \
        --master-addr "$master_ip:$(( m_port + 1 ))" 2>"$work/slave.log" &
    slave_pid=$!
    pids+=("$slave_pid")
    up=0
    for _ in $(seq 200); do
        if "$bin/mqadmin" -n "$ns" haStatus -b "$master" 2>/dev/null | grep -q ' true$'; then up=1; break; fi
        kill -0 "$slave_pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ $up -eq 1 ]] || { echo "the slave was not in sync within 20 s" >&2; cat "$work/slave.log" >&2; exit 1; }
fi
"$bin/mqadmin" -n "$ns" updateTopic -t AB -c DefaultCluster -r 8 -w 8 >/dev/null

if [[ $lag -eq 1 ]]; then
    # Samples on a fixed schedule (a late sample does not shift the next);
    # each line is haStatus's JSON with "t", seconds since the first.
    python3 - "$bin/mqadmin" "$ns" "$master" "$interval_ms" "$work/lag.jsonl" <<'PY' &
import json, subprocess, sys, time
adm, ns, addr, iv, path = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]) / 1000, sys.argv[5]
t0 = time.monotonic()
k = 0
with open(path, "w") as f:
    while True:
        t = time.monotonic()
        r = subprocess.run([adm, "-n", ns, "haStatus", "-b", addr, "--json"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            j = json.loads(r.stdout)
            j["t"] = round(t - t0, 4)
            f.write(json.dumps(j) + "\n")
            f.flush()
        k = max(k + 1, int((time.monotonic() - t0) / iv))
        time.sleep(max(0.0, t0 + k * iv - time.monotonic()))
PY
    sampler=$!
fi
# mqbench's --warmup seconds are not measured: neither are their samples.
warmup=0
prev=""
for a in "$@"; do
    [[ "$prev" == --warmup ]] && warmup="$a"
    [[ "$a" == --warmup=* ]] && warmup="${a#--warmup=}"
    prev="$a"
done
m_cpu0=$(cpu_of "$master_pid")
s_cpu0=0; [[ -n "$slave_pid" ]] && s_cpu0=$(cpu_of "$slave_pid")
stat0=$(head -1 /proc/stat)
rc=0
# In the background, so that a signal ends the run at once (bash runs a
# trap during `wait`, but only after a foreground command).
"$bin/mqbench" "$@" -n "$ns" -t AB --json 2>"$work/bench.err" >"$work/bench.json" &
bench_pid=$!
wait "$bench_pid" || rc=$?
bench_pid=""
stat1=$(head -1 /proc/stat)
m_cpu1=$(cpu_of "$master_pid")
s_cpu1=0; [[ -n "$slave_pid" ]] && s_cpu1=$(cpu_of "$slave_pid")
if [[ -n "$sampler" ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=""; fi
if [[ $rc -ne 0 ]]; then
    echo "mqbench exited $rc:" >&2; cat "$work/bench.err" >&2; exit 1
fi

# After the run: how long until the slave's flush covers the master's end.
drain_s=null
if [[ "$mode" != alone ]]; then
    drain_s=$(python3 - "$bin/mqadmin" "$ns" "$master" <<'PY'
import json, subprocess, sys, time
t0 = time.monotonic()
while time.monotonic() - t0 < 60:
    r = subprocess.run([sys.argv[1], "-n", sys.argv[2], "haStatus", "-b", sys.argv[3], "--json"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        j = json.loads(r.stdout)
        if j["slaves"] and j["slaves"][0]["flushed"] >= j["log_end"]:
            print(f"{time.monotonic() - t0:.3f}")
            sys.exit(0)
    time.sleep(0.01)
print("null")
PY
)
    "$bin/mqadmin" -n "$ns" haStatus -b "$master" --json >"$work/hastatus.json"
fi

python3 - "$mode" "$slave_host" "$work" "$interval_ms" "$drain_s" \
    "$m_cpu0" "$m_cpu1" "$s_cpu0" "$s_cpu1" "$warmup" "$stat0" "$stat1" <<'PY'
import json, math, os, sys
mode, host, work, iv, drain = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
m0, m1, s0, s1, warmup = map(float, sys.argv[6:11])
# The machine's CPU time during the run (/proc/stat: user nice system idle
# iowait irq softirq steal): busy = all but idle and iowait.
st = [[int(x) for x in line.split()[1:9]] for line in sys.argv[11:13]]
d = [b - a for a, b in zip(*st)]
total = sum(d) or 1
busy_pct = round(100 * (total - d[3] - d[4]) / total)
iowait_pct = round(100 * d[4] / total)
b = json.load(open(os.path.join(work, "bench.json")))
res = {"mode": mode, "slave_host": host if mode != "alone" else None,
       "msgs_per_sec": b["msgs_per_sec"], "errors": b["errors"], "latency_us": b["latency_us"],
       "master_cpu_s": round(m1 - m0, 2), "slave_cpu_s": round(s1 - s0, 2) if mode != "alone" else None,
       "drain_s": None if drain == "null" else float(drain),
       "machine_busy_pct": busy_pct, "machine_iowait_pct": iowait_pct}
print(mode, int(b["msgs_per_sec"]), "errors", b["errors"], "p99", b["latency_us"]["p99"],
      "cpu s master", res["master_cpu_s"], "slave", res["slave_cpu_s"],
      f"machine busy {busy_pct} % iowait {iowait_pct} %")

def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]

path = os.path.join(work, "lag.jsonl")
samples = []
if os.path.exists(path):
    for line in open(path):
        try:
            samples.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # the last line, cut by the kill
samples = [s for s in samples if s["t"] >= warmup]
with_slave = [s for s in samples if s["slaves"]]
res["samples"] = len(samples)
if with_slave:
    lb = [s["slaves"][0]["lag_bytes"] for s in with_slave]
    lm = [s["slaves"][0]["lag_ms"] for s in with_slave]
    out_of_sync = sum(1 for s in with_slave if not s["slaves"][0]["in_sync"])
    first, last = with_slave[0], with_slave[-1]
    dt = last["t"] - first["t"]
    rate = (last["log_end"] - first["log_end"]) / dt if dt > 0 else 0.0
    res["lag"] = {
        "lag_bytes": {"p50": pct(lb, 50), "p99": pct(lb, 99), "max": max(lb)},
        "lag_ms": {"p50": pct(lm, 50), "p99": pct(lm, 99), "max": max(lm)},
        "master_log_mb_per_sec": round(rate / 1e6, 1),
        "lag_bytes_p99_as_ms": round(pct(lb, 99) / rate * 1000, 2) if rate > 0 else None,
        "lag_bytes_max_as_ms": round(max(lb) / rate * 1000, 2) if rate > 0 else None,
        "samples_out_of_sync": out_of_sync,
    }
    l = res["lag"]
    print(f"{mode} lag_bytes p50 {l['lag_bytes']['p50']} p99 {l['lag_bytes']['p99']} "
          f"max {l['lag_bytes']['max']} | lag_ms p50 {l['lag_ms']['p50']} p99 {l['lag_ms']['p99']} "
          f"max {l['lag_ms']['max']} | {len(with_slave)} samples every {iv} ms, master log "
          f"{l['master_log_mb_per_sec']} MB/s, lag_bytes p99 = {l['lag_bytes_p99_as_ms']} ms "
          f"(max {l['lag_bytes_max_as_ms']} ms) of it, out of sync in {out_of_sync} | "
          f"caught up {res['drain_s']} s after the run")
json.dump(res, open(os.path.join(work, "result.json"), "w"), indent=1)
PY
if [[ -n "$out" ]]; then
    mkdir -p "$out"
    for f in bench.json bench.err lag.jsonl hastatus.json result.json master.log slave.log; do
        [[ -f "$work/$f" ]] && cp "$work/$f" "$out/"
    done
fi
[[ "$mode" != alone ]] && "$bin/mqadmin" -n "$ns" haStatus -b "$master"
exit 0
