"""Venue faults: nothing is lost, in-flight orders settle only when the venue says so."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, start_session
from tests.harness import Api


@pytest.fixture
def spot(api: Api, sim: dict[str, Any]) -> Market:
    m = start_session(api, sim, "binance-spot", f"faults-{uuid.uuid4().hex[:8]}")
    yield m
    m.send(transactionType="pull")


def _fault(m: Market, **spec: Any) -> Any:
    return m.venue("POST", "/sim/fault", json=spec)


def _resting(m: Market) -> float:
    bid, _ = m.best()
    return m.price(bid - 300 * m.tick)


def test_insert_answered_with_503_is_reconciled_not_dropped(spot: Market):
    ws = spot.stream()
    _fault(spot, path="/api/v3/order", method="POST", count=1, status=503, apply=True)
    cl = spot.cl()
    status, _ = spot.send(
        clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001
    )
    assert status == 200
    # The venue did take it: the order ends up working, found by reconciliation or stream.
    new = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new", timeout=15)
    assert new["exchOrderId"]
    assert [o["orderId"] for o in spot.venue_orders()] == [int(new["exchOrderId"])]
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_insert_lost_before_the_venue_ends_rejected_after_reconciliation(spot: Market):
    ws = spot.stream()
    _fault(spot, path="/api/v3/order", method="POST", count=1, status=503, apply=False)
    cl = spot.cl()
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001)
    frames = []
    done = ws.wait(
        lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "rejected", timeout=15
    )
    frames = [f["orderStatus"] for f in ws.frames if f.get("clOrderId") == cl]
    assert frames[0] == "pendingnew" and "new" not in frames
    assert "no record" in done["message"]
    assert spot.venue_orders() == []
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_rate_limit_reply_backs_off_and_says_so(spot: Market):
    ws = spot.stream()
    _fault(
        spot,
        path="/api/v3/order",
        method="POST",
        count=1,
        status=429,
        apply=False,
        code=-1003,
        msg="Too many requests.",
        retryAfter=1,
    )
    first, second = spot.cl(), spot.cl()
    spot.send(
        clOrderId=first, transactionType="insert", side="buy", price=_resting(spot), qty=0.001
    )
    r1 = ws.wait(lambda f: f.get("clOrderId") == first and f["orderStatus"] == "rejected")
    assert "rate limited" in r1["message"]
    # Inside the back-off window nothing is sent; after it, orders flow again.
    spot.send(
        clOrderId=second, transactionType="insert", side="buy", price=_resting(spot), qty=0.001
    )
    r2 = ws.wait(lambda f: f.get("clOrderId") == second and f["orderStatus"] in ("rejected",))
    assert "wait" in r2["message"]
    time.sleep(1.2)
    third = spot.cl()
    spot.send(
        clOrderId=third, transactionType="insert", side="buy", price=_resting(spot), qty=0.001
    )
    ws.wait(lambda f: f.get("clOrderId") == third and f["orderStatus"] == "new")
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_refresh_corrects_an_order_changed_behind_our_back(spot: Market):
    ws = spot.stream()
    cl = spot.cl()
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001)
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    status, body = spot.api.post(
        "/refresh", {"sessionId": spot.session_id, "transactions": [{"clOrderId": cl}]}
    )
    assert status == 200 and body["refreshing"] == [cl]
    status, body = spot.api.post(
        "/refresh", {"sessionId": spot.session_id, "transactions": [{"clOrderId": "ghost"}]}
    )
    assert status == 400 and body["field"] == "transactions"
    status, body = spot.api.post("/refresh", {"sessionId": spot.session_id, "transactions": []})
    assert status == 200 and cl in body["refreshing"]
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_user_stream_drop_is_reconnected_and_fills_while_away_are_recovered(spot: Market):
    ws = spot.stream()
    cl = spot.cl()
    bid, ask = spot.best()
    price = spot.price(bid + spot.tick) if ask - bid > spot.tick else spot.price(bid)
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=0.002)
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    dropped = _fault(spot, disconnect="user", apiKey=spot.account["apiKey"])
    assert dropped["disconnected"] >= 1
    # The fill happens while ems is away: its event is lost, reconciliation finds it.
    spot.trade("sell", price, 0.002)
    done = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "filled", timeout=20)
    assert done["cumulativeFilledQty"] == 0.002
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_duplicated_and_reordered_user_events_change_nothing(spot: Market):
    ws = spot.stream()
    key = spot.account["apiKey"]
    bid, ask = spot.best()
    price = spot.price(bid + spot.tick) if ask - bid > spot.tick else spot.price(bid)
    cl = spot.cl()
    _fault(spot, userEvents="duplicate", apiKey=key, count=10)
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=0.003)
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    spot.trade("sell", price, 0.001)
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "partiallyfilled")
    _fault(spot, userEvents="reorder", apiKey=key, count=4)
    spot.trade("sell", price, 0.001)
    spot.trade("sell", price, 0.001)
    done = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "filled")
    fills = [
        f["executedQty"] for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")
    ]
    assert sum(fills) == pytest.approx(0.003) and len(fills) == 3
    assert done["cumulativeFilledQty"] == 0.003
    _fault(spot, clear=True)
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_slow_ack_keeps_the_order_pending_until_the_venue_answers(spot: Market):
    ws = spot.stream()
    _fault(spot, path="/api/v3/order", method="POST", count=1, delayMs=800)
    cl = spot.cl()
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001)
    time.sleep(0.3)
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    # The venue holds the request for 800 ms: ems must still show it in flight.
    assert next(o["orderStatus"] for o in working if o["clOrderId"] == cl) == "pendingnew"
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    assert_matches_venue(spot, timeout=10)


def test_cancel_answered_with_503_is_reconciled(spot: Market):
    ws = spot.stream()
    cl = spot.cl()
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001)
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    _fault(spot, path="/api/v3/order", method="DELETE", count=1, status=503, apply=True)
    spot.send(clOrderId=cl, transactionType="delete")
    ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "cancelled", timeout=15)
    assert spot.venue_orders() == []
    assert_matches_venue(spot, timeout=10)


def test_orders_of_the_account_placed_outside_ems_are_left_alone(spot: Market):
    ws = spot.stream()
    bid, _ = spot.best()
    outsider = spot.signed(
        "POST",
        "/api/v3/order",
        symbol=spot.symbol,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price=str(spot.price(bid - 500 * spot.tick)),
        newClientOrderId="manual-1",
    )
    spot.trade("sell", spot.price(bid - 500 * spot.tick), 0.001)  # fills the outsider
    time.sleep(0.3)
    assert not [f for f in ws.frames if f.get("exchOrderId") == str(outsider["orderId"])]
    _, pos = spot.api.get("/getPosition", sessionId=spot.session_id, symbol=spot.symbol)
    assert pos["position"] == 0.0
    assert_matches_venue(spot, timeout=10)
    ws.close()


def test_insert_that_times_out_stays_in_flight_until_the_venue_settles_it(spot: Market):
    """No reply within ems's 10 s timeout: the outcome is unknown, so the order stays
    pending while ems asks the venue. The request reaches the matching engine 11 s after
    it was signed, past its 5 s recvWindow, so the venue refuses it and has no record."""
    ws = spot.stream()
    _fault(spot, path="/api/v3/order", method="POST", count=1, delayMs=11_000)
    cl = spot.cl()
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=_resting(spot), qty=0.001)
    time.sleep(5)
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    assert next(o["orderStatus"] for o in working if o["clOrderId"] == cl) == "pendingnew"
    done = ws.wait(
        lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "rejected", timeout=20
    )
    assert "no record" in done["message"]
    assert spot.venue_orders() == []
    assert_matches_venue(spot, timeout=10)
    ws.close()
