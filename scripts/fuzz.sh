#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for SECONDS each, one after
# another, with cargo-fuzz (libFuzzer; needs the nightly toolchain and
# `cargo install cargo-fuzz`). Each target's corpus is fuzz/corpus/TARGET
# (committed, kept small: `--minimize` merges it down afterwards); a crash
# or hang leaves its input in fuzz/artifacts/TARGET and makes the script
# exit non-zero. Every crash found becomes a regression test in the normal
# suite.
#
# Usage: scripts/fuzz.sh [--minimize] SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
minimize=0
if [[ "${1:-}" == --minimize ]]; then minimize=1; shift; fi
secs="${1:?usage: scripts/fuzz.sh [--minimize] SECONDS [TARGET...]}"
shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t for ${secs} s"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" \
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -20; then
        failed+=("$t")
    fi
    if [[ $minimize -eq 1 ]]; then
        cargo +nightly fuzz cmin "$t" "corpus/$t" >/dev/null 2>&1 || true
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed or hung: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "all targets ran ${secs} s without a crash"
