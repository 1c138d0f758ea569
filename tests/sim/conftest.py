"""Fixtures for the simulator tests: one real `ems sim --port 0` process on loopback."""

from __future__ import annotations

import hashlib
import hmac
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import orjson
import pytest
import requests
from websockets.sync.client import ClientConnection, connect

PRODUCTS = ("binance-spot", "binance-usdm-future", "binance-coinm-future")
TIMEOUT = 10.0


@dataclass
class SimProcess:
    """The running simulator and its first stdout line."""

    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    log_path: Path
    log: IO[bytes]

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return int(self.proc.returncode)


def start_sim(args: list[str], log_path: Path) -> SimProcess:
    """Starts `ems sim` and reads its first line (bounded wait)."""
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the child for its lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "ems.cli", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ},
    )
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=30)
    except queue.Empty:
        proc.kill()
        log.close()
        raise RuntimeError(f"ems sim printed nothing; see {log_path}") from None
    if not first:
        log.close()
        raise RuntimeError(f"ems sim exited: {log_path.read_text()[-2000:]}")
    return SimProcess(proc, orjson.loads(first), log_path, log)


@pytest.fixture(scope="session")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One simulator for the whole session (tests reset it)."""
    process = start_sim(["--port", "0"], tmp_path_factory.mktemp("sim") / "sim.log")
    yield process
    process.stop()


def _session() -> requests.Session:
    """A requests session that never goes through an environment proxy."""
    session = requests.Session()
    session.trust_env = False
    return session


@dataclass
class Venue:
    """A signed REST client for one simulated product (raw control over query and body)."""

    base: str
    ws_base: str
    key: str
    secret: str
    http: requests.Session = field(default_factory=lambda: _session())

    def sign(self, payload: str) -> str:
        """Hex HMAC-SHA256 with the account secret."""
        return hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()

    def public(self, path: str, **params: Any) -> Any:
        """An unsigned GET; returns the decoded body (asserts 200)."""
        r = self.http.get(self.base + path, params=params, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    def signed(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        in_body: bool | None = None,
        key: str | None = None,
    ) -> tuple[int, Any, requests.structures.CaseInsensitiveDict[str]]:
        """A signed request; params go in the body for POST/PUT (or as told)."""
        query = urlencode({**(params or {}), "timestamp": int(time.time() * 1000)})
        query += "&signature=" + self.sign(query)
        body_mode = in_body if in_body is not None else method in ("POST", "PUT")
        headers = {"X-MBX-APIKEY": key or self.key}
        if body_mode:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            r = self.http.request(
                method, self.base + path, data=query, headers=headers, timeout=TIMEOUT
            )
        else:
            r = self.http.request(
                method, f"{self.base}{path}?{query}", headers=headers, timeout=TIMEOUT
            )
        return r.status_code, r.json(), r.headers

    def ok(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """A signed request that must succeed."""
        status, body, _ = self.signed(method, path, params)
        assert status == 200, body
        return body

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        """The unsigned /sim admin API."""
        r = self.http.request(method, self.base + path, timeout=TIMEOUT, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def trade(self, symbol: str, side: str, price: Any, qty: Any) -> Any:
        """An admin trade with the given aggressor side."""
        return self.admin(
            "POST", "/sim/trade", json={"symbol": symbol, "price": price, "qty": qty, "side": side}
        )

    def clear_book(self, symbol: str) -> None:
        """Pulls the market maker from a symbol."""
        self.admin("POST", "/sim/book", json={"symbol": symbol, "clear": True})

    def ws(self, path: str) -> WsClient:
        """A WebSocket client on this product's port."""
        return WsClient(
            connect(
                self.ws_base + path,
                open_timeout=TIMEOUT,
                max_size=2**24,
                proxy=None,
                compression=None,
                legacy=True,
            )
        )


class WsClient:
    """A small synchronous WebSocket client with bounded waits."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    def send(self, obj: Any) -> None:
        """Sends one JSON object."""
        self.conn.send(orjson.dumps(obj).decode())

    def recv(self, timeout: float = TIMEOUT) -> Any:
        """The next JSON message (raises TimeoutError)."""
        return orjson.loads(self.conn.recv(timeout=timeout))

    def wait(self, predicate: Any, timeout: float = TIMEOUT) -> Any:
        """The first message matching the predicate within the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message")
            msg = self.recv(left)
            if predicate(msg):
                return msg

    def drain(self, quiet: float = 0.3) -> list[Any]:
        """Everything that arrives until ``quiet`` seconds pass without a message."""
        out = []
        while True:
            try:
                out.append(self.recv(quiet))
            except TimeoutError:
                return out

    def close(self) -> None:
        """Closes the connection."""
        self.conn.close()


@dataclass
class Sim:
    """Clients for every product of the running simulator."""

    info: dict[str, Any]

    def venue(self, product: str, account: int = 0) -> Venue:
        """A client for one product and one funded account."""
        acc = self.info["accounts"][account]
        urls = self.info[product]
        return Venue(urls["restUrl"], urls["wsUrl"], acc["apiKey"], acc["secretKey"])

    @property
    def spot(self) -> Venue:
        """Spot, first account."""
        return self.venue("binance-spot")

    @property
    def usdm(self) -> Venue:
        """USD-M, first account."""
        return self.venue("binance-usdm-future")

    @property
    def coinm(self) -> Venue:
        """COIN-M, first account."""
        return self.venue("binance-coinm-future")


@pytest.fixture
def sim(sim_process: SimProcess) -> Sim:
    """The simulator, reset to its initial state before each test."""
    for product in PRODUCTS:
        r = _session().post(sim_process.info[product]["restUrl"] + "/sim/reset", timeout=TIMEOUT)
        assert r.status_code == 200
    return Sim(sim_process.info)
