"""`ems demo`'s simulator is a moving market, not a static book."""

from __future__ import annotations

import time

import requests

from ems.demo import start_simulator


def test_demo_simulator_market_moves():
    proc, venues = start_simulator()
    try:
        url = f"{venues['binance-spot']['restUrl']}/api/v3/ticker/bookTicker"

        def top() -> tuple[str, str]:
            t = requests.get(url, params={"symbol": "BTCUSDT"}, timeout=5).json()
            return t["bidPrice"], t["askPrice"]

        first = top()
        deadline = time.monotonic() + 10
        while top() == first:
            assert time.monotonic() < deadline, f"the book stayed at {first} for 10 s"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
