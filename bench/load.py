"""Sustained load: N strategy clients over the local WebSocket, against the simulator.

Each client sends inserts (far from the market, so they rest) and deletes for them at a
fixed rate on its /subscribeUpdates socket, and times each insert from its send to the
`new` update for it. At the end every insert must have been acknowledged and every
delete cancelled (no lost update), and ems's memory is compared before and after.

    python bench/load.py                          # 4 clients x 250 orders/s for 120 s
    python bench/load.py --clients 8 --rate 100 --seconds 300
    python bench/load.py --smoke                  # 2 clients x 50/s for 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
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

        async def reader() -> None:
            async for raw in ws:
                frame = orjson.loads(raw)
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
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            tally["lost"] += len(sent) + len(pending_delete)


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rate", type=float, default=250.0, help="inserts per second per client")
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if args.smoke:
        args.clients, args.rate, args.seconds = 2, 50.0, 5.0
    sim_proc, sim = _start([sys.executable, "-m", "ems.cli", "sim", "--port", "0"])
    ems_proc, ems = _start(
        [
            sys.executable,
            "-m",
            "ems.cli",
            "serve",
            "--key",
            KEY,
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            "none",
        ]
    )
    hist = HdrHistogram(1_000, 60_000_000_000, 3)
    tally = {"sent": 0, "acked": 0, "cancelled": 0, "rejected": 0, "lost": 0}
    try:
        rss_before = _rss_mb(ems_proc.pid)
        t0 = time.perf_counter()
        asyncio.run(drive(ems["url"], sim, args.clients, args.rate, args.seconds, hist, tally))
        elapsed = time.perf_counter() - t0
        rss_after = _rss_mb(ems_proc.pid)
    finally:
        ems_proc.terminate()
        sim_proc.terminate()
    result = {
        "clients": args.clients,
        "orders_per_s": round(tally["sent"] / args.seconds, 1),
        "requests_per_s": round((tally["sent"] + tally["acked"]) / elapsed, 1),
        "p50_us": hist.get_value_at_percentile(50) / 1000,
        "p99_us": hist.get_value_at_percentile(99) / 1000,
        "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        "lost": tally["lost"],
        "rejected": tally["rejected"],
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_after": round(rss_after, 1),
        **tally,
    }
    print(json.dumps(result, indent=1))
    ok = tally["lost"] == 0 and tally["acked"] == tally["sent"] == tally["cancelled"]
    if not args.smoke:
        report.merge_json({"load_ws": result})
        report.write_block(
            "load",
            "## Sustained load over the local WebSocket\n\n"
            f"{args.clients} clients, {args.rate:g} inserts/s each (plus a delete per insert) "
            f"for {args.seconds:g} s against `ems sim`; round trip from sending an insert to "
            "its `new` update on the same socket.\n\n"
            "| orders/s held | p50 | p99 | p99.9 | lost updates | ems RSS before / after |\n"
            "|---|---|---|---|---|---|\n"
            f"| {result['orders_per_s']} | {result['p50_us']:,.0f} µs | "
            f"{result['p99_us']:,.0f} µs | {result['p99_9_us']:,.0f} µs | {result['lost']} | "
            f"{result['rss_mb_before']} / {result['rss_mb_after']} MB |\n",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
