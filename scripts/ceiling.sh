#!/usr/bin/env bash
# What the network, the protocol and the client allow without the store:
# builds a measurement broker whose sends store nothing (cargo feature
# `discard-sends`, into target/ceiling, never the release build), then runs
# the same mqbench scenario alternately against it and against the real
# broker, a fresh one per run (scripts/ab-run.sh).
#
# Usage: scripts/ceiling.sh [--runs N] [--flush sync|async] -- MQBENCH-ARGS…
#   e.g. scripts/ceiling.sh --flush async -- produce --size 1024 \
#          --producers 4 --inflight 8 --batch 32 --count 2000000
# MQBENCH-ARGS as for scripts/ab-run.sh (no -n or -t). Prints one line per
# run: which broker (discarding / real-FLUSH), msgs/s, errors, p99, CPU µs per message of each side.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs=2
flush=async
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --flush) flush="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (mqbench arguments go after --)" >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "give the mqbench arguments after --" >&2; exit 2; }

cd "$root"
cargo build --release -q -p ferromq-broker -p ferromq-tools
CARGO_TARGET_DIR="$root/target/ceiling" cargo build --release -q -p ferromq-broker --features discard-sends
real="$root/target/release"
discard="$root/target/ceiling/discard-bin"
mkdir -p "$discard"
cp "$root/target/ceiling/release/mqbroker" "$discard/"
cp "$real/mqbench" "$real/mqadmin" "$discard/"
for _ in $(seq "$runs"); do
    LABEL=discarding "$root/scripts/ab-run.sh" "$discard" "$flush" -- "$@"
    LABEL="real-$flush" "$root/scripts/ab-run.sh" "$real" "$flush" -- "$@"
done
