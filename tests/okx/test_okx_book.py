"""The book ems keeps from OKX's `books` channel equals the venue's own depth, through
changes, lost updates, bad checksums and dropped connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.harness import Api
from tests.okx.conftest import FAULT_ACCOUNT, INSTRUMENTS, OkxMarket, start_okx_session

RESUBSCRIBE_S = 3.0
"""A resubscription on the open connection beats the reconnect fallback (5 s)."""
Levels = tuple[list[list[float]], list[list[float]]]


def _venue_top(m: OkxMarket, depth: int) -> Levels:
    """The simulator's own book, read over OKX's REST `/market/books`."""
    data = m.admin("GET", "/api/v5/market/books", params={"instId": m.inst_id, "sz": depth})
    book = data["data"][0]
    return (
        [[float(r[0]), float(r[1])] for r in book["bids"]],
        [[float(r[0]), float(r[1])] for r in book["asks"]],
    )


def _ours(m: OkxMarket, depth: int) -> dict[str, Any]:
    code, body = m.api.get("/book", exchange="okx", symbol=m.inst_id, depth=depth)
    assert code == 200, body
    return dict(body)


def _wait_book_equal(m: OkxMarket, depth: int = 5, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ours = _ours(m, depth)
        venue = _venue_top(m, depth)
        if ours["synced"] and (ours["bids"], ours["asks"]) == venue:
            return ours
        if time.monotonic() > deadline:
            raise AssertionError(f"book {ours} != venue {venue}")
        time.sleep(0.05)


def _recenter(m: OkxMarket, mid: Decimal) -> None:
    m.admin("POST", "/sim/book", json={"instId": m.inst_id, "mid": float(mid)})


@pytest.fixture(params=list(INSTRUMENTS))
def watched(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Iterator[OkxMarket]:
    """A session whose instrument's book ems follows; the venue's mid is put back after."""
    m = start_okx_session(api, sim, request.param, FAULT_ACCOUNT)
    bid, ask = m.best()
    code, body = api.post("/watchSymbol", {"sessionId": m.session_id, "symbol": m.inst_id})
    assert code == 200, body
    try:
        yield m
    finally:
        m.fault(clear=True)
        _recenter(m, (bid + ask) / 2)
        m.send(transactionType="pull")
        m.clear_venue()


def test_okx_book_follows_the_venue_through_trades_and_recentres(watched: OkxMarket):
    m = watched
    first = _wait_book_equal(m)
    assert first["bids"] and first["asks"]
    _, asks = _venue_top(m, 2)
    # A buy that takes the whole best ask level, then a recentred market maker.
    m.trade("buy", asks[0][0], asks[0][1])
    _wait_book_equal(m)
    bid, _ = m.best()
    _recenter(m, bid + 40 * m.tick)
    after = _wait_book_equal(m)
    assert after["lastUpdateId"] > first["lastUpdateId"]
    assert after["bids"][0][0] != first["bids"][0][0]


def test_okx_book_resubscribes_after_a_lost_update(watched: OkxMarket):
    m = watched
    before = _wait_book_equal(m)
    bid, ask = m.best()
    m.fault(books="gap", instId=m.inst_id)
    _recenter(m, bid - 30 * m.tick)
    time.sleep(0.5)
    # The update that moved the book never arrived: nothing can tell yet.
    stale = _ours(m, 5)
    assert stale["synced"] and stale["bids"] == before["bids"]
    assert (stale["bids"], stale["asks"]) != _venue_top(m, 5)
    # The next update's prevSeqId shows the gap; a fresh snapshot puts it right.
    _recenter(m, ask + 30 * m.tick)
    after = _wait_book_equal(m, timeout=RESUBSCRIBE_S)
    assert after["lastUpdateId"] > before["lastUpdateId"]


def test_okx_book_resubscribes_after_a_checksum_mismatch(watched: OkxMarket):
    m = watched
    _wait_book_equal(m)
    bid, ask = m.best()
    m.fault(books="checksum", instId=m.inst_id)
    _recenter(m, bid + 20 * m.tick)
    _wait_book_equal(m, timeout=RESUBSCRIBE_S)
    _recenter(m, (bid + ask) / 2)
    _wait_book_equal(m)


def test_okx_book_resyncs_after_its_connection_drops(watched: OkxMarket):
    m = watched
    _wait_book_equal(m)
    bid, ask = m.best()
    dropped = m.fault(disconnect="public", refuseMs=500)["disconnected"]
    assert dropped >= 1
    # The book moves while ems cannot hear it.
    _recenter(m, bid - 25 * m.tick)
    _wait_book_equal(m)
    _recenter(m, (bid + ask) / 2)
    _wait_book_equal(m)
