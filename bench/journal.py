"""The journal's cost on the hot path, its throughput, and its crash window.

    python bench/journal.py            # 200,000 records, 2,000 probes, 30 s under load
    python bench/journal.py --load-rate 2000 --load-seconds 60
    python bench/journal.py --smoke

- write call: what `Journal.order()` costs the event loop (serialise + enqueue);
- throughput: records committed per second when the producer never pauses;
- window: from `write()` to the record being committed in the WAL, i.e. what a process
  crash can lose (an OS crash can lose what the OS had not flushed to the disk either),
  one record at a time on an idle journal;
- window under load: the same while orders flow at the load benchmark's rate (1,000
  orders/s, 4 order records each: pendingnew, new, pendingcancel, cancelled, as
  `bench/load.py` counts them), written in small bursts every half millisecond as an
  event loop would. Every record's write-to-commit time is taken from the writer's
  commit log, and at every write the records queued but not yet committed are counted:
  that is what a kill -9 at that moment would lose (and reconciliation recover).
"""

from __future__ import annotations

import argparse
import bisect
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


RECORDS_PER_ORDER = 4
"""Order records an insert and its delete write (one per update the client sees)."""


class TimedJournal(Journal):
    """A journal that logs, for each committed batch, when and how many records in all."""

    commits: list[tuple[int, int]]

    def _commit(self, records: list[tuple[str, tuple[object, ...]]]) -> None:
        super()._commit(records)
        self.commits.append((time.perf_counter_ns(), self.written))


def under_load(journal: TimedJournal, orders_per_s: float, seconds: float) -> dict[str, float]:
    """Writes order records at `orders_per_s` x RECORDS_PER_ORDER for `seconds`; returns
    the write-to-commit window and the records at risk while they flow."""
    journal.flush(timeout=300)
    base = journal.written
    journal.commits = []
    rate = orders_per_s * RECORDS_PER_ORDER
    writes: list[int] = []
    t0 = time.perf_counter_ns()
    while True:
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        if elapsed >= seconds:
            break
        for _ in range(int(elapsed * rate) - len(writes)):
            writes.append(time.perf_counter_ns())
            journal.order("load", f"load-{len(writes) % 50_000}", STATE, True)
        time.sleep(0.0005)
    journal.flush(timeout=300)
    commit_ns = [t for t, _ in journal.commits]
    committed = [n - base for _, n in journal.commits]
    window = HdrHistogram(1_000, 60_000_000_000, 3)
    at_risk = HdrHistogram(1, 10_000_000, 3)
    for i, t in enumerate(writes):
        # The first batch whose commit brought the count past this record.
        window.record_value(commit_ns[bisect.bisect_left(committed, i + 1)] - t)
        # Just after this write: records written so far (this one too), less those
        # committed by then.
        before = bisect.bisect_right(commit_ns, t)
        at_risk.record_value(i + 1 - (committed[before - 1] if before else 0))
    return {
        "orders_per_s": orders_per_s,
        "records_per_s": round(len(writes) / seconds),
        "p50_us": window.get_value_at_percentile(50) / 1000,
        "p99_us": window.get_value_at_percentile(99) / 1000,
        "p99_9_us": window.get_value_at_percentile(99.9) / 1000,
        "max_us": window.get_max_value() / 1000,
        "at_risk_p50": at_risk.get_value_at_percentile(50),
        "at_risk_p99": at_risk.get_value_at_percentile(99),
        "at_risk_max": at_risk.get_max_value(),
        "batches": len(commit_ns),
    }


def run(
    records: int, probes: int, load_rate: float, load_seconds: float
) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        journal = TimedJournal(str(Path(tmp) / "bench.db"), None)
        journal.commits = []
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
        loaded = under_load(journal, load_rate, load_seconds)
        journal.close()
    return {
        "journal_write_call": {"ours_ns": round(call_ns, 1)},
        "journal_throughput": {"records_per_s": round(throughput)},
        "journal_window": {
            "p50_us": hist.get_value_at_percentile(50) / 1000,
            "p99_us": hist.get_value_at_percentile(99) / 1000,
            "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        },
        "journal_window_under_load": loaded,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--load-rate", type=float, default=1_000.0, help="orders per second")
    p.add_argument("--load-seconds", type=float, default=30.0)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    records, probes = (5_000, 100) if args.smoke else (args.records, 2_000)
    load_seconds = 2.0 if args.smoke else args.load_seconds
    results = run(records, probes, args.load_rate, load_seconds)
    for name, values in results.items():
        print(f"{name:22s} " + "  ".join(f"{k} {v:,}" for k, v in values.items()), flush=True)
    if not args.smoke:
        report.merge_json(results)
        w = results["journal_window"]
        u = results["journal_window_under_load"]
        report.write_block(
            "journal",
            "## Journal\n\n"
            "| measure | value |\n|---|---|\n"
            f"| cost of one journal write on the event loop | "
            f"{results['journal_write_call']['ours_ns']:,.0f} ns |\n"
            f"| records committed per second | "
            f"{results['journal_throughput']['records_per_s']:,} |\n"
            f"| window from write to commit (what a crash can lose), p50 / p99 / p99.9 | "
            f"{w['p50_us']:,.0f} / {w['p99_us']:,.0f} / {w['p99_9_us']:,.0f} µs |\n"
            f"| the same under load ({u['orders_per_s']:,.0f} orders/s = "
            f"{u['records_per_s']:,} records/s for {load_seconds:g} s), p50 / p99 / p99.9 / max "
            f"| {u['p50_us']:,.0f} / {u['p99_us']:,.0f} / {u['p99_9_us']:,.0f} / "
            f"{u['max_us']:,.0f} µs |\n"
            "| records queued but not committed at a write under that load (what a kill -9 "
            f"then loses), p50 / p99 / max | {u['at_risk_p50']:,} / {u['at_risk_p99']:,} / "
            f"{u['at_risk_max']:,} ({u['at_risk_max'] / RECORDS_PER_ORDER:,.0f} orders' "
            f"worth at most) |\n\n"
            "Under load the producer writes the records due every half millisecond, as an "
            "event loop would; the writer commits whatever is queued in one transaction. "
            "The machine (2 CPUs) is shared with other work, so the tails are noisy.\n",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
