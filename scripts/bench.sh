#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/PERFORMANCE.md on a standalone broker
# (1 KiB messages) and prints a summary with ratios to the machine's limits.
#
# Usage: scripts/bench.sh [--flush sync|async|both|none] [--quick] [--out DIR]
#                         [--bin-dir DIR] [--no-build] [--no-limits]
#                         [--store-parent DIR] [--secs N] [--drop-caches]
#                         [--replication loopback|netns|none]
#                         [--replication-runs N]
#   --flush         which broker flush mode(s) to run (default both; none:
#                   only the replication scenarios)
#   --quick         shorter runs and a 256 MiB backlog instead of 2 GiB
#   --out DIR       where results go (default target/bench/<timestamp>)
#   --bin-dir DIR   take mqbroker/mqbench/mqadmin from DIR (default
#                   target/release, built first unless --no-build)
#   --no-limits     reuse DIR/limits.json instead of measuring the machine
#   --store-parent  where the broker's temp store goes (default $TMPDIR or
#                   /tmp); put it on the disk you measure
#   --secs N        length of the duration-based runs (default 20)
#   --drop-caches   drop the page cache before the backlog consume (root;
#                   slows every other process on the machine for a while)
#   --replication loopback|netns|none
#                   where the replication scenarios put the slave (default
#                   loopback; netns: a network-namespace host, needs root),
#                   or none to skip them
#   --replication-runs N  rounds of the replication A/B (default 2, --quick 1)
#
# Scenarios (each writes DIR/<name>.json, mqbench's --json report):
#   async: produce-batched (2 GiB backlog by count, 4 producers x 8 in flight
#          x 32 per send), produce-batch256 (as much, 4 x 4 x 256; and
#          -long: sustained for --secs),
#          produce-batched-long (sustained, --secs x 2: ~28 GB at 700 MB/s,
#          about what this VM's disk has free),
#          consume-backlog (catch up from the start), e2e (5000 msg/s)
#   sync:  produce-64x1 (64 producers x 1 in flight; -shared: one producer,
#          -shared-noauto: one producer without automatic batching),
#          produce-8x8 (and -shared), produce-batched (as async),
#          produce-64x32 (64 producers x 1 in flight x 32), e2e (5000 msg/s)
#   replication (scripts/bench-replication.sh, into DIR/replication/): a
#          master alone, with a sync slave and with an async slave, both
#          flushing sync, alternated in each round: 4 x 8 x 32 and 64 x 1 x 1
#          for --secs / 2 (at least 5 s), the async slave's lag (haStatus
#          every 50 ms); then a new slave catching up a 1 GB backlog
#          (256 MiB with --quick) against the disk measured right after
#          (scripts/bench-catchup.sh)
# Ports: NameServer 127.0.0.1:19876, broker 127.0.0.1:20911 (override with
# BENCH_NS_PORT / BENCH_BROKER_PORT), so a developer's broker on the
# defaults is left alone.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
flush_modes=(async sync)
quick=0
out=""
bin_dir=""
build=1
limits=1
store_parent="${TMPDIR:-/tmp}"
secs=20
drop_caches=0
replication=loopback
rep_runs=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --flush) case "$2" in both) flush_modes=(async sync) ;; sync|async) flush_modes=("$2") ;;
                 none) flush_modes=() ;;
                 *) echo "--flush takes sync, async, both or none" >&2; exit 2 ;; esac; shift 2 ;;
        --quick) quick=1; secs=5; shift ;;
        --out) out="$2"; shift 2 ;;
        --bin-dir) bin_dir="$2"; build=0; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-limits) limits=0; shift ;;
        --store-parent) store_parent="$2"; shift 2 ;;
        --secs) secs="$2"; shift 2 ;;
        --drop-caches) drop_caches=1; shift ;;
        --replication) case "$2" in loopback|netns|none) replication="$2" ;;
                       *) echo "--replication takes loopback, netns or none" >&2; exit 2 ;; esac; shift 2 ;;
        --replication-runs) rep_runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

bin_dir="${bin_dir:-$root/target/release}"
out="${out:-$root/target/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
ns_port="${BENCH_NS_PORT:-19876}"
broker_port="${BENCH_BROKER_PORT:-20911}"
ns="127.0.0.1:$ns_port"
backlog_msgs=$(( quick ? 262144 : 2097152 ))   # 256 MiB or 2 GiB of 1 KiB bodies
unset NAMESRV_ADDR

log() { echo "[bench] $*" >&2; }

if [[ $build -eq 1 ]]; then
    log "building release binaries"
    (cd "$root" && cargo build --release --bin mqbroker --bin mqbench --bin mqadmin)
fi
for b in mqbroker mqbench mqadmin; do
    [[ -x "$bin_dir/$b" ]] || { echo "missing $bin_dir/$b" >&2; exit 1; }
done

if [[ $limits -eq 1 || ! -f "$out/limits.json" ]]; then
    log "measuring machine limits"
    "$root/scripts/machine-limits.sh" --dir "$store_parent" --out "$out/limits.json" \
        $([[ $quick -eq 1 ]] && echo --quick) | tee "$out/limits.txt"
fi

broker_pid=""
store=""
stop_broker() {
    if [[ -n "$broker_pid" ]]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
        broker_pid=""
    fi
    [[ -n "$store" ]] && rm -rf "$store"
    store=""
}
trap stop_broker EXIT

start_broker() {
    local flush="$1"; shift
    store="$(mktemp -d "$store_parent/ferromq-bench-store.XXXXXX")"
    RUST_LOG=warn "$bin_dir/mqbroker" --standalone --flush "$flush" --store-dir "$store" \
        --listen "127.0.0.1:$broker_port" --namesrv-listen "$ns" -n "$ns" "$@" \
        2>>"$out/broker-$flush.log" &
    broker_pid=$!
    for _ in $(seq 100); do
        if "$bin_dir/mqadmin" -n "$ns" clusterList 2>/dev/null | grep -q "$broker_port"; then
            log "broker up ($flush flush, pid $broker_pid, store $store)"
            return
        fi
        kill -0 "$broker_pid" 2>/dev/null || { cat "$out/broker-$flush.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "broker did not register within 10 s" >&2
    exit 1
}

# CPU seconds (user + system) the broker has used so far.
broker_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$broker_pid/stat"
}

# run NAME MQBENCH-ARGS…: runs mqbench with --json into $out/NAME.json and
# records wall/CPU time of mqbench and the broker in $out/NAME.cpu.
run() {
    local name="$1"; shift
    log "$name: mqbench $*"
    local before after
    before=$(broker_cpu)
    local TIMEFORMAT="%R %U %S"
    { time "$bin_dir/mqbench" "$@" -n "$ns" --json >"$out/$name.json" 2>"$out/$name.err"; } \
        2>"$out/$name.time" || log "$name: mqbench exited non-zero (see $out/$name.err)"
    after=$(broker_cpu)
    read -r wall user sys <"$out/$name.time"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v b="$before" -v a="$after" \
        'BEGIN { printf "{\"wall\": %s, \"bench_cpu\": %.2f, \"broker_cpu\": %.2f}\n", w, u + s, a - b }' \
        >"$out/$name.cpu"
    cat "$out/$name.json" >&2
}

# The disk's O_DIRECT write figure moves by tens of per cent within minutes
# on a shared machine, so each produce scenario that is rated against the
# disk gets its own figures, taken just before and just after it:
# disk_run NAME MQBENCH-ARGS… writes $out/NAME.disk ({"before", "after"}).
disk_now() {
    "$root/scripts/machine-limits.sh" --disk-only --dir "$store_parent"
}
disk_run() {
    local name="$1" before after
    before=$(disk_now)
    run "$@"
    after=$(disk_now)
    log "$name: disk before $before MB/s, after $after MB/s"
    echo "{\"before\": $before, \"after\": $after}" >"$out/$name.disk"
}

# Other work on the machine skews every figure: keep the load with the results.
cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg-start"
# A fresh broker and store: every scenario starts from an empty store, so
# what earlier runs wrote neither fills the disk (a 60 s run alone can
# write 40 GB) nor changes what the next one measures.
fresh_broker() {
    stop_broker
    start_broker "$@"
    "$bin_dir/mqadmin" -n "$ns" updateTopic -t BenchTopic -c DefaultCluster -r 8 -w 8 >/dev/null
}

for flush in "${flush_modes[@]}"; do
    fresh_broker "$flush"
    if [[ "$flush" == async ]]; then
        "$bin_dir/mqadmin" -n "$ns" updateTopic -t BenchBacklog -c DefaultCluster -r 8 -w 8 >/dev/null
        disk_run async-produce-batched produce -t BenchBacklog --count "$backlog_msgs" \
            --producers 4 --inflight 8 --batch 32 --warmup 1
        if [[ $drop_caches -eq 1 ]]; then
            sync; echo 3 >/proc/sys/vm/drop_caches
        fi
        run async-consume-backlog consume -t BenchBacklog -g "bench-$(date +%s)" \
            --from-beginning --count "$backlog_msgs" --pull-batch 256
        # Segments expire at once, so past 75 % disk usage retention deletes
        # behind the producer, as on a broker in steady state; without it a
        # run longer than the free disk ends in DiskFull answers.
        fresh_broker async --file-reserved-hours 0
        disk_run async-produce-batched-long produce -t BenchTopic --duration $(( secs * 2 )) \
            --producers 4 --inflight 8 --batch 32
        # The same amount in sends of 256 messages (4 producers x 4 in
        # flight): the per-request costs spread over more messages.
        fresh_broker async
        disk_run async-produce-batch256 produce -t BenchTopic --count "$backlog_msgs" \
            --producers 4 --inflight 4 --batch 256 --warmup 1
        fresh_broker async --file-reserved-hours 0
        disk_run async-produce-batch256-long produce -t BenchTopic --duration "$secs" \
            --producers 4 --inflight 4 --batch 256
        # The async twin of sync-produce-64x32: the same workload, so the
        # sync/async ratio measures the flush and nothing else.
        fresh_broker async
        run async-produce-64x32 produce -t BenchTopic --duration "$secs" \
            --producers 64 --inflight 1 --batch 32 --warmup 1
        fresh_broker async
        run async-e2e e2e -t BenchTopic --rate 5000 --duration "$secs"
    else
        # 64 producers as 64 processes would be (a connection each), and as
        # 64 threads of one process sharing its producer (one connection;
        # the producer batches their concurrent sends unless told not to).
        run sync-produce-64x1 produce -t BenchTopic --duration "$secs" --producers 64 --inflight 1 --warmup 1
        fresh_broker sync
        run sync-produce-64x1-shared produce -t BenchTopic --duration "$secs" --producers 64 --inflight 1 \
            --shared-client --warmup 1
        fresh_broker sync
        run sync-produce-64x1-shared-noauto produce -t BenchTopic --duration "$secs" --producers 64 \
            --inflight 1 --shared-client --no-auto-batch --warmup 1
        fresh_broker sync
        run sync-produce-8x8 produce -t BenchTopic --duration "$secs" --producers 8 --inflight 8 --warmup 1
        fresh_broker sync
        run sync-produce-8x8-shared produce -t BenchTopic --duration "$secs" --producers 8 --inflight 8 \
            --shared-client --warmup 1
        fresh_broker sync
        run sync-produce-batched produce -t BenchTopic --duration "$secs" \
            --producers 4 --inflight 8 --batch 32 --warmup 1
        fresh_broker sync
        run sync-produce-64x32 produce -t BenchTopic --duration "$secs" \
            --producers 64 --inflight 1 --batch 32 --warmup 1
        # The sync twin of async-produce-batch256 (same sends, same count).
        fresh_broker sync
        run sync-produce-batch256 produce -t BenchTopic --count "$backlog_msgs" \
            --producers 4 --inflight 4 --batch 256 --warmup 1
        fresh_broker sync
        run sync-e2e e2e -t BenchTopic --rate 5000 --duration "$secs"
    fi
    stop_broker
done

# Replication: the same master alone, with a sync slave, with an async
# slave, alternated within each round (the ratios to alone are taken
# within a round), then a new slave's catch-up.
if [[ "$replication" != none ]]; then
    rep_dir="$out/replication"
    mkdir -p "$rep_dir"
    rep_runs="${rep_runs:-$(( quick ? 1 : 2 ))}"
    rep_secs=$(( secs / 2 > 5 ? secs / 2 : 5 ))
    for r in $(seq "$rep_runs"); do
        for wl in batched 64x1; do
            if [[ $wl == batched ]]; then wargs=(--producers 4 --inflight 8 --batch 32)
            else wargs=(--producers 64 --inflight 1 --batch 1); fi
            for mode in alone sync async; do
                name="$wl-$mode-r$r"
                log "replication $name: mqbench produce ${wargs[*]} --duration $rep_secs (slave: $replication)"
                "$root/scripts/bench-replication.sh" --slave-host "$replication" --out "$rep_dir/$name" \
                    --store-parent "$store_parent" "$mode" "$bin_dir" -- produce --size 1024 "${wargs[@]}" \
                    --duration "$rep_secs" >"$rep_dir/$name.txt" 2>&1 \
                    || log "replication $name failed (see $rep_dir/$name.txt)"
                cat "$rep_dir/$name.txt" >&2
            done
        done
    done
    log "replication catch-up"
    "$root/scripts/bench-catchup.sh" --disk --out "$rep_dir/catchup.json" --store-parent "$store_parent" \
        --count $(( quick ? 230000 : 900000 )) "$bin_dir" >"$rep_dir/catchup.txt" 2>&1 \
        || log "catch-up failed (see $rep_dir/catchup.txt)"
    cat "$rep_dir/catchup.txt" >&2
fi

cut -d' ' -f1-3 /proc/loadavg >"$out/loadavg-end"
python3 "$root/scripts/bench-summary.py" "$out" | tee "$out/summary.md"
if [[ -d "$out/replication" ]]; then
    python3 - "$out/replication" "$replication" <<'PY' | tee -a "$out/summary.md"
import json, statistics, sys
from pathlib import Path
d, host = Path(sys.argv[1]), sys.argv[2]
def load(name):
    f = d / name / "result.json"
    return json.loads(f.read_text()) if f.exists() else None
rounds = sorted({p.name.rsplit("-r", 1)[1] for p in d.iterdir() if p.is_dir()}, key=int)
print(f"\n### Replication (master + one slave on {host}, both flushing sync)\n")
print("Each round runs the three modes back to back; ratios are to the same round's alone.\n")
print("| workload | round | alone msgs/s | sync msgs/s | sync / alone | async msgs/s | async / alone | "
      "errors | p99 µs alone / sync / async |")
print("|---|---|---|---|---|---|---|---|---|")
ratios = {}
for wl, label in (("batched", "4 x 8 x 32"), ("64x1", "64 x 1 x 1")):
    for r in rounds:
        res = {m: load(f"{wl}-{m}-r{r}") for m in ("alone", "sync", "async")}
        if not res["alone"]:
            print(f"| {label} | {r} | failed | | | | | | |")
            continue
        a = res["alone"]["msgs_per_sec"]
        cells, p99 = [], []
        for m in ("sync", "async"):
            if res[m]:
                v = res[m]["msgs_per_sec"]
                ratios.setdefault((wl, m), []).append(v / a)
                cells += [f"{v:,.0f}", f"{v / a:.2f}"]
            else:
                cells += ["failed", ""]
        errors = sum(x["errors"] for x in res.values() if x)
        p99 = " / ".join(f"{x['latency_us']['p99']:,}" if x else "–" for x in res.values())
        print(f"| {label} | {r} | {a:,.0f} | {' | '.join(cells)} | {errors} | {p99} |")
print()
print("| target | measured (per round) | verdict |\n|---|---|---|")
for (wl, m, goal) in (("batched", "sync", 0.70), ("64x1", "sync", 0.60)):
    v = ratios.get((wl, m))
    if v:
        mean = statistics.mean(v)
        print(f"| {m} / alone, {wl}, ≥ {goal:.2f} | {', '.join(f'{x:.2f}' for x in v)} (mean {mean:.2f}) | "
              f"{'met' if mean >= goal else 'not met'} |")
print()
print("Async loss window: the slave's lag during the async runs (haStatus every 50 ms; "
      "lag_bytes = the master's flushed end minus the slave's flush; lag_ms = ms since the "
      "slave was last caught up at a fetch).\n")
print("| run | samples | lag_bytes p50 / p99 / max | lag_ms p50 / p99 / max | master log MB/s | "
      "lag_bytes p99 as ms of it | caught up after the run |")
print("|---|---|---|---|---|---|---|")
for p in sorted(d.glob("*-async-r*/result.json")):
    x = json.loads(p.read_text())
    l = x.get("lag")
    if not l:
        continue
    print(f"| {p.parent.name} | {x['samples']} | {l['lag_bytes']['p50']:,} / {l['lag_bytes']['p99']:,} / "
          f"{l['lag_bytes']['max']:,} | {l['lag_ms']['p50']} / {l['lag_ms']['p99']} / {l['lag_ms']['max']} | "
          f"{l['master_log_mb_per_sec']} | {l['lag_bytes_p99_as_ms']} | {x['drain_s']} s |")
c = d / "catchup.json"
if c.exists():
    x = json.loads(c.read_text())
    disk = x.get("disk_mb_per_sec")
    ratio = f", {x['mb_per_sec'] / disk:.2f} x the disk's O_DIRECT sequential write ({disk:.0f} MB/s, right after)" if disk else ""
    print(f"\nCatch-up of a new slave: {x['backlog_bytes']:,} bytes in {x['seconds']:.2f} s = "
          f"{x['mb_per_sec']:.0f} MB/s{ratio}.")
PY
fi
log "results in $out"
