"""Tick-to-trade: a public trade from the simulator fires a trigger; how long until the
simulator reads the resulting order?

Contenders, measured in one run against one `ems sim`, taking turns (--rounds):
  tick_to_trade_default  ems serve (trigger manager), event loop sleeping in the kernel
                         and rehearsing the armed path every millisecond
  tick_to_trade_default_unrehearsed  the same with --rehearse-us 0
  tick_to_trade_spin     ems serve --spin --cpus 1 (busy-polling loop on its own core)
  tick_to_trade_floor    bench/relay.py: answers every trade frame with a fixed order
  tick_to_trade_floor_spin        the same relay, its loop busy-polling
  tick_to_trade_floor_raw_spin    relay.py --raw: no event loop, plain sockets busy-polled
  tick_to_trade_peer     bench/peer_client.py: the same trigger with python-binance
  tick_to_trade_default_idle_poll  ems serve --cpu-latency-us 0: sleeping as in default
                         mode, but idle CPUs poll instead of halting (needs root)
  tick_to_trade_floor_idle_poll    the relay, holding the same CPU latency limit

The simulator stamps the moment it writes the trade frame and the moment it reads the
next order request (`POST /sim/trade` with `"probe": true`, see ems.sim.probe), so every
number is measured by the same process with the same clock.

    python bench/tick_to_trade.py               # 20,000 samples per contender
    python bench/tick_to_trade.py --smoke       # 200 samples, for CI
    python bench/tick_to_trade.py --side-by-side   # the sleeping ones at once (prints only)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from hdrh.histogram import HdrHistogram

HERE = Path(__file__).resolve().parent
SYMBOL = "BTCUSDT"
"""ems's symbol. The contenders that run side by side each answer trades on their own
symbol (and the relay and the peer trade on the simulator's second account), so a trade
printed for one of them reaches none of the others."""
RELAY_SYMBOL = "ETHUSDT"
PEER_SYMBOL = "BNBUSDT"
LEVEL = 30000.0
FAR_PRICE = 10000.0
IDLE_S = 0.002
WARMUP = 200
"""Trades per contender that are not recorded (connections and caches settle)."""
KEY = "bench-" + uuid.uuid4().hex
LATENCY_DEVICE = "/dev/cpu_dma_latency"


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
        self.other = self.info["accounts"][1]
        """The account the relay and the peer trade on (ems trades on the first)."""
        self.http = requests.Session()
        # No market maker: each print happens exactly at the level, and no order fills.
        for symbol in (SYMBOL, RELAY_SYMBOL, PEER_SYMBOL):
            self.admin("/sim/book", {"symbol": symbol, "clear": True})

    def admin(self, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(self.spot["restUrl"] + path, json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def probe(self, symbol: str) -> int | None:
        reply = self.admin(
            "/sim/trade",
            {"symbol": symbol, "price": LEVEL, "qty": 0.001, "side": "buy", "probe": True},
        )
        return reply["probe"]["latencyNs"] if reply.get("probe") else None


class Contender:
    """A running process that answers trades on `symbol`; `before_each` (if any) runs
    before each of its trades (ems: set the trigger the trade will fire)."""

    def __init__(
        self,
        name: str,
        symbol: str,
        proc: subprocess.Popen[bytes],
        before_each: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.symbol = symbol
        self.proc = proc
        self.before_each = before_each
        self.hist = HdrHistogram(1_000, 10_000_000_000, 3)
        self.blocks: list[float] = []
        """p50 (µs) of each block of samples, in the order they were taken."""
        self._block = HdrHistogram(1_000, 10_000_000_000, 3)
        self._misses = 0
        self.taken = 0
        """Trades sent so far (numbers the triggers, which must not repeat)."""

    def sample(self, sim: Sim, record: bool) -> None:
        self.taken += 1
        if self.before_each is not None:
            self.before_each(self.taken)
        # Let earlier orders' replies and events settle, so that the contender meets the
        # trade idle, as a strategy waiting for its level would.
        time.sleep(IDLE_S)
        latency = sim.probe(self.symbol)
        if latency is None:
            self._misses += 1
            if self._misses > 10:
                raise RuntimeError(f"{self.name} stopped answering trades")
            return
        if record:
            self.hist.record_value(latency)
            self._block.record_value(latency)

    def end_block(self) -> None:
        if self._block.get_total_count():
            self.blocks.append(self._block.get_value_at_percentile(50) / 1000)
            self._block.reset()

    def stop(self) -> None:
        _stop(self.proc)


def _ems(sim: Sim, name: str, extra: list[str], cpus: set[int] | None) -> Contender:
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
    except BaseException:
        _stop(proc)
        raise

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

    return Contender(name, SYMBOL, proc, arm)


def _relay(sim: Sim, name: str, extra: list[str], cpus: set[int] | None) -> Contender:
    md = f"{sim.spot['wsUrl']}/ws/{RELAY_SYMBOL.lower()}@trade"
    args = [str(HERE / "relay.py"), md, sim.spot["restUrl"], sim.other["apiKey"], *extra]
    proc, _ = _start([sys.executable, *args], cpus)
    return Contender(name, RELAY_SYMBOL, proc)


def _peer(sim: Sim, name: str, cpus: set[int] | None) -> Contender:
    args = [
        str(HERE / "peer_client.py"),
        sim.spot["restUrl"],
        sim.spot["wsUrl"],
        sim.other["apiKey"],
        sim.other["secretKey"],
        str(LEVEL),
        PEER_SYMBOL,
    ]
    proc, _ = _start([sys.executable, *args], cpus)
    time.sleep(0.5)  # let it subscribe
    return Contender(name, PEER_SYMBOL, proc)


def _side_by_side(
    sim: Sim, contenders: list[Contender], samples: int, warmup: int, block: int
) -> None:
    """All running at once and sampled one trade each in turn (the order rotating by one
    every round): each meets its trade with the caches its neighbours have used."""
    for i in range(warmup + samples):
        shift = i % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender.sample(sim, i >= warmup)
        if i >= warmup and (i - warmup + 1) % block == 0:
            for contender in contenders:
                contender.end_block()


def _in_turns(
    sim: Sim, starts: list[Callable[[], Contender]], samples: int, warmup: int, rounds: int
) -> list[Contender]:
    """One contender at a time (busy-polling ones would share a core otherwise), each
    `rounds` times, each round starting one contender further on (which one ran just
    before was seen to move a contender's figures by several µs)."""
    done: dict[int, Contender] = {}
    for round_no in range(rounds):
        order = list(range(len(starts)))
        order = order[round_no % len(order) :] + order[: round_no % len(order)]
        for k in order:
            contender = starts[k]()
            try:
                for i in range(warmup + samples // rounds):
                    contender.sample(sim, i >= warmup)
                contender.end_block()
            finally:
                contender.stop()
            if k in done:
                done[k].hist.add(contender.hist)
                done[k].blocks += contender.blocks
            else:
                done[k] = contender
    return [done[k] for k in range(len(starts))]


def run(
    samples: int, warmup: int, with_peer: bool, rounds: int, side_by_side: bool
) -> dict[str, dict[str, Any]]:
    two_cores = len(os.sched_getaffinity(0)) >= 2
    sim_cpus = {0} if two_cores else None
    hot_cpus = {1} if two_cores else None
    os.sched_setaffinity(0, sim_cpus or os.sched_getaffinity(0))
    sim = Sim(sim_cpus)
    results: dict[str, dict[str, Any]] = {}
    spin = ["--spin"] + (["--cpus", "1"] if two_cores else [])
    sleeping: list[Callable[[], Contender]] = [
        lambda: _relay(sim, "tick_to_trade_floor", [], hot_cpus),
        lambda: _ems(sim, "tick_to_trade_default", [], hot_cpus),
        lambda: _ems(sim, "tick_to_trade_default_unrehearsed", ["--rehearse-us", "0"], hot_cpus),
    ]
    if with_peer:
        sleeping.append(lambda: _peer(sim, "tick_to_trade_peer", hot_cpus))
    idle_poll: list[Callable[[], Contender]] = []
    if _can_hold_cpu_latency():
        # Each holds the machine-wide limit only while its own turn runs.
        idle_poll = [
            lambda: _relay(sim, "tick_to_trade_floor_idle_poll", ["--idle-poll"], hot_cpus),
            lambda: _ems(
                sim, "tick_to_trade_default_idle_poll", ["--cpu-latency-us", "0"], hot_cpus
            ),
        ]
    else:
        print(f"no write access to {LATENCY_DEVICE}: the idle-poll contenders are left out")
    spinning: list[Callable[[], Contender]] = [
        lambda: _relay(sim, "tick_to_trade_floor_spin", ["--spin"], hot_cpus),
        lambda: _relay(sim, "tick_to_trade_floor_raw_spin", ["--raw"], hot_cpus),
        lambda: _ems(sim, "tick_to_trade_spin", spin, None),
    ]
    measured: list[Contender] = []
    try:
        if side_by_side:
            running: list[Contender] = []
            try:
                for start in sleeping:
                    running.append(start())
                _side_by_side(sim, running, samples, warmup, max(1, samples // rounds))
            finally:
                for contender in running:
                    contender.stop()
            measured = running + _in_turns(sim, idle_poll + spinning, samples, warmup, rounds)
        else:
            measured = _in_turns(sim, sleeping + idle_poll + spinning, samples, warmup, rounds)
        for contender in measured:
            results[contender.name] = {**_summary(contender.hist), "turn_p50_us": contender.blocks}
            print(
                f"{contender.name:34s} "
                + "  ".join(
                    f"{k} {v:,.1f}"
                    for k, v in results[contender.name].items()
                    if isinstance(v, int | float)
                )
                + "  turns p50 "
                + " / ".join(f"{v:.1f}" for v in contender.blocks),
                flush=True,
            )
    finally:
        _stop(sim.proc)
    return results


def _can_hold_cpu_latency() -> bool:
    """True if this process may write the kernel's CPU latency device (root)."""
    with contextlib.suppress(OSError):
        os.close(os.open(LATENCY_DEVICE, os.O_WRONLY))
        return True
    return False


def _summary(hist: HdrHistogram) -> dict[str, Any]:
    return {
        "p50_us": hist.get_value_at_percentile(50) / 1000,
        "p99_us": hist.get_value_at_percentile(99) / 1000,
        "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
        "samples": hist.get_total_count(),
    }


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
        "level meets it; the simulator runs pinned to CPU 0 and the contenders to CPU 1, "
        "one at a time, each answering trades on a symbol of its own (ems BTCUSDT, the "
        "relay ETHUSDT, the peer BNBUSDT; the relay and the peer on the simulator's second "
        f"account). They take turns, {rounds} each (each round starting one contender "
        f"further on); {WARMUP} warm-up trades per turn are left out.",
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
    unrehearsed = results.get("tick_to_trade_default_unrehearsed")
    lines += [
        "",
        "p50 of each turn (µs), in the order they ran: "
        + "; ".join(
            f"{name} {' / '.join(f'{v:.1f}' for v in r['turn_p50_us'])}"
            for name, r in results.items()
        )
        + ". Default over floor, turn by turn (adjacent turns, not the same moments): "
        + ", ".join(f"{d / f:.2f}x" for d, f in zip(default_turns, floor_turns, strict=True))
        + ".",
        "",
    ]
    if unrehearsed is not None:
        lines += [
            f"Rehearsals (`--rehearse-us`, default 1000) against none: p50 {default:.1f} "
            f"against {unrehearsed['p50_us']:.1f} µs.",
            "",
        ]
    polled = results.get("tick_to_trade_default_idle_poll")
    polled_floor = results.get("tick_to_trade_floor_idle_poll")
    if polled is not None and polled_floor is not None:
        lines += [
            "Idle CPUs polling (`--cpu-latency-us 0`; the relay holding the same limit): "
            f"ems p50 {polled['p50_us']:.1f} against the relay's "
            f"{polled_floor['p50_us']:.1f} µs ({polled['p50_us'] / polled_floor['p50_us']:.2f}x"
            f"), and against {default:.1f} µs for ems in default mode.",
            "",
        ]
    lines += [
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
    p.add_argument(
        "--side-by-side",
        action="store_true",
        help="run the sleeping contenders at once, one trade each in turn (they then meet "
        "their trades with caches their neighbours have used); prints, writes no files",
    )
    args = p.parse_args()
    samples = 200 if args.smoke else args.samples
    global IDLE_S
    IDLE_S = args.idle_ms / 1000
    rounds = 1 if args.smoke else max(1, args.rounds)
    results = run(
        samples, 50 if args.smoke else WARMUP, not args.no_peer, rounds, args.side_by_side
    )
    if not args.smoke and not args.side_by_side:
        write(results, samples, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
