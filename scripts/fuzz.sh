#!/usr/bin/env bash
# Runs every libFuzzer target of the core (native/fuzz) for SECONDS each (default 300),
# starting from the committed seeds; what the fuzzer learns goes to a scratch directory,
# and a crash stops the run with the input saved under native/fuzz/artifacts.
#
#   cargo install cargo-fuzz    # once
#   scripts/fuzz.sh [SECONDS]
#
# cargo-fuzz needs a nightly compiler for its sanitizer flags; on a stable toolchain,
# RUSTC_BOOTSTRAP=1 (set here unless already set) lets it use them.
set -euo pipefail
cd "$(dirname "$0")/../native/fuzz"
seconds="${1:-300}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
for pair in json_scanners:json book_messages:book fix_decoder:fix decimal_parser:decimal; do
    target="${pair%%:*}"
    seeds="corpus/${pair##*:}"
    mkdir -p "$scratch/$target"
    echo "== $target ($seconds s)"
    # -a: debug assertions and overflow checks on, as in `cargo test`.
    rc=0
    cargo fuzz run -a "$target" "$scratch/$target" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1 || rc=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$scratch/$target.log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$scratch/$target.log"
        echo "$target: failed (exit $rc); a crashing input is under native/fuzz/artifacts/$target"
        exit 1
    fi
done
