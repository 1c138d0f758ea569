"""No one in, nothing leaked: keys, oversized input, slow and many clients, secrets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import inspect
import os
import socket
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from tests import harness
from tests.e2e.conftest import start_session
from tests.harness import API_KEY, Api, Process
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ems.api import app as app_module
from ems.api.app import SUBSCRIBER_QUEUE


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


def test_every_key_is_checked_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch):
    """The constant-time guarantee itself: the API's guard compares every presented key
    (header or query, right or wrong, any length) with `hmac.compare_digest`, and with
    nothing else."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    app = web.Application()
    app[app_module.API_KEY] = API_KEY

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def status(headers: dict[str, str], query: str = "") -> int:
        request = make_mocked_request("GET", "/sessions" + query, headers=headers, app=app)
        response = await app_module._guard(request, handler)
        return response.status

    near = API_KEY[:-1] + ("a" if API_KEY[-1] != "a" else "b")
    assert asyncio.run(status({"X-API-Key": API_KEY})) == 200
    assert asyncio.run(status({"X-API-Key": near})) == 401
    assert asyncio.run(status({"X-API-Key": "x"})) == 401
    assert asyncio.run(status({})) == 401
    assert asyncio.run(status({}, f"?key={near}")) == 401
    expected = API_KEY.encode()
    assert calls == [
        (API_KEY.encode(), expected),
        (near.encode(), expected),
        (b"x", expected),
        (b"", expected),
        (near.encode(), expected),
    ]
    source = inspect.getsource(app_module._guard)
    assert "compare_digest" in source and "== expected" not in source


def test_wrong_keys_differing_late_or_early_take_the_same_time_within_noise(api: Api):
    """What this probe proves, and what it does not: over loopback HTTP a request takes
    hundreds of microseconds with tens of microseconds of jitter, while an early-exit
    comparison of a 36-byte key would save nanoseconds; no network test can see that
    (the test above pins the constant-time compare itself). This one shows that nothing
    on the refusal path depends on how much of the key is right by more than the noise:
    keys of the right length wrong in the last character and in the first one are refused
    in the same time, within four standard errors of the difference of medians (or
    25 microseconds, whichever is larger)."""
    http = requests.Session()
    near = API_KEY[:-1] + ("a" if API_KEY[-1] != "a" else "b")
    far = ("a" if API_KEY[0] != "a" else "b") + API_KEY[1:]
    assert len(near) == len(far) == len(API_KEY)
    samples: dict[str, list[float]] = {near: [], far: []}
    for _ in range(300):
        # Interleaved, so a slow spell of the machine falls on both alike.
        for key in (near, far):
            t0 = time.perf_counter()
            r = http.get(api.base + "/openapi.json", headers={"X-API-Key": key}, timeout=5)
            samples[key].append(time.perf_counter() - t0)
            assert r.status_code == 401

    def median_and_error(values: list[float]) -> tuple[float, float]:
        q1, _, q3 = statistics.quantiles(values, n=4)
        sigma = (q3 - q1) / 1.349  # robust to the occasional stall
        return statistics.median(values), 1.2533 * sigma / len(values) ** 0.5

    m_near, e_near = median_and_error(samples[near])
    m_far, e_far = median_and_error(samples[far])
    bound = max(4 * (e_near**2 + e_far**2) ** 0.5, 25e-6)
    assert abs(m_near - m_far) < bound, (m_near, m_far, bound)


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


def _raw_subscriber(api: Api, session_id: str) -> socket.socket:
    """A WebSocket subscriber that never reads: a bare socket with a small receive
    buffer, the handshake and one subscribe frame, written by hand."""
    host, port = api.base.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /subscribeUpdates?key={api.key} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = orjson.dumps({"sessionId": session_id})
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + body)
    return sock


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's state of the connection (1 established; 7 closed, 8 close-wait)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_subscriber_that_stops_reading_is_cut_off_and_the_others_miss_nothing(
    sim: dict[str, Any], logs_dir: Path
):
    key = "slow-" + uuid.uuid4().hex
    server = Process(
        ["serve", "--key", key, "--port", "0", "--promPort", "0", "--journal", "none"],
        logs_dir / "slow-subscriber-ems.log",
    )
    try:
        api = Api(server.info["url"], key)
        m = start_session(api, sim, "binance-spot", "slow-subscriber")
        # Every insert is denied by risk: one update frame per order to every
        # subscriber, and nothing for the venue to do.
        assert api.post("/setRiskLimits", {"sessionId": m.session_id, "maxOrderQty": 0.001})[0]
        slow = _raw_subscriber(api, m.session_id)
        url = api.base.replace("http://", "ws://") + f"/subscribeUpdates?key={key}"
        good = connect(url, max_queue=None, max_size=2**24)
        good.send(orjson.dumps({"sessionId": m.session_id}).decode())
        received: list[int] = [0]

        def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                for raw in good:
                    if b'"riskReason"' in (raw if isinstance(raw, bytes) else raw.encode()):
                        received[0] += 1

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        bid, _ = m.best()
        order = {
            "sessionId": m.session_id,
            "symbol": m.symbol,
            "transactionType": "insert",
            "side": "buy",
            "price": m.price(bid - 300 * m.tick),
            "qty": 0.002,
        }
        # The slow one's backlog: the socket buffers, then SUBSCRIBER_QUEUE frames.
        limit = SUBSCRIBER_QUEUE + 40_000
        sent = 0
        deadline = time.monotonic() + 240
        while _tcp_state(slow) == 1:
            assert sent < limit, f"still connected after {sent} frames it did not read"
            assert time.monotonic() < deadline
            for _ in range(1000):
                sent += 1
                good.send(orjson.dumps({**order, "clOrderId": f"s{sent}"}).decode())
            # Let the server keep up (the good client stays far from the limit).
            while received[0] < sent - 5000:
                assert time.monotonic() < deadline, (received[0], sent)
                time.sleep(0.005)
        assert sent > SUBSCRIBER_QUEUE
        # The well-behaved subscriber got every frame, and the server still answers.
        while received[0] < sent:
            assert time.monotonic() < deadline, (received[0], sent)
            time.sleep(0.01)
        assert received[0] == sent
        assert _status(api, key) == 200
        good.close()
        slow.close()
    finally:
        server.stop()
    log_text = (logs_dir / "slow-subscriber-ems.log").read_text()
    assert f"fell {SUBSCRIBER_QUEUE} frames behind; disconnecting" in log_text
