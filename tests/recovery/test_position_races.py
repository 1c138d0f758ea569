"""Positions the venue reports, read by REST while its stream pushes a fill.

After an order stream reconnects, ems reads every position over REST (pushes sent while
it was away are lost). The venue makes that list at once but, here, answers it late:
a fill lands in between, and its push reaches ems before the older list does. ems must
end on the venue's position, not one fill behind it. Each venue runs on a simulator of
its own, so that no other session on the same account takes the delayed answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from tests.bybit.conftest import start_session as start_bybit
from tests.e2e.conftest import start_session as start_binance
from tests.harness import Process
from tests.okx.conftest import start_okx_session
from tests.recovery.conftest import Ems

LATE_MS = 800
ARMED = 20
"""Position lists answered late: more than ems makes in one test."""


@dataclass
class Venue:
    """What the test needs of one venue's ems session and simulator."""

    positions_path: str
    stream_kind: str
    api_key: str
    rest_url: str
    send: Callable[..., tuple[int, Any]]
    trade: Callable[[str, float, float], Any]
    position: Callable[[], float]
    inside_bid: float
    qty: float
    symbol: str
    session_id: str


def _inside(bid: Decimal, ask: Decimal, tick: Decimal, price: Callable[[Decimal], float]) -> float:
    return price(bid + tick) if ask - bid > tick else price(bid)


def _binance(ems: Ems, sim: dict[str, Any]) -> Venue:
    m = start_binance(ems.api, sim, "binance-usdm-future", f"race-{uuid.uuid4().hex[:8]}")

    def position() -> float:
        rows = m.venue_account()["positions"]
        return next((float(p["positionAmt"]) for p in rows if p["symbol"] == m.symbol), 0.0)

    return Venue(
        "/fapi/v2/positionRisk", "user", m.account["apiKey"], m.rest_url, m.send, m.trade,
        position, _inside(*m.best(), m.tick, m.price), m.qty, m.symbol, m.session_id,
    )  # fmt: skip


def _okx(ems: Ems, sim: dict[str, Any]) -> Venue:
    m = start_okx_session(ems.api, sim, "BTC-USDT-SWAP")
    return Venue(
        "/api/v5/account/positions", "private", m.account["apiKey"], m.rest_url, m.send,
        m.trade, m.venue_position, _inside(*m.best(), m.tick, m.price), m.qty, m.inst_id,
        m.session_id,
    )  # fmt: skip


def _bybit(ems: Ems, sim: dict[str, Any]) -> Venue:
    m = start_bybit(ems.api, sim, "bybit-linear", f"race-{uuid.uuid4().hex[:8]}")
    return Venue(
        "/v5/position/list", "private", m.venue.key, m.venue.rest_url, m.send, m.trade,
        m.venue_position, _inside(*m.best(), m.tick, m.price), m.qty, m.symbol, m.session_id,
    )  # fmt: skip


VENUES = {"binance-usdm-future": _binance, "okx-swap": _okx, "bybit-linear": _bybit}


@pytest.fixture(scope="module")
def own_sim(logs_dir: Path) -> Iterator[dict[str, Any]]:
    process = Process(["sim", "--port", "0"], logs_dir / "sim-position-races.log")
    yield process.info
    process.stop()


def _admin(v: Venue, method: str, path: str, **kw: Any) -> Any:
    reply = requests.request(method, v.rest_url + path, timeout=10, **kw)
    reply.raise_for_status()
    return reply.json()


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _lists_made(v: Venue) -> int:
    """How many position lists the armed fault has held back so far."""
    armed = _admin(v, "GET", "/sim/fault")["armed"]
    return ARMED - (armed[0]["count"] if armed else 0)


def _ems_order(ems: Ems, v: Venue, cl: str) -> dict[str, Any] | None:
    _, orders = ems.api.get("/orders", sessionId=v.session_id, all="true")
    return next((o for o in orders if o["clOrderId"] == cl), None)


def _ems_position(ems: Ems, v: Venue) -> float:
    _, pos = ems.api.get("/getPosition", sessionId=v.session_id, symbol=v.symbol)
    return float(pos["position"])


def _buy(ems: Ems, v: Venue) -> str:
    """A buy at the inside bid, working; returns its clOrderId."""
    cl = f"race{uuid.uuid4().hex[:8]}"
    code, body = v.send(
        clOrderId=cl, transactionType="insert", side="buy", price=v.inside_bid, qty=v.qty
    )
    assert code == 200, body
    _until(lambda: (_ems_order(ems, v, cl) or {}).get("orderStatus") == "new", 10, "new")
    return cl


def _buy_filled(ems: Ems, v: Venue) -> None:
    cl = _buy(ems, v)
    v.trade("sell", v.inside_bid, v.qty)
    _until(lambda: (_ems_order(ems, v, cl) or {}).get("orderStatus") == "filled", 10, "fill")


@pytest.mark.parametrize("venue", list(VENUES))
def test_a_position_list_older_than_a_pushed_fill_does_not_undo_it(
    ems: Ems, own_sim: dict[str, Any], venue: str
):
    v = VENUES[venue](ems, own_sim)
    try:
        # A position to start from (a list of a flat account would show nothing at all).
        _buy_filled(ems, v)
        before = v.position()
        assert before != 0.0
        _until(lambda: _ems_position(ems, v) == pytest.approx(before), 10, "the position")
        cl = _buy(ems, v)
        # Every position list from here on is answered late.
        _admin(v, "POST", "/sim/fault", json={"path": v.positions_path, "method": "GET",
               "count": ARMED, "delayMs": LATE_MS, "late": True, "apiKey": v.api_key})  # fmt: skip
        _admin(v, "POST", "/sim/fault", json={"disconnect": v.stream_kind, "apiKey": v.api_key})
        # The reconnect's position lists are made (and held back); then the fill.
        _until(lambda: _lists_made(v) > 0, 15, "the position lists")
        made = _lists_made(v)
        while True:
            time.sleep(0.4)
            if _lists_made(v) == made:
                break
            made = _lists_made(v)
        listed_at = time.monotonic()
        v.trade("sell", v.inside_bid, v.qty)
        after = v.position()
        assert after == pytest.approx(before + v.qty)
        _until(
            lambda: (_ems_order(ems, v, cl) or {}).get("orderStatus") == "filled", 10, "the fill"
        )
        # Past the late answer, ems holds the venue's position, and keeps it.
        time.sleep(max(0.0, listed_at + 2 * LATE_MS / 1000 - time.monotonic()))
        for _ in range(5):
            assert _ems_position(ems, v) == pytest.approx(after)
            time.sleep(0.1)
    finally:
        _admin(v, "POST", "/sim/fault", json={"clear": True})
        v.send(transactionType="pull")
