"""Sustained load: N strategy clients over the local WebSocket, against the simulator.

Each client sends inserts (far from the market, so they rest) and deletes for them at a
fixed rate on its /subscribeUpdates socket, and times each insert from its send to the
`new` update for it. At the end every insert must have been acknowledged and every
delete cancelled (no lost update).

ems runs with its journal on (a file in a temporary folder, with a secrets key so that
sessions are journaled too), as in production. Its resident memory is sampled every
`--sample` seconds; memory "levels off" when its growth over the last third of the run
is at most max(5 MB, a quarter of the growth over the first two thirds): a leak of one
object per order would grow it as fast in the last third as before. After the run ems
is stopped (SIGTERM commits what the journal still holds) and the journal must hold
every order, finished.

    python bench/load.py                          # 4 clients x 250 orders/s for 120 s
    python bench/load.py --clients 8 --rate 100 --seconds 300
    python bench/load.py --journal none           # without the journal
    python bench/load.py --smoke                  # 2 clients x 50/s for 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests
from hdrh.histogram import HdrHistogram
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report

HERE = Path(__file__).resolve().parent
KEY = "load-" + uuid.uuid4().hex


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def client(
    url: str,
    session: str,
    rate: float,
    seconds: float,
    price: float,
    hist: HdrHistogram,
    tally: dict[str, int],
) -> None:
    async with connect(url, max_size=2**24) as ws:
        await ws.send(orjson.dumps({"sessionId": session}).decode())
        sent: dict[str, int] = {}
        pending_delete: set[str] = set()
        done = asyncio.Event()
        finished = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                frame = orjson.loads(raw)
                tally["frames"] += 1
                cl = frame.get("clOrderId")
                status = frame.get("orderStatus")
                if cl in sent and status == "new":
                    hist.record_value(time.perf_counter_ns() - sent.pop(cl))
                    tally["acked"] += 1
                    pending_delete.add(cl)
                    await ws.send(
                        orjson.dumps(
                            {"sessionId": session, "clOrderId": cl, "transactionType": "delete"}
                        ).decode()
                    )
                elif status == "cancelled" and cl in pending_delete:
                    pending_delete.discard(cl)
                    tally["cancelled"] += 1
                elif status == "rejected":
                    tally["rejected"] += 1
                if done.is_set() and not sent and not pending_delete:
                    finished.set()
                    return

        task = asyncio.create_task(reader())
        interval = 1.0 / rate
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            cl = f"{session}-{uuid.uuid4().hex[:10]}"
            sent[cl] = time.perf_counter_ns()
            tally["sent"] += 1
            await ws.send(
                orjson.dumps(
                    {
                        "sessionId": session,
                        "clOrderId": cl,
                        "symbol": "BTCUSDT",
                        "side": "buy",
                        "price": price,
                        "qty": 0.001,
                        "transactionType": "insert",
                    }
                ).decode()
            )
            i += 1
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        done.set()
        if not sent and not pending_delete:
            finished.set()  # the last update came before the last insert's pacing ended
        try:
            await asyncio.wait_for(finished.wait(), 30)
        except TimeoutError:
            tally["lost"] += len(sent) + len(pending_delete)
        task.cancel()


async def drive(
    base: str,
    sim: dict[str, Any],
    clients: int,
    rate: float,
    seconds: float,
    hist: HdrHistogram,
    tally: dict[str, int],
) -> None:
    http = requests.Session()
    http.headers["X-API-Key"] = KEY
    sessions = []
    for i in range(clients):
        account = sim["accounts"][i % len(sim["accounts"])]
        sid = f"load{i}"
        r = http.post(
            base + "/startOrderHandler",
            json={
                "exchangeKey": {
                    "apiKey": account["apiKey"],
                    "secretKey": account["secretKey"],
                    "exchange": "binance-spot",
                },
                "sessionId": sid,
                "restUrl": sim["binance-spot"]["restUrl"],
                "wsUrl": sim["binance-spot"]["wsUrl"],
            },
        )
        r.raise_for_status()
        sessions.append(sid)
    url = base.replace("http", "ws") + f"/subscribeUpdates?key={KEY}"
    await asyncio.gather(*(client(url, s, rate, seconds, 10000.0, hist, tally) for s in sessions))


class RssSampler:
    """Samples a process's resident memory every `every` seconds on a thread."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.samples.append((time.perf_counter() - self._t0, _rss_mb(self.pid)))
            if self._stop.wait(self.every):
                return

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter() - self._t0, _rss_mb(self.pid)))
        return self.samples


def plateau(samples: list[tuple[float, float]], seconds: float) -> dict[str, Any]:
    """Growth over the last third of the run (to the sample taken once every update has
    arrived) against the first two thirds."""
    start = samples[0][1]
    at_two_thirds = next(mb for t, mb in samples if t >= seconds * 2 / 3)
    early, late = at_two_thirds - start, samples[-1][1] - at_two_thirds
    limit = max(5.0, early / 4)
    return {
        "growth_first_two_thirds_mb": round(early, 1),
        "growth_last_third_mb": round(late, 1),
        "limit_mb": round(limit, 1),
        "levels_off": late <= limit,
    }


def journal_orders(path: Path, sessions: list[str]) -> tuple[int, int]:
    """Orders of the load sessions in the journal: all of them, and those still working."""
    marks = ",".join("?" * len(sessions))
    with sqlite3.connect(path) as db:
        total, working = db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(working), 0) FROM orders WHERE session_id IN ({marks})",
            sessions,
        ).fetchone()
    return int(total), int(working)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rate", type=float, default=250.0, help="inserts per second per client")
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument(
        "--journal",
        default="temp",
        help="journal file; 'temp' (default): one in a temporary folder; 'none': no journal",
    )
    p.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.clients, args.rate, args.seconds, args.sample = 2, 50.0, 5.0, 1.0
    with tempfile.TemporaryDirectory(prefix="ems-load-") as tmp:
        journal = None if args.journal == "none" else Path(tmp) / "journal.db"
        if journal is not None and args.journal != "temp":
            journal = Path(args.journal)
        return run(args, journal)


def run(args: argparse.Namespace, journal: Path | None) -> int:
    sim_proc, sim = _start([sys.executable, "-m", "ems.cli", "sim", "--port", "0"])
    serve = [sys.executable, "-m", "ems.cli", "serve", "--key", KEY, "--port", "0"]
    serve += ["--promPort", "0", "--journal", str(journal or "none")]
    if journal is not None:
        serve += ["--secrets-key", "load-" + uuid.uuid4().hex]
    ems_proc, ems = _start(serve)
    hist = HdrHistogram(1_000, 60_000_000_000, 3)
    tally = {"sent": 0, "acked": 0, "cancelled": 0, "rejected": 0, "lost": 0, "frames": 0}
    try:
        sampler = RssSampler(ems_proc.pid, args.sample)
        t0 = time.perf_counter()
        asyncio.run(drive(ems["url"], sim, args.clients, args.rate, args.seconds, hist, tally))
        elapsed = time.perf_counter() - t0
        samples = sampler.stop()
    finally:
        ems_proc.terminate()
        ems_proc.wait(60)
        sim_proc.terminate()
    sessions = [f"load{i}" for i in range(args.clients)]
    journaled, still_working = journal_orders(journal, sessions) if journal else (0, 0)
    level = plateau(samples, args.seconds)
    result = {
        "clients": args.clients,
        "journal": journal is not None,
        "orders_per_s_offered": args.clients * args.rate,
        "orders_per_s": round(tally["sent"] / args.seconds, 1),
        "acks_per_s": round(tally["acked"] / elapsed, 1),
        "requests_per_s": round((tally["sent"] + tally["acked"]) / elapsed, 1),
        "p50_us": hist.get_value_at_percentile(50) / 1000,
        "p99_us": hist.get_value_at_percentile(99) / 1000,
        "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        "updates_per_order": round(tally["frames"] / max(tally["sent"], 1), 2),
        "journaled_orders": journaled,
        "journaled_still_working": still_working,
        "rss_mb_before": round(samples[0][1], 1),
        "rss_mb_after": round(samples[-1][1], 1),
        "rss_mb_series": [[round(t), round(mb, 1)] for t, mb in samples],
        "rss_plateau": level,
        **tally,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb_series"}, indent=1))
    print("rss_mb_series", json.dumps(result["rss_mb_series"]))
    ok = tally["lost"] == 0 and tally["acked"] == tally["sent"] == tally["cancelled"]
    if journal is not None:
        ok = ok and journaled == tally["sent"] and still_working == 0
    if not args.smoke:
        report.merge_json({"load_ws": result})
        series = ", ".join(f"{t:.0f} s: {mb:.0f}" for t, mb in samples)
        report.write_block(
            "load",
            "## Sustained load over the local WebSocket\n\n"
            f"{args.clients} clients, {args.rate:g} inserts/s each (plus a delete per insert) "
            f"for {args.seconds:g} s against `ems sim`, journal "
            f"{'on (SQLite WAL file, secrets key set)' if journal else 'off'}; round trip from "
            "sending an insert to its `new` update on the same socket. The simulator, the "
            "clients and ems share the machine's CPUs (and the machine is shared with other "
            "work), so the tail is noisy.\n\n"
            "| orders/s offered / held | p50 | p99 | p99.9 | lost updates |"
            " orders in the journal after stop |\n"
            "|---|---|---|---|---|---|\n"
            f"| {result['orders_per_s_offered']:g} / {result['orders_per_s']} | "
            f"{result['p50_us']:,.0f} µs | {result['p99_us']:,.0f} µs | "
            f"{result['p99_9_us']:,.0f} µs | {result['lost']} | "
            f"{journaled:,} of {tally['sent']:,} ({still_working} working) |\n\n"
            f"ems RSS (MB) every {args.sample:g} s: {series}. Growth over the first two "
            f"thirds {level['growth_first_two_thirds_mb']} MB, over the last third "
            f"{level['growth_last_third_mb']} MB (limit {level['limit_mb']} MB): "
            f"{'levels off' if level['levels_off'] else 'does NOT level off'}. A session "
            "keeps its last 20,000 finished orders, so memory grows until each session "
            "has that many and should then stay flat.\n",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
