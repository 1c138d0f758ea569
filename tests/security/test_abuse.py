"""No one in, nothing leaked: keys, oversized input, slow and many clients, secrets."""

from __future__ import annotations

import socket
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from tests import harness
from tests.e2e.conftest import start_session
from tests.harness import API_KEY, Api
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def _status(api: Api, key: str | None) -> int:
    headers = {} if key is None else {"X-API-Key": key}
    return requests.get(api.base + "/openapi.json", headers=headers, timeout=5).status_code


def test_wrong_missing_and_near_miss_keys_are_refused(api: Api):
    assert _status(api, None) == 401
    assert _status(api, "") == 401
    assert _status(api, API_KEY[:-1]) == 401
    assert _status(api, API_KEY + "x") == 401
    assert _status(api, API_KEY.upper()) == 401
    assert _status(api, API_KEY) == 200


def test_key_comparison_time_does_not_depend_on_the_matching_prefix(api: Api):
    """A timing probe: keys sharing a long prefix with the real one are not refused
    measurably later than keys sharing nothing (constant-time comparison)."""
    http = requests.Session()

    def timed(key: str) -> float:
        samples = []
        for _ in range(60):
            t0 = time.perf_counter()
            http.get(api.base + "/openapi.json", headers={"X-API-Key": key}, timeout=5)
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    near = API_KEY[:-1] + ("a" if API_KEY[-1] != "a" else "b")
    far = "z" * len(API_KEY)
    # Interleaved rounds, best of three: network noise dominates single rounds, while a
    # prefix-dependent compare would show up as a consistent gap in every round.
    gaps = []
    for _ in range(3):
        t_near, t_far = timed(near), timed(far)
        gaps.append(abs(t_near - t_far) / max(t_near, t_far))
    assert min(gaps) < 0.3, gaps


def test_oversized_bodies_and_frames_are_refused(api: Api):
    r = requests.post(
        api.base + "/sendOrder",
        data=b"{" + b" " * (300 * 1024) + b"}",
        headers={"X-API-Key": api.key},
        timeout=10,
    )
    assert r.status_code == 413 and r.json()["field"] == "body"
    ws = connect(api.base.replace("http", "ws") + f"/subscribeUpdates?key={api.key}", max_size=None)
    ws.send("x" * (300 * 1024))
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    # The server is unharmed.
    assert _status(api, api.key) == 200


def test_a_slow_client_does_not_hold_the_server(api: Api):
    host, port = api.base.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST /sendOrder HTTP/1.1\r\nHost: x\r\nX-API-Key: " + api.key.encode())
    # ...and never finishes its request. Everyone else is served meanwhile.
    for _ in range(20):
        assert _status(api, api.key) == 200
    slow.close()


def test_many_connections_at_once(api: Api):
    sockets = []
    try:
        for _ in range(200):
            sockets.append(
                connect(api.base.replace("http", "ws") + f"/subscribeUpdates?key={api.key}")
            )
        for ws in sockets[:20]:
            ws.send('{"sessionId": "nope"}')
            assert b"sessionId" in ws.recv(timeout=5).encode()
        assert _status(api, api.key) == 200
    finally:
        for ws in sockets:
            ws.close()


def test_secrets_never_leak_into_responses_metrics_or_logs(
    api: Api, sim: dict[str, Any], ems_server: Any, logs_dir: Path
):
    session_id = f"leak-{uuid.uuid4().hex[:6]}"
    m = start_session(api, sim, "binance-spot", session_id)
    bid, _ = m.best()
    m.send(
        clOrderId=m.cl(),
        transactionType="insert",
        side="buy",
        price=m.price(bid - 300 * m.tick),
        qty=0.001,
    )
    m.send(transactionType="pull")
    api.post("/setLogLevel", {"logLevel": "debug"})
    m.send(clOrderId=m.cl(), transactionType="insert", side="buy", price=1.001, qty=0.001)
    api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {
                "apiKey": "k",
                "secretKey": harness.secret("wrong-secret-x"),
                "exchange": "binance-spot",
            },
            "sessionId": "leak-bad",
            "restUrl": sim["binance-spot"]["restUrl"],
            "wsUrl": sim["binance-spot"]["wsUrl"],
        },
    )
    api.post("/setLogLevel", {"logLevel": "info"})
    seen = [
        requests.get(ems_server.info["metrics"], timeout=5).text,
        str(api.get("/sessions")[1]),
        str(api.get("/orders", sessionId=session_id, all="true")[1]),
        str(api.get("/openapi.json")[1]),
        str(api.get("/riskLimits", sessionId=session_id)[1]),
    ]
    for path in logs_dir.glob("*"):
        if path.is_file() and path.suffix == ".log":
            seen.append(path.read_text(errors="replace"))
    text = "\n".join(seen)
    for account in sim["accounts"]:
        assert account["secretKey"] not in text
        assert account["apiKey"] not in text  # masked to first/last four in logs
    assert "wrong-secret-x" not in text
    assert API_KEY not in text
