"""`ems demo`: the simulator, the server and sample sessions, ready to trade."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import subprocess
import sys
from typing import Any

import orjson
import uvloop

from ems.config import Config
from ems.server import Server, configure_logging
from ems.venues.registry import VenueParams

DEMO_SESSIONS = (
    ("demo-spot", "binance-spot"),
    ("demo-usdm", "binance-usdm-future"),
    ("demo-coinm", "binance-coinm-future"),
    ("demo-okx", "okx"),
    ("demo-bybit", "bybit-linear"),
    ("demo-deribit", "deribit"),
)


DEMO_MM_INTERVAL_MS = 500
"""The demo market moves: its market makers step their mids twice a second."""


def start_simulator() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Starts `ems sim --port 0` with a moving market and reads the URLs and account it
    prints first."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ems.cli",
            "sim",
            "--port",
            "0",
            "--mm-interval-ms",
            str(DEMO_MM_INTERVAL_MS),
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the simulator exited before printing its URLs")
    return proc, orjson.loads(line)


async def _run(cfg: Config, venues: dict[str, Any]) -> None:
    server = Server(cfg)
    await server.start()
    for session_id, exchange in DEMO_SESSIONS:
        if exchange not in venues:
            continue
        await server.engine.start_session(
            session_id,
            VenueParams(
                exchange=exchange,
                api_key=venues["apiKey"],
                secret=venues["secretKey"],
                passphrase=venues.get("passphrase", ""),
                rest_url=venues[exchange]["restUrl"],
                ws_url=venues[exchange]["wsUrl"],
                local_address=None,
                testnet=False,
                use_margin=False,
            ),
        )
    base = f"http://{cfg.host}:{server.port}"
    print(
        f"""
ems demo is running against the venue simulator.

  API (REST + WebSocket): {base}      key: {cfg.key}
  metrics:                http://{cfg.host}:{server.prom_port}/metrics
  sessions:               {", ".join(s for s, _ in DEMO_SESSIONS)}
  simulator:              {venues.get("binance-spot", {}).get("restUrl")}

Try:
  curl -s -H 'X-API-Key: {cfg.key}' -d '{{"sessionId":"demo-spot","clOrderId":"c1",\
"symbol":"BTCUSDT","side":"buy","qty":0.001,"price":20000,"transactionType":"insert"}}' \
{base}/sendOrder
  curl -s -H 'X-API-Key: {cfg.key}' '{base}/orders?sessionId=demo-spot'
  websocket: {base.replace("http", "ws")}/subscribeUpdates?key={cfg.key}  then send \
{{"sessionId":"demo-spot"}}

Ctrl-C stops it.""",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str]) -> int:
    """Entry point of `ems demo`."""
    p = argparse.ArgumentParser(prog="ems demo", description=__doc__)
    p.add_argument("--port", type=int, default=35027)
    p.add_argument("--promPort", type=int, default=9091)
    p.add_argument("--key", default=None, help="API key (a random one by default)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    configure_logging(args.debug)
    cfg = Config(
        key=args.key or secrets.token_urlsafe(16),
        port=args.port,
        promPort=args.promPort,
        journal="none",  # the demo's simulator forgets everything on exit anyway
    )
    sim, venues = start_simulator()
    try:
        uvloop.run(_run(cfg, venues))
    finally:
        sim.terminate()
        try:
            sim.wait(5)
        except subprocess.TimeoutExpired:
            sim.kill()
    return 0
