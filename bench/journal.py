"""The journal's cost on the hot path, its throughput, and its crash window.

    python bench/journal.py            # 200,000 records, 2,000 window probes
    python bench/journal.py --smoke

- write call: what `Journal.order()` costs the event loop (serialise + enqueue);
- throughput: records committed per second when the producer never pauses;
- window: from `write()` to the record being committed in the WAL, i.e. what a process
  crash can lose (an OS crash can lose what the OS had not flushed to the disk either).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram

from ems.engine.journal import Journal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report

HERE = Path(__file__).resolve().parent
STATE = {
    "cl": "cl-123456",
    "vid": "emsab12xyz01234x1f",
    "symbol": "BTCUSDT",
    "side": "buy",
    "type": "limit",
    "tif": "gtc",
    "price": "29997.5",
    "qty": "0.001",
    "tx": "insert",
    "status": "new",
    "pending": "",
    "exch": "1000234",
    "cum": "0",
    "legs": {"x": "0"},
    "sent": 1795578103136510967,
    "exchTime": 1795578103137000000,
    "message": None,
    "trigger": None,
    "risk": None,
    "replacing": "",
    "pendingPrice": "0",
    "pendingQty": "0",
}


def run(records: int, probes: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(str(Path(tmp) / "bench.db"), None)
        # Cost of the call on the caller's thread.
        t0 = time.perf_counter_ns()
        for i in range(records):
            journal.order("bench", f"cl-{i}", STATE, True)
        call_ns = (time.perf_counter_ns() - t0) / records
        start = time.perf_counter()
        journal.flush(timeout=300)
        drain_s = time.perf_counter() - start
        throughput = records / (drain_s + call_ns * records / 1e9)
        # The window: one record at a time, from write() to commit.
        hist = HdrHistogram(1_000, 10_000_000_000, 3)
        for i in range(probes):
            before = journal.written
            t = time.perf_counter_ns()
            journal.order("bench", f"probe-{i}", STATE, True)
            while journal.written == before:
                time.sleep(0)
            hist.record_value(time.perf_counter_ns() - t)
        journal.close()
    return {
        "journal_write_call": {"ours_ns": round(call_ns, 1)},
        "journal_throughput": {"records_per_s": round(throughput)},
        "journal_window": {
            "p50_us": hist.get_value_at_percentile(50) / 1000,
            "p99_us": hist.get_value_at_percentile(99) / 1000,
            "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    records, probes = (5_000, 100) if args.smoke else (args.records, 2_000)
    results = run(records, probes)
    for name, values in results.items():
        print(f"{name:22s} " + "  ".join(f"{k} {v:,}" for k, v in values.items()), flush=True)
    if not args.smoke:
        report.merge_json(results)
        w = results["journal_window"]
        report.write_block(
            "journal",
            "## Journal\n\n"
            "| measure | value |\n|---|---|\n"
            f"| cost of one journal write on the event loop | "
            f"{results['journal_write_call']['ours_ns']:,.0f} ns |\n"
            f"| records committed per second | "
            f"{results['journal_throughput']['records_per_s']:,} |\n"
            f"| window from write to commit (what a crash can lose), p50 / p99 / p99.9 | "
            f"{w['p50_us']:,.0f} / {w['p99_us']:,.0f} / {w['p99_9_us']:,.0f} µs |\n",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
