"""Deribit order entry end to end: `ems serve` against `ems sim` over FIX, real sockets.

After each scenario ems's working orders and position equal the simulated venue's.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from tests.deribit.conftest import DeribitMarket, assert_matches_venue, start_deribit
from tests.harness import Api


def _status(cl: str, *statuses: str) -> Any:
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


def test_insert_rests_with_the_client_id_in_41_and_contracts_as_qty(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    price = market.resting_buy()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="buy", price=price, qty=3, tif="gtc"
    )
    assert status == 200 and body["orderStatus"] == "pendingnew", body
    new = ws.wait(_status(cl, "new"))
    assert new["exchOrderId"] and new["price"] == price and new["qty"] == 3
    venue = {o["order_id"]: o for o in market.venue_orders()}
    order = venue[new["exchOrderId"]]
    assert order["contracts"] == "3" and order["amount"] == "30"  # 1 contract = 10 USD
    assert order["cl_ord_id"].startswith("ems") and order["time_in_force"] == "good_til_cancelled"
    ws.close()


@pytest.mark.parametrize(
    ("order_type", "tif", "venue_tif"),
    [
        ("limit", "gtc", "good_til_cancelled"),
        ("limit", "day", "good_til_day"),
        ("postonly", "gtc", "good_til_cancelled"),
        ("postonly", "day", "good_til_day"),
    ],
)
def test_resting_order_types_and_tifs(
    market: DeribitMarket, order_type: str, tif: str, venue_tif: str
):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="sell",
        price=market.price(market.best()[1] + 100 * market.tick),
        qty=2,
        orderType=order_type,
        tif=tif,
    )
    new = ws.wait(_status(cl, "new"))
    order = {o["order_id"]: o for o in market.venue_orders()}[new["exchOrderId"]]
    assert order["time_in_force"] == venue_tif
    assert order["post_only"] is (order_type == "postonly")
    if order_type == "postonly":
        assert order["reject_post_only"] is True  # ExecInst 6A: reject, never reprice
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_unfillable_ioc_and_fok_expire_without_resting(market: DeribitMarket, tif: str):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", price=market.resting_buy(), qty=1,
        tif=tif,
    )  # fmt: skip
    done = ws.wait(_status(cl, "expired", "rejected", "cancelled"))
    assert done["orderStatus"] == "expired", done
    assert done["message"] in ("immediate_or_cancel", "fill_or_kill")
    assert market.venue_orders() == []
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_marketable_limit_ioc_and_fok_fill(market: DeribitMarket, tif: str):
    ws = market.stream()
    before = market.venue_position()
    _, ask = market.best()
    cl = market.cl()
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", price=float(ask), qty=2, tif=tif
    )
    done = ws.wait(_status(cl, "filled"))
    assert done["cumulativeFilledQty"] == 2
    assert market.venue_position() == before + 2
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_market_orders_fill_and_move_the_position(market: DeribitMarket, tif: str):
    ws = market.stream()
    pws = market.api.ws("/subscribePositions")
    pws.subscribe(market.session_id)
    before = market.venue_position()
    cl = market.cl()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="sell", orderType="market", qty=4, tif=tif
    )
    assert status == 200, body
    filled = ws.wait(_status(cl, "filled"))
    fills = [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]
    assert sum(f["executedQty"] for f in fills) == 4
    assert all(f["tradeLiquidity"] == "remove" and f["tradeId"] for f in fills)
    assert filled["remainingQty"] == 0
    after = market.venue_position()
    assert after == before - 4
    pws.wait(lambda f: f.get("positions", {}).get(market.symbol) == after)
    ws.close()
    pws.close()


def test_market_fok_larger_than_the_book_expires(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="market", qty=100000,
        tif="fok",
    )  # fmt: skip
    done = ws.wait(_status(cl, "expired", "rejected", "filled"))
    assert done["orderStatus"] == "expired" and done["cumulativeFilledQty"] == 0
    ws.close()


def test_postonly_that_would_take_is_rejected_with_the_venue_message(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    _, ask = market.best()
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="postonly",
        price=float(ask), qty=1,
    )  # fmt: skip
    done = ws.wait(_status(cl, "rejected"))
    assert done["message"] == "post_only_reject"
    assert market.venue_orders() == []
    ws.close()


def test_update_moves_price_and_size_in_place(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    price = market.resting_buy()
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=5)
    new = ws.wait(_status(cl, "new"))
    new_price = market.price(Decimal(str(price)) - 4 * market.tick)
    status, body = market.send(clOrderId=cl, transactionType="update", price=new_price)
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    moved = ws.wait(lambda f: _status(cl, "new")(f) and f["price"] == new_price)
    assert moved["transactionType"] == "update"
    status, body = market.send(clOrderId=cl, transactionType="update", qty=3)
    assert status == 200, body
    ws.wait(lambda f: _status(cl, "new")(f) and f["qty"] == 3)
    (order,) = market.venue_orders()
    assert order["order_id"] == new["exchOrderId"]  # Deribit edits in place
    assert Decimal(order["price"]) == Decimal(str(new_price)) and order["contracts"] == "3"
    ws.close()


def test_update_refused_by_the_venue_is_rejected_and_the_order_stays(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    price = market.resting_buy()
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="postonly", price=price,
        qty=2,
    )  # fmt: skip
    ws.wait(_status(cl, "new"))
    _, ask = market.best()
    market.send(clOrderId=cl, transactionType="update", price=float(ask + 10 * market.tick))
    refused = ws.wait(lambda f: _status(cl, "rejected")(f) and f["transactionType"] == "update")
    assert refused["message"] == "post_only_reject"
    ws.wait(lambda f: _status(cl, "new")(f) and f["price"] == price)
    assert Decimal(market.venue_orders()[0]["price"]) == Decimal(str(price))
    ws.close()


def test_delete_cancels_on_the_venue(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl, transactionType="insert", side="sell",
        price=market.price(market.best()[1] + 200 * market.tick), qty=1,
    )  # fmt: skip
    ws.wait(_status(cl, "new"))
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 200 and body["orderStatus"] == "pendingcancel"
    done = ws.wait(_status(cl, "cancelled"))
    assert done["transactionType"] == "delete" and done["remainingQty"] == 0
    assert market.venue_orders() == []
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 409 and body["field"] == "clOrderId"
    ws.close()


def test_delete_of_an_order_filled_meanwhile_is_refused_with_the_venue_text(
    market: DeribitMarket,
):
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    price = market.price(bid + market.tick) if ask - bid > market.tick else float(bid)
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=1)
    ws.wait(_status(cl, "new"))
    # The fill's report is lost on the way, so ems still thinks the order works.
    market.fault(fix="loseOutbound", apiKey=market.account["apiKey"], count=1)
    market.trade("sell", price, 1)
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 200 and body["orderStatus"] == "pendingcancel"
    # The cancel reject reveals the gap; the resent fill is applied first, in order.
    ws.wait(_status(cl, "filled"))
    refused = ws.wait(lambda f: _status(cl, "rejected")(f) and f["transactionType"] == "delete")
    assert refused["message"] == "order_closed"
    fills = [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]
    assert sum(f["executedQty"] for f in fills) == 1
    ws.close()


@pytest.mark.parametrize("count", [0, 1, 60])
def test_pull_cancels_every_working_order_with_one_mass_cancel(market: DeribitMarket, count: int):
    ws = market.stream()
    ids = [market.cl() for _ in range(count)]
    base = Decimal(str(market.resting_buy()))
    for i, cl in enumerate(ids):
        market.send(
            clOrderId=cl, transactionType="insert", side="buy",
            price=market.price(base - (i % 20) * market.tick), qty=1,
        )  # fmt: skip
    for cl in ids:
        ws.wait(_status(cl, "new"))
    assert len(market.venue_orders()) == count
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ids)
    for cl in ids:
        assert ws.wait(_status(cl, "cancelled"))["transactionType"] == "pull"
    assert market.venue_orders() == []
    ws.close()


def test_partial_fills_then_full_fill(market: DeribitMarket):
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    price = market.price(bid + market.tick) if ask - bid > market.tick else float(bid)
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=4)
    ws.wait(_status(cl, "new"))
    market.trade("sell", price, 1)
    part = ws.wait(_status(cl, "partiallyfilled"))
    assert part["executedQty"] == 1 and part["cumulativeFilledQty"] == 1
    assert part["remainingQty"] == 3 and part["tradeLiquidity"] == "add" and part["tradeId"]
    assert part["exchTime"]
    assert_matches_venue(market)
    market.trade("sell", price, 3)
    done = ws.wait(_status(cl, "filled"))
    assert done["cumulativeFilledQty"] == 4 and done["remainingQty"] == 0
    assert market.venue_orders() == []
    ws.close()


def test_a_second_session_sees_the_account_position(dapi: Api, sim: dict[str, Any]):
    first = start_deribit(dapi, sim, 0)
    ws = first.stream()
    cl = first.cl()
    first.send(clOrderId=cl, transactionType="insert", side="buy", orderType="market", qty=1)
    ws.wait(_status(cl, "filled"))
    second = start_deribit(dapi, sim, 0)
    assert_matches_venue(second)
    assert_matches_venue(first)
    ws.close()


def test_bad_fix_url_and_bad_credentials_are_refused_clearly(dapi: Api, sim: dict[str, Any]):
    urls = sim["deribit"]
    acct = sim["accounts"][0]
    body = {
        "exchangeKey": {"apiKey": acct["apiKey"], "secretKey": "wrong", "exchange": "deribit"},
        "sessionId": f"bad-{time.time_ns()}",
        "restUrl": urls["restUrl"],
        "wsUrl": urls["wsUrl"],
    }
    status, reply = dapi.post("/startOrderHandler", body)
    assert status == 400 and reply["field"] == "exchangeKey", reply
    assert "invalid_credentials" in reply["error"] and "wrong" not in reply["error"]
    status, reply = dapi.post(
        "/startOrderHandler", {**body, "sessionId": f"bad-{time.time_ns()}", "wsUrl": "nohost"}
    )
    assert status == 400 and reply["field"] == "wsUrl", reply
    status, reply = dapi.post(
        "/startOrderHandler",
        {**body, "sessionId": f"bad-{time.time_ns()}", "cancelOnDisconnect": "yes"},
    )
    assert status == 400 and reply["field"] == "cancelOnDisconnect", reply


RESTING = [("limit", "gtc"), ("limit", "day"), ("postonly", "gtc"), ("postonly", "day")]
VENUE_TIF = {"gtc": "good_til_cancelled", "day": "good_til_day"}


@pytest.mark.parametrize("action", ["update", "delete", "pull"])
@pytest.mark.parametrize(("order_type", "tif"), RESTING)
def test_update_delete_and_pull_of_every_resting_type_and_tif(
    market: DeribitMarket, order_type: str, tif: str, action: str
):
    ws = market.stream()
    cl = market.cl()
    price = market.price(market.best()[1] + 100 * market.tick)
    market.send(
        clOrderId=cl, transactionType="insert", side="sell", price=price, qty=2,
        orderType=order_type, tif=tif,
    )  # fmt: skip
    new = ws.wait(_status(cl, "new"))
    if action == "update":
        moved_to = market.price(Decimal(str(price)) + 3 * market.tick)
        status, body = market.send(clOrderId=cl, transactionType="update", price=moved_to, qty=5)
        assert status == 200 and body["orderStatus"] == "pendingupdate", body
        moved = ws.wait(lambda f: _status(cl, "new")(f) and f["price"] == moved_to)
        assert moved["qty"] == 5 and moved["transactionType"] == "update"
        (order,) = market.venue_orders()
        assert order["order_id"] == new["exchOrderId"]
        assert Decimal(order["price"]) == Decimal(str(moved_to)) and order["contracts"] == "5"
        assert order["time_in_force"] == VENUE_TIF[tif]
        assert order["post_only"] is (order_type == "postonly")
    else:
        status, body = market.send(clOrderId=cl, transactionType=action)
        assert status == 200, body
        done = ws.wait(_status(cl, "cancelled"))
        assert done["transactionType"] == action and done["remainingQty"] == 0
        assert market.venue_orders() == []
    assert_matches_venue(market)
    ws.close()
