#!/usr/bin/env bash
# Measures this machine's limits that FerroMQ's figures are compared with:
#   * sequential write bandwidth of the disk holding DIR (fio, O_DIRECT, 1 MiB
#     blocks; fallback dd oflag=direct), plus buffered writes ended by one
#     fdatasync (what a page-cache writer with periodic flushes can reach);
#   * fdatasync rate: 4 KiB appends each followed by fdatasync (fio; fallback
#     a Python loop);
#   * loopback TCP bandwidth, one stream (iperf3; fallback a Python socket pair).
#
# Usage: scripts/machine-limits.sh [--dir DIR] [--out FILE.json] [--quick]
#                                   [--disk-only]
#   DIR     where the test files go (default: $TMPDIR or /tmp); use the disk
#           the broker's store will be on
#   --quick smaller files and shorter runs (a rough figure in ~20 s)
#   --disk-only  measure only the O_DIRECT sequential write (1 GiB) and
#           print its MB/s as a bare number (scripts/bench.sh takes one
#           before and after each produce scenario: this disk's figure
#           moves by tens of per cent within minutes)
# Prints a summary; with --out also writes the figures as one JSON object
# (MB = 10^6 bytes), which scripts/bench.sh uses for its ratios.
# Installs fio and iperf3 with apt-get when they are missing and apt-get is
# usable; otherwise falls back as above.
set -euo pipefail

dir="${TMPDIR:-/tmp}"
out=""
size_mb=2048
secs=10
disk_only=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --quick) size_mb=512; secs=4; shift ;;
        --disk-only) disk_only=1; size_mb=1024; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

work="$(mktemp -d "$dir/ferromq-limits.XXXXXX")"
iperf_pid=""
cleanup() {
    [[ -n "$iperf_pid" ]] && kill "$iperf_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "[limits] $*" >&2; }

ensure_tools() {
    local missing=()
    command -v fio >/dev/null || missing+=(fio)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    if [[ ${#missing[@]} -gt 0 ]] && command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
        log "installing ${missing[*]}"
        # DEBIAN_FRONTEND: iperf3's package asks whether to start a daemon.
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
            >/dev/null 2>&1 || log "apt-get failed; using fallbacks"
    fi
}

# Prints a JSON field of fio's output: $1 = file, $2 = python expression on `j`.
fio_field() {
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

seq_write_direct() {
    if command -v fio >/dev/null; then
        fio --name=seqwrite --filename="$work/seq" --rw=write --bs=1M --size="${size_mb}M" \
            --direct=1 --ioengine=libaio --iodepth=8 --end_fsync=1 \
            --output-format=json >"$work/seq.json" 2>/dev/null
        fio_field "$work/seq.json" "j['jobs'][0]['write']['bw_bytes']/1e6"
    else
        # dd prints e.g. "2147483648 bytes (2.1 GB, 2.0 GiB) copied, 3.1 s, 693 MB/s".
        dd if=/dev/zero of="$work/seq" bs=1M count="$size_mb" oflag=direct conv=fdatasync 2>&1 \
            | awk '/copied/ {b=$1; for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) s=$(i-1); print b/s/1e6}'
    fi
    rm -f "$work/seq"
}

seq_write_buffered() {
    if command -v fio >/dev/null; then
        fio --name=seqbuf --filename="$work/buf" --rw=write --bs=1M --size="${size_mb}M" \
            --ioengine=psync --end_fsync=1 --output-format=json >"$work/buf.json" 2>/dev/null
        # fio's bandwidth excludes the final fsync; use runtime + fsync time.
        python3 - "$work/buf.json" "$size_mb" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
ms = j["job_runtime"]  # includes end_fsync
print(int(sys.argv[2]) * 1048576 / (ms / 1000) / 1e6)
EOF
    else
        dd if=/dev/zero of="$work/buf" bs=1M count="$size_mb" conv=fdatasync 2>&1 \
            | awk '/copied/ {b=$1; for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) s=$(i-1); print b/s/1e6}'
    fi
    rm -f "$work/buf"
}

# Prints "rate_per_s p50_us p99_us".
fdatasync_rate() {
    if command -v fio >/dev/null; then
        fio --name=fdatasync --filename="$work/sync" --rw=write --bs=4k --size=256M \
            --ioengine=sync --fdatasync=1 --time_based --runtime="$secs" \
            --output-format=json >"$work/sync.json" 2>/dev/null
        fio_field "$work/sync.json" \
            "'%.0f %.0f %.0f' % (j['jobs'][0]['sync']['lat_ns']['N']/(j['jobs'][0]['job_runtime']/1000), j['jobs'][0]['sync']['lat_ns']['percentile']['50.000000']/1000, j['jobs'][0]['sync']['lat_ns']['percentile']['99.000000']/1000)"
    else
        python3 - "$work/sync" "$secs" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
buf, lats, end = b"x" * 4096, [], time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    t = time.monotonic(); os.write(fd, buf); os.fdatasync(fd); lats.append(time.monotonic() - t)
lats.sort()
print("%.0f %.0f %.0f" % (len(lats) / float(sys.argv[2]), lats[len(lats)//2]*1e6, lats[int(len(lats)*0.99)]*1e6))
EOF
    fi
    rm -f "$work/sync"
}

loopback_tcp() {
    local port=5299
    if command -v iperf3 >/dev/null; then
        iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
        iperf_pid=$!
        sleep 0.5
        iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J >"$work/tcp.json" 2>/dev/null
        wait "$iperf_pid" 2>/dev/null || true
        iperf_pid=""
        python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second']/8/1e6)" "$work/tcp.json"
    else
        python3 - "$secs" <<'EOF'
import socket, sys, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
got = [0]
def sink():
    c, _ = srv.accept()
    while True:
        b = c.recv(1 << 20)
        if not b: break
        got[0] += len(b)
t = threading.Thread(target=sink); t.start()
cli = socket.create_connection(srv.getsockname()); buf = b"x" * (1 << 20)
start = time.monotonic(); end = start + float(sys.argv[1])
while time.monotonic() < end: cli.sendall(buf)
cli.close(); t.join()
print(got[0] / (time.monotonic() - start) / 1e6)
EOF
    fi
}

ensure_tools
if [[ $disk_only -eq 1 ]]; then
    seq_write_direct
    exit 0
fi
log "disk under test: $(df -h "$work" | awk 'NR==2 {print $1, $6}')"
log "sequential write, O_DIRECT (${size_mb} MiB)…"
seq_direct=$(seq_write_direct)
log "sequential write, buffered + fdatasync (${size_mb} MiB)…"
seq_buffered=$(seq_write_buffered)
log "fdatasync rate, 4 KiB appends (${secs} s)…"
read -r fsync_rate fsync_p50 fsync_p99 < <(fdatasync_rate)
log "loopback TCP, one stream (${secs} s)…"
tcp=$(loopback_tcp)

tool_disk=$(command -v fio >/dev/null && echo fio || echo dd)
tool_net=$(command -v iperf3 >/dev/null && echo iperf3 || echo python)
json=$(python3 - "$seq_direct" "$seq_buffered" "$fsync_rate" "$fsync_p50" "$fsync_p99" "$tcp" "$tool_disk" "$tool_net" "$(nproc)" <<'EOF'
import json, sys
a = sys.argv[1:]
print(json.dumps({
    "seq_write_mb_s": round(float(a[0]), 1),
    "seq_write_buffered_mb_s": round(float(a[1]), 1),
    "fdatasync_per_s": round(float(a[2])),
    "fdatasync_p50_us": round(float(a[3])),
    "fdatasync_p99_us": round(float(a[4])),
    "loopback_tcp_mb_s": round(float(a[5]), 1),
    "disk_tool": a[6], "net_tool": a[7], "cores": int(a[8]),
}))
EOF
)
[[ -n "$out" ]] && echo "$json" >"$out"

python3 - "$json" <<'EOF'
import json, sys
j = json.loads(sys.argv[1])
print("Machine limits (MB = 10^6 bytes)")
print(f"  sequential write, O_DIRECT 1 MiB ({j['disk_tool']}): {j['seq_write_mb_s']:8.1f} MB/s")
print(f"  sequential write, buffered + fdatasync:   {j['seq_write_buffered_mb_s']:8.1f} MB/s")
print(f"  fdatasync after 4 KiB append:             {j['fdatasync_per_s']:8d} /s  (p50 {j['fdatasync_p50_us']} µs, p99 {j['fdatasync_p99_us']} µs)")
print(f"  loopback TCP, one stream ({j['net_tool']}):        {j['loopback_tcp_mb_s']:8.1f} MB/s")
print(f"  cores: {j['cores']}")
EOF
