"""OKX order entry end to end: `ems serve` against `ems sim`, real sockets.

Each scenario runs on spot (`BTC-USDT`, tdMode cash) and on a linear swap
(`BTC-USDT-SWAP`, tdMode cross, sized in contracts), and ends with ems's working orders
(and the swap position) equal to the simulated venue's own state.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.okx.conftest import OkxMarket, frames_for, status_is


def _insert(m: OkxMarket, cl: str, **fields: object) -> None:
    status, body = m.send(clOrderId=cl, transactionType="insert", **fields)
    assert status == 200, body
    assert body["orderStatus"] == "pendingnew"


def test_limit_gtc_insert_rests_on_the_venue(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    price = okx.resting_buy()
    _insert(okx, cl, side="buy", price=price, qty=okx.qty, orderType="limit", tif="gtc")
    new = ws.wait(status_is(cl, "new"))
    assert new["exchOrderId"] and new["price"] == price and new["qty"] == okx.qty
    venue = {o["ordId"]: o for o in okx.venue_orders()}
    assert venue[new["exchOrderId"]]["ordType"] == "limit"
    assert Decimal(venue[new["exchOrderId"]]["px"]) == Decimal(str(price))
    assert venue[new["exchOrderId"]]["tdMode"] == ("cross" if okx.swap else "cash")
    ws.close()


def test_update_amends_price_then_size_in_place(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    price = okx.resting_buy()
    _insert(okx, cl, side="buy", price=price, qty=okx.qty * 3)
    first = ws.wait(status_is(cl, "new"))
    new_price = okx.price(Decimal(str(price)) - 5 * okx.tick)
    status, body = okx.send(clOrderId=cl, transactionType="update", price=new_price)
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    moved = ws.wait(lambda f: status_is(cl, "new")(f) and f["price"] == new_price)
    assert moved["transactionType"] == "update"
    status, body = okx.send(clOrderId=cl, transactionType="update", qty=okx.qty * 2)
    assert status == 200, body
    ws.wait(lambda f: status_is(cl, "new")(f) and f["qty"] == okx.qty * 2)
    (venue,) = okx.venue_orders()
    # An amend keeps the order (and its id): OKX amends in place.
    assert venue["ordId"] == first["exchOrderId"]
    assert Decimal(venue["px"]) == Decimal(str(new_price))
    assert Decimal(venue["sz"]) == Decimal(str(okx.qty * 2))
    ws.close()


def test_postonly_update_and_delete(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    _, ask = okx.best()
    price = okx.price(ask + 100 * okx.tick)
    _insert(okx, cl, side="sell", price=price, qty=okx.qty, orderType="postonly", tif="gtc")
    ws.wait(status_is(cl, "new"))
    assert okx.venue_orders()[0]["ordType"] == "post_only"
    higher = okx.price(Decimal(str(price)) + 3 * okx.tick)
    okx.send(clOrderId=cl, transactionType="update", price=higher)
    ws.wait(lambda f: status_is(cl, "new")(f) and f["price"] == higher)
    status, body = okx.send(clOrderId=cl, transactionType="delete")
    assert status == 200 and body["orderStatus"] == "pendingcancel"
    done = ws.wait(status_is(cl, "cancelled"))
    assert done["transactionType"] == "delete" and done["remainingQty"] == 0
    assert okx.venue_orders() == []
    status, body = okx.send(clOrderId=cl, transactionType="delete")
    assert status == 409 and body["field"] == "clOrderId"
    ws.close()


@pytest.mark.parametrize("tif", ["gtc", "ioc"])
def test_market_order_fills_against_the_book(okx: OkxMarket, tif: str):
    ws = okx.stream()
    pws = okx.api.ws("/subscribePositions")
    pws.subscribe(okx.session_id)
    before = okx.venue_position() if okx.swap else float(okx.venue_balance("BTC"))
    cl = okx.cl()
    _insert(okx, cl, side="buy", orderType="market", tif=tif, qty=okx.qty)
    filled = ws.wait(status_is(cl, "filled"))
    assert filled["cumulativeFilledQty"] == okx.qty and filled["remainingQty"] == 0
    fills = [f for f in frames_for(ws, cl) if f["executedQty"]]
    assert sum(f["executedQty"] for f in fills) == pytest.approx(okx.qty)
    assert all(f["tradeLiquidity"] == "remove" and f["tradeId"] for f in fills)
    if okx.swap:
        after = okx.venue_position()
        assert after - before == pytest.approx(okx.qty)
        expected = after
    else:
        # Spot buys pay their fee in the base currency (OKX rule); the position is the
        # quantity this session bought.
        after = float(okx.venue_balance("BTC"))
        assert 0 < after - before < okx.qty
        expected = okx.qty
    pws.wait(lambda f: f.get("positions", {}).get(okx.inst_id) == pytest.approx(expected))
    ws.close()
    pws.close()


def test_market_sell_is_sized_in_the_base_currency(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    _insert(okx, cl, side="sell", orderType="market", qty=okx.qty)
    done = ws.wait(status_is(cl, "filled"))
    assert done["cumulativeFilledQty"] == okx.qty
    ws.close()


def test_partial_fills_then_full_fill(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    bid, ask = okx.best()
    price = okx.price(bid + okx.tick) if ask - bid > okx.tick else okx.price(bid)
    qty = okx.qty * 4
    _insert(okx, cl, side="buy", price=price, qty=qty)
    ws.wait(status_is(cl, "new"))
    okx.trade("sell", price, okx.qty)
    part = ws.wait(status_is(cl, "partiallyfilled"))
    assert part["executedQty"] == okx.qty and part["cumulativeFilledQty"] == okx.qty
    assert part["remainingQty"] == pytest.approx(qty - okx.qty)
    assert part["tradeLiquidity"] == "add" and part["tradeId"] and part["exchTime"]
    okx.trade("sell", price, okx.qty * 3)
    done = ws.wait(status_is(cl, "filled"))
    assert done["cumulativeFilledQty"] == pytest.approx(qty) and done["remainingQty"] == 0
    assert okx.venue_orders() == []
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_that_cannot_trade_expire_with_the_venue_reason(okx: OkxMarket, tif: str):
    ws = okx.stream()
    cl = okx.cl()
    _insert(okx, cl, side="buy", price=okx.resting_buy(), qty=okx.qty, tif=tif)
    done = ws.wait(status_is(cl, "expired", "cancelled", "rejected"))
    assert done["orderStatus"] == "expired", done
    assert done["message"].startswith("cancelSource 14" if tif == "ioc" else "cancelSource 13")
    assert okx.venue_orders() == []
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_that_cross_fill(okx: OkxMarket, tif: str):
    ws = okx.stream()
    cl = okx.cl()
    _, ask = okx.best()
    _insert(okx, cl, side="buy", price=okx.price(ask), qty=okx.qty, tif=tif)
    done = ws.wait(status_is(cl, "filled", "expired"))
    assert done["orderStatus"] == "filled" and done["tradeLiquidity"] == "remove"
    ws.close()


def test_postonly_that_would_take_is_cancelled_with_the_venue_reason(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    _, ask = okx.best()
    _insert(okx, cl, side="buy", orderType="postonly", price=okx.price(ask), qty=okx.qty)
    done = ws.wait(status_is(cl, "cancelled", "rejected", "expired"))
    # OKX accepts the order and cancels it (cancelSource 31); ems says the same.
    assert done["orderStatus"] == "cancelled", done
    assert "post-only" in done["message"] and "31" in done["message"]
    assert done["exchOrderId"]
    assert okx.venue_orders() == []
    cl2 = okx.cl()
    _insert(okx, cl2, side="buy", orderType="postonly", price=okx.resting_buy(), qty=okx.qty)
    ws.wait(status_is(cl2, "new"))
    ws.close()


def test_reject_carries_the_venue_message(okx: OkxMarket):
    ws = okx.stream()
    cl = okx.cl()
    if okx.swap:
        # A reduce-only style refusal is not reachable through the API; a delete of an
        # order the venue has already filled is: its fill push is lost on the way.
        bid, ask = okx.best()
        price = okx.price(bid + okx.tick) if ask - bid > okx.tick else okx.price(bid)
        _insert(okx, cl, side="buy", price=price, qty=okx.qty)
        ws.wait(status_is(cl, "new"))
        okx.fault(userEvents="drop", apiKey=okx.account["apiKey"], count=1)
        okx.trade("sell", price, okx.qty)
        status, _ = okx.send(clOrderId=cl, transactionType="delete")
        assert status == 200
        refused = ws.wait(
            lambda f: (
                f.get("clOrderId") == cl
                and f["orderStatus"] == "rejected"
                and f["transactionType"] == "delete"
            )
        )
        assert refused["message"].startswith("51401"), refused
        ws.wait(status_is(cl, "filled"), timeout=10)
    else:
        _insert(okx, cl, side="sell", price=okx.price(okx.best()[1] * 2), qty=5000.0)
        done = ws.wait(status_is(cl, "rejected"))
        assert done["message"].startswith("51008") and "Insufficient BTC" in done["message"]
    ws.close()


def test_unsupported_tif_and_off_grid_price_are_refused_before_the_venue(okx: OkxMarket):
    status, body = okx.send(
        clOrderId=okx.cl(), transactionType="insert", side="buy", price=okx.resting_buy(),
        qty=okx.qty, tif="day",
    )  # fmt: skip
    assert status == 400 and body["field"] == "tif"
    status, body = okx.send(
        clOrderId=okx.cl(), transactionType="insert", side="buy", price=1000.05, qty=okx.qty
    )
    assert status == 400 and body["field"] == "price"
    status, body = okx.send(
        clOrderId=okx.cl(), transactionType="insert", side="buy", orderType="postonly",
        price=okx.resting_buy(), qty=okx.qty, tif="ioc",
    )  # fmt: skip
    assert status == 400 and body["field"] == "tif"


def _rest_orders(m: OkxMarket, ws_send, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    base = Decimal(str(m.resting_buy(400)))
    ids = [m.cl() for _ in range(count)]
    for i, cl in enumerate(ids):
        ws_send(
            m.order(
                clOrderId=cl,
                transactionType="insert",
                side="buy",
                price=m.price(base - (i % 50) * m.tick),
                qty=m.qty,
            )
        )
    return ids


def _pull_and_count(m: OkxMarket, count: int, timeout: float = 20.0) -> None:
    ws = m.stream()
    ids = _rest_orders(m, ws.send, count)
    for cl in ids:
        ws.wait(status_is(cl, "new"), timeout=timeout)
    assert len(m.venue_orders()) == count
    before = m.stats()
    status, body = m.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ids)
    for cl in ids:
        frame = ws.wait(status_is(cl, "cancelled"), timeout=timeout)
        assert frame["transactionType"] == "pull"
    after = m.stats()
    assert m.venue_orders() == []

    def delta(group: str, op: str) -> int:
        return int(after[group].get(op, 0)) - int(before[group].get(op, 0))

    # Every order cancelled in the fewest messages: ceil(n / 20), and nothing else sent.
    assert delta("ops", "batch-cancel-orders") == -(-count // 20)
    assert delta("items", "batch-cancel-orders") == count
    assert delta("ops", "cancel-order") == 0 and delta("ops", "order") == 0
    ws.close()


@pytest.mark.parametrize("count", [0, 1, 20, 21])
def test_pull_cancels_every_working_order_in_the_fewest_messages(okx: OkxMarket, count: int):
    _pull_and_count(okx, count)


def test_pull_of_a_thousand_orders_takes_fifty_messages(api, sim):  # type: ignore[no-untyped-def]
    from tests.okx.conftest import assert_matches_venue, start_okx_session

    m = start_okx_session(api, sim, "BTC-USDT")
    _pull_and_count(m, 1000, timeout=60)
    assert_matches_venue(m)


def test_use_margin_sends_spot_orders_cross(api, sim):  # type: ignore[no-untyped-def]
    from tests.okx.conftest import assert_matches_venue, start_okx_session

    m = start_okx_session(api, sim, "BTC-USDT", useMargin=True)
    ws = m.stream()
    buy, sell = m.cl(), m.cl()
    _insert(m, buy, side="buy", price=m.resting_buy(), qty=m.qty)
    _, ask = m.best()
    _insert(m, sell, side="sell", price=m.price(ask + 200 * m.tick), qty=m.qty)
    for cl, ccy in ((buy, "USDT"), (sell, "BTC")):
        new = ws.wait(status_is(cl, "new"))
        (venue,) = [o for o in m.venue_orders() if o["ordId"] == new["exchOrderId"]]
        # The margin currency: what a buy (quote) or a sell (base) would borrow.
        assert venue["tdMode"] == "cross" and venue["ccy"] == ccy
    m.send(transactionType="pull")
    for cl in (buy, sell):
        ws.wait(status_is(cl, "cancelled"))
    assert_matches_venue(m)
    ws.close()


def test_session_without_passphrase_is_refused(api, sim):  # type: ignore[no-untyped-def]
    account = sim["accounts"][0]
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {"apiKey": account["apiKey"], "secretKey": account["secretKey"],
                            "exchange": "okx"},
            "sessionId": "okx-no-passphrase",
            "restUrl": sim["okx"]["restUrl"],
            "wsUrl": sim["okx"]["wsUrl"],
        },
    )  # fmt: skip
    assert status == 400 and body["field"] == "exchangeKey.passphrase"
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {"apiKey": account["apiKey"], "secretKey": account["secretKey"],
                            "passphrase": "wrong", "exchange": "okx"},
            "sessionId": "okx-bad-passphrase",
            "restUrl": sim["okx"]["restUrl"],
            "wsUrl": sim["okx"]["wsUrl"],
        },
    )  # fmt: skip
    assert status == 400 and "50105" in body["error"] and "wrong" not in body["error"]
