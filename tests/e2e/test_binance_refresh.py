"""Refresh corrects what ems missed: a fill whose user-data events never arrived."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.e2e.conftest import Market, status_is


def _fault(m: Market, **spec: Any) -> Any:
    return m.venue("POST", "/sim/fault", json=spec)


def _venue_position(m: Market, exch_ids: set[str]) -> float:
    """The venue's own number: net base traded by these orders (spot) or position amount."""
    if m.exchange == "binance-spot":
        trades = m.signed("GET", "/api/v3/myTrades", symbol=m.symbol)
        return sum(
            float(t["qty"]) * (1 if t["isBuyer"] else -1)
            for t in trades
            if str(t["orderId"]) in exch_ids
        )
    for p in m.venue_account()["positions"]:
        if p["symbol"] == m.symbol:
            return float(p["positionAmt"])
    return 0.0


def test_refresh_corrects_a_fill_whose_events_were_lost(market: Market):
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    # Above the market maker's bid, so that the sell print below reaches this order first.
    price = market.price(bid + market.tick) if ask - bid > market.tick else market.price(bid)
    qty = market.qty * 2
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=qty)
    new = ws.wait(status_is(cl, "new"))
    _fault(market, userEvents="drop", apiKey=market.account["apiKey"], count=1000)
    try:
        fills = market.trade("sell", price, qty)["fills"]
    finally:
        _fault(market, clear=True)
    assert sum(float(f["qty"]) for f in fills if f["orderId"] == int(new["exchOrderId"])) == (
        pytest.approx(qty)
    )
    assert market.venue_orders() == []
    # Nothing reached ems: it still has the order working and unfilled.
    time.sleep(0.2)
    _, working = market.api.get("/orders", sessionId=market.session_id)
    assert [(o["clOrderId"], o["orderStatus"], o["cumulativeFilledQty"]) for o in working] == [
        (cl, "new", 0.0)
    ]

    status, body = market.api.post(
        "/refresh", {"sessionId": market.session_id, "transactions": [{"clOrderId": cl}]}
    )
    assert status == 200 and body["refreshing"] == [cl]
    done = ws.wait(status_is(cl, "filled"))
    assert done["cumulativeFilledQty"] == pytest.approx(qty) and done["remainingQty"] == 0
    assert done["executedQty"] == pytest.approx(qty)
    _, working = market.api.get("/orders", sessionId=market.session_id)
    assert working == []
    # The session is new, so on spot its position is exactly this order's trades.
    expected = _venue_position(market, {new["exchOrderId"]})
    deadline = time.monotonic() + 5
    while True:
        _, pos = market.api.get("/getPosition", sessionId=market.session_id, symbol=market.symbol)
        if pos["position"] == pytest.approx(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert pos["position"] == pytest.approx(expected), (pos, expected)
    ws.close()
