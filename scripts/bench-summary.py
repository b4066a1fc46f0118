#!/usr/bin/env python3
"""Summarises a scripts/bench.sh result directory as Markdown: every
scenario's figures, their ratios to the machine limits, and the targets of
docs/PERFORMANCE.md marked met or not met.

Usage: scripts/bench-summary.py DIR
"""
import json
import sys
from pathlib import Path

# Stored bytes of one 1 KiB message: 92-byte fixed header, topic (length
# byte + name), tags and keys (empty, 2 + 2), properties (4 + UNIQ_KEY entry
# of 4 + 8 + 32), body (4 + 1024). See protocol/src/record.rs.
def record_bytes(topic: str, body: int = 1024) -> int:
    return 92 + 1 + len(topic) + 2 + 2 + 4 + (4 + 8 + 32) + 4 + body


TOPIC = {"async-produce-batched": "BenchBacklog", "async-consume-backlog": "BenchBacklog"}


def load(d: Path):
    limits = json.loads((d / "limits.json").read_text())
    runs = {}
    # In the order the scenarios ran.
    for f in sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime):
        if f.name == "limits.json":
            continue
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError:
            r = {"error": (d / f"{f.stem}.err").read_text().strip()[-300:]}
        cpu = d / f"{f.stem}.cpu"
        if cpu.exists():
            r["cpu"] = json.loads(cpu.read_text())
        adjacent = d / f"{f.stem}.disk"
        if adjacent.exists():
            r["disk"] = json.loads(adjacent.read_text())
        runs[f.stem] = r
    return limits, runs


def adjacent_disk(r) -> float:
    """Mean of the disk figures taken just before and after a scenario."""
    return (r["disk"]["before"] + r["disk"]["after"]) / 2


def main() -> int:
    d = Path(sys.argv[1])
    limits, runs = load(d)
    disk = limits["seq_write_mb_s"]
    print("### Machine limits (MB = 10^6 bytes)\n")
    print("| limit | value |\n|---|---|")
    print(f"| sequential write, O_DIRECT 1 MiB ({limits['disk_tool']}) | {disk:.0f} MB/s |")
    print(f"| sequential write, buffered + one fdatasync | {limits['seq_write_buffered_mb_s']:.0f} MB/s |")
    print(f"| fdatasync after a 4 KiB append | {limits['fdatasync_per_s']}/s "
          f"(p50 {limits['fdatasync_p50_us']} µs, p99 {limits['fdatasync_p99_us']} µs) |")
    print(f"| loopback TCP, one stream ({limits['net_tool']}) | {limits['loopback_tcp_mb_s']:.0f} MB/s |")
    print(f"| cores | {limits['cores']} |")
    for when in ("start", "end"):
        f = d / f"loadavg-{when}"
        if f.exists():
            print(f"| load average (1/5/15 min) at {when} of the scenarios | {f.read_text().strip()} |")
    print()

    print("### Scenarios (1 KiB bodies)\n")
    print("% disk seq write: against the figure at the start of the run; where the disk")
    print("was measured again just before and after the scenario, also against the mean")
    print("of those two (the figure moves by tens of per cent within minutes).\n")
    print("| scenario | msgs/s | body MB/s | log MB/s | % disk seq write | % loopback | "
          "latency p50 / p99 / p99.9 / max (µs, from) | errors | CPU s broker / bench |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error']} | | | | | | | |")
            continue
        rec = record_bytes(TOPIC.get(name, "BenchTopic"))
        log_mb = r["msgs_per_sec"] * rec / 1e6
        lat = r["latency_us"]
        cpu = r.get("cpu", {})
        pct_disk = f"{100 * log_mb / disk:.1f} %"
        if "disk" in r:
            near = adjacent_disk(r)
            pct_disk += (f"; {100 * log_mb / near:.1f} % of {near:.0f} (before {r['disk']['before']:.0f}, "
                         f"after {r['disk']['after']:.0f})")
        print(f"| {name} | {r['msgs_per_sec']:,.0f} | {r['mb_per_sec']:.1f} | {log_mb:.1f} | "
              f"{pct_disk} | {100 * log_mb / limits['loopback_tcp_mb_s']:.1f} % | "
              f"{lat['p50']:,} / {lat['p99']:,} / {lat['p999']:,} / {lat['max']:,} ({r['latency_from']}) | "
              f"{r['errors']} | {cpu.get('broker_cpu', '?')} / {cpu.get('bench_cpu', '?')} |")
    print()

    def rate(name):
        r = runs.get(name)
        return r["msgs_per_sec"] if r and "msgs_per_sec" in r else None

    print("### Targets\n")
    print("| target | measured | verdict |\n|---|---|---|")
    def disk_row(label, name, topic):
        """A row rating scenario `name` (`topic`'s records) against the disk
        measured next to it (else at the start of the run); its MB/s."""
        r = runs[name]
        mb = r["msgs_per_sec"] * record_bytes(topic) / 1e6
        if "disk" in r:
            near = adjacent_disk(r)
            pct = 100 * mb / near
            text = (f"{mb:.0f} of {near:.0f} MB/s (disk just before and after) = {pct:.1f} %; "
                    f"of the run's first figure, {disk:.0f} MB/s: {100 * mb / disk:.1f} %")
        else:
            pct = 100 * mb / disk
            text = f"{mb:.0f} of {disk:.0f} MB/s = {pct:.1f} %"
        print(f"| {label} | {text} | {'met' if pct >= 60 else 'not met'} |")
        return mb

    prod = rate("async-produce-batched")
    if prod is not None:
        mb = disk_row("async batched produce ≥ 60 % of disk sequential write", "async-produce-batched",
                      "BenchBacklog")
        buf = limits["seq_write_buffered_mb_s"]
        print(f"| (for reference: vs buffered page-cache write, not a target) | {mb:.0f} of {buf:.0f} MB/s "
              f"= {100 * mb / buf:.0f} % | – |")
    for name, label in (("async-produce-batch256", "… with sends of 256 messages (4 x 4 x 256)"),
                        ("async-produce-batch256-long", "… sustained, sends of 256 (longer run)")):
        if rate(name) is not None:
            disk_row(label, name, "BenchTopic")
    long_ = rate("async-produce-batched-long")
    if long_ is not None and prod:
        print(f"| (sustained, sends of 32: {long_:,.0f} msgs/s = {100 * long_ / prod:.0f} % of the short run) | | – |")
        disk_row("… sustained (longer run)", "async-produce-batched-long", "BenchTopic")
    for s in ("sync-produce-64x1", "sync-produce-64x1-shared", "sync-produce-64x1-shared-noauto",
              "sync-produce-8x8", "sync-produce-8x8-shared", "sync-produce-batched",
              "sync-produce-64x32"):
        v = rate(s)
        if v is not None and prod:
            print(f"| {s} ≥ 50 % of async batched | {v:,.0f} vs {prod:,.0f} msgs/s = {100 * v / prod:.1f} % | "
                  f"{'met' if v >= 0.5 * prod else 'not met'} |")
    # The same workload with each flush: what sync flushing costs alone.
    for s_name, a_name in (("sync-produce-64x32", "async-produce-64x32"),
                           ("sync-produce-batch256", "async-produce-batch256")):
        v, a = rate(s_name), rate(a_name)
        if v is not None and a:
            print(f"| {s_name} ≥ 50 % of {a_name} (same workload) | {v:,.0f} vs {a:,.0f} msgs/s = "
                  f"{100 * v / a:.1f} % | {'met' if v >= 0.5 * a else 'not met'} |")
    cons = rate("async-consume-backlog")
    if cons is not None and prod:
        print(f"| consume (backlog catch-up) ≥ produce | {cons:,.0f} vs {prod:,.0f} msgs/s | "
              f"{'met' if cons >= prod else 'not met'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
