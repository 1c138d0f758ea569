"""The Bybit simulator on its own: signatures over raw bytes, result codes, batch limits,
push formats and sequence numbers, the trade WebSocket, faults and the admin API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
import requests
from tests.bybit.conftest import Venue, venue_for
from tests.harness import Process
from websockets.sync.client import ClientConnection, connect

from ems._core import APPLIED, ASK, BID, OrderBook

ACCOUNT = 2


@pytest.fixture
def venue(sim: dict[str, Any]) -> Venue:
    return venue_for(sim, "bybit-linear", ACCOUNT)


@pytest.fixture(scope="module")
def own_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A simulator of our own, for tests that reset it or fill a book with orders."""
    process = Process(["sim", "--port", "0"], tmp_path_factory.mktemp("bybit") / "sim.log")
    yield process.info
    process.stop()


def _raw(venue: Venue, method: str, path: str, payload: str, **over: str) -> Any:
    """Sends `payload` byte for byte (query string or body) with a signature over it."""
    ts = over.pop("ts", str(int(time.time() * 1000)))
    recv = over.pop("recv", "5000")
    sign = hmac.new(
        venue.secret.encode(), f"{ts}{venue.key}{recv}{payload}".encode(), hashlib.sha256
    ).hexdigest()
    headers = {
        "X-BAPI-API-KEY": over.pop("key", venue.key),
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-RECV-WINDOW": recv,
        "X-BAPI-SIGN": over.pop("sign", sign),
        "Content-Type": "application/json",
    }
    if method == "GET":
        r = requests.get(f"{venue.rest_url}{path}?{payload}", headers=headers, timeout=10)
    else:
        r = requests.post(
            f"{venue.rest_url}{path}", data=payload.encode(), headers=headers, timeout=10
        )
    return r.json()


def _ws(venue: Venue, path: str) -> ClientConnection:
    return connect(venue.ws_url + path, open_timeout=10)


def _recv(conn: ClientConnection, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching frame")
        frame = orjson.loads(conn.recv(timeout=left))
        if predicate(frame):
            return dict(frame)


def _auth(conn: ClientConnection, venue: Venue, req_id: str | None = None) -> dict[str, Any]:
    expires = int(time.time() * 1000) + 10_000
    sign = hmac.new(venue.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
    message: dict[str, Any] = {"op": "auth", "args": [venue.key, expires, sign.hexdigest()]}
    if req_id:
        message["req_id"] = req_id
    conn.send(json.dumps(message))
    return _recv(conn, lambda f: f.get("op") == "auth")


# ------------------------------------------------------------------ REST signing


def test_signature_is_checked_over_the_raw_query_and_body(venue: Venue):
    # Unsorted, unencoded query as sent; a body with pybit's spaces.
    query = "symbol=BTCUSDT&category=linear&openOnly=0"
    assert _raw(venue, "GET", "/v5/order/realtime", query)["retCode"] == 0
    body = json.dumps({"category": "linear", "symbol": "BTCUSDT"})
    assert ", " in body
    assert _raw(venue, "POST", "/v5/order/cancel-all", body)["retCode"] == 0
    upper = hmac.new(venue.secret.encode(), b"x", hashlib.sha256).hexdigest()
    refused = _raw(venue, "GET", "/v5/order/realtime", query, sign=upper)
    assert refused["retCode"] == 10004
    assert refused["retMsg"].startswith("Error sign")


def test_signature_over_re_serialised_json_is_refused(venue: Venue):
    """The venue checks the bytes it got, not a re-encoding of the parsed JSON."""
    sent = '{"category":"linear","symbol":"BTCUSDT"}'
    ts = str(int(time.time() * 1000))
    signed_other = json.dumps({"category": "linear", "symbol": "BTCUSDT"})
    sign = hmac.new(
        venue.secret.encode(), f"{ts}{venue.key}5000{signed_other}".encode(), hashlib.sha256
    ).hexdigest()
    assert _raw(venue, "POST", "/v5/order/cancel-all", sent, ts=ts, sign=sign)["retCode"] == 10004


def test_unknown_key_and_stale_or_future_timestamps_are_refused(venue: Venue):
    query = "category=linear&symbol=BTCUSDT"
    assert _raw(venue, "GET", "/v5/order/realtime", query, key="nope")["retCode"] == 10003
    stale = str(int(time.time() * 1000) - 6000)
    reply = _raw(venue, "GET", "/v5/order/realtime", query, ts=stale)
    assert reply["retCode"] == 10002 and "recv_window" in reply["retMsg"]
    ahead = str(int(time.time() * 1000) + 1500)
    assert _raw(venue, "GET", "/v5/order/realtime", query, ts=ahead)["retCode"] == 10002
    wide = _raw(venue, "GET", "/v5/order/realtime", query, ts=stale, recv="10000")
    assert wide["retCode"] == 0


def test_private_replies_carry_the_rate_limit_headers(venue: Venue):
    ts = str(int(time.time() * 1000))
    query = "category=linear&symbol=BTCUSDT"
    sign = hmac.new(
        venue.secret.encode(), f"{ts}{venue.key}5000{query}".encode(), hashlib.sha256
    ).hexdigest()
    r = requests.get(
        f"{venue.rest_url}/v5/order/realtime?{query}",
        headers={
            "X-BAPI-API-KEY": venue.key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sign,
        },
        timeout=10,
    )
    assert {"X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp"} <= set(r.headers)


# ------------------------------------------------------------------ result codes


def _create(venue: Venue, **params: Any) -> Any:
    return venue.signed("POST", "/v5/order/create", params)


def test_refusals_use_the_venue_codes(sim: dict[str, Any]):
    spot = venue_for(sim, "bybit-spot", ACCOUNT)
    base = {"side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "20000"}
    cases = [
        ({"category": "spot", "symbol": "NOPE"}, 170121),
        ({"category": "spot", "symbol": "BTCUSDT", "price": "20000.001"}, 170134),
        ({"category": "spot", "symbol": "BTCUSDT", "qty": "0.0000001"}, 170137),
        ({"category": "spot", "symbol": "BTCUSDT", "qty": "0.00001"}, 170136),
        ({"category": "spot", "symbol": "BTCUSDT", "qty": "60"}, 170131),
        ({"category": "linear", "symbol": "BTCUSDT", "price": "20000.05"}, 10001),
        ({"category": "linear", "symbol": "BTCUSDT", "qty": "0.0001"}, 10001),
        ({"category": "linear", "symbol": "BTCUSDT", "qty": "0.001", "price": "1000"}, 110094),
        ({"category": "linear", "symbol": "BTCUSDT", "qty": "600"}, 110007),
        (
            {"category": "option", "symbol": "BTC-26DEC36-30000-C", "qty": "0.1", "price": "100"},
            10001,
        ),  # options need an orderLinkId
        ({"category": "bogus", "symbol": "BTCUSDT"}, 10001),
        ({"category": "linear", "symbol": "BTCUSDT", "timeInForce": "RPI"}, 170355),
    ]
    for params, code in cases:
        reply = _create(spot, **{**base, **params})
        assert reply["retCode"] == code, (params, reply)
        assert reply["retMsg"]


def test_order_link_ids_are_unique_and_unknown_orders_are_reported(venue: Venue):
    link = f"dup-{uuid.uuid4().hex[:8]}"
    args = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "20000",
        "orderLinkId": link,
    }
    assert _create(venue, **args)["retCode"] == 0
    dup = _create(venue, **args)
    assert (dup["retCode"], dup["retMsg"]) == (110072, "OrderLinkedID is duplicate")
    cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": link}
    assert venue.signed("POST", "/v5/order/cancel", cancel)["retCode"] == 0
    # Still unique once the order is finished; and gone for a second cancel.
    assert _create(venue, **args)["retCode"] == 110072
    assert venue.signed("POST", "/v5/order/cancel", cancel)["retCode"] == 110001
    spot = {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "never"}
    assert venue.signed("POST", "/v5/order/cancel", spot)["retCode"] == 170213


def test_batches_answer_per_item_and_refuse_more_than_the_venue_size(venue: Venue):
    good = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "20000",
    }
    bad = {**good, "price": "20000.01"}
    reply = venue.signed(
        "POST", "/v5/order/create-batch", {"category": "linear", "request": [good, bad]}
    )
    assert reply["retCode"] == 0
    codes = [item["code"] for item in reply["retExtInfo"]["list"]]
    assert codes[0] == 0 and codes[1] == 10001
    created = reply["result"]["list"]
    assert created[0]["orderId"] and not created[1]["orderId"] and created[0]["createAt"]
    spot = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "20000",
    }
    eleven = venue.signed(
        "POST", "/v5/order/create-batch", {"category": "spot", "request": [spot] * 11}
    )
    assert eleven["retCode"] == 10001
    twenty_one = venue.signed(
        "POST",
        "/v5/order/cancel-batch",
        {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": "x"}] * 21},
    )
    assert twenty_one["retCode"] == 10001
    venue.signed("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert venue.signed("POST", "/v5/order/cancel-all", {"category": "linear"})["retCode"] == 10001


def test_futures_hold_500_orders_per_symbol_and_cancel_all_stops_at_500(
    own_sim: dict[str, Any],
):
    venue = venue_for(own_sim, "bybit-linear", 0)
    item = {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01"}
    for i in range(25):
        batch = [{**item, "price": str(1000 + i)}] * 20
        reply = venue.signed(
            "POST", "/v5/order/create-batch", {"category": "linear", "request": batch}
        )
        assert [x["code"] for x in reply["retExtInfo"]["list"]] == [0] * 20
    more = venue.signed("POST", "/v5/order/create", {"category": "linear", **item, "price": "999"})
    assert more["retCode"] == 110020
    btc = {"category": "linear", **item, "symbol": "BTCUSDT", "qty": "0.001", "price": "20000"}
    assert venue.signed("POST", "/v5/order/create", btc)["retCode"] == 0
    by_coin = {"category": "linear", "settleCoin": "USDT"}
    first = venue.signed("POST", "/v5/order/cancel-all", by_coin)
    assert len(first["result"]["list"]) == 500 and first["result"]["success"] == "1"
    second = venue.signed("POST", "/v5/order/cancel-all", by_coin)
    assert len(second["result"]["list"]) == 1


def test_reset_restores_books_orders_and_wallets(own_sim: dict[str, Any]):
    venue = venue_for(own_sim, "bybit-linear", 1)
    _create(venue, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="1")
    account = venue.admin("GET", "/sim/account", params={"apiKey": venue.key})
    assert account["positions"]
    assert venue.admin("POST", "/sim/reset")["reset"] is True
    account = venue.admin("GET", "/sim/account", params={"apiKey": venue.key})
    assert account["positions"] == []
    usdt = next(c for c in account["wallet"]["coin"] if c["coin"] == "USDT")
    assert usdt["walletBalance"] == "1000000"


# ------------------------------------------------------------------ market data


def test_orderbook_snapshot_then_deltas_keep_a_consistent_book(venue: Venue):
    """Deltas follow the snapshot with `u` one higher each time, and applying them (with
    the core's Bybit rules) gives the venue's own book."""
    conn = _ws(venue, "/v5/public/linear")
    conn.send(json.dumps({"req_id": "s1", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}))
    reply = _recv(conn, lambda f: f.get("op") == "subscribe")
    assert reply["success"] is True and reply["req_id"] == "s1"
    book = OrderBook("bybit", "0.10", "0.001")
    snap = str(conn.recv(timeout=5)).encode()
    assert orjson.loads(snap)["type"] == "snapshot"
    assert book.apply(snap) == APPLIED
    last_u = orjson.loads(snap)["data"]["u"]
    _create(venue, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="3")
    _create(
        venue,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.5",
        price="29990",
    )
    deltas = 0
    while True:
        try:
            raw = str(conn.recv(timeout=0.6)).encode()
        except TimeoutError:
            break
        frame = orjson.loads(raw)
        assert frame["type"] == "delta" and frame["data"]["u"] == last_u + 1
        last_u = frame["data"]["u"]
        assert book.apply(raw) == APPLIED
        deltas += 1
    assert deltas >= 1
    rest = requests.get(
        f"{venue.rest_url}/v5/market/orderbook",
        timeout=5,
        params={"category": "linear", "symbol": "BTCUSDT", "limit": 50},
    )
    top = rest.json()["result"]

    def units(levels: list[list[str]]) -> list[tuple[int, int]]:
        return [
            (int(Decimal(p) / Decimal("0.10")), int(Decimal(q) / Decimal("0.001")))
            for p, q in levels
        ]

    assert book.depth(BID, 50) == units(top["b"])
    assert book.depth(ASK, 50) == units(top["a"])
    assert (29990 * 10, 500) in book.depth(BID, 50)
    conn.close()
    venue.signed("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})


def test_public_trades_name_the_taker_side(sim: dict[str, Any]):
    venue = venue_for(sim, "bybit-option", ACCOUNT)
    conn = _ws(venue, "/v5/public/option")
    conn.send(json.dumps({"op": "subscribe", "args": ["publicTrade.BTC"]}))
    reply = _recv(conn, lambda f: f.get("type") == "COMMAND_RESP")
    assert reply["data"]["successTopics"] == ["publicTrade.BTC"]
    venue.admin(
        "POST",
        "/sim/trade",
        json={
            "category": "option",
            "symbol": "BTC-26DEC36-30000-C",
            "price": 3000,
            "qty": 0.5,
            "side": "buy",
        },
    )
    push = _recv(conn, lambda f: f.get("topic") == "publicTrade.BTC")
    trade = push["data"][0]
    assert trade["s"] == "BTC-26DEC36-30000-C" and trade["S"] == "Buy"
    assert {"T", "v", "p", "i", "BT", "seq", "mP", "iP"} <= set(trade)
    conn.send(json.dumps({"op": "ping"}))
    assert _recv(conn, lambda f: f.get("op") == "pong")["args"]
    conn.close()


def test_pings_are_answered_in_each_channel_shape(venue: Venue):
    spot = _ws(venue, "/v5/public/spot")
    spot.send(json.dumps({"req_id": "p", "op": "ping"}))
    reply = _recv(spot, lambda f: f.get("op") == "ping")
    assert reply["success"] is True and reply["ret_msg"] == "pong"
    spot.close()
    private = _ws(venue, "/v5/private")
    private.send(json.dumps({"req_id": "p", "op": "ping"}))
    assert _recv(private, lambda f: f.get("op") == "pong")["req_id"] == "p"
    private.close()
    trade = _ws(venue, "/v5/trade")
    trade.send(json.dumps({"op": "ping"}))
    reply = _recv(trade, lambda f: f.get("op") == "pong")
    assert reply["retCode"] == 0 and reply["data"]
    trade.close()


def test_spot_refuses_more_than_ten_topics_per_request(venue: Venue):
    conn = _ws(venue, "/v5/public/spot")
    conn.send(json.dumps({"op": "subscribe", "args": [f"publicTrade.X{i}" for i in range(11)]}))
    assert _recv(conn, lambda f: f.get("op") == "subscribe")["success"] is False
    conn.close()


# ------------------------------------------------------------------ private stream


def test_private_stream_pushes_execution_before_order(venue: Venue):
    conn = _ws(venue, "/v5/private")
    assert _auth(conn, venue, "a")["success"] is True
    conn.send(
        json.dumps(
            {"op": "subscribe", "args": ["order.linear", "execution.linear", "position.linear"]}
        )
    )
    assert _recv(conn, lambda f: f.get("op") == "subscribe")["success"] is True
    link = f"pv-{uuid.uuid4().hex[:8]}"
    _create(
        venue,
        category="linear",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Market",
        qty="0.01",
        orderLinkId=link,
    )
    topics = []
    while len(topics) < 3:
        frame = _recv(conn, lambda f: "topic" in f)
        topics.append(frame["topic"])
        if frame["topic"] == "execution.linear":
            item = frame["data"][0]
            assert item["orderLinkId"] == link and item["isMaker"] is False
            assert item["execType"] == "Trade" and item["leavesQty"] == "0.000"
        if frame["topic"] == "order.linear":
            assert frame["data"][0]["orderStatus"] == "Filled"
            assert frame["data"][0]["cumExecQty"] == "0.010"
    assert topics == ["execution.linear", "order.linear", "position.linear"]
    conn.close()


def test_private_auth_with_a_bad_signature_is_refused(venue: Venue):
    conn = _ws(venue, "/v5/private")
    expires = int(time.time() * 1000) + 10_000
    conn.send(json.dumps({"op": "auth", "args": [venue.key, expires, "0" * 64]}))
    reply = _recv(conn, lambda f: f.get("op") == "auth")
    assert reply["success"] is False and reply["ret_msg"].startswith("Error sign")
    conn.close()


# ------------------------------------------------------------------ trade WebSocket


def _trade_request(op: str, args: dict[str, Any], req_id: str, **header: str) -> str:
    head = {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000)), "X-BAPI-RECV-WINDOW": "5000"}
    head.update(header)
    return json.dumps({"reqId": req_id, "header": head, "op": op, "args": [args]})


def test_trade_socket_orders_replies_and_refusals(venue: Venue):
    conn = _ws(venue, "/v5/trade")
    early = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "20000",
    }
    conn.send(_trade_request("order.create", early, "r0"))
    assert _recv(conn, lambda f: f.get("reqId") == "r0")["retCode"] == 10001
    auth = _auth(conn, venue)
    assert auth["retCode"] == 0 and auth["connId"]
    assert _auth(conn, venue)["retCode"] == 20001
    conn.send(_trade_request("order.create", early, "r1"))
    reply = _recv(conn, lambda f: f.get("reqId") == "r1")
    assert reply["retCode"] == 0 and reply["op"] == "order.create" and reply["data"]["orderId"]
    assert {"X-Bapi-Limit", "X-Bapi-Limit-Status", "Traceid", "Timenow"} <= set(reply["header"])
    conn.send(_trade_request("order.create", early, "r1"))
    assert _recv(conn, lambda f: f.get("reqId") == "r1")["retCode"] == 20006
    conn.send(_trade_request("order.nope", early, "r2"))
    assert _recv(conn, lambda f: f.get("reqId") == "r2")["retCode"] == 10404
    stale = str(int(time.time() * 1000) - 60_000)
    conn.send(_trade_request("order.create", early, "r3", **{"X-BAPI-TIMESTAMP": stale}))
    assert _recv(conn, lambda f: f.get("reqId") == "r3")["retCode"] == 10002
    batch = {
        "category": "linear",
        "request": [
            {"symbol": "BTCUSDT", "orderId": reply["data"]["orderId"]},
            {"symbol": "BTCUSDT", "orderId": "missing"},
        ],
    }
    conn.send(_trade_request("order.cancel-batch", batch, "r4"))
    done = _recv(conn, lambda f: f.get("reqId") == "r4")
    assert [i["code"] for i in done["retExtInfo"]["list"]] == [0, 110001]
    conn.close()


def test_trade_socket_batches_answer_per_item_within_the_venue_sizes(venue: Venue):
    """`order.create-batch` / `order.amend-batch` / `order.cancel-batch` on the trade
    WebSocket: one reply whose `data.list` and `retExtInfo.list` follow the request's
    order; more than 10 (spot) or 20 (others) items are refused whole."""
    conn = _ws(venue, "/v5/trade")
    assert _auth(conn, venue)["retCode"] == 0
    tag = uuid.uuid4().hex[:8]
    item = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01"}
    creates = [
        {**item, "price": "20000", "orderLinkId": f"wb-{tag}-0"},
        {**item, "price": "20000.01", "orderLinkId": f"wb-{tag}-1"},
        {**item, "price": "20001", "orderLinkId": f"wb-{tag}-2"},
    ]
    batch = {"category": "linear", "request": creates}
    conn.send(_trade_request("order.create-batch", batch, f"{tag}-c"))
    reply = _recv(conn, lambda f: f.get("reqId") == f"{tag}-c")
    assert reply["retCode"] == 0 and reply["op"] == "order.create-batch"
    assert [i["code"] for i in reply["retExtInfo"]["list"]] == [0, 10001, 0]
    rows = reply["data"]["list"]
    assert [r["orderLinkId"] for r in rows] == [c["orderLinkId"] for c in creates]
    assert rows[0]["orderId"] and not rows[1]["orderId"] and rows[2]["orderId"]
    assert rows[0]["category"] == "linear" and rows[0]["createAt"] and not rows[1]["createAt"]
    amends = [
        {"symbol": "BTCUSDT", "orderLinkId": f"wb-{tag}-0", "price": "19999"},
        {"symbol": "BTCUSDT", "orderLinkId": f"wb-{tag}-missing", "price": "19999"},
    ]
    conn.send(
        _trade_request("order.amend-batch", {"category": "linear", "request": amends}, f"{tag}-a")
    )
    amended = _recv(conn, lambda f: f.get("reqId") == f"{tag}-a")
    assert [i["code"] for i in amended["retExtInfo"]["list"]] == [0, 110001]
    assert amended["data"]["list"][0]["orderId"] == rows[0]["orderId"]
    spot = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001"}
    eleven = {"category": "spot", "request": [{**spot, "price": "20000"}] * 11}
    conn.send(_trade_request("order.create-batch", eleven, f"{tag}-s"))
    assert _recv(conn, lambda f: f.get("reqId") == f"{tag}-s")["retCode"] == 10001
    cancels = [{"symbol": "BTCUSDT", "orderLinkId": f"wb-{tag}-{i}"} for i in (0, 2)] * 10
    conn.send(
        _trade_request(
            "order.cancel-batch", {"category": "linear", "request": [*cancels, cancels[0]]}, "x"
        )
    )
    assert _recv(conn, lambda f: f.get("reqId") == "x")["retCode"] == 10001
    conn.send(
        _trade_request("order.cancel-batch", {"category": "linear", "request": cancels[:2]}, "y")
    )
    done = _recv(conn, lambda f: f.get("reqId") == "y")
    assert [i["code"] for i in done["retExtInfo"]["list"]] == [0, 0]
    conn.close()


def test_options_hold_50_orders_per_base_coin(own_sim: dict[str, Any]):
    """Bybit's option cap is 50 open orders "in the coin dimension": calls and puts of
    one base coin count together."""
    venue = venue_for(own_sim, "bybit-option", 1)
    call = {"symbol": "BTC-26DEC36-30000-C", "side": "Buy", "orderType": "Limit", "qty": "0.1"}
    for start in (0, 20):
        batch = [
            {**call, "price": str(100 + 5 * (start + i)), "orderLinkId": f"opt-{start + i}"}
            for i in range(20)
        ]
        reply = venue.signed(
            "POST", "/v5/order/create-batch", {"category": "option", "request": batch}
        )
        assert [x["code"] for x in reply["retExtInfo"]["list"]] == [0] * 20
    put = {**call, "symbol": "BTC-26DEC36-30000-P"}
    batch = [{**put, "price": str(100 + 5 * i), "orderLinkId": f"opt-p{i}"} for i in range(11)]
    reply = venue.signed("POST", "/v5/order/create-batch", {"category": "option", "request": batch})
    assert [x["code"] for x in reply["retExtInfo"]["list"]] == [0] * 10 + [110020]
    venue.signed("POST", "/v5/order/cancel-all", {"category": "option"})
    assert venue.signed("GET", "/v5/order/realtime", {"category": "option"})["result"]["list"] == []


# ------------------------------------------------------------------ faults and admin


def test_http_faults_answer_with_the_bybit_envelope(venue: Venue):
    venue.fault(path="/v5/order/create", method="POST", status=503, apply=False)
    reply = requests.post(f"{venue.rest_url}/v5/order/create", data=b"{}", timeout=5)
    assert reply.status_code == 503 and reply.json()["retCode"] == 10016
    venue.fault(path="/v5/order/realtime", status=429)
    r = requests.get(f"{venue.rest_url}/v5/order/realtime", timeout=5)
    assert r.status_code == 429 and r.json()["retCode"] == 10006
    assert "X-Bapi-Limit-Reset-Timestamp" in r.headers
    assert venue.admin("GET", "/sim/fault")["armed"] == []


def test_admin_orders_account_counts_and_book(venue: Venue):
    link = f"adm-{uuid.uuid4().hex[:8]}"
    _create(
        venue,
        category="linear",
        symbol="ETHUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.10",
        price="1500",
        orderLinkId=link,
    )
    rows = venue.admin("GET", "/sim/orders", params={"apiKey": venue.key, "category": "linear"})
    assert link in {r["orderLinkId"] for r in rows}
    assert all(r["category"] == "linear" for r in rows)
    account = venue.admin("GET", "/sim/account", params={"apiKey": venue.key})
    assert account["wallet"]["accountType"] == "UNIFIED"
    assert venue.counts()["/v5/order/create"] >= 1
    moved = venue.admin(
        "POST", "/sim/book", json={"category": "linear", "symbol": "ETHUSDT", "mid": 2100}
    )
    assert moved["mid"] == "2100.00" and Decimal(moved["bestBid"]) < Decimal("2100")
    venue.admin("POST", "/sim/book", json={"category": "linear", "symbol": "ETHUSDT", "mid": 2000})
    venue.signed("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "ETHUSDT"})
    bad = requests.get(f"{venue.rest_url}/sim/orders", params={"apiKey": "x"}, timeout=5)
    assert bad.status_code == 400


def test_user_event_faults_drop_pushes(venue: Venue):
    conn = _ws(venue, "/v5/private")
    _auth(conn, venue)
    conn.send(json.dumps({"op": "subscribe", "args": ["order"]}))
    _recv(conn, lambda f: f.get("op") == "subscribe")
    venue.fault(userEvents="drop", apiKey=venue.key, count=1)
    first, second = (f"ue-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for link in (first, second):
        _create(
            venue,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price="20000",
            orderLinkId=link,
        )
    push = _recv(conn, lambda f: f.get("topic") == "order")
    assert push["data"][0]["orderLinkId"] == second
    conn.close()
    venue.signed("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})


def test_the_first_line_lists_every_bybit_value_on_one_host(sim: dict[str, Any]):
    urls = {
        sim[e]["restUrl"] for e in ("bybit-spot", "bybit-linear", "bybit-inverse", "bybit-option")
    }
    assert len(urls) == 1
    # The accounts are those of every simulator family.
    assert sim["accounts"][0]["apiKey"] == sim["apiKey"]
