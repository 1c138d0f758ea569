"""Order entry end to end: `ems serve` against `ems sim`, real sockets, per Binance market.

Every scenario checks three views against each other: the update stream, ems's own
working orders, and the simulated venue's account state.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.e2e.conftest import Market


def _status(cl: str, *statuses: str):
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


def _resting_buy(m: Market, ticks_below: int = 200) -> float:
    bid, _ = m.best()
    return m.price(bid - ticks_below * m.tick)


def test_insert_rests_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = _resting_buy(market)
    status, body = market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=price,
        qty=market.qty,
        orderType="limit",
        tif="gtc",
    )
    assert status == 200, body
    assert body["orderStatus"] == "pendingnew" and body["sendTime"] > 0
    first = ws.wait(_status(cl, "pendingnew"))
    new = ws.wait(_status(cl, "new"))
    assert first["localTime"] <= new["localTime"]
    assert new["exchOrderId"] and new["price"] == price and new["qty"] == market.qty
    assert new["remainingQty"] == market.qty and new["cumulativeFilledQty"] == 0
    venue = {str(o["orderId"]): o for o in market.venue_orders()}
    assert new["exchOrderId"] in venue
    assert Decimal(venue[new["exchOrderId"]]["price"]) == Decimal(str(price))
    status, working = market.api.get("/orders", sessionId=market.session_id)
    assert status == 200 and [o["clOrderId"] for o in working] == [cl]
    ws.close()


def test_update_moves_price_and_size_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = _resting_buy(market)
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=market.qty * 3)
    ws.wait(_status(cl, "new"))
    new_price = market.price(Decimal(str(price)) - 5 * market.tick)
    status, body = market.send(clOrderId=cl, transactionType="update", price=new_price)
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    moved = ws.wait(lambda f: _status(cl, "new")(f) and f["price"] == new_price)
    assert moved["transactionType"] == "update"
    # A size reduction at the same price.
    status, body = market.send(clOrderId=cl, transactionType="update", qty=market.qty * 2)
    assert status == 200, body
    ws.wait(lambda f: _status(cl, "new")(f) and f["qty"] == market.qty * 2)
    venue = market.venue_orders()
    assert len(venue) == 1
    assert Decimal(venue[0]["price"]) == Decimal(str(new_price))
    assert Decimal(venue[0]["origQty"]) == Decimal(str(market.qty * 2))
    ws.close()


def test_delete_cancels_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="sell",
        price=market.price(market.best()[1] + 200 * market.tick),
        qty=market.qty,
    )
    ws.wait(_status(cl, "new"))
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 200 and body["orderStatus"] == "pendingcancel"
    done = ws.wait(_status(cl, "cancelled"))
    assert done["transactionType"] == "delete" and done["remainingQty"] == 0
    assert market.venue_orders() == []
    status, working = market.api.get("/orders", sessionId=market.session_id)
    assert working == []
    # The order is final: another delete is refused and names the field.
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 409 and body["field"] == "clOrderId"
    ws.close()


@pytest.mark.parametrize("count", [0, 1, 4])
def test_pull_cancels_every_working_order(market: Market, count: int):
    ws = market.stream()
    ids = [market.cl() for _ in range(count)]
    base = Decimal(str(_resting_buy(market)))
    for i, cl in enumerate(ids):
        market.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            price=market.price(base - i * market.tick),
            qty=market.qty,
        )
    for cl in ids:
        ws.wait(_status(cl, "new"))
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ids)
    for cl in ids:
        frame = ws.wait(_status(cl, "cancelled"))
        assert frame["transactionType"] == "pull"
    assert market.venue_orders() == []
    ws.close()


def test_market_order_fills_against_the_book(market: Market):
    ws = market.stream()
    pws = market.api.ws("/subscribePositions")
    pws.subscribe(market.session_id)
    before = _venue_position(market)
    cl = market.cl()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="market", qty=market.qty
    )
    assert status == 200, body
    filled = ws.wait(_status(cl, "filled"))
    assert filled["cumulativeFilledQty"] == market.qty and filled["remainingQty"] == 0
    fills = [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]
    assert sum(f["executedQty"] for f in fills) == pytest.approx(market.qty)
    assert all(f["tradeLiquidity"] == "remove" and f["tradeId"] for f in fills)
    after = _venue_position(market)
    if market.exchange == "binance-spot":
        # The venue's base balance moved by the quantity bought less the commission
        # charged in the base asset; its own trade records say how much that was.
        trades = market.signed("GET", "/api/v3/myTrades", symbol=market.symbol)
        ours = [t for t in trades if str(t["orderId"]) == filled["exchOrderId"]]
        assert sum(float(t["qty"]) for t in ours) == pytest.approx(market.qty)
        fee = sum(float(t["commission"]) for t in ours if t["commissionAsset"] == "BTC")
        assert after - before == pytest.approx(market.qty - fee)
        expected = market.qty
    else:
        assert after - before == pytest.approx(market.qty)
        expected = after
    pws.wait(lambda f: f.get("positions", {}).get(market.symbol) == pytest.approx(expected))
    status, body = market.api.get("/getPosition", sessionId=market.session_id, symbol=market.symbol)
    assert status == 200 and body["position"] == pytest.approx(expected)
    ws.close()
    pws.close()


def _venue_position(m: Market) -> float:
    """The simulated venue's own number: base balance (spot) or position amount."""
    account = m.venue_account()
    if m.exchange == "binance-spot":
        for b in account["balances"]:
            if b["asset"] == "BTC":
                return float(b["free"]) + float(b["locked"])
        return 0.0
    for p in account["positions"]:
        if p["symbol"] == m.symbol:
            return float(p["positionAmt"])
    return 0.0


def test_partial_fills_then_full_fill(market: Market):
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    # Rest a buy above the market maker's bids so that a sell print reaches it first.
    price = market.price(bid + market.tick) if ask - bid > market.tick else market.price(bid)
    qty = market.qty * 4
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=qty)
    ws.wait(_status(cl, "new"))
    market.trade("sell", price, market.qty)
    part = ws.wait(_status(cl, "partiallyfilled"))
    assert part["executedQty"] == market.qty
    assert part["cumulativeFilledQty"] == market.qty
    assert part["remainingQty"] == pytest.approx(qty - market.qty)
    assert part["tradeLiquidity"] == "add" and part["tradeId"] and part["exchTime"]
    market.trade("sell", price, market.qty * 3)
    done = ws.wait(_status(cl, "filled"))
    assert done["cumulativeFilledQty"] == pytest.approx(qty) and done["remainingQty"] == 0
    assert market.venue_orders() == []
    ws.close()


def test_ioc_and_fok_that_cannot_trade_end_without_resting(market: Market):
    ws = market.stream()
    for tif in ("ioc", "fok"):
        cl = market.cl()
        status, body = market.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            price=_resting_buy(market),
            qty=market.qty,
            tif=tif,
        )
        assert status == 200, body
        done = ws.wait(_status(cl, "expired", "rejected", "cancelled"))
        if tif == "fok" and market.exchange != "binance-spot":
            # Binance futures refuse an unfillable FOK outright (-5021).
            assert done["orderStatus"] == "rejected" and "-5021" in done["message"], done
        else:
            assert done["orderStatus"] == "expired", done
    assert market.venue_orders() == []
    ws.close()


def test_postonly_that_would_take_is_rejected_with_the_venue_message(market: Market):
    ws = market.stream()
    cl = market.cl()
    _, ask = market.best()
    status, body = market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        orderType="postonly",
        price=market.price(ask),
        qty=market.qty,
    )
    assert status == 200, body
    done = ws.wait(_status(cl, "rejected", "expired"))
    assert done["message"], done
    assert market.venue_orders() == []
    # A post-only order that does not cross rests.
    cl2 = market.cl()
    market.send(
        clOrderId=cl2,
        transactionType="insert",
        side="buy",
        orderType="postonly",
        price=_resting_buy(market),
        qty=market.qty,
    )
    ws.wait(_status(cl2, "new"))
    ws.close()
