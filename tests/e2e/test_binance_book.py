"""The book ems keeps from the diff stream equals the venue's own depth, through changes."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from tests.e2e.conftest import MARKETS, Market, start_session
from tests.harness import Api


def _venue_top(m: Market, depth: int) -> tuple[list[list[float]], list[list[float]]]:
    snap = m.venue("GET", f"{m.api_path}/depth", params={"symbol": m.symbol, "limit": depth})
    return (
        [[float(p), float(q)] for p, q in snap["bids"][:depth]],
        [[float(p), float(q)] for p, q in snap["asks"][:depth]],
    )


def _wait_book_equal(m: Market, depth: int = 5, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, ours = m.api.get("/book", exchange=m.exchange, symbol=m.symbol, depth=depth)
        venue = _venue_top(m, depth)
        if code == 200 and ours["synced"] and (ours["bids"], ours["asks"]) == venue:
            return ours
        if time.monotonic() > deadline:
            raise AssertionError(f"book {ours} != venue {venue}")
        time.sleep(0.05)


@pytest.mark.parametrize("exchange", ["binance-spot", "binance-usdm-future"])
def test_book_follows_the_venue_through_trades_and_resets(api: Api, sim, exchange: str):
    m = start_session(api, sim, exchange, f"book-{uuid.uuid4().hex[:8]}")
    assert MARKETS[exchange]["symbol"] == m.symbol
    code, body = api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    assert code == 200, body
    first = _wait_book_equal(m)
    bid, ask = m.best()
    # A sweep through two ask levels and a recentred market maker both change the book.
    m.trade("buy", float(ask + 2 * m.tick), float(Decimal(str(m.qty)) * 3))
    _wait_book_equal(m)
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "mid": float(bid) + 50})
    after = _wait_book_equal(m)
    assert after["lastUpdateId"] > first["lastUpdateId"]
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "mid": float((bid + ask) / 2)})
    _wait_book_equal(m)


def test_book_resyncs_after_its_stream_drops(api: Api, sim):
    m = start_session(api, sim, "binance-spot", f"book-{uuid.uuid4().hex[:8]}")
    api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    _wait_book_equal(m)
    # The reconnect is held back by the venue, so the book's state while the stream is
    # down can be seen: not synced, from the moment the connection dropped.
    m.venue(
        "POST",
        "/sim/fault",
        json={"path": f"/ws/{m.symbol.lower()}@depth@100ms", "delayMs": 1500},
    )
    assert m.venue("POST", "/sim/fault", json={"disconnect": "market"})["disconnected"] >= 1
    deadline = time.monotonic() + 1.0
    while True:
        code, ours = m.api.get("/book", exchange=m.exchange, symbol=m.symbol, depth=5)
        if code == 200 and not ours["synced"]:
            break
        assert time.monotonic() < deadline, f"a book without its stream still says {ours}"
        time.sleep(0.02)
    bid, ask = m.best()
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "mid": float(bid) - 30})
    _wait_book_equal(m)
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "mid": float((bid + ask) / 2)})
    _wait_book_equal(m)


def test_book_requests_are_checked(api: Api):
    code, body = api.get("/book", exchange="binance-spot", symbol="NOPE")
    assert code == 404 and body["field"] == "symbol"
