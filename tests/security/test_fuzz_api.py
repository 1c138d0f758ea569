"""Fuzz the REST API from its own OpenAPI document: no 5xx, no crash.

Runs against a dedicated `ems serve` with one session on the simulator, so fuzzed kill
switches and pulls disturb no other test. `startOrderHandler` is fuzzed separately with
its URLs pinned to loopback: generated URLs must never send traffic off this machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.e2e.conftest import start_session
from tests.harness import Api, Process

from ems.api.openapi import openapi_document

KEY = "fuzz-" + uuid.uuid4().hex
SKIP = {"/startOrderHandler", "/subscribeUpdates", "/subscribePositions"}

schema = schemathesis.openapi.from_dict(openapi_document())
CALLS: list[int] = []


@pytest.fixture(scope="module")
def fuzz_server(logs_dir: Path, sim: dict[str, Any]) -> Iterator[Api]:
    logs = logs_dir / "fuzz"
    logs.mkdir(exist_ok=True)
    process = Process(
        ["serve", "--key", KEY, "--port", "0", "--promPort", "0", "--journal", "none"],
        logs / "ems.log",
    )
    api = Api(process.info["url"], KEY)
    start_session(api, sim, "binance-spot", "fuzz-session")
    yield api
    process.stop()
    assert process.proc.returncode in (0, -15), "the server died during fuzzing"


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_server_fail(case: Any, fuzz_server: Api) -> None:
    if case.path in SKIP:
        return
    before = _state(fuzz_server)
    response = case.call(base_url=fuzz_server.base, headers={"X-API-Key": KEY}, timeout=10)
    CALLS.append(response.status_code)
    assert response.status_code < 500, (case.path, case.body, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert "error" in body, body
        # A refused request changes nothing.
        assert _state(fuzz_server) == before, (case.path, case.body)


def _state(api: Api) -> Any:
    """What a request could change, as the API shows it (venue replies to earlier
    accepted orders may still move order statuses, so orders count by id)."""
    orders = api.get("/orders", sessionId="fuzz-session", all="true")[1]
    return (
        sorted(s["sessionId"] for s in api.get("/sessions")[1]),
        api.get("/killSwitch")[1],
        api.get("/riskLimits", sessionId="fuzz-session")[1],
        sorted(o["clOrderId"] for o in orders),
    )


@given(
    body=st.dictionaries(
        st.sampled_from(
            ["exchangeKey", "sessionId", "restUrl", "wsUrl", "interface", "useMargin", "junk"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=20),
            st.dictionaries(
                st.sampled_from(["apiKey", "secretKey", "exchange", "x"]),
                st.one_of(st.text(max_size=10), st.integers()),
            ),
        ),
    )
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_start_order_handler_refuses_junk_cleanly(
    body: dict[str, Any], fuzz_server: Api, sim: dict[str, Any]
) -> None:
    # URLs are pinned to the simulator (or a closed loopback port): no traffic leaves.
    for name in ("restUrl", "wsUrl"):
        if name in body:
            body[name] = "http://127.0.0.1:9" if name == "restUrl" else "ws://127.0.0.1:9"
    body.pop("interface", None)
    r = requests.post(
        fuzz_server.base + "/startOrderHandler", json=body, headers={"X-API-Key": KEY}, timeout=10
    )
    assert r.status_code in (400, 404, 409, 502), (body, r.status_code, r.text)
    assert "error" in r.json()


def test_the_fuzzed_server_still_serves_its_session(fuzz_server: Api):
    code, body = fuzz_server.get("/orders", sessionId="fuzz-session")
    assert code == 200 and isinstance(body, list)
    assert len(CALLS) >= 100, "the fuzzer sent too few requests to mean anything"
    assert any(200 <= c < 300 for c in CALLS) and any(400 <= c < 500 for c in CALLS)


_ORDER_KEYS = [
    "clOrderId",
    "symbol",
    "sessionId",
    "price",
    "qty",
    "orderType",
    "transactionType",
    "tif",
    "side",
]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "insert",
            "update",
            "delete",
            "pull",
            "fuzz-session",
            "BTCUSDT",
            "limit",
            "market",
            "gtc",
            "buy",
        ]
    ),
)


@given(
    messages=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(_ORDER_KEYS), _VALUES, max_size=9),
            st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_websocket_messages_never_break_the_socket(messages: list[Any], fuzz_server: Api):
    import json

    import orjson
    from websockets.sync.client import connect

    url = fuzz_server.base.replace("http", "ws") + f"/subscribeUpdates?key={KEY}"
    before = _state(fuzz_server)
    accepted = False
    with connect(url) as ws:
        for message in messages:
            if isinstance(message, dict):
                # json, not orjson: huge integers and NaN must reach the server as sent.
                message = json.dumps(message)
            ws.send(message)
        # The socket still answers: a subscription is acknowledged after the junk.
        ws.send('{"sessionId": "fuzz-session"}')
        deadline = 50
        while deadline:
            frame = orjson.loads(ws.recv(timeout=5))
            if frame.get("event") == "subscribed":
                break
            accepted = accepted or "orderStatus" in frame
            assert "error" in frame or frame.get("orderStatus") in (
                "rejected",
                "pendingnew",
                "pendingcancel",
                "pendingupdate",
                "new",
                "cancelled",
                "expired",
                "filled",
                "partiallyfilled",
            ), frame
            deadline -= 1
        assert deadline, "no subscription acknowledgement"
    if not accepted:
        # Every message was refused (error frames only): none of them changed anything.
        assert _state(fuzz_server) == before, messages
