"""`ems sim` as a process: the first stdout line, ports, seeded keys, clean exit."""

from __future__ import annotations

import random
import signal
import socket
import time
from pathlib import Path

import requests
from tests.sim.conftest import PRODUCTS, SimProcess, start_sim


def _free_port_block() -> int:
    """A port P with P..P+15 free right now (every simulator family binds its own
    ports in sequence). Searched below the kernel's ephemeral range, where other
    processes' client sockets cannot take a port between the probe and the bind."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20000, 30000)
        probes = []
        try:
            for offset in range(16):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return base
    raise RuntimeError("no block of 16 free ports")


def test_first_line_describes_every_product_and_funded_accounts(sim_process: SimProcess):
    info = sim_process.info
    # Other venue families add their own keys; the Binance ones are always there.
    assert {*PRODUCTS, "apiKey", "secretKey", "accounts"} <= set(info)
    for product in PRODUCTS:
        rest, ws = info[product]["restUrl"], info[product]["wsUrl"]
        assert rest.startswith("http://127.0.0.1:") and ws == rest.replace("http://", "ws://")
    assert len(info["accounts"]) >= 3
    first = info["accounts"][0]
    assert (first["apiKey"], first["secretKey"]) == (info["apiKey"], info["secretKey"])
    assert len({a["apiKey"] for a in info["accounts"]}) == len(info["accounts"])


def test_fixed_port_seeded_keys_and_sigterm_exit(tmp_path: Path, sim_process: SimProcess):
    port = _free_port_block()
    process = start_sim(["--port", str(port), "--seed", "1", "--no-mm"], tmp_path / "sim.log")
    try:
        urls = [process.info[p]["restUrl"] for p in PRODUCTS]
        assert urls == [f"http://127.0.0.1:{port + i}" for i in range(3)]
        # Same seed, same keys (the session simulator also runs with the default seed 1).
        assert process.info["accounts"] == sim_process.info["accounts"]
        session = requests.Session()
        session.trust_env = False
        depth = session.get(
            f"{urls[0]}/api/v3/depth", params={"symbol": "BTCUSDT"}, timeout=5
        ).json()
        assert depth["bids"] == [] and depth["asks"] == []  # --no-mm: empty books
    finally:
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(10) == 0
        process.stop()
    other = start_sim(["--seed", "2", "--mm-interval-ms", "20"], tmp_path / "sim2.log")
    try:
        assert other.info["apiKey"] != sim_process.info["apiKey"]
        # With --mm-interval-ms the maker's mid drifts: the best bid moves.
        session = requests.Session()
        session.trust_env = False
        url = other.info["binance-spot"]["restUrl"] + "/api/v3/ticker/bookTicker"
        seen = set()
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            seen.add(session.get(url, params={"symbol": "BTCUSDT"}, timeout=5).json()["bidPrice"])
            time.sleep(0.05)
        assert len(seen) >= 2
    finally:
        other.proc.send_signal(signal.SIGINT)
        assert other.proc.wait(10) == 0
        other.stop()
