"""Order entry end to end: `ems serve` against `ems sim`, real sockets, per Binance market.

Every scenario checks three views against each other: the update stream, ems's own
working orders, and the simulated venue's account state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, start_session
from tests.harness import Api, Stream


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


# ----------------------------------------------------------------- the rest of the matrix


def _inside_ask(m: Market) -> float:
    """A sell price strictly inside the spread, where only our counterparty will quote."""
    bid, ask = m.best()
    assert ask - bid > 3 * m.tick, (bid, ask)
    return m.price(ask - m.tick)


def _inside_bid(m: Market, ticks: int = 1) -> float:
    """A buy price inside the spread, ahead of the market maker's bids."""
    bid, ask = m.best()
    assert ask - bid > (ticks + 2) * m.tick, (bid, ask)
    return m.price(bid + ticks * m.tick)


def _minus(a: float, b: float) -> float:
    """a - b as a client would mean it (the float difference is off the step grid)."""
    return float(Decimal(str(a)) - Decimal(str(b)))


def _fills(ws: Stream, cl: str) -> list[dict[str, Any]]:
    return [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_limit_ioc_and_fok_that_can_fill_fill_fully(market: Market, tif: str):
    ws = market.stream()
    price = _inside_ask(market)
    market.counter_order("sell", price, market.qty)
    cl = market.cl()
    status, body = market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=price,
        qty=market.qty,
        tif=tif,
    )
    assert status == 200, body
    done = ws.wait(_status(cl, "filled", "expired", "rejected", "cancelled"))
    assert done["orderStatus"] == "filled", done
    assert done["cumulativeFilledQty"] == market.qty and done["remainingQty"] == 0
    fills = _fills(ws, cl)
    assert sum(f["executedQty"] for f in fills) == pytest.approx(market.qty)
    assert all(f["price"] == price and f["tradeLiquidity"] == "remove" for f in fills)
    assert market.venue_orders() == []
    ws.close()


def test_limit_ioc_that_fills_partly_expires_the_rest(market: Market):
    ws = market.stream()
    price = _inside_ask(market)
    market.counter_order("sell", price, market.qty)
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=price,
        qty=market.qty * 2,
        tif="ioc",
    )
    done = ws.wait(_status(cl, "filled", "expired", "rejected", "cancelled"))
    assert done["orderStatus"] in ("expired", "cancelled"), done
    assert done["cumulativeFilledQty"] == market.qty and done["remainingQty"] == 0
    assert sum(f["executedQty"] for f in _fills(ws, cl)) == pytest.approx(market.qty)
    assert market.venue_orders() == []
    ws.close()


def test_limit_fok_that_cannot_fill_fully_trades_nothing(market: Market):
    ws = market.stream()
    price = _inside_ask(market)
    market.counter_order("sell", price, market.qty)
    cl = market.cl()
    try:
        market.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            price=price,
            qty=market.qty * 2,
            tif="fok",
        )
        done = ws.wait(_status(cl, "filled", "expired", "rejected", "cancelled"))
        if market.exchange == "binance-spot":
            assert done["orderStatus"] == "expired", done
        else:
            # Binance futures refuse an FOK they cannot fill outright (-5021).
            assert done["orderStatus"] == "rejected" and "-5021" in done["message"], done
        assert done["cumulativeFilledQty"] == 0 and not _fills(ws, cl)
        # The liquidity it would have needed is still there, untouched.
        _, ask = market.best()
        assert float(ask) == price
    finally:
        market.counter_cancel_all()
    ws.close()


def test_market_sell_fills_and_lowers_the_position(market: Market):
    ws = market.stream()
    _, before = market.api.get("/getPosition", sessionId=market.session_id, symbol=market.symbol)
    cl = market.cl()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="sell", orderType="market", qty=market.qty
    )
    assert status == 200, body
    done = ws.wait(_status(cl, "filled", "expired", "rejected", "cancelled"))
    assert done["orderStatus"] == "filled", done
    assert done["side"] == "sell" and done["cumulativeFilledQty"] == market.qty
    assert all(f["tradeLiquidity"] == "remove" for f in _fills(ws, cl))
    bid, _ = market.best()
    assert all(f["price"] <= float(bid) for f in _fills(ws, cl))
    _, after = market.api.get("/getPosition", sessionId=market.session_id, symbol=market.symbol)
    assert after["position"] == pytest.approx(before["position"] - market.qty)
    ws.close()


def test_postonly_orders_update_delete_and_pull_as_post_only(market: Market):
    ws = market.stream()
    post_only = (
        {"type": "LIMIT_MAKER"}
        if market.exchange == "binance-spot"
        else {"type": "LIMIT", "timeInForce": "GTX"}
    )
    base = Decimal(str(_resting_buy(market)))
    ids = [market.cl() for _ in range(3)]
    for i, cl in enumerate(ids):
        market.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            orderType="postonly",
            price=market.price(base - i * market.tick),
            qty=market.qty * 2,
        )
        ws.wait(_status(cl, "new"))
    first, second, third = ids
    new_price = market.price(base - 10 * market.tick)
    market.send(clOrderId=first, transactionType="update", price=new_price)
    moved = ws.wait(lambda f: _status(first, "new")(f) and f["price"] == new_price)
    assert moved["orderType"] == "postonly"
    market.send(clOrderId=first, transactionType="update", qty=market.qty)
    ws.wait(lambda f: _status(first, "new")(f) and f["qty"] == market.qty)
    venue = {o["clientOrderId"]: o for o in market.venue_orders()}
    assert len(venue) == 3
    for o in venue.values():
        assert {k: o[k] for k in post_only} == post_only, o
    assert sorted(Decimal(o["origQty"]) for o in venue.values())[0] == Decimal(str(market.qty))
    market.send(clOrderId=second, transactionType="delete")
    ws.wait(_status(second, "cancelled"))
    assert len(market.venue_orders()) == 2
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted([first, third])
    for cl in (first, third):
        assert ws.wait(_status(cl, "cancelled"))["transactionType"] == "pull"
    assert market.venue_orders() == []
    ws.close()


def test_update_of_a_partially_filled_order_keeps_its_fills(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = _inside_bid(market)
    qty = market.qty * 3
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=qty)
    first = ws.wait(_status(cl, "new"))
    market.trade("sell", price, market.qty)
    ws.wait(_status(cl, "partiallyfilled"))
    new_price = _inside_bid(market, 2)
    status, body = market.send(clOrderId=cl, transactionType="update", price=new_price)
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    moved = ws.wait(
        lambda f: (
            f.get("clOrderId") == cl
            and f["price"] == new_price
            and f["orderStatus"] in ("new", "partiallyfilled")
        )
    )
    assert moved["cumulativeFilledQty"] == market.qty and moved["qty"] == qty
    assert moved["remainingQty"] == pytest.approx(qty - market.qty)
    (venue,) = market.venue_orders()
    if market.exchange == "binance-spot":
        # Cancel-replace: a new venue order carrying only what was left to fill.
        assert str(venue["orderId"]) != first["exchOrderId"]
        assert Decimal(venue["origQty"]) == Decimal(str(_minus(qty, market.qty)))
        assert Decimal(venue["executedQty"]) == 0
    else:
        # Amend in place: the same venue order, its fills kept.
        assert str(venue["orderId"]) == first["exchOrderId"]
        assert Decimal(venue["origQty"]) == Decimal(str(qty))
        assert Decimal(venue["executedQty"]) == Decimal(str(market.qty))
    assert Decimal(venue["price"]) == Decimal(str(new_price))
    market.trade("sell", new_price, _minus(qty, market.qty))
    done = ws.wait(_status(cl, "filled"))
    assert done["cumulativeFilledQty"] == pytest.approx(qty)
    assert sum(f["executedQty"] for f in _fills(ws, cl)) == pytest.approx(qty)
    assert market.venue_orders() == []
    ws.close()


def test_update_raising_the_qty(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = _resting_buy(market)
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=market.qty)
    first = ws.wait(_status(cl, "new"))
    status, body = market.send(clOrderId=cl, transactionType="update", qty=market.qty * 3)
    assert status == 200, body
    grown = ws.wait(lambda f: _status(cl, "new")(f) and f["qty"] == market.qty * 3)
    (venue,) = market.venue_orders()
    assert Decimal(venue["origQty"]) == Decimal(str(market.qty * 3))
    assert Decimal(venue["price"]) == Decimal(str(price))
    assert grown["exchOrderId"] == str(venue["orderId"])
    # Spot cannot amend a size upward: it cancel-replaces (a new venue order);
    # futures amend in place.
    assert (grown["exchOrderId"] != first["exchOrderId"]) == (market.exchange == "binance-spot")
    ws.close()


@pytest.fixture
def spot(api: Api, sim: dict[str, Any]) -> Iterator[Market]:
    """A spot session: cancel-replace is how spot updates (futures amend in place)."""
    m = start_session(api, sim, "binance-spot", f"replace-{uuid.uuid4().hex[:8]}")
    yield m
    assert_matches_venue(m)
    m.send(transactionType="pull")


@pytest.mark.parametrize("reply", ["prompt", "after the stream's cancel event"])
def test_cancel_replace_whose_new_order_is_refused_ends_the_order(spot: Market, reply: str):
    ws = spot.stream()
    cl = spot.cl()
    price = _resting_buy(spot)
    spot.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        orderType="postonly",
        price=price,
        qty=spot.qty,
    )
    ws.wait(_status(cl, "new"))
    if reply != "prompt":
        # The venue's answer is held back, so the old leg's cancel event comes first.
        spot.venue("POST", "/sim/fault", json={"path": "/api/v3/order/cancelReplace",
                   "delayMs": 300, "late": True, "apiKey": spot.account["apiKey"]})  # fmt: skip
    # Moving a post-only buy onto the ask: the cancel half succeeds, the new
    # LIMIT_MAKER would take and is refused, so the venue has nothing left.
    _, ask = spot.best()
    status, body = spot.send(clOrderId=cl, transactionType="update", price=spot.price(ask))
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    done = ws.wait(
        lambda f: (
            _status(cl, "cancelled", "rejected", "new")(f) and f["transactionType"] == "update"
        )
    )
    assert done["orderStatus"] == "cancelled", done
    assert "replaced order rejected" in done["message"] and "-2021" in done["message"]
    # The order that was cancelled is the one at the old price: the refused replacement
    # never existed.
    assert done["price"] == price and done["qty"] == spot.qty, done
    assert spot.venue_orders() == []
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    assert working == []
    ws.close()


def test_cancel_replace_whose_cancel_fails_is_refused_and_the_order_settled(spot: Market):
    ws = spot.stream()
    cl = spot.cl()
    price = _inside_bid(spot)
    spot.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=spot.qty)
    ws.wait(_status(cl, "new"))
    # The order fills while its events are lost: ems still has it working.
    spot.venue(
        "POST",
        "/sim/fault",
        json={"userEvents": "drop", "apiKey": spot.account["apiKey"], "count": 1000},
    )
    try:
        spot.trade("sell", price, spot.qty)
    finally:
        spot.venue("POST", "/sim/fault", json={"clear": True})
    status, body = spot.send(
        clOrderId=cl, transactionType="update", price=spot.price(Decimal(str(price)) - spot.tick)
    )
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    refused = ws.wait(lambda f: _status(cl, "rejected")(f) and f["transactionType"] == "update")
    assert "-2022" in refused["message"]
    # The refusal makes ems ask the venue, which says the order filled.
    done = ws.wait(_status(cl, "filled", "cancelled"))
    assert done["orderStatus"] == "filled" and done["cumulativeFilledQty"] == spot.qty
    assert spot.venue_orders() == []
    ws.close()


@pytest.mark.parametrize(
    ("exchange", "too_small", "enough"),
    [("binance-spot", 0.0001, 0.001), ("binance-usdm-future", 0.001, 0.01)],
)
def test_market_order_below_min_notional_at_the_known_price_is_refused(
    api: Api, sim: dict[str, Any], exchange: str, too_small: float, enough: float
):
    m = start_session(api, sim, exchange, f"notional-{uuid.uuid4().hex[:8]}")
    status, body = api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    assert status == 200, body
    deadline = time.monotonic() + 10
    while not api.get("/book", exchange=exchange, symbol=m.symbol)[1].get("synced"):
        assert time.monotonic() < deadline, "book never synced"
        time.sleep(0.05)
    ws = m.stream()
    # About 3 USDT on spot (minimum 5) and 30 USDT on USD-M (minimum 100).
    small = m.cl()
    status, body = m.send(
        clOrderId=small, transactionType="insert", side="buy", orderType="market", qty=too_small
    )
    assert status == 400 and body["field"] == "qty" and "notional" in body["error"], body
    _, every = api.get("/orders", sessionId=m.session_id, all="true")
    assert every == [] and m.venue_orders() == []
    cl = m.cl()
    status, body = m.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="market", qty=enough
    )
    assert status == 200, body
    assert ws.wait(_status(cl, "filled", "rejected", "expired"))["orderStatus"] == "filled"
    ws.close()
    assert_matches_venue(m)
