"""The book ems keeps from Deribit FIX market data (W, then X) equals the venue's own,
through trades, recentred quotes, lost messages and dropped connections."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from tests.deribit.conftest import SYMBOL, DeribitMarket, start_deribit
from tests.deribit.test_deribit_session_rules import RawClient
from tests.harness import Api

from ems._core import BID, FixMessage, OrderBook

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


def _levels(msg: FixMessage, members: list[int]) -> list[dict[int, bytes]]:
    return [dict(entry) for entry in msg.group(268, members)]


def test_simulator_serves_the_two_documented_book_forms_and_refuses_others(
    sim: dict[str, Any],
) -> None:
    """Over a raw FIX session: 265=1/264=0 gives a W of the whole book then X entries
    that rebuild it; 265=0/264=1 gives a W of the top level each time it changes; other
    combinations and entry types are refused with Y."""
    client = RawClient(sim, f"book-{uuid.uuid4().hex[:6]}", ACCOUNT)
    rest_url = sim["deribit"]["restUrl"]

    def admin(method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, rest_url + path, timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def venue() -> dict[tuple[bytes, str], str]:
        view = admin("GET", "/sim/book", params={"symbol": SYMBOL})
        return {(b"0", p): q for p, q in view["bids"]} | {(b"1", p): q for p, q in view["asks"]}

    def request(seq: int, req_id: str, fields: list[tuple[int, str | int]]) -> None:
        client.send("V", seq, [(262, req_id), *fields, (146, 1), (55, SYMBOL)])

    book_types: list[tuple[int, str | int]] = [(267, 2), (269, "0"), (269, "1")]
    view = admin("GET", "/sim/book", params={"symbol": SYMBOL})
    mid = (Decimal(view["bestBid"]) + Decimal(view["bestAsk"])) / 2
    client.logon(1, int(time.time() * 1000))
    client.read_until(lambda m: m.msg_type == "A")
    try:
        for seq, (req_id, fields) in enumerate(
            [
                ("bad-depth", [(263, 1), (264, 5), (265, 1), *book_types]),
                ("bad-full", [(263, 1), (264, 0), (265, 0), *book_types]),
                ("bad-type", [(263, 1), (264, 0), (265, 1), (267, 1), (269, "3")]),
            ],
            start=2,
        ):
            request(seq, req_id, fields)
            refused = client.read_until(lambda m, r=req_id: m.get_str(262) == r)
            assert refused.msg_type == "Y", req_id

        request(5, "whole", [(263, 1), (264, 0), (265, 1), *book_types])
        snap = client.read_until(lambda m: m.get_str(262) == "whole")
        assert snap.msg_type == "W"
        ours = {(e[269], e[270].decode()): e[271].decode() for e in _levels(snap, [269, 270, 271])}
        request(6, "top", [(263, 1), (264, 1), (265, 0), *book_types])
        top = client.read_until(lambda m: m.get_str(262) == "top")
        assert top.msg_type == "W" and len(_levels(top, [269, 270, 271])) == 2
        assert {k: Decimal(v) for k, v in ours.items()} == {
            k: Decimal(v) for k, v in venue().items()
        }

        admin("POST", "/sim/book", json={"symbol": SYMBOL, "mid": float(mid + 40)})
        moved = client.read_until(lambda m: m.get_str(262) == "top")
        assert moved.msg_type == "W"
        best = {e[269]: Decimal(e[270].decode()) for e in _levels(moved, [269, 270, 271])}
        target = venue()
        deadline = time.monotonic() + 5
        while {k: Decimal(v) for k, v in ours.items()} != {
            k: Decimal(v) for k, v in target.items()
        }:
            update = client.read_until(lambda m: m.get_str(262) == "whole")
            assert update.msg_type == "X"
            for e in _levels(update, [279, 269, 270, 271]):
                key = (e[269], e[270].decode())
                if e[279] == b"2":
                    assert key in ours
                    del ours[key]
                else:
                    assert (key in ours) == (e[279] == b"1")
                    ours[key] = e[271].decode()
            assert time.monotonic() < deadline, f"{ours} != {target}"
        bids = [Decimal(p) for side, p in ours if side == b"0"]
        asks = [Decimal(p) for side, p in ours if side == b"1"]
        assert best == {b"0": max(bids), b"1": min(asks)}
    finally:
        client.close()
        admin("POST", "/sim/book", json={"symbol": SYMBOL, "mid": float(mid)})


def test_the_core_book_kind_for_deribit_applies_no_other_venues_rules():
    book = OrderBook("deribit", "0.5", "10")
    assert book.venue == "deribit"
    book.load_levels([(200_000, 3)], [(200_002, 4)], 0)
    assert book.synced
    # A message in any venue's format is refused (the levels come from FIX entries).
    snapshot = b'{"type":"snapshot","ts":1,"data":{"b":[["1","1"]],"a":[],"u":1,"seq":1}}'
    with pytest.raises(ValueError):
        book.apply(snapshot)
    book.update(BID, 200_000, 0)
    assert not book.crossed and book.synced
