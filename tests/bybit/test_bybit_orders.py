"""Order entry end to end per Bybit exchange value: `ems serve` against `ems sim`.

Every scenario checks the update stream against the simulated venue's own state, and
the `market` fixture checks afterwards that ems's working orders (and derivatives
position) equal the venue's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from tests.bybit.conftest import MARKETS, Market, start_session
from tests.harness import Api, Process


def _status(cl: str, *statuses: str) -> Any:
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


def test_limit_gtc_rests_and_shows_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = market.resting_buy()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="buy", price=price, qty=market.qty, tif="gtc"
    )
    assert status == 200 and body["orderStatus"] == "pendingnew", body
    new = ws.wait(_status(cl, "new"))
    assert new["exchOrderId"] and new["price"] == price and new["qty"] == market.qty
    # exchTime may be absent here: the trade socket's acknowledgement can beat the
    # private stream's event, and the later event changes nothing worth a new frame.
    assert new["remainingQty"] == market.qty
    venue = {o["orderId"]: o for o in market.venue_orders()}
    assert new["exchOrderId"] in venue
    row = venue[new["exchOrderId"]]
    assert Decimal(row["price"]) == Decimal(str(price))
    assert row["timeInForce"] == "GTC" and row["orderType"] == "Limit"
    ws.close()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_ioc_and_fok_that_cannot_trade_expire(market: Market, tif: str):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=market.resting_buy(),
        qty=market.qty,
        tif=tif,
    )
    done = ws.wait(_status(cl, "expired", "rejected", "cancelled"))
    assert done["orderStatus"] == "expired", done
    reason = "EC_NoImmediateQtyToFill" if tif == "ioc" else "EC_NoEnoughQtyToFill"
    assert done["message"] == reason
    assert market.venue_orders() == []
    ws.close()


def test_ioc_that_crosses_part_of_the_book_fills_then_expires(market: Market):
    ws = market.stream()
    _, ask = market.best()
    # The maker quotes a fixed size per level: ask for more than the best level holds.
    book = market.venue.admin("GET", "/v5/market/orderbook", params={
        "category": market.category, "symbol": market.symbol, "limit": 1,
    })["result"]  # fmt: skip
    level = float(book["a"][0][1])
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=float(ask),
        qty=level * 2,
        tif="ioc",
    )
    done = ws.wait(_status(cl, "expired"))
    assert done["cumulativeFilledQty"] == pytest.approx(level)
    assert done["message"] == "EC_CancelForNoFullFill"
    fills = [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]
    assert sum(f["executedQty"] for f in fills) == pytest.approx(level)
    assert all(f["tradeId"] and f["tradeLiquidity"] == "remove" for f in fills)
    ws.close()


def test_fok_that_can_fill_fills_in_full(market: Market):
    ws = market.stream()
    _, ask = market.best()
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=float(ask),
        qty=market.qty,
        tif="fok",
    )
    done = ws.wait(_status(cl, "filled", "expired"))
    assert done["orderStatus"] == "filled" and done["cumulativeFilledQty"] == market.qty
    ws.close()


def test_market_order_fills_and_moves_the_position(market: Market):
    ws = market.stream()
    pws = market.api.ws("/subscribePositions")
    pws.subscribe(market.session_id)
    before = market.venue_position()
    cl = market.cl()
    status, body = market.send(
        clOrderId=cl, transactionType="insert", side="buy", orderType="market", qty=market.qty
    )
    assert status == 200 and body["tif"] == "ioc", body
    filled = ws.wait(_status(cl, "filled"))
    assert filled["cumulativeFilledQty"] == market.qty and filled["remainingQty"] == 0
    fills = [f for f in ws.frames if f.get("clOrderId") == cl and f.get("executedQty")]
    assert sum(f["executedQty"] for f in fills) == pytest.approx(market.qty)
    assert all(f["tradeLiquidity"] == "remove" and f["tradeId"] and f["price"] for f in fills)
    if market.category == "spot":
        # Spot: the session's own net traded quantity, checked against the venue's fills.
        executions = market.venue.signed(
            "GET", "/v5/execution/list", {"category": "spot", "orderId": filled["exchOrderId"]}
        )["result"]["list"]
        assert sum(float(e["execQty"]) for e in executions) == pytest.approx(market.qty)
        expected = market.qty
    else:
        expected = market.venue_position()
        assert expected - before == pytest.approx(market.qty)
    pws.wait(lambda f: f.get("positions", {}).get(market.symbol) == pytest.approx(expected))
    ws.close()
    pws.close()


def test_market_gtc_is_refused_before_anything_is_sent(market: Market):
    before = market.venue.counts()
    status, body = market.send(
        clOrderId=market.cl(),
        transactionType="insert",
        side="buy",
        orderType="market",
        qty=market.qty,
        tif="gtc",
    )
    assert status == 400 and body["field"] == "tif", body
    # No order entry reached the venue (reads from other tests' reconciliation may).
    after = market.venue.counts()
    entry = [k for k in set(before) | set(after) if "create" in k or "order.create" in k]
    assert all(after.get(k, 0) == before.get(k, 0) for k in entry), (before, after)


def test_day_is_refused_before_anything_is_sent(market: Market):
    before = market.venue.counts()
    status, body = market.send(
        clOrderId=market.cl(),
        transactionType="insert",
        side="buy",
        price=market.resting_buy(),
        qty=market.qty,
        tif="day",
    )
    assert status == 400 and body["field"] == "tif", body
    # No order entry reached the venue (reads from other tests' reconciliation may).
    after = market.venue.counts()
    entry = [k for k in set(before) | set(after) if "create" in k or "order.create" in k]
    assert all(after.get(k, 0) == before.get(k, 0) for k in entry), (before, after)


def test_postonly_rests_as_postonly_and_is_rejected_when_it_would_take(market: Market):
    ws = market.stream()
    cl = market.cl()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        orderType="postonly",
        price=market.resting_buy(),
        qty=market.qty,
    )
    ws.wait(_status(cl, "new"))
    [row] = market.venue_orders()
    assert row["timeInForce"] == "PostOnly"
    _, ask = market.best()
    taker = market.cl()
    market.send(
        clOrderId=taker,
        transactionType="insert",
        side="buy",
        orderType="postonly",
        price=float(ask),
        qty=market.qty,
    )
    done = ws.wait(_status(taker, "rejected", "cancelled", "expired"))
    assert done["orderStatus"] == "rejected"
    assert done["message"] == "EC_PostOnlyWillTakeLiquidity"
    assert [o["orderLinkId"] for o in market.venue_orders()] == [row["orderLinkId"]]
    ws.close()


def test_update_moves_price_then_size_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    price = market.resting_buy()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=price,
        qty=round(market.qty * 3, 8),
    )
    ws.wait(_status(cl, "new"))
    new_price = market.price(Decimal(str(price)) - 5 * market.tick)
    status, body = market.send(clOrderId=cl, transactionType="update", price=new_price)
    assert status == 200 and body["orderStatus"] == "pendingupdate", body
    moved = ws.wait(lambda f: _status(cl, "new")(f) and f["price"] == new_price)
    assert moved["transactionType"] == "update"
    status, body = market.send(clOrderId=cl, transactionType="update", qty=round(market.qty * 2, 8))
    assert status == 200, body
    ws.wait(lambda f: _status(cl, "new")(f) and f["qty"] == pytest.approx(round(market.qty * 2, 8)))
    status, body = market.send(clOrderId=cl, transactionType="update", qty=round(market.qty * 4, 8))
    ws.wait(lambda f: _status(cl, "new")(f) and f["qty"] == pytest.approx(round(market.qty * 4, 8)))
    [row] = market.venue_orders()
    assert Decimal(row["price"]) == Decimal(str(new_price))
    assert float(row["qty"]) == pytest.approx(round(market.qty * 4, 8))
    ws.close()


def test_delete_cancels_on_the_venue(market: Market):
    ws = market.stream()
    cl = market.cl()
    _, ask = market.best()
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="sell",
        price=market.price(ask + 20 * market.tick),
        qty=market.qty,
    )
    ws.wait(_status(cl, "new"))
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 200 and body["orderStatus"] == "pendingcancel"
    done = ws.wait(_status(cl, "cancelled"))
    assert done["transactionType"] == "delete" and done["remainingQty"] == 0
    assert market.venue_orders() == []
    status, body = market.send(clOrderId=cl, transactionType="delete")
    assert status == 409 and body["field"] == "clOrderId"
    ws.close()


def test_partial_fills_then_full_fill(market: Market):
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    price = market.price(bid + market.tick) if ask - bid > market.tick else market.price(bid)
    qty = round(market.qty * 4, 8)
    market.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=qty)
    ws.wait(_status(cl, "new"))
    market.trade("sell", price, market.qty)
    part = ws.wait(_status(cl, "partiallyfilled"))
    assert part["executedQty"] == pytest.approx(market.qty)
    assert part["remainingQty"] == pytest.approx(round(qty - market.qty, 8))
    assert part["tradeLiquidity"] == "add" and part["tradeId"] and part["exchTime"]
    market.trade("sell", price, round(market.qty * 3, 8))
    done = ws.wait(_status(cl, "filled"))
    assert done["cumulativeFilledQty"] == pytest.approx(qty) and done["remainingQty"] == 0
    assert market.venue_orders() == []
    ws.close()


REJECT = {
    # Orders the venue refuses for the account's balance, inside every ems limit.
    "bybit-spot": (40, "170131 Insufficient balance."),
    "bybit-linear": (400, "110007 Available balance is insufficient"),
    "bybit-inverse": (5_000_000, "110007 Available balance is insufficient"),
    "bybit-option": (500, "110007 Available balance is insufficient"),
}


def test_venue_refusal_is_surfaced_with_the_venue_message(market: Market):
    ws = market.stream()
    cl = market.cl()
    qty, message = REJECT[market.exchange]
    market.send(
        clOrderId=cl, transactionType="insert", side="buy", price=market.resting_buy(), qty=qty
    )
    done = ws.wait(_status(cl, "rejected"))
    assert done["message"] == message
    assert market.venue_orders() == []
    # A refused update leaves the order as it was.
    ok = market.cl()
    market.send(
        clOrderId=ok,
        transactionType="insert",
        side="buy",
        price=market.resting_buy(),
        qty=market.qty,
    )
    ws.wait(_status(ok, "new"))
    market.send(clOrderId=ok, transactionType="update", qty=qty)
    refused = ws.wait(
        lambda f: (
            f.get("clOrderId") == ok
            and f["orderStatus"] == "rejected"
            and f["transactionType"] == "update"
        )
    )
    assert refused["message"] == message
    _, working = market.api.get("/orders", sessionId=market.session_id)
    assert [(o["clOrderId"], o["qty"]) for o in working] == [(ok, market.qty)]
    ws.close()


@pytest.mark.parametrize("count", [0, 1, 20, 21])
def test_pull_cancels_every_working_order_in_one_cancel_all(market: Market, count: int):
    ws = market.stream()
    ids = [market.cl() for _ in range(count)]
    base = Decimal(str(market.resting_buy()))
    for i, cl in enumerate(ids):
        ws.send(
            {
                "sessionId": market.session_id,
                "symbol": market.symbol,
                "clOrderId": cl,
                "transactionType": "insert",
                "side": "buy",
                "price": market.price(base - (i % 5) * market.tick),
                "qty": market.qty,
            }
        )
    for cl in ids:
        ws.wait(_status(cl, "new"))
    before = market.venue.counts().get("/v5/order/cancel-all", 0)
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ids)
    for cl in ids:
        frame = ws.wait(_status(cl, "cancelled"))
        assert frame["transactionType"] == "pull"
    assert market.venue_orders() == []
    calls = market.venue.counts().get("/v5/order/cancel-all", 0) - before
    assert calls == (1 if count else 0)
    ws.close()


@pytest.mark.parametrize("exchange", ["bybit-spot", "bybit-linear"])
def test_pull_sharing_the_symbol_cancels_only_ours_in_venue_batches(
    api: Api, sim: dict[str, Any], exchange: str
):
    """With another session working the symbol on the same account, a pull cancels this
    session's orders only, in batches of the venue's size (spot 10, others 20)."""
    ours = start_session(api, sim, exchange, f"pull-a-{uuid.uuid4().hex[:8]}", 2)
    theirs = start_session(api, sim, exchange, f"pull-b-{uuid.uuid4().hex[:8]}", 2)
    ws = ours.stream()
    other = theirs.stream()
    keep = theirs.cl()
    theirs.send(
        clOrderId=keep,
        transactionType="insert",
        side="buy",
        price=theirs.resting_buy(),
        qty=theirs.qty,
    )
    other.wait(_status(keep, "new"))
    ids = [ours.cl() for _ in range(21)]
    for cl in ids:
        ws.send({"sessionId": ours.session_id, "symbol": ours.symbol, "clOrderId": cl,
                 "transactionType": "insert", "side": "buy", "price": ours.resting_buy(),
                 "qty": ours.qty})  # fmt: skip
    for cl in ids:
        ws.wait(_status(cl, "new"))
    before = ours.venue.counts()
    status, body = ours.send(transactionType="pull")
    assert status == 200 and len(body["orders"]) == 21
    for cl in ids:
        ws.wait(_status(cl, "cancelled"))
    after = ours.venue.counts()
    batch = 10 if MARKETS[exchange]["category"] == "spot" else 20
    sent = after.get("order.cancel-batch", 0) - before.get("order.cancel-batch", 0)
    assert sent == -(-21 // batch)
    assert after.get("/v5/order/cancel-all", 0) == before.get("/v5/order/cancel-all", 0)
    assert [o["orderLinkId"] for o in ours.venue_orders()] == [
        o["orderLinkId"] for o in theirs.venue_orders()
    ]
    assert len(ours.venue_orders()) == 1
    assert ours.api.get("/orders", sessionId=ours.session_id)[1] == []
    theirs.send(transactionType="pull")
    other.wait(_status(keep, "cancelled"))
    ws.close()
    other.close()


def test_update_of_a_partially_filled_order_keeps_its_fills(market: Market):
    """Bybit's amend `qty` is the order's whole quantity, filled part included, as in ems."""
    ws = market.stream()
    cl = market.cl()
    bid, ask = market.best()
    price = market.price(bid + market.tick) if ask - bid > market.tick else market.price(bid)
    market.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=price,
        qty=round(market.qty * 4, 8),
    )
    ws.wait(_status(cl, "new"))
    market.trade("sell", price, market.qty)
    ws.wait(_status(cl, "partiallyfilled"))
    status, body = market.send(clOrderId=cl, transactionType="update", qty=round(market.qty * 6, 8))
    assert status == 200, body
    done = ws.wait(
        lambda f: _status(cl, "partiallyfilled")(f) and f["qty"] == pytest.approx(market.qty * 6)
    )
    assert done["cumulativeFilledQty"] == pytest.approx(market.qty)
    assert done["remainingQty"] == pytest.approx(market.qty * 5)
    [row] = market.venue_orders()
    assert float(row["qty"]) == pytest.approx(market.qty * 6)
    assert float(row["cumExecQty"]) == pytest.approx(market.qty)
    ws.close()


def _send_at_once(ws: Any, bodies: list[dict[str, Any]]) -> None:
    """Writes every frame in one TCP write, so that ems reads them in one loop turn."""
    conn = ws.conn
    with conn.send_context():
        for body in bodies:
            conn.protocol.send_text(orjson.dumps(body))
        conn.socket.sendall(b"".join(conn.protocol.data_to_send()))


def _inserts(
    m: Market, ids: list[str], sizes: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    base = Decimal(str(m.resting_buy()))
    qty = sizes or {}
    return [
        {
            "sessionId": m.session_id,
            "symbol": m.symbol,
            "clOrderId": cl,
            "transactionType": "insert",
            "side": "buy",
            "price": m.price(base - (i % 40) * m.tick),
            "qty": qty.get(cl, m.qty),
        }
        for i, cl in enumerate(ids)
    ]


def test_a_burst_of_inserts_goes_out_as_create_batches(market: Market):
    """21 inserts read in one turn: the first goes alone, the other 20 as
    `order.create-batch` messages of the venue's size; every order is acknowledged but
    the one the venue refuses, which alone is rejected with the venue's message."""
    ws = market.stream()
    ids = [market.cl() for _ in range(21)]
    bad_qty, message = REJECT[market.exchange]
    bad = ids[7]
    before = market.venue.counts()
    _send_at_once(ws, _inserts(market, ids, {bad: bad_qty}))
    for cl in ids:
        ws.wait(_status(cl, "new", "rejected"))
    after = market.venue.counts()
    sent = {op: after.get(op, 0) - before.get(op, 0) for op in after}
    batch = 10 if market.category == "spot" else 20
    assert sent.get("order.create-batch", 0) == -(-20 // batch)
    assert sent.get("order.create", 0) == 1
    assert sent.get("/v5/order/create", 0) == sent.get("/v5/order/create-batch", 0) == 0
    refused = [f for f in ws.frames if f.get("orderStatus") == "rejected"]
    assert [(f["clOrderId"], f["message"]) for f in refused] == [(bad, message)]
    links = sorted(o["orderLinkId"] for o in market.venue_orders())
    _, working = market.api.get("/orders", sessionId=market.session_id)
    assert sorted(o["clOrderId"] for o in working) == sorted(set(ids) - {bad})
    assert len(links) == 20
    ws.close()


def test_a_burst_of_updates_goes_out_as_amend_batches(market: Market):
    ws = market.stream()
    ids = [market.cl() for _ in range(11)]
    _send_at_once(ws, _inserts(market, ids))
    for cl in ids:
        ws.wait(_status(cl, "new"))
    qty = round(market.qty * 2, 8)
    before = market.venue.counts()
    _send_at_once(
        ws,
        [
            {"sessionId": market.session_id, "clOrderId": cl, "transactionType": "update",
             "qty": qty}
            for cl in ids
        ],
    )  # fmt: skip
    for cl in ids:
        ws.wait(lambda f, cl=cl: _status(cl, "new")(f) and f["qty"] == pytest.approx(qty))
    after = market.venue.counts()
    batch = 10 if market.category == "spot" else 20
    assert after.get("order.amend-batch", 0) - before.get("order.amend-batch", 0) == -(-10 // batch)
    assert after.get("order.amend", 0) - before.get("order.amend", 0) == 1
    assert [float(o["qty"]) for o in market.venue_orders()] == [pytest.approx(qty)] * 11
    ws.close()


CAP = {"bybit-spot": 500, "bybit-linear": 500, "bybit-inverse": 500, "bybit-option": 50}
"""Open orders one account may hold on one symbol (create-order docs): spot 500 over all
symbols, linear and inverse 500 per symbol, options 50 per base coin; 1,000 is above
every one of them."""


@pytest.fixture(scope="module")
def cap_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A simulator of its own: the spot cap counts every open order of the account."""
    process = Process(["sim", "--port", "0"], tmp_path_factory.mktemp("bybit-cap") / "sim.log")
    yield process.info
    process.stop()


@pytest.mark.parametrize("exchange", list(CAP))
def test_pull_at_the_venue_cap_cancels_every_order_in_one_cancel_all(
    api: Api, cap_sim: dict[str, Any], exchange: str
):
    m = start_session(api, cap_sim, exchange, f"cap-{uuid.uuid4().hex[:8]}", 0)
    ws = m.stream()
    ids = [m.cl() for _ in range(CAP[exchange])]
    bodies = _inserts(m, ids)
    for start in range(0, len(bodies), 100):
        _send_at_once(ws, bodies[start : start + 100])
    for cl in ids:
        ws.wait(_status(cl, "new"), timeout=20)
    assert len(m.venue_orders()) == CAP[exchange]
    # One more is over the venue's cap, and refused by it.
    extra = m.cl()
    m.send(clOrderId=extra, transactionType="insert", side="buy", price=m.resting_buy(), qty=m.qty)
    assert ws.wait(_status(extra, "new", "rejected"))["orderStatus"] == "rejected"
    before = m.venue.counts().get("/v5/order/cancel-all", 0)
    status, body = m.send(transactionType="pull")
    assert status == 200 and len(body["orders"]) == CAP[exchange]
    for cl in ids:
        ws.wait(_status(cl, "cancelled"), timeout=20)
    assert m.venue_orders() == []
    assert m.venue.counts().get("/v5/order/cancel-all", 0) - before == 1
    _, working = m.api.get("/orders", sessionId=m.session_id)
    assert working == []
    ws.close()
