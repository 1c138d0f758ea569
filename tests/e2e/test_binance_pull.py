"""A pull costs the fewest venue calls: counted by the simulator, per Binance market."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, start_session, status_is
from tests.harness import Api

CANCEL_ALL = {
    "binance-spot": "DELETE /api/v3/openOrders",
    "binance-usdm-future": "DELETE /fapi/v1/allOpenOrders",
    "binance-coinm-future": "DELETE /dapi/v1/allOpenOrders",
}


def _requests(m: Market) -> Counter[str]:
    stats = m.venue("GET", "/sim/stats", params={"apiKey": m.account["apiKey"]})
    return Counter(stats["requests"])


def _cancel_calls(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    """The cancel requests made between two readings (any DELETE, cancel-all included)."""
    return {
        k: after[k] - before[k] for k in after if k.startswith("DELETE ") and after[k] > before[k]
    }


def _rest(m: Market, count: int, ticks_below: int = 200) -> list[str]:
    ws = m.stream()
    bid, _ = m.best()
    base = Decimal(str(m.price(bid - ticks_below * m.tick)))
    ids = [m.cl() for _ in range(count)]
    for i, cl in enumerate(ids):
        status, body = m.send(
            clOrderId=cl,
            transactionType="insert",
            side="buy",
            price=m.price(base - i * m.tick),
            qty=m.qty,
        )
        assert status == 200, body
    for cl in ids:
        ws.wait(status_is(cl, "new"))
    ws.close()
    return ids


def test_pull_of_many_orders_is_one_cancel_all_call(market: Market):
    ids = _rest(market, 6)
    ws = market.stream()
    before = _requests(market)
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ids)
    for cl in ids:
        assert ws.wait(status_is(cl, "cancelled"))["transactionType"] == "pull"
    after = _requests(market)
    assert _cancel_calls(before, after) == {CANCEL_ALL[market.exchange]: 1}
    assert market.venue_orders() == []
    _, working = market.api.get("/orders", sessionId=market.session_id)
    assert working == []
    ws.close()


@pytest.fixture
def neighbour(api: Api, sim: dict[str, Any], market: Market) -> Market:
    """A second session on the same venue account as `market`."""
    m = start_session(api, sim, market.exchange, f"neighbour-{uuid.uuid4().hex[:8]}")
    yield m
    m.send(transactionType="pull")
    assert_matches_venue(m)


def test_pull_on_a_shared_account_leaves_the_other_sessions_orders(
    market: Market, neighbour: Market
):
    theirs = _rest(neighbour, 2, ticks_below=300)
    ours = _rest(market, 3)
    ws = market.stream()
    before = _requests(market)
    status, body = market.send(transactionType="pull")
    assert status == 200 and sorted(body["orders"]) == sorted(ours)
    for cl in ours:
        ws.wait(status_is(cl, "cancelled"))
    after = _requests(market)
    # No cancel-all: it would take the other session's orders too. Spot has no batch
    # cancel, so one cancel per order; futures cancel up to ten orders per batch call.
    if market.exchange == "binance-spot":
        expected = {"DELETE /api/v3/order": len(ours)}
    else:
        expected = {f"DELETE {market.api_path}/batchOrders": 1}
    assert _cancel_calls(before, after) == expected
    assert market.venue_orders() == []
    assert sorted(
        o["clOrderId"] for o in neighbour.api.get("/orders", sessionId=neighbour.session_id)[1]
    ) == sorted(theirs)
    assert len(neighbour.venue_orders()) == len(theirs)
    ws.close()
