"""The /sim admin API, fault injection and rate-limit headers."""

from __future__ import annotations

import time

import pytest
from tests.sim.conftest import Sim, Venue
from websockets.exceptions import ConnectionClosed


def _resting_buy(venue: Venue, cl: str = "rest-1") -> dict:
    return venue.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.00100", "price": "25000.00", "newClientOrderId": cl},
    )  # fmt: skip


def test_admin_trade_sweeps_crossed_orders_and_prints_the_rest(sim: Sim):
    spot = sim.spot
    spot.clear_book("BTCUSDT")
    _resting_buy(spot)
    other = sim.venue("binance-spot", 1)
    _resting_buy(other, "rest-2")
    result = spot.trade("BTCUSDT", "sell", "24000", "0.005")
    assert [(f["price"], f["qty"], f["owner"]) for f in result["fills"]] == [
        ("25000.00000000", "0.00100000", spot.key),
        ("25000.00000000", "0.00100000", other.key),
        ("24000.00000000", "0.00300000", None),
    ]
    trades = spot.public("/api/v3/trades", symbol="BTCUSDT")
    assert [t["isBuyerMaker"] for t in trades] == [True, True, True]
    assert spot.public("/api/v3/ticker/price", symbol="BTCUSDT")["price"] == "24000.00000000"


def test_admin_orders_and_account_use_the_venue_formats(sim: Sim):
    placed = _resting_buy(sim.spot)
    orders = sim.spot.admin("GET", "/sim/orders", params={"apiKey": sim.spot.key})
    assert [o["orderId"] for o in orders] == [placed["orderId"]]
    assert orders == sim.spot.ok("GET", "/api/v3/openOrders")
    account = sim.spot.admin("GET", "/sim/account", params={"apiKey": sim.spot.key})
    assert {b["asset"]: b["locked"] for b in account["balances"]}["USDT"] == "25.00000000"
    futures = sim.usdm.admin("GET", "/sim/account", params={"apiKey": sim.usdm.key})
    assert set(futures) == {"account", "balances", "positions"}
    assert futures["balances"][-1]["asset"] == "USDT"
    r = sim.spot.http.get(sim.spot.base + "/sim/orders", params={"apiKey": "x"}, timeout=5)
    assert r.status_code == 400


def test_admin_book_recenters_and_clears_the_market_maker(sim: Sim):
    moved = sim.usdm.admin("POST", "/sim/book", json={"symbol": "BTCUSDT", "mid": 31000})
    assert (moved["bestBid"], moved["bestAsk"]) == ("30999.50", "31000.50")
    depth = sim.usdm.public("/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert depth["bids"][0] == ["30999.50", "2.000"]
    sim.usdm.clear_book("BTCUSDT")
    depth = sim.usdm.public("/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert depth["bids"] == [] and depth["asks"] == []


def test_reset_restores_balances_and_removes_orders(sim: Sim):
    _resting_buy(sim.spot)
    sim.spot.ok("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                          "quantity": "0.01"})  # fmt: skip
    sim.spot.admin("POST", "/sim/reset")
    assert sim.spot.ok("GET", "/api/v3/openOrders") == []
    balances = {b["asset"]: b for b in sim.spot.ok("GET", "/api/v3/account")["balances"]}
    assert (balances["BTC"]["free"], balances["USDT"]["free"]) == (
        "10.00000000",
        "1000000.00000000",
    )


def test_fault_applied_503_processes_the_order_but_answers_unknown(sim: Sim):
    sim.spot.admin(
        "POST", "/sim/fault",
        json={"path": "/api/v3/order", "method": "POST", "count": 1, "status": 503, "apply": True},
    )  # fmt: skip
    status, body, _ = sim.spot.signed(
        "POST", "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.001", "price": "25000.00", "newClientOrderId": "ghost-1"},
    )  # fmt: skip
    assert status == 503 and body["code"] == -1000
    assert [o["clientOrderId"] for o in sim.spot.ok("GET", "/api/v3/openOrders")] == ["ghost-1"]
    # The fault was used up: the next request is normal.
    assert sim.spot.signed("GET", "/api/v3/openOrders")[0] == 200


def test_fault_not_applied_drops_the_request(sim: Sim):
    sim.spot.admin(
        "POST", "/sim/fault",
        json={"path": "/api/v3/order", "method": "POST", "count": 2, "status": 500, "apply": False},
    )  # fmt: skip
    for _ in range(2):
        status, _, _ = sim.spot.signed(
            "POST", "/api/v3/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.001", "price": "25000.00"},
        )  # fmt: skip
        assert status == 500
    assert sim.spot.ok("GET", "/api/v3/openOrders") == []
    assert sim.spot.admin("GET", "/sim/fault") == {"armed": []}


def test_fault_429_carries_retry_after_and_1003(sim: Sim):
    sim.usdm.admin(
        "POST", "/sim/fault",
        json={"path": "/fapi/*", "status": 429, "retryAfter": 7},
    )  # fmt: skip
    status, body, headers = sim.usdm.signed("GET", "/fapi/v1/openOrders")
    assert status == 429 and body["code"] == -1003 and headers["Retry-After"] == "7"


def test_fault_delay_slows_the_answer(sim: Sim):
    sim.spot.admin("POST", "/sim/fault", json={"path": "/api/v3/time", "delayMs": 300})
    start = time.monotonic()
    assert "serverTime" in sim.spot.public("/api/v3/time")
    assert time.monotonic() - start >= 0.3


def test_disconnect_fault_drops_user_and_market_connections(sim: Sim):
    user = sim.spot.ws("/ws-api/v3")
    params = {"apiKey": sim.spot.key, "timestamp": int(time.time() * 1000)}
    params["signature"] = sim.spot.sign(
        f"apiKey={params['apiKey']}&timestamp={params['timestamp']}"
    )
    user.send({"id": 1, "method": "userDataStream.subscribe.signature", "params": params})
    assert user.wait(lambda m: m.get("id") == 1)["status"] == 200
    market = sim.spot.ws("/ws/btcusdt@trade")
    time.sleep(0.1)
    assert sim.spot.admin(
        "POST", "/sim/fault", json={"disconnect": "user", "apiKey": sim.spot.key}
    ) == {"disconnected": 1}
    with pytest.raises(ConnectionClosed):
        user.recv(5)
    sim.spot.trade("BTCUSDT", "buy", "30000.5", "0.01")
    assert market.recv(5)["e"] == "trade"  # market data is unaffected
    assert sim.spot.admin("POST", "/sim/fault", json={"disconnect": "market"}) == {
        "disconnected": 1
    }
    with pytest.raises(ConnectionClosed):
        market.recv(5)


def test_rest_answers_carry_rate_limit_headers(sim: Sim):
    _, _, first = sim.spot.signed("GET", "/api/v3/account")
    status, _, second = sim.spot.signed(
        "POST", "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
    )  # fmt: skip
    assert status == 200
    assert int(second["X-MBX-USED-WEIGHT-1M"]) > int(first["X-MBX-USED-WEIGHT-1M"])
    assert int(second["X-MBX-ORDER-COUNT-10S"]) >= 1
    assert "X-MBX-ORDER-COUNT-10S" not in first
    _, _, futures = sim.usdm.signed(
        "POST", "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"},
    )  # fmt: skip
    assert "X-MBX-ORDER-COUNT-1M" in futures and "X-MBX-USED-WEIGHT-1M" in futures


def _listen(sim: Sim):
    venue = sim.usdm
    key = venue.http.post(
        venue.base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": venue.key}, timeout=5
    ).json()["listenKey"]
    ws = venue.ws(f"/ws/{key}")
    time.sleep(0.1)
    return ws


def _market_buy(sim: Sim) -> None:
    sim.usdm.ok(
        "POST", "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"},
    )  # fmt: skip


def test_user_event_faults_duplicate_drop_and_reorder(sim: Sim):
    ws = _listen(sim)
    order = ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE"]
    _market_buy(sim)
    assert [e["e"] for e in ws.drain()] == order
    arm = {"apiKey": sim.usdm.key, "count": 1}
    sim.usdm.admin("POST", "/sim/fault", json={"userEvents": "duplicate", **arm})
    _market_buy(sim)
    assert [e["e"] for e in ws.drain()] == [order[0], *order]
    sim.usdm.admin("POST", "/sim/fault", json={"userEvents": "drop", **arm})
    _market_buy(sim)
    assert [e["e"] for e in ws.drain()] == order[1:]
    sim.usdm.admin("POST", "/sim/fault", json={"userEvents": "reorder", **arm})
    _market_buy(sim)
    events = ws.drain()
    assert [e.get("o", {}).get("x") for e in events[:2]] == ["TRADE", "NEW"]
    ws.close()
