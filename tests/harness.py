"""Test harness: real `ems sim` / `ems serve` processes and clients for them."""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import requests
from websockets.sync.client import ClientConnection, connect

API_KEY = "e2e-" + uuid.uuid4().hex

LOG_FILES: list[Path] = []
"""Every log file a server or simulator of this run wrote (checked for secrets at the end)."""
SECRETS: set[str] = {API_KEY}
"""Every secret this run used: API keys, venue keys and secrets, secrets keys."""
_SECRET_FLAGS = ("--key", "--secrets-key")
_SECRET_ENV = ("EMS_KEY", "EMS_SECRETS_KEY")


def secret(value: str) -> str:
    """Registers a secret a test made up, for the end-of-run log check; returns it."""
    SECRETS.add(value)
    return value


class Process:
    """A child process whose first stdout line is a JSON object describing it."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.log_path = log_path
        LOG_FILES.append(log_path)
        SECRETS.update(value for flag, value in itertools.pairwise(args) if flag in _SECRET_FLAGS)
        SECRETS.update(v for k, v in (env or {}).items() if k in _SECRET_ENV and v)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ems.cli", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
        )
        lines: queue.Queue[bytes] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{args[0]} printed nothing in 60 s; see {log_path}") from None
        if not first:
            self.stop()
            raise RuntimeError(f"{args[0]} exited: {log_path.read_text()[-2000:]}")
        self.info: dict[str, Any] = orjson.loads(first)
        for account in self.info.get("accounts", []):
            SECRETS.update(
                v for k, v in account.items() if k in ("apiKey", "secretKey", "passphrase") and v
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class Api:
    """A small REST client for the ems API."""

    def __init__(self, base: str, key: str):
        self.base = base
        self.key = key
        self.http = requests.Session()
        self.http.headers["X-API-Key"] = key

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        r = self.http.post(self.base + path, data=data, timeout=15)
        return r.status_code, r.json()

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        r = self.http.get(self.base + path, params=params, timeout=15)
        return r.status_code, r.json()

    def ws(self, path: str = "/subscribeUpdates") -> Stream:
        url = self.base.replace("http://", "ws://") + path + f"?key={self.key}"
        return Stream(connect(url, open_timeout=10, max_size=2**24))


class Stream:
    """A WebSocket client that keeps every frame it has read."""

    def __init__(self, conn: ClientConnection):
        self.conn = conn
        self.frames: list[dict[str, Any]] = []

    def send(self, body: Any) -> None:
        self.conn.send(orjson.dumps(body).decode())

    def subscribe(self, session_id: str) -> dict[str, Any]:
        self.send({"sessionId": session_id})
        return self.wait(lambda f: f.get("sessionId") == session_id, timeout=10)

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> Any:
        """The first frame (already read or new) that satisfies `predicate`."""
        for frame in self.frames:
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame in {timeout}s; got {self.frames[-8:]}")
            try:
                raw = self.conn.recv(timeout=remaining)
            except TimeoutError:
                continue
            frame = orjson.loads(raw)
            self.frames.append(frame)
            if predicate(frame):
                return frame

    def close(self) -> None:
        self.conn.close()


class QuietListener:
    """A venue listener that takes every report and position and keeps none: for tests
    that drive a venue module in process and look only at what its calls return."""

    def on_report(self, report: Any) -> None: ...

    def on_venue_position(self, symbol: str, position: float) -> None: ...

    def on_stream_state(self, connected: bool, reason: str) -> None: ...


def venue_recent_orders(
    exchange: str,
    account: dict[str, str],
    urls: dict[str, str],
    symbols: set[str],
    since_ms: int,
) -> list[Any]:
    """Starts the venue module of `exchange` in process on one account, asks it for
    `recent_orders` (what reconciliation reads) and stops it."""
    from ems.venues.registry import VenueParams, create_venue

    async def run() -> list[Any]:
        params = VenueParams(
            exchange=exchange,
            api_key=account["apiKey"],
            secret=account["secretKey"],
            passphrase=account.get("passphrase", ""),
            rest_url=urls["restUrl"],
            ws_url=urls["wsUrl"],
            local_address=None,
            testnet=False,
            use_margin=False,
        )
        venue = create_venue(params, QuietListener())  # type: ignore[arg-type]
        await venue.start()
        try:
            return await venue.recent_orders(symbols, since_ms)
        finally:
            await venue.stop()

    return asyncio.run(run())
