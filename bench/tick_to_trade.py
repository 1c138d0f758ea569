"""Tick-to-trade: a public trade from the simulator fires a trigger; how long until the
simulator reads the resulting order?

Contenders, measured in one run against one `ems sim`, taking turns (--rounds):
  tick_to_trade_default  ems serve (trigger manager), event loop sleeping in the kernel
  tick_to_trade_spin     ems serve --spin --cpus 1 (busy-polling loop on its own core)
  tick_to_trade_floor    bench/relay.py: answers every trade frame with a fixed order
  tick_to_trade_floor_spin        the same relay, its loop busy-polling
  tick_to_trade_floor_raw_spin    relay.py --raw: no event loop, plain sockets busy-polled
  tick_to_trade_peer     bench/peer_client.py: the same trigger with python-binance

The simulator stamps the moment it writes the trade frame and the moment it reads the
next order request (`POST /sim/trade` with `"probe": true`, see ems.sim.probe), so every
number is measured by the same process with the same clock.

    python bench/tick_to_trade.py               # 20,000 samples per contender
    python bench/tick_to_trade.py --smoke       # 200 samples, for CI
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from hdrh.histogram import HdrHistogram

HERE = Path(__file__).resolve().parent
SYMBOL = "BTCUSDT"
LEVEL = 30000.0
FAR_PRICE = 10000.0
IDLE_S = 0.002
WARMUP = 200
"""Trades per turn that are not recorded (connections and caches settle)."""
KEY = "bench-" + uuid.uuid4().hex


def _start(args: list[str], cpus: set[int] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line:
        raise RuntimeError(f"{args} exited before it was ready")
    if cpus:
        os.sched_setaffinity(proc.pid, cpus)
    return proc, line


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Sim:
    def __init__(self, cpus: set[int] | None) -> None:
        # The simulator busy-polls so that its own wake-up is not counted against the
        # contenders: what remains is their reading, deciding and writing.
        self.proc, line = _start(
            [sys.executable, "-m", "ems.cli", "sim", "--port", "0", "--spin"], cpus
        )
        self.info = json.loads(line)
        self.spot = self.info["binance-spot"]
        self.http = requests.Session()
        # No market maker: each print happens exactly at the level.
        self.admin("/sim/book", {"symbol": SYMBOL, "clear": True})

    def admin(self, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(self.spot["restUrl"] + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def probe(self) -> int | None:
        reply = self.admin(
            "/sim/trade",
            {"symbol": SYMBOL, "price": LEVEL, "qty": 0.001, "side": "buy", "probe": True},
        )
        return reply["probe"]["latencyNs"] if reply.get("probe") else None


def _measure(sim: Sim, samples: int, warmup: int, before_each: Any = None) -> HdrHistogram:
    hist = HdrHistogram(1_000, 10_000_000_000, 3)
    misses = 0
    for i in range(warmup + samples):
        if before_each is not None:
            before_each(i)
        # Let the previous order's replies and events settle, so that every contender
        # meets the trade idle, as a strategy waiting for its level would.
        time.sleep(IDLE_S)
        latency = sim.probe()
        if latency is None:
            misses += 1
            if misses > 10:
                raise RuntimeError("the contender stopped answering trades")
            continue
        if i >= warmup:
            hist.record_value(latency)
    return hist


def _ems(sim: Sim, samples: int, warmup: int, extra: list[str], cpus: set[int] | None):
    proc, line = _start(
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
            *extra,
        ],
        cpus,
    )
    try:
        base = json.loads(line)["url"]
        http = requests.Session()
        http.headers["X-API-Key"] = KEY

        def post(path: str, body: dict[str, Any]) -> Any:
            r = http.post(base + path, json=body, timeout=10)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code} {r.text}")
            return r.json()

        session = "bench-" + uuid.uuid4().hex[:6]
        post(
            "/startOrderHandler",
            {
                "exchangeKey": {
                    "apiKey": sim.info["apiKey"],
                    "secretKey": sim.info["secretKey"],
                    "exchange": "binance-spot",
                },
                "sessionId": session,
                "restUrl": sim.spot["restUrl"],
                "wsUrl": sim.spot["wsUrl"],
            },
        )
        post(
            "/startTriggerManager",
            {"symbol": SYMBOL, "exchange": "binance-spot", "sessionId": session},
        )

        def arm(i: int) -> None:
            post(
                "/setTrigger",
                {
                    "id": f"t{i}",
                    "price": LEVEL,
                    "symbol": SYMBOL,
                    "direction": "up",
                    "exchange": "binance-spot",
                    "orders": [
                        {
                            "clOrderId": f"o{i}",
                            "symbol": SYMBOL,
                            "sessionId": session,
                            "price": FAR_PRICE,
                            "qty": 0.001,
                            "orderType": "limit",
                            "transactionType": "insert",
                            "tif": "ioc",
                            "side": "buy",
                        }
                    ],
                },
            )

        return _measure(sim, samples, warmup, arm)
    finally:
        _stop(proc)


def _script(sim: Sim, samples: int, warmup: int, args: list[str], cpus: set[int] | None):
    proc, _ = _start([sys.executable, *args], cpus)
    try:
        time.sleep(0.5)  # let it subscribe
        return _measure(sim, samples, warmup)
    finally:
        _stop(proc)


def _summary(hist: HdrHistogram) -> dict[str, Any]:
    return {
        "p50_us": hist.get_value_at_percentile(50) / 1000,
        "p99_us": hist.get_value_at_percentile(99) / 1000,
        "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        "samples": hist.get_total_count(),
    }


def run(samples: int, warmup: int, with_peer: bool, rounds: int) -> dict[str, dict[str, Any]]:
    two_cores = len(os.sched_getaffinity(0)) >= 2
    sim_cpus = {0} if two_cores else None
    hot_cpus = {1} if two_cores else None
    os.sched_setaffinity(0, sim_cpus or os.sched_getaffinity(0))
    sim = Sim(sim_cpus)
    results: dict[str, dict[str, Any]] = {}
    try:
        md = sim.spot["wsUrl"] + "/ws/btcusdt@trade"
        contenders: list[tuple[str, Any]] = [
            (
                "tick_to_trade_floor",
                lambda samples: _script(
                    sim,
                    samples,
                    warmup,
                    [str(HERE / "relay.py"), md, sim.spot["restUrl"], sim.info["apiKey"]],
                    hot_cpus,
                ),
            ),
            ("tick_to_trade_default", lambda samples: _ems(sim, samples, warmup, [], hot_cpus)),
            (
                "tick_to_trade_floor_spin",
                lambda samples: _script(
                    sim,
                    samples,
                    warmup,
                    [str(HERE / "relay.py"), md, sim.spot["restUrl"], sim.info["apiKey"], "--spin"],
                    hot_cpus,
                ),
            ),
            (
                "tick_to_trade_floor_raw_spin",
                lambda samples: _script(
                    sim,
                    samples,
                    warmup,
                    [str(HERE / "relay.py"), md, sim.spot["restUrl"], sim.info["apiKey"], "--raw"],
                    hot_cpus,
                ),
            ),
            (
                "tick_to_trade_spin",
                lambda samples: _ems(
                    sim, samples, warmup, ["--spin"] + (["--cpus", "1"] if two_cores else []), None
                ),
            ),
        ]
        if with_peer:
            contenders.append(
                (
                    "tick_to_trade_peer",
                    lambda samples: _script(
                        sim,
                        samples,
                        warmup,
                        [
                            str(HERE / "peer_client.py"),
                            sim.spot["restUrl"],
                            sim.spot["wsUrl"],
                            sim.info["apiKey"],
                            sim.info["secretKey"],
                            str(LEVEL),
                        ],
                        hot_cpus,
                    ),
                )
            )
        # The contenders take turns, `rounds` times, so that a slow spell of the shared
        # machine falls on all of them rather than on whichever ran during it; each round
        # starts one contender further on, so that none always runs right after the same
        # one (which turned out to move a contender's figures by several µs).
        hists: dict[str, HdrHistogram] = {}
        turns: dict[str, list[float]] = {}
        for round_no in range(rounds):
            start = round_no % len(contenders)
            for name, measure in contenders[start:] + contenders[:start]:
                hist = measure(samples // rounds)
                turns.setdefault(name, []).append(hist.get_value_at_percentile(50) / 1000)
                if name in hists:
                    hists[name].add(hist)
                else:
                    hists[name] = hist
        for name, hist in hists.items():
            results[name] = {**_summary(hist), "turn_p50_us": turns[name]}
            print(
                f"{name:26s} "
                + "  ".join(
                    f"{k} {v:,.1f}" for k, v in results[name].items() if isinstance(v, int | float)
                )
                + "  turns p50 "
                + " / ".join(f"{v:.1f}" for v in turns[name]),
                flush=True,
            )
    finally:
        _stop(sim.proc)
    return results


def write(results: dict[str, dict[str, Any]], samples: int, rounds: int) -> None:
    path = HERE / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    floor = results["tick_to_trade_floor"]["p50_us"]
    default = results["tick_to_trade_default"]["p50_us"]
    spin = results["tick_to_trade_spin"]
    lines = [
        "## Tick-to-trade",
        "",
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, release build. "
        f"Command: `python bench/tick_to_trade.py --samples {samples} --rounds {rounds}`.",
        "",
        "Time from the simulator writing a public trade frame to it reading the order the "
        "trade caused, measured by the simulator (one clock, its loop busy-polling). µs. "
        f"Each trade comes after {IDLE_S * 1000:g} ms of quiet, as a trigger waiting for its "
        "level meets it; ems, the relay and the peer run pinned to CPU 1, the simulator "
        f"to CPU 0. The contenders take turns, {rounds} times each (each round starting "
        f"one contender further on), {WARMUP} warm-up trades per turn left out.",
        "",
        "| contender | p50 | p99 | p99.9 | samples |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['p99_9_us']:.1f} "
            f"| {int(r['samples'])} |"
        )
    floor_turns = results["tick_to_trade_floor"]["turn_p50_us"]
    default_turns = results["tick_to_trade_default"]["turn_p50_us"]
    lines += [
        "",
        "p50 of each turn (µs), in the order they ran: "
        + "; ".join(
            f"{name} {' / '.join(f'{v:.1f}' for v in r['turn_p50_us'])}"
            for name, r in results.items()
        )
        + ". Default over floor, turn by turn: "
        + ", ".join(f"{d / f:.2f}x" for d, f in zip(default_turns, floor_turns, strict=True))
        + ".",
        "",
        "Goals: default p50 <= 1.15x floor - measured "
        f"{default / floor:.2f}x; spin p50 <= 15 µs and p99 <= 30 µs - measured "
        f"{spin['p50_us']:.1f} / {spin['p99_us']:.1f} µs"
        + (
            f"; ems >= 5x faster than the peer at p50 - measured "
            f"{results['tick_to_trade_peer']['p50_us'] / default:.1f}x"
            if "tick_to_trade_peer" in results
            else ""
        )
        + ".",
        "",
    ]
    section = "\n".join(lines)
    md = HERE / "RESULTS.md"
    text = md.read_text() if md.exists() else "# Benchmark results\n\n"
    start, end = "<!-- tick-to-trade:start -->", "<!-- tick-to-trade:end -->"
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    md.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--smoke", action="store_true", help="200 samples, no files written")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument(
        "--idle-ms",
        type=float,
        default=2.0,
        help="pause before each trade so every contender meets it idle (default 2)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="turns each contender takes; samples are split between them (default 4)",
    )
    args = p.parse_args()
    samples = 200 if args.smoke else args.samples
    global IDLE_S
    IDLE_S = args.idle_ms / 1000
    rounds = 1 if args.smoke else max(1, args.rounds)
    results = run(samples, 50 if args.smoke else WARMUP, not args.no_peer, rounds)
    if not args.smoke:
        write(results, samples, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
