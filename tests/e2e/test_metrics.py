"""The Prometheus counters move with what happens: scraped before and after each scenario."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import (
    Market,
    Samples,
    metric_value,
    scrape_metrics,
    start_session,
    status_is,
)
from tests.harness import Api, Process


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return metric_value(after, name, **labels) - metric_value(before, name, **labels)


def test_order_flow_moves_sent_updates_latency_and_position(ems_server: Process, market: Market):
    ex = market.exchange
    ws = market.stream()
    before = scrape_metrics(ems_server)
    resting, taker = market.cl(), market.cl()
    bid, _ = market.best()
    price = market.price(bid - 200 * market.tick)
    market.send(
        clOrderId=resting, transactionType="insert", side="buy", price=price, qty=market.qty
    )
    ws.wait(status_is(resting, "new"))
    market.send(
        clOrderId=resting,
        transactionType="update",
        price=market.price(Decimal(str(price)) - market.tick),
    )
    ws.wait(lambda f: status_is(resting, "new")(f) and f["transactionType"] == "update")
    market.send(clOrderId=resting, transactionType="delete")
    ws.wait(status_is(resting, "cancelled"))
    market.send(
        clOrderId=taker, transactionType="insert", side="buy", orderType="market", qty=market.qty
    )
    ws.wait(status_is(taker, "filled"))
    market.send(transactionType="pull")
    after = scrape_metrics(ems_server)

    sent = "om_orders_sent_total"
    for tx, count in (("insert", 2), ("update", 1), ("delete", 1), ("pull", 1)):
        assert _moved(before, after, sent, exchange=ex, transaction_type=tx) == count, tx
    updates = "om_order_updates_total"
    for status, count in (("pendingnew", 2), ("pendingcancel", 1), ("cancelled", 1)):
        assert _moved(before, after, updates, exchange=ex, status=status) == count, status
    assert _moved(before, after, updates, exchange=ex, status="filled") >= 1
    assert _moved(before, after, updates, exchange=ex, status="new") >= 2
    # One send->ack sample per inserted order, each a positive time.
    latency = "om_send_ack_latency_seconds"
    assert _moved(before, after, f"{latency}_count", exchange=ex) == 2
    assert _moved(before, after, f"{latency}_sum", exchange=ex) > 0
    _, sessions = market.api.get("/sessions")
    assert metric_value(after, "om_open_sessions") == len(sessions)
    _, pos = market.api.get("/getPosition", sessionId=market.session_id, symbol=market.symbol)
    assert pos["position"] != 0
    assert metric_value(
        after, "om_position", session=market.session_id, exchange=ex, symbol=market.symbol
    ) == pytest.approx(pos["position"])
    ws.close()


@pytest.fixture
def spot(api: Api, sim: dict[str, Any]) -> Market:
    m = start_session(api, sim, "binance-spot", f"metrics-{uuid.uuid4().hex[:8]}")
    yield m
    m.send(transactionType="pull")


def test_refusals_by_ems_are_counted_by_reason(ems_server: Process, spot: Market):
    bid, _ = spot.best()
    price = spot.price(bid - 100 * spot.tick)
    qty = 0.001

    def order(**over: Any) -> dict[str, Any]:
        fields = {"clOrderId": spot.cl(), "transactionType": "insert", "side": "buy"}
        return spot.order(**{**fields, "price": price, "qty": qty, **over})

    working = order()
    assert spot.api.post("/sendOrder", working)[0] == 200
    off_tick = float(Decimal(str(price)) + spot.tick / 2)
    refusals = [
        (order(price=off_tick), "off_tick"),
        (order(qty=float(Decimal(str(qty)) + spot.step / 2)), "qty_step"),
        (order(qty=0.00001), "min_notional"),
        (working, "duplicate_cl_order_id"),
        (order(tif="day"), "unsupported_tif"),
        (order(orderType="postonly", tif="ioc"), "unsupported_tif"),
        (order(orderType="stop"), "invalid_order_type"),
    ]
    before = scrape_metrics(ems_server)
    for body, reason in refusals:
        status, answer = spot.api.post("/sendOrder", body)
        assert 400 <= status < 500, (reason, answer)
    status, _ = spot.api.post("/sendOrder", order(sessionId="no-such-session"))
    assert status == 404
    # Orders refused on the stream are counted the same way.
    ws = spot.stream()
    bad = order(price=off_tick)
    ws.send(bad)
    assert ws.wait(status_is(bad["clOrderId"], "rejected"))["field"] == "price"
    ghost = order(sessionId="no-such-session")
    ws.send(ghost)
    ws.wait(status_is(ghost["clOrderId"], "rejected"))
    ws.close()
    after = scrape_metrics(ems_server)

    expected: dict[tuple[str, str], int] = {
        ("binance-spot", "off_tick"): 2,
        ("binance-spot", "qty_step"): 1,
        ("binance-spot", "min_notional"): 1,
        ("binance-spot", "duplicate_cl_order_id"): 1,
        ("binance-spot", "unsupported_tif"): 2,
        ("binance-spot", "invalid_order_type"): 1,
        ("unknown", "unknown_session_id"): 2,
    }
    for (exchange, reason), count in expected.items():
        moved = _moved(before, after, "om_rejects_total", exchange=exchange, reason=reason)
        assert moved == count, (exchange, reason, moved)
    # Nothing else was counted as a reject meanwhile.
    total = sum(
        value - before.get(key, 0.0) for key, value in after.items() if key[0] == "om_rejects_total"
    )
    assert total == sum(expected.values())
