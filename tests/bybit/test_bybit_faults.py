"""Bybit venue faults end to end: nothing lost, nothing doubled, every order settled by
what the venue says."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tests.bybit.conftest import MARKETS, Market, assert_matches_venue, start_session
from tests.bybit.test_bybit_orders import _inserts, _send_at_once
from tests.harness import Api

ACCOUNT = 0
"""The fault tests trade on their own account, apart from the order tests."""


def _status(cl: str, *statuses: str) -> Any:
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


@pytest.fixture
def linear(api: Api, sim: dict[str, Any]) -> Iterator[Market]:
    m = start_session(api, sim, "bybit-linear", f"faults-{uuid.uuid4().hex[:8]}", ACCOUNT)
    yield m
    m.venue.fault(clear=True)
    m.send(transactionType="pull")


def _insert_burst(m: Market, ws: Any, count: int) -> list[str]:
    ids = [m.cl() for _ in range(count)]
    price = m.resting_buy()
    for cl in ids:
        ws.send(
            {
                "sessionId": m.session_id,
                "symbol": m.symbol,
                "clOrderId": cl,
                "transactionType": "insert",
                "side": "buy",
                "price": price,
                "qty": m.qty,
            }
        )
    return ids


@pytest.mark.parametrize("applied", [True, False])
def test_trade_socket_drop_mid_burst_loses_and_doubles_nothing(linear: Market, applied: bool):
    """The trade connection closes on the 4th of 10 inserts (processed or not), with the
    rest already written behind it: every order ends up on the venue exactly once."""
    ws = linear.stream()
    armed = linear.venue.fault(
        tradeDrop={"op": "order.create", "skip": 3, "apply": applied}, apiKey=linear.venue.key
    )
    assert armed["tradeDrop"]["skip"] == 3
    ids = _insert_burst(linear, ws, 10)
    for cl in ids:
        ws.wait(_status(cl, "new", "rejected"), timeout=15)
    frames = [f for f in ws.frames if f.get("clOrderId") in ids]
    assert not [f for f in frames if f["orderStatus"] == "rejected"], frames
    venue = linear.venue_orders()
    links = Counter(o["orderLinkId"] for o in venue)
    assert len(venue) == 10 and set(links.values()) == {1}
    _, working = linear.api.get("/orders", sessionId=linear.session_id)
    assert sorted(o["exchOrderId"] for o in working) == sorted(o["orderId"] for o in venue)
    assert_matches_venue(linear)
    ws.close()


@pytest.fixture(params=list(MARKETS))
def each(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Iterator[Market]:
    """A fault-test session on each Bybit exchange value in turn."""
    m = start_session(api, sim, request.param, f"faults-{uuid.uuid4().hex[:8]}", ACCOUNT)
    yield m
    m.venue.fault(clear=True)
    m.send(transactionType="pull")


@pytest.mark.parametrize("applied", [True, False])
def test_trade_socket_drop_mid_create_batch_loses_and_doubles_nothing(each: Market, applied: bool):
    """A burst goes out as one insert and one `order.create-batch`; the connection closes
    on the batch (carried out by the venue or not): the batch's orders are sent again by
    REST, and every order ends up on the venue exactly once, working in ems once."""
    ws = each.stream()
    each.venue.fault(
        tradeDrop={"op": "order.create-batch", "apply": applied}, apiKey=each.venue.key
    )
    count = (10 if each.category == "spot" else 20) + 1
    ids = [each.cl() for _ in range(count)]
    before = each.venue.counts()
    _send_at_once(ws, _inserts(each, ids))
    for cl in ids:
        ws.wait(_status(cl, "new", "rejected"), timeout=15)
    frames = [f for f in ws.frames if f.get("clOrderId") in ids]
    assert not [f for f in frames if f["orderStatus"] == "rejected"], frames
    # Sent again by REST as a batch too: the venue refuses the ones it already has
    # (duplicate orderLinkId), and ems reads those back.  Orders the venue carried out
    # show as new from their pushes, possibly before that batch has gone.
    deadline = time.monotonic() + 5
    while True:
        after = each.venue.counts()
        again = after.get("/v5/order/create-batch", 0) - before.get("/v5/order/create-batch", 0)
        if again >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert again == 1
    assert after.get("order.create-batch", 0) - before.get("order.create-batch", 0) == 1
    venue = each.venue_orders()
    links = Counter(o["orderLinkId"] for o in venue)
    assert len(links) == count and set(links.values()) == {1}
    _, working = each.api.get("/orders", sessionId=each.session_id)
    assert sorted(o["exchOrderId"] for o in working) == sorted(o["orderId"] for o in venue)
    assert_matches_venue(each)
    ws.close()


@pytest.mark.parametrize("exchange", list(MARKETS))
def test_trade_socket_drop_mid_batch_cancel_still_cancels_every_order(
    api: Api, sim: dict[str, Any], exchange: str
):
    """A shared-symbol pull goes out as cancel batches; the connection drops on the first
    batch: it is sent again by REST and all 21 orders end cancelled."""
    ours = start_session(api, sim, exchange, f"drop-a-{uuid.uuid4().hex[:8]}", ACCOUNT)
    theirs = start_session(api, sim, exchange, f"drop-b-{uuid.uuid4().hex[:8]}", ACCOUNT)
    ws, other = ours.stream(), theirs.stream()
    keep = theirs.cl()
    theirs.send(
        clOrderId=keep,
        transactionType="insert",
        side="buy",
        price=theirs.resting_buy(),
        qty=theirs.qty,
    )
    other.wait(_status(keep, "new"))
    ids = _insert_burst(ours, ws, 21)
    for cl in ids:
        ws.wait(_status(cl, "new"))
    ours.venue.fault(tradeDrop={"op": "order.cancel-batch", "apply": True}, apiKey=ours.venue.key)
    status, body = ours.send(transactionType="pull")
    assert status == 200 and len(body["orders"]) == 21
    for cl in ids:
        ws.wait(_status(cl, "cancelled"), timeout=15)
    assert [o["orderLinkId"] for o in ours.venue_orders()] == [
        o["orderLinkId"] for o in theirs.venue_orders()
    ]
    theirs.send(transactionType="pull")
    other.wait(_status(keep, "cancelled"))
    ws.close()
    other.close()


def test_orders_go_by_rest_while_the_trade_socket_is_down(linear: Market):
    ws = linear.stream()
    before = linear.venue.counts()
    linear.venue.fault(disconnect="trade", apiKey=linear.venue.key)
    ids = _insert_burst(linear, ws, 3)
    for cl in ids:
        ws.wait(_status(cl, "new"), timeout=10)
    after = linear.venue.counts()

    def sent(op: str) -> int:
        return after.get(op, 0) - before.get(op, 0)

    # A burst read in one turn goes as one insert and a batch of the rest.
    via_rest = sent("/v5/order/create") + sent("/v5/order/create-batch")
    via_ws = sent("order.create") + sent("order.create-batch")
    assert 1 <= via_rest + via_ws <= 3 and via_rest >= 1
    # The socket comes back and takes orders again.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cl = linear.cl()
        linear.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            price=linear.resting_buy(),
            qty=linear.qty,
        )
        ws.wait(_status(cl, "new"))
        if linear.venue.counts().get("order.create", 0) > after.get("order.create", 0):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the trade WebSocket did not come back")
    assert_matches_venue(linear)
    ws.close()


def test_private_stream_drop_then_fill_while_away_is_recovered(linear: Market):
    ws = linear.stream()
    cl = linear.cl()
    bid, _ = linear.best()
    price = linear.price(bid + linear.tick)
    linear.send(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=linear.qty)
    ws.wait(_status(cl, "new"))
    dropped = linear.venue.fault(disconnect="private", apiKey=linear.venue.key)
    assert dropped["disconnected"] >= 1
    linear.trade("sell", price, linear.qty)
    done = ws.wait(_status(cl, "filled"), timeout=15)
    assert done["cumulativeFilledQty"] == linear.qty
    assert_matches_venue(linear)
    ws.close()


def test_lost_pushes_are_read_back_after_the_ack(linear: Market):
    """The IOC's execution and order pushes are lost; the acknowledgement alone says
    "new", so ems reads the order back and learns it expired."""
    ws = linear.stream()
    linear.venue.fault(userEvents="drop", apiKey=linear.venue.key, count=3)
    cl = linear.cl()
    linear.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=linear.resting_buy(),
        qty=linear.qty,
        tif="ioc",
    )
    done = ws.wait(_status(cl, "expired"), timeout=10)
    assert done["message"] == "EC_NoImmediateQtyToFill"
    linear.venue.fault(clear=True)
    ws.close()


def test_rest_rate_limit_while_the_socket_is_down_is_reported(linear: Market):
    ws = linear.stream()
    linear.venue.fault(disconnect="trade", apiKey=linear.venue.key)
    linear.venue.fault(
        path="/v5/order/create", method="POST", status=200, code=10006, msg="Too many visits!"
    )
    cl = linear.cl()
    linear.send(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=linear.resting_buy(),
        qty=linear.qty,
    )
    done = ws.wait(_status(cl, "rejected", "new"), timeout=10)
    if done["orderStatus"] == "new":
        pytest.skip("the trade WebSocket reconnected before the order was sent")
    assert "rate limited" in done["message"] and "10006" in done["message"]
    assert linear.venue_orders() == []
    ws.close()


def test_cancel_all_answered_with_503_is_reconciled(linear: Market):
    ws = linear.stream()
    ids = _insert_burst(linear, ws, 3)
    for cl in ids:
        ws.wait(_status(cl, "new"))
    linear.venue.fault(path="/v5/order/cancel-all", method="POST", status=503, apply=True)
    linear.send(transactionType="pull")
    for cl in ids:
        ws.wait(_status(cl, "cancelled"), timeout=15)
    assert linear.venue_orders() == []
    ws.close()
