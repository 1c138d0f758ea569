"""The API's refusals: each names its field, changes nothing, and the server keeps serving."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
import requests
from tests.e2e.conftest import MARKETS, Market, start_session
from tests.harness import Api


@pytest.fixture(scope="module")
def spot(api: Api, sim: dict[str, Any]) -> Market:
    return start_session(api, sim, "binance-spot", f"contract-{uuid.uuid4().hex[:8]}")


def _start(
    api: Api, account: dict[str, Any], exchange: str, session_id: str, **fields: Any
) -> tuple[int, Any]:
    """POST /startOrderHandler with the account's keys and `fields` (URLs and options)."""
    key = {k: account[k] for k in ("apiKey", "secretKey", "passphrase") if k in account}
    return api.post(
        "/startOrderHandler",
        {"exchangeKey": {**key, "exchange": exchange}, "sessionId": session_id, **fields},
    )


def _insert(m: Market, **over: Any) -> dict[str, Any]:
    bid, _ = m.best()
    body = m.order(
        clOrderId=m.cl(),
        transactionType="insert",
        side="buy",
        price=m.price(bid - 100 * m.tick),
        qty=0.001,
    )
    body.update(over)
    return body


@pytest.mark.parametrize(
    ("over", "field", "status"),
    [
        ({"price": 20000.005}, "price", 400),
        ({"qty": 0.0000001}, "qty", 400),
        ({"qty": 0.00001, "price": 20000.0}, "qty", 400),  # notional 0.2 < 5
        ({"tif": "day"}, "tif", 400),
        ({"symbol": "NOPE"}, "symbol", 400),
        ({"sessionId": "no-such-session"}, "sessionId", 404),
        ({"side": None}, "side", 400),
        ({"price": None}, "price", 400),
        ({"price": "20000"}, "price", 400),
        ({"orderType": "stop"}, "orderType", 400),
        ({"orderType": "market", "tif": "fok"}, "tif", 400),
        ({"orderType": "postonly", "tif": "ioc"}, "tif", 400),
    ],
)
def test_bad_orders_are_refused_with_the_field(spot: Market, over, field, status):
    code, body = spot.api.post("/sendOrder", _insert(spot, **over))
    assert (code, body.get("field")) == (status, field), body
    assert body["error"]


def test_duplicate_client_order_id_is_refused_and_the_first_order_survives(spot: Market):
    body = _insert(spot)
    assert spot.api.post("/sendOrder", body)[0] == 200
    code, err = spot.api.post("/sendOrder", body)
    assert code == 409 and err["field"] == "clOrderId"
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    assert body["clOrderId"] in [o["clOrderId"] for o in working]
    spot.send(transactionType="pull")


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b""])
def test_malformed_json_is_refused(api: Api, raw: bytes):
    code, body = api.post("/sendOrder", raw)
    assert code == 400 and body["field"] == "body"


def test_unknown_order_for_update_and_delete(spot: Market):
    for tx in ("update", "delete"):
        code, body = spot.send(clOrderId="never-sent", transactionType=tx, price=1.0)
        assert code == 404 and body["field"] == "clOrderId"


def test_session_id_cannot_be_reused(api: Api, sim: dict[str, Any], spot: Market):
    code, body = _start(
        api, sim["accounts"][0], "binance-spot", spot.session_id, **sim["binance-spot"]
    )
    assert code == 409 and body["field"] == "sessionId"


@pytest.mark.parametrize(
    ("key_over", "field"),
    [
        ({"secretKey": "wrong-secret"}, "exchangeKey"),
        ({"apiKey": "no-such-key"}, "exchangeKey"),
        ({"exchange": "nasdaq"}, "exchangeKey.exchange"),
        ({"secretKey": None}, "exchangeKey.secretKey"),
    ],
)
def test_bad_exchange_keys_are_refused(api: Api, sim: dict[str, Any], key_over, field):
    account = sim["accounts"][0]
    key = {
        "apiKey": account["apiKey"],
        "secretKey": account["secretKey"],
        "exchange": "binance-spot",
        **key_over,
    }
    code, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {k: v for k, v in key.items() if v is not None},
            "sessionId": f"bad-{uuid.uuid4().hex[:6]}",
            "restUrl": sim["binance-spot"]["restUrl"],
            "wsUrl": sim["binance-spot"]["wsUrl"],
        },
    )
    assert code == 400 and body["field"] == field, body
    assert account["secretKey"] not in str(body)


def test_unreachable_venue_is_a_502_naming_rest_url(api: Api, sim: dict[str, Any]):
    code, body = _start(
        api,
        sim["accounts"][0],
        "binance-spot",
        f"down-{uuid.uuid4().hex[:6]}",
        restUrl="http://127.0.0.1:9",
        wsUrl="ws://127.0.0.1:9",
    )
    assert code == 502 and body["field"] == "restUrl"


@pytest.mark.parametrize("exchange", ["binance-spot", "okx", "deribit"])
def test_an_unreachable_websocket_is_a_502_naming_ws_url(
    api: Api, sim: dict[str, Any], exchange: str
):
    """The REST endpoint answers, the WebSocket (FIX for Deribit) does not: the refusal
    names wsUrl, not restUrl."""
    account = sim["accounts"][0]
    code, body = _start(
        api,
        account,
        exchange,
        f"nows-{uuid.uuid4().hex[:6]}",
        restUrl=sim[exchange]["restUrl"],
        wsUrl="127.0.0.1:9" if exchange == "deribit" else "ws://127.0.0.1:9",
    )
    assert code == 502 and body["field"] == "wsUrl", body
    assert account["secretKey"] not in str(body)


def test_requests_without_the_key_are_refused(api: Api):
    for method, path in (("GET", "/orders"), ("POST", "/sendOrder"), ("GET", "/openapi.json")):
        r = requests.request(method, api.base + path, timeout=5)
        assert r.status_code == 401 and r.json()["field"] == "key"
    r = requests.get(api.base + "/openapi.json", headers={"X-API-Key": api.key + "x"}, timeout=5)
    assert r.status_code == 401
    r = requests.get(api.base + "/openapi.json", params={"key": api.key}, timeout=5)
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")


def test_websocket_without_the_key_is_refused(api: Api):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as info:
        connect(api.base.replace("http", "ws") + "/subscribeUpdates", open_timeout=5)
    assert info.value.response.status_code == 401


def test_stream_orders_with_bad_fields_come_back_rejected(spot: Market):
    ws = spot.stream()
    bad = _insert(spot, price=20000.005)
    ws.send(bad)
    frame = ws.wait(lambda f: f.get("clOrderId") == bad["clOrderId"])
    assert frame["orderStatus"] == "rejected" and "price" in frame["message"]
    # The same socket still trades.
    good = _insert(spot)
    ws.send(good)
    ws.wait(lambda f: f.get("clOrderId") == good["clOrderId"] and f["orderStatus"] == "new")
    ws.send({"sessionId": "ghost"})
    err = ws.wait(lambda f: "error" in f)
    assert err["field"] == "sessionId"
    spot.send(transactionType="pull")
    ws.close()


def _frame_after(ws: Any, seen: int, predicate: Any) -> dict[str, Any]:
    """The first frame, among those after the first `seen`, that satisfies `predicate`."""
    for frame in ws.frames[seen:]:
        if predicate(frame):
            return frame
    count = len(ws.frames)
    return ws.wait(lambda f: f is ws.frames[-1] and len(ws.frames) > count and predicate(f))


def test_refused_stream_messages_change_no_order(spot: Market):
    """Every message here is refused on the low-latency socket: each gets a rejected
    frame (or an error naming its field), and the working orders, ours and the
    venue's, are exactly as before."""
    ws = spot.stream()
    first, second = _insert(spot), _insert(spot)
    for body in (first, second):
        ws.send(body)
        ws.wait(
            lambda f, c=body["clOrderId"]: f.get("clOrderId") == c and f["orderStatus"] == "new"
        )
    _, before = spot.api.get("/orders", sessionId=spot.session_id)
    venue_before = sorted(
        (o["clientOrderId"], o["price"], o["origQty"]) for o in spot.venue_orders()
    )
    cl = first["clOrderId"]
    refused = [
        spot.order(
            clOrderId=cl, transactionType="update", price=first["price"] + float(spot.tick) / 2
        ),
        spot.order(clOrderId=cl, transactionType="update", qty=0.0000001),
        spot.order(clOrderId=cl, transactionType="update", price="cheap"),
        {**_insert(spot, price=first["price"] - float(spot.tick)), "clOrderId": cl},
        spot.order(clOrderId="never-sent", transactionType="delete"),
        spot.order(clOrderId=second["clOrderId"], transactionType="sideways"),
        {**spot.order(clOrderId=second["clOrderId"], transactionType="delete"), "symbol": "NOPE"},
    ]
    for body in refused:
        seen = len(ws.frames)
        ws.send(body)
        frame = _frame_after(ws, seen, lambda f: True)
        assert frame.get("orderStatus") == "rejected" or "error" in frame, (body, frame)
    # A message after the junk is answered, so every refusal above has been handled.
    seen = len(ws.frames)
    ws.send({"sessionId": "ghost"})
    _frame_after(ws, seen, lambda f: f.get("field") == "sessionId" and "error" in f)
    _, after = spot.api.get("/orders", sessionId=spot.session_id)
    key = lambda o: (o["clOrderId"], o["price"], o["qty"], o["orderStatus"])  # noqa: E731
    assert sorted(map(key, after)) == sorted(map(key, before))
    venue_after = sorted(
        (o["clientOrderId"], o["price"], o["origQty"]) for o in spot.venue_orders()
    )
    assert venue_after == venue_before
    spot.send(transactionType="pull")
    ws.close()


def test_set_log_level_and_bad_level(api: Api):
    assert api.post("/setLogLevel", {"logLevel": "debug"}) == (200, {"logLevel": "debug"})
    code, body = api.post("/setLogLevel", {"logLevel": "loud"})
    assert code == 400 and body["field"] == "logLevel"
    api.post("/setLogLevel", {"logLevel": "info"})


def test_get_position_checks_its_fields(spot: Market):
    api = spot.api
    code, body = api.post("/getPosition", {"sessionId": spot.session_id, "symbol": "NOPE"})
    assert code == 400 and body["field"] == "symbol"
    code, body = api.post(
        "/getPosition", {"sessionId": spot.session_id, "symbol": "BTCUSDT", "exchange": "okx"}
    )
    assert code == 400 and body["field"] == "exchange"
    code, body = api.get("/getPosition", sessionId=spot.session_id, symbol="BTCUSDT")
    assert code == 200 and isinstance(body["position"], float)


def test_metrics_are_exported(ems_server, spot: Market):
    url = ems_server.info["metrics"]
    text = requests.get(url, timeout=5).text
    for name in (
        "om_orders_sent_total",
        "om_order_updates_total",
        "om_rejects_total",
        "om_send_ack_latency_seconds_bucket",
        "om_open_sessions",
    ):
        assert name in text, name
    assert 'exchange="binance-spot"' in text


def test_every_market_is_served(api: Api, sim: dict[str, Any]):
    assert set(MARKETS) <= set(sim)


def test_binance_ws_api_url_carries_the_user_stream(spot: Market, sim: dict[str, Any]):
    """wsApiUrl alone decides where the spot user stream goes: with wsUrl on a dead port
    the session still starts (its private stream is up) and its orders' events arrive."""
    m = dataclasses.replace(spot, session_id=f"wsapi-{uuid.uuid4().hex[:6]}")
    code, body = _start(
        m.api,
        spot.account,
        "binance-spot",
        m.session_id,
        restUrl=sim["binance-spot"]["restUrl"],
        wsUrl="ws://127.0.0.1:9",
        wsApiUrl=sim["binance-spot"]["wsUrl"],
    )
    assert code == 200, body
    ws = m.stream()
    try:
        cl = m.cl()
        assert m.api.post("/sendOrder", _insert(m, clOrderId=cl))[0] == 200
        frame = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
        assert frame["exchOrderId"]
        assert m.send(clOrderId=cl, transactionType="delete")[0] == 200
        ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "cancelled")
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("exchange", "value"),
    [("okx", "wss://ws.okx.com:8443"), ("binance-spot", "https://ws-api.binance.com")],
)
def test_a_ws_api_url_that_cannot_apply_is_refused(api: Api, exchange: str, value: str):
    account = {"apiKey": "k", "secretKey": "s", "passphrase": "p"}
    code, body = _start(api, account, exchange, f"wsapi-{uuid.uuid4().hex[:6]}", wsApiUrl=value)
    assert code == 400 and body["field"] == "wsApiUrl", body
