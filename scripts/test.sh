#!/usr/bin/env bash
# Every check ems has: Rust tests and lints, Python lints and types, benchmarks in smoke
# mode, and the test suite (unit, core, simulator and end-to-end) last.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt / clippy / test"
(cd native && cargo fmt --check && cargo clippy --all-targets -q -- -D warnings && cargo test -q)

echo "== ruff / mypy"
ruff check src tests bench
ruff format --check src tests bench
mypy src

echo "== benchmarks (smoke)"
python bench/run.py --smoke
python -m pytest -q -p no:cacheprovider bench/test_kernels.py --benchmark-disable
python bench/tick_to_trade.py --smoke --no-peer
python bench/tick_to_trade.py --smoke --no-peer --side-by-side
python bench/journal.py --smoke
python bench/load.py --smoke
python bench/loopback.py --smoke
[ ! -f bench/fix_roundtrip.py ] || python bench/fix_roundtrip.py --smoke

echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
