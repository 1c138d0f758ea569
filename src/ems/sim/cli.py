"""``ems sim``: run the Binance simulators (spot, USD-M, COIN-M) on loopback.

The first line on stdout is one JSON object, flushed at once::

    {"binance-spot": {"restUrl": "http://127.0.0.1:P1", "wsUrl": "ws://127.0.0.1:P1"},
     "binance-usdm-future": {...}, "binance-coinm-future": {...},
     "apiKey": "...", "secretKey": "...",
     "accounts": [{"apiKey": "...", "secretKey": "..."}, ...]}

``accounts`` holds the funded test accounts (the first one is repeated at top level;
OKX keys also carry a ``passphrase``);
their keys depend only on ``--seed``.  Every product has one aiohttp server carrying REST,
WebSocket and the ``/sim/*`` admin API (see :mod:`ems.sim.binance.rest`).  Logs go to
stderr; SIGTERM and SIGINT stop the process cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import sys
from typing import Any

import orjson

from ems.sim.binance.auth import make_credentials
from ems.sim.okx.auth import passphrase_for
from ems.sim.registry import SimVenue, build_all

log = logging.getLogger("ems.sim")

ACCOUNT_COUNT = 3
DEPTH_TICK_MS = 50


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The ``ems sim`` flags."""
    parser = argparse.ArgumentParser(prog="ems sim", description="Binance venue simulators")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="first port (P, P+1, P+2); 0 picks free ports"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of keys and market maker")
    parser.add_argument(
        "--mm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the synthetic market maker (default on)",
    )
    parser.add_argument(
        "--mm-interval-ms",
        type=int,
        default=0,
        help="drift the market maker's mid every N ms (default 0: no drift)",
    )
    parser.add_argument(
        "--spin",
        action="store_true",
        help="busy-poll the event loop (benchmarks: no wake-up latency; burns a core)",
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    return parser.parse_args(argv)


async def _tick(venues: list[SimVenue], stop: asyncio.Event) -> None:
    """Publishes interval streams (diff depth) on their schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    while not stop.is_set():
        tick += DEPTH_TICK_MS
        delay = start + tick / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for venue in venues:
            try:
                venue.tick(tick)
            except Exception:
                log.exception("depth flush failed")


async def _drift(venues: list[SimVenue], interval_ms: int, stop: asyncio.Event) -> None:
    """Moves the market makers' mids every interval."""
    while not stop.is_set():
        await asyncio.sleep(interval_ms / 1000)
        for venue in venues:
            try:
                venue.drift()
            except Exception:
                log.exception("market maker drift failed")


async def serve(args: argparse.Namespace) -> int:
    """Starts every simulator, prints the first line and runs until signalled."""
    credentials = make_credentials(args.seed, ACCOUNT_COUNT)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if args.spin:

        def again() -> None:
            loop.call_soon(again)

        loop.call_soon(again)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ports = itertools.count(args.port)

    def port_for() -> int:
        return next(ports) if args.port else 0

    venues = build_all(credentials, args.seed, args.mm)
    started: list[SimVenue] = []
    first_line: dict[str, Any] = {}
    try:
        for venue in venues:
            first_line.update(await venue.start(args.host, port_for))
            started.append(venue)
        first_line["apiKey"] = credentials[0].api_key
        first_line["secretKey"] = credentials[0].secret_key
        # OKX keys also have a passphrase; other venues ignore the extra field.
        first_line["passphrase"] = passphrase_for(credentials[0])
        first_line["accounts"] = [
            {"apiKey": c.api_key, "secretKey": c.secret_key, "passphrase": passphrase_for(c)}
            for c in credentials
        ]
        sys.stdout.write(orjson.dumps(first_line).decode() + "\n")
        sys.stdout.flush()
        tasks = [asyncio.create_task(_tick(started, stop))]
        if args.mm_interval_ms > 0:
            tasks.append(asyncio.create_task(_drift(started, args.mm_interval_ms, stop)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        for venue in started:
            await venue.stop()
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``ems sim``; returns the process exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a declared dependency
        runner = asyncio.run
    try:
        return int(runner(serve(args)))
    except KeyboardInterrupt:
        return 0
