"""The book ems keeps from Deribit FIX market data (W, then X) equals the venue's own,
through trades, recentred quotes, lost messages and dropped connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.deribit.conftest import DeribitMarket, start_deribit
from tests.harness import Api

ACCOUNT = 2
DEPTH = 10
RESNAPSHOT_S = 3.0
"""A new snapshot request answers a misfit update at once; 3 s is ample on loopback."""

Levels = tuple[list[list[float]], list[list[float]]]


def _venue_top(m: DeribitMarket) -> Levels:
    """The simulator's own book (`GET /sim/book`, 10 levels a side, in contracts)."""
    book = m.admin("GET", "/sim/book", params={"symbol": m.symbol})
    return (
        [[float(p), float(q)] for p, q in book["bids"]],
        [[float(p), float(q)] for p, q in book["asks"]],
    )


def _ours(m: DeribitMarket) -> dict[str, Any]:
    code, body = m.api.get("/book", exchange="deribit", symbol=m.symbol, depth=DEPTH)
    assert code == 200, body
    return dict(body)


def _wait_book_equal(m: DeribitMarket, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ours = _ours(m)
        venue = _venue_top(m)
        if ours["synced"] and (ours["bids"], ours["asks"]) == venue:
            return ours
        if time.monotonic() > deadline:
            raise AssertionError(f"book {ours} != venue {venue}")
        time.sleep(0.05)


def _recenter(m: DeribitMarket, mid: Decimal) -> None:
    m.admin("POST", "/sim/book", json={"symbol": m.symbol, "mid": float(mid)})


@pytest.fixture
def watched(dapi: Api, sim: dict[str, Any]) -> Iterator[DeribitMarket]:
    """A session whose instrument's book ems follows; the venue's mid is put back after."""
    m = start_deribit(dapi, sim, ACCOUNT)
    bid, ask = m.best()
    code, body = dapi.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.symbol})
    assert code == 200, body
    try:
        yield m
    finally:
        m.fault(clear=True)
        _recenter(m, (bid + ask) / 2)
        m.send(transactionType="pull")


def test_deribit_book_follows_the_venue_through_trades_and_recentres(watched: DeribitMarket):
    m = watched
    first = _wait_book_equal(m)
    assert first["bids"] and first["asks"]
    _, asks = _venue_top(m)
    # A buy that takes the whole best offer (the maker then quotes again), then a
    # recentred market maker.
    assert m.trade("buy", asks[0][0], asks[0][1])["fills"]
    _wait_book_equal(m)
    bid, _ = m.best()
    _recenter(m, bid + 40 * m.tick)
    after = _wait_book_equal(m)
    assert after["bids"][0][0] != first["bids"][0][0]


def test_deribit_book_requests_a_new_snapshot_after_an_update_that_does_not_fit(
    watched: DeribitMarket,
):
    m = watched
    before = _wait_book_equal(m)
    bid, ask = m.best()
    m.fault(fix="loseBookUpdate", apiKey=m.account["apiKey"], count=1)
    _recenter(m, bid - 30 * m.tick)
    time.sleep(0.5)
    # The update that moved the book was never sent: nothing can tell yet.
    stale = _ours(m)
    assert stale["synced"] and stale["bids"] == before["bids"]
    assert (stale["bids"], stale["asks"]) != _venue_top(m)
    # The next update deletes levels ems never had; a new snapshot puts it right.
    _recenter(m, ask + 30 * m.tick)
    _wait_book_equal(m, timeout=RESNAPSHOT_S)


def test_deribit_book_survives_messages_lost_on_the_wire(watched: DeribitMarket):
    m = watched
    _wait_book_equal(m)
    bid, ask = m.best()
    # FIX sequencing repairs this one: the next message shows the gap, the resend fills it.
    m.fault(fix="loseOutbound", apiKey=m.account["apiKey"], count=1)
    _recenter(m, bid - 20 * m.tick)
    time.sleep(0.3)
    _recenter(m, ask + 20 * m.tick)
    _wait_book_equal(m)


def test_deribit_book_resyncs_after_its_connection_drops(watched: DeribitMarket):
    m = watched
    _wait_book_equal(m)
    bid, ask = m.best()
    assert m.fault(fix="drop", apiKey=m.account["apiKey"])["dropped"] >= 2
    # The book moves while ems cannot hear it.
    _recenter(m, bid - 25 * m.tick)
    _wait_book_equal(m)
    _recenter(m, (bid + ask) / 2)
    _wait_book_equal(m)
