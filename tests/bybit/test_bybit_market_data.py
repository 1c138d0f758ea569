"""Bybit market data end to end: the book ems keeps equals the venue's, and public
trades reach the trigger manager's feed."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests
from tests.bybit.conftest import Market, start_session
from tests.harness import Api


def _venue_top(m: Market, depth: int) -> tuple[list[list[float]], list[list[float]]]:
    top = requests.get(
        f"{m.venue.rest_url}/v5/market/orderbook",
        params={"category": m.category, "symbol": m.symbol, "limit": depth},
        timeout=10,
    ).json()["result"]
    return (
        [[float(p), float(q)] for p, q in top["b"][:depth]],
        [[float(p), float(q)] for p, q in top["a"][:depth]],
    )


def _wait_book_equal(m: Market, depth: int = 5, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, ours = m.api.get("/book", exchange=m.exchange, symbol=m.symbol, depth=depth)
        venue = _venue_top(m, depth)
        if code == 200 and ours["synced"] and (ours["bids"], ours["asks"]) == venue:
            return dict(ours)
        if time.monotonic() > deadline:
            raise AssertionError(f"book {ours} != venue {venue}")
        time.sleep(0.05)


@pytest.mark.parametrize("exchange", ["bybit-spot", "bybit-linear", "bybit-option"])
def test_book_follows_the_venue_through_trades_and_moves(
    api: Api, sim: dict[str, Any], exchange: str
):
    m = start_session(api, sim, exchange, f"book-{uuid.uuid4().hex[:8]}")
    code, body = api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    assert code == 200, body
    _wait_book_equal(m)
    bid, ask = m.best()
    m.trade("buy", float(ask + 2 * m.tick), float(Decimal(str(m.qty)) * 3))
    _wait_book_equal(m)
    book = {"category": m.category, "symbol": m.symbol}
    m.venue.admin("POST", "/sim/book", json={**book, "mid": float(bid) + 20 * float(m.tick)})
    _wait_book_equal(m)
    m.venue.admin("POST", "/sim/book", json={**book, "mid": float((bid + ask) / 2)})
    _wait_book_equal(m)


def test_book_recovers_after_its_stream_drops(api: Api, sim: dict[str, Any]):
    m = start_session(api, sim, "bybit-inverse", f"book-{uuid.uuid4().hex[:8]}")
    api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    _wait_book_equal(m)
    assert m.venue.fault(disconnect="public")["disconnected"] >= 1
    bid, ask = m.best()
    book = {"category": m.category, "symbol": m.symbol}
    m.venue.admin("POST", "/sim/book", json={**book, "mid": float(bid) - 30})
    _wait_book_equal(m)
    m.venue.admin("POST", "/sim/book", json={**book, "mid": float((bid + ask) / 2)})
    _wait_book_equal(m)


@pytest.mark.parametrize(
    "exchange", ["bybit-spot", "bybit-linear", "bybit-inverse", "bybit-option"]
)
def test_public_trades_fire_triggers(api: Api, sim: dict[str, Any], exchange: str):
    """An `up` trigger fires on a buy-aggressor print at its level on this symbol, and on
    nothing else (options: not on another option of the same base coin)."""
    m = start_session(api, sim, exchange, f"tm-{uuid.uuid4().hex[:8]}")
    bid, ask = m.best()
    mid = (bid + ask) / 2
    book = {"category": m.category, "symbol": m.symbol}
    m.venue.admin("POST", "/sim/book", json={**book, "clear": True})
    manager = {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id}
    status, body = api.post("/startTriggerManager", manager)
    assert status == 200, body
    ws = m.stream()
    try:
        level = m.price(mid + 10 * m.tick)
        cl = m.cl()
        order = {
            "sessionId": m.session_id,
            "symbol": m.symbol,
            "clOrderId": cl,
            "transactionType": "insert",
            "side": "buy",
            "price": m.price(bid - 20 * m.tick),
            "qty": m.qty,
        }
        trigger = {
            "id": f"up-{cl}",
            "price": level,
            "symbol": m.symbol,
            "direction": "up",
            "exchange": m.exchange,
            "orders": [order],
        }
        status, body = api.post("/setTrigger", trigger)
        assert status == 200, body
        m.trade("sell", level, m.qty)  # the wrong aggressor side
        if m.category == "option":
            put = "BTC-26DEC36-30000-P"
            m.venue.admin(
                "POST",
                "/sim/trade",
                json={
                    "category": "option",
                    "symbol": put,
                    "price": level,
                    "qty": m.qty,
                    "side": "buy",
                },
            )
        time.sleep(0.3)
        assert not [f for f in ws.frames if f.get("clOrderId") == cl]
        m.trade("buy", level, m.qty)
        new = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
        assert new["triggerId"] == f"up-{cl}"
    finally:
        api.post("/stopTriggerManager", manager)
        m.send(transactionType="pull")
        m.venue.admin("POST", "/sim/book", json={**book, "mid": float(mid)})
        ws.close()
