"""Venue faults: nothing is lost, in-flight orders settle only when the venue says so."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from tests.e2e.conftest import Market, start_session
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
    ws.close()
