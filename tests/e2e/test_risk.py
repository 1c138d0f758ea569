"""Pre-trade risk and the kill switch, end to end: denials are typed rejected updates."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, start_session
from tests.harness import Api


@pytest.fixture
def spot(api: Api, sim: dict[str, Any]) -> Any:
    m = start_session(api, sim, "binance-spot", f"risk-{uuid.uuid4().hex[:8]}")
    bid, ask = m.best()
    m.ref_mid = (bid + ask) / 2
    yield m
    api.post("/killSwitch", {"active": False})
    m.send(transactionType="pull")


def _limits(m: Market, **limits: Any) -> Any:
    return m.api.post("/setRiskLimits", {"sessionId": m.session_id, **limits})


def _buy(m: Market, ticks_below: int = 300, qty: float = 0.001, **over: Any):
    body = dict(
        clOrderId=m.cl(),
        transactionType="insert",
        side="buy",
        price=m.price(m.ref_mid - ticks_below * m.tick),
        qty=qty,
    )
    body.update(over)
    return m.send(**body)


def _denied(ws, cl: str, reason: str) -> dict:
    frame = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "rejected")
    assert frame["riskReason"] == reason, frame
    assert reason in frame["message"]
    return frame


def test_quantity_and_notional_limits_deny_with_typed_reasons(spot: Market):
    ws = spot.stream()
    assert _limits(spot, maxOrderQty=0.002, maxOrderNotional=100)[0] == 200
    code, body = _buy(spot, qty=0.003)
    assert code == 200 and body["orderStatus"] == "rejected"
    _denied(ws, body["clOrderId"], "QuantityAboveMaximum")
    code, body = _buy(spot, qty=0.002)  # ~60 USDT: within both limits
    ws.wait(lambda f: f.get("clOrderId") == body["clOrderId"] and f["orderStatus"] == "new")
    _limits(spot, maxOrderNotional=10)
    code, body = _buy(spot, qty=0.001)  # ~30 USDT > 10
    _denied(ws, body["clOrderId"], "NotionalAboveMaximum")
    assert_matches_venue(spot)  # the denied orders never reached the venue
    ws.close()


def test_price_band_around_the_last_trade(spot: Market):
    ws = spot.stream()
    code, body = spot.api.post(
        "/setRiskLimits",
        {"sessionId": spot.session_id, "symbol": spot.symbol, "priceBandPercent": 1},
    )
    assert code == 200, body
    spot.trade("buy", float(spot.ref_mid), 0.001)  # gives the band its reference
    time.sleep(0.3)
    inside = _buy(spot, ticks_below=100)[1]  # 1 USDT below: inside 1%
    ws.wait(lambda f: f.get("clOrderId") == inside["clOrderId"] and f["orderStatus"] == "new")
    outside = _buy(spot, ticks_below=100_000)[1]  # 1000 USDT below: outside
    _denied(ws, outside["clOrderId"], "PriceOutsideBand")
    # An update that would leave the band is refused; the order stays as it was.
    code, frame = spot.send(
        clOrderId=inside["clOrderId"],
        transactionType="update",
        price=spot.price(spot.ref_mid - 100_000 * spot.tick),
    )
    assert frame["orderStatus"] == "rejected" and frame["riskReason"] == "PriceOutsideBand"
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    assert [o["orderStatus"] for o in working] == ["new"]
    ws.close()


def _pull_and_wait(m: Market) -> None:
    """Pulls the session's orders and waits until none is working: an order being
    cancelled still counts against the limits until the venue confirms it."""
    m.send(transactionType="pull")
    deadline = time.monotonic() + 10
    while m.api.get("/orders", sessionId=m.session_id)[1]:
        assert time.monotonic() < deadline, "the pull did not finish"
        time.sleep(0.02)


def test_working_orders_position_and_rate_limits(spot: Market):
    ws = spot.stream()
    _limits(spot, maxWorkingOrders=2)
    ids = [_buy(spot, ticks_below=300 + i)[1]["clOrderId"] for i in range(3)]
    for cl in ids[:2]:
        ws.wait(lambda f, c=cl: f.get("clOrderId") == c and f["orderStatus"] == "new")
    _denied(ws, ids[2], "TooManyWorkingOrders")
    _pull_and_wait(spot)
    _limits(spot, maxWorkingOrders=100, maxPosition=0.0025)
    a = _buy(spot, qty=0.002)[1]["clOrderId"]
    ws.wait(lambda f: f.get("clOrderId") == a and f["orderStatus"] == "new")
    b = _buy(spot, qty=0.001)[1]["clOrderId"]  # 0.002 working + 0.001 > 0.0025
    _denied(ws, b, "PositionLimitExceeded")
    _pull_and_wait(spot)
    _limits(spot, maxPosition=1, maxOrdersPerSecond=3)
    results = [_buy(spot, ticks_below=400 + i)[1]["orderStatus"] for i in range(6)]
    assert results.count("rejected") >= 3, results
    ws.close()


def test_kill_switch_pulls_everything_and_blocks_until_released(api: Api, sim, spot: Market):
    other = start_session(api, sim, "binance-usdm-future", f"kill-{uuid.uuid4().hex[:8]}")
    ws, ows = spot.stream(), other.stream()
    mine = [_buy(spot, ticks_below=300 + i)[1]["clOrderId"] for i in range(3)]
    bid, _ = other.best()
    theirs = other.send(
        clOrderId=other.cl(),
        transactionType="insert",
        side="buy",
        price=other.price(bid - 300 * other.tick),
        qty=other.qty,
    )[1]["clOrderId"]
    for cl in mine:
        ws.wait(lambda f, c=cl: f.get("clOrderId") == c and f["orderStatus"] == "new")
    ows.wait(lambda f: f.get("clOrderId") == theirs and f["orderStatus"] == "new")
    code, body = api.post("/killSwitch", {"active": True})
    assert code == 200 and body["active"] is True and body["pulled"] >= 4
    for cl in mine:
        ws.wait(lambda f, c=cl: f.get("clOrderId") == c and f["orderStatus"] == "cancelled")
    ows.wait(lambda f: f.get("clOrderId") == theirs and f["orderStatus"] == "cancelled")
    assert spot.venue_orders() == [] and other.venue_orders() == []
    blocked = _buy(spot)[1]
    assert blocked["orderStatus"] == "rejected" and blocked["riskReason"] == "KillSwitchActive"
    assert api.get("/killSwitch") == (200, {"active": True})
    assert api.post("/killSwitch", {"active": False})[1]["active"] is False
    after = _buy(spot)[1]["clOrderId"]
    ws.wait(lambda f: f.get("clOrderId") == after and f["orderStatus"] == "new")
    ws.close()
    ows.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"maxOrderQty": -1}, "maxOrderQty"),
        ({"maxWorkingOrders": 1.5}, "maxWorkingOrders"),
        ({"priceBandPercent": "1"}, "priceBandPercent"),
        ({"symbol": "NOPE", "maxOrderQty": 1}, "symbol"),
        ({"maxOrderQtty": 1}, "maxOrderQtty"),
        ({"priceBand": 1, "maxOrderQty": 1}, "priceBand"),
    ],
)
def test_bad_limits_are_refused(spot: Market, body, field):
    code, reply = spot.api.post("/setRiskLimits", {"sessionId": spot.session_id, **body})
    assert code == 400 and reply["field"] == field
    # Nothing was set: a refused request changes no limit.
    _, listed = spot.api.get("/riskLimits", sessionId=spot.session_id)
    assert listed["configured"] == {}


def test_session_band_follows_each_symbol_from_its_first_order(spot: Market):
    """A band set for the whole session: the first order on a symbol makes ems follow it
    and waits (pending) for a reference instead of being refused NoReferencePrice."""
    ws = spot.stream()
    assert _limits(spot, priceBandPercent=2)[0] == 200
    inside = _buy(spot, ticks_below=100)[1]
    assert inside["orderStatus"] == "pendingnew"
    frame = ws.wait(
        lambda f: f.get("clOrderId") == inside["clOrderId"] and f["orderStatus"] != "pendingnew",
        timeout=10,
    )
    assert frame["orderStatus"] == "new", frame
    outside = _buy(spot, ticks_below=100_000)[1]  # 1000 USDT below: outside 2%
    assert outside["riskReason"] == "PriceOutsideBand"
    code, book = spot.api.get("/book", exchange=spot.exchange, symbol=spot.symbol)
    assert code == 200 and book["synced"]
    assert_matches_venue(spot)
    ws.close()


def test_band_is_measured_from_the_best_ask_for_a_buy_and_the_best_bid_for_a_sell(
    spot: Market,
):
    ws = spot.stream()
    assert _limits(spot, symbol=spot.symbol, priceBandPercent=50)[0] == 200  # follows it
    deadline = time.monotonic() + 10
    while (
        spot.api.get("/book", exchange=spot.exchange, symbol=spot.symbol)[1].get("synced")
        is not True
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _, book = spot.api.get("/book", exchange=spot.exchange, symbol=spot.symbol, depth=1)
    bid, ask = Decimal(str(book["bids"][0][0])), Decimal(str(book["asks"][0][0]))
    spread = ask - bid
    assert spread >= 20 * spot.tick, f"the test needs a wider book than {bid}/{ask}"
    # A band narrower than the spread: measured from the mid, nothing could rest near the
    # touch on the far side; measured from the side an order would take, it can.
    width = spread * Decimal("0.4")
    pct = float(width / ask * 100)
    assert _limits(spot, symbol=spot.symbol, priceBandPercent=pct)[0] == 200
    ok_buy = spot.price(ask - width * Decimal("0.8"))  # inside the spread, near the ask
    far_buy = spot.price(ask - width * Decimal("1.3"))  # still above the mid's band edge
    sell_qty = spot.qty
    ok_sell = spot.price(bid + width * Decimal("0.8"))  # near the bid
    far_sell = spot.price(bid + width * Decimal("1.3") + spot.tick)  # below the mid's edge
    # The refused ones first: an accepted buy rests inside the spread and becomes the best
    # bid, the sell side's reference, as soon as ems's book sees it.
    refused = _buy(spot, price=far_buy)[1]
    assert refused["riskReason"] == "PriceOutsideBand", refused
    too_far = spot.send(clOrderId=spot.cl(), transactionType="insert", side="sell",
                        price=far_sell, qty=sell_qty)[1]  # fmt: skip
    assert too_far["riskReason"] == "PriceOutsideBand", too_far
    accepted = _buy(spot, price=ok_buy)[1]
    assert accepted["orderStatus"] == "pendingnew", accepted
    sold = spot.send(clOrderId=spot.cl(), transactionType="insert", side="sell",
                     price=ok_sell, qty=sell_qty)[1]  # fmt: skip
    assert sold["orderStatus"] == "pendingnew", sold
    for cl in (accepted["clOrderId"], sold["clOrderId"]):
        ws.wait(lambda f, c=cl: f.get("clOrderId") == c and f["orderStatus"] == "new")
    assert_matches_venue(spot)
    ws.close()


def test_kill_switch_cancels_an_insert_that_lands_after_the_pull(api: Api, spot: Market):
    """The venue acknowledges the insert 1.5 s late (slow ack): the kill switch's
    cancel-all runs before the order exists, so ems cancels it once it is acknowledged."""
    ws = spot.stream()
    spot.venue("POST", "/sim/fault", json={"path": "/api/v3/order", "method": "POST",
                                          "count": 1, "delayMs": 1500})  # fmt: skip
    late = _buy(spot)[1]
    assert late["orderStatus"] == "pendingnew"
    code, body = api.post("/killSwitch", {"active": True})
    assert code == 200 and body["pulled"] >= 1
    ws.wait(lambda f: f.get("clOrderId") == late["clOrderId"] and f["orderStatus"] == "new",
            timeout=10)  # fmt: skip
    done = ws.wait(
        lambda f: f.get("clOrderId") == late["clOrderId"] and f["orderStatus"] == "cancelled",
        timeout=10,
    )
    assert done["exchOrderId"]
    assert spot.venue_orders() == []
    _, working = spot.api.get("/orders", sessionId=spot.session_id)
    assert working == []
    assert api.post("/killSwitch", {"active": False})[1]["active"] is False
    ws.close()


def test_a_trigger_order_under_a_session_band_finds_its_reference_when_it_fires(
    api: Api, sim: dict[str, Any]
):
    """A fired order cannot wait for a price: setting the trigger makes ems follow the
    symbol of each of its inserts that a band covers, so the order is measured, not
    refused NoReferencePrice, when the trigger fires. (ETHUSD_PERP on COIN-M is followed
    by no other test.)"""
    m = start_session(api, sim, "binance-coinm-future", f"tband-{uuid.uuid4().hex[:8]}")
    other = "ETHUSD_PERP"
    bid = m.venue("GET", f"{m.api_path}/depth", params={"symbol": other, "limit": 5})["bids"][0][0]
    btc_bid, btc_ask = m.best()
    assert _limits(m, priceBandPercent=5)[0] == 200
    where = {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id}
    assert api.post("/startTriggerManager", where)[0] == 200
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "clear": True})
    ws = m.stream()
    try:
        cl = m.cl()
        level = float(btc_ask) + 50
        code, body = api.post(
            "/setTrigger",
            {
                "id": "banded",
                "price": level,
                "symbol": m.symbol,
                "direction": "up",
                "exchange": m.exchange,
                "orders": [
                    m.order(
                        clOrderId=cl,
                        transactionType="insert",
                        side="buy",
                        symbol=other,
                        price=float(bid),
                        qty=1,
                    )
                ],
            },
        )
        assert code == 200, body
        m.trade("buy", level, 1)
        frame = ws.wait(
            lambda f: f.get("clOrderId") == cl and f["orderStatus"] in ("new", "rejected"),
            timeout=10,
        )
        assert frame["orderStatus"] == "new", frame
    finally:
        api.post("/stopTriggerManager", where)
        m.send(transactionType="pull", symbol=other)
        m.venue(
            "POST", "/sim/book", json={"symbol": m.symbol, "mid": float((btc_bid + btc_ask) / 2)}
        )
        ws.close()
