"""Restart recovery on Bybit (linear and spot): `ems serve` stopped (SIGTERM or SIGKILL)
and started again on the same journal comes back with its session, its working orders,
the fills it missed, the orders placed under its prefix while it was down, and a
position equal to the venue's."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from tests.bybit.conftest import Market, start_session
from tests.recovery.conftest import Ems

STATUS = {
    "New": "new",
    "PartiallyFilled": "partiallyfilled",
    "Filled": "filled",
    "Cancelled": "cancelled",
    "PartiallyFilledCanceled": "cancelled",
    "Deactivated": "cancelled",
    "Rejected": "rejected",
}
ADOPT_DELAY_MS = 2000
"""The sim holds ems's first order query after a restart this long, so that the test's
stream subscription is in place before reconciliation publishes anything."""
EXCHANGES = ["bybit-linear", "bybit-spot"]


def _start(ems: Ems, sim: dict[str, Any], exchange: str) -> Market:
    return start_session(ems.api, sim, exchange, f"rec-{uuid.uuid4().hex[:8]}")


def _prefixes(ems: Ems, session_id: str) -> tuple[str, ...]:
    _, sessions = ems.api.get("/sessions")
    return next(tuple(s["clientIdPrefixes"]) for s in sessions if s["sessionId"] == session_id)


def _venue_order(m: Market, order_id: str) -> dict[str, Any] | None:
    params = {"category": m.category, "symbol": m.symbol, "orderId": order_id}
    for path in ("/v5/order/realtime", "/v5/order/history"):
        reply = m.venue.signed("GET", path, params)
        rows = (reply.get("result") or {}).get("list") or []
        if rows:
            return dict(rows[0])
    return None


def _place_on_venue(m: Market, link_id: str, price: float, qty: float) -> str:
    """An order sent straight to the venue with the session's account (not through ems)."""
    reply = m.venue.signed(
        "POST",
        "/v5/order/create",
        {
            "category": m.category,
            "symbol": m.symbol,
            "side": "Buy",
            "orderType": "Limit",
            "qty": str(round(qty, 8)),
            "price": str(price),
            "timeInForce": "GTC",
            "orderLinkId": link_id,
        },
    )
    assert reply["retCode"] == 0, reply
    return str(reply["result"]["orderId"])


def _compare(ems: Ems, m: Market) -> tuple[list[str], list[dict[str, Any]]]:
    """What differs between ems's view of the session and the venue's (empty: nothing)."""
    code, body = ems.api.get("/orders", sessionId=m.session_id, all="true")
    if code != 200:
        return [f"GET /orders: {code} {body}"], []
    ours = [o for o in body if o["symbol"] == m.symbol]
    problems = []
    spot_position = Decimal(0)
    for o in ours:
        if o["orderStatus"].startswith("pending"):
            problems.append(f"{o['clOrderId']}: still {o['orderStatus']}")
        if not o["exchOrderId"]:
            continue
        v = _venue_order(m, o["exchOrderId"])
        if v is None:
            problems.append(f"{o['clOrderId']}: not on the venue")
            continue
        if STATUS[v["orderStatus"]] != o["orderStatus"]:
            problems.append(f"{o['clOrderId']}: {o['orderStatus']} vs {v['orderStatus']}")
        if Decimal(v["cumExecQty"]) != Decimal(str(o["cumulativeFilledQty"])):
            problems.append(f"{o['clOrderId']}: filled {o['cumulativeFilledQty']} vs {v}")
        spot_position += Decimal(v["cumExecQty"]) * (1 if v["side"] == "Buy" else -1)
    known = {o["exchOrderId"] for o in ours}
    prefixes = _prefixes(ems, m.session_id)
    for v in m.venue_orders():
        if v["orderLinkId"].startswith(prefixes) and v["orderId"] not in known:
            problems.append(f"venue order {v['orderLinkId']} unknown to ems")
    _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
    venue_position = m.venue_position() if m.category != "spot" else float(spot_position)
    if pos["position"] != pytest.approx(venue_position):
        problems.append(f"position {pos['position']} vs venue {venue_position}")
    return problems, ours


def _wait_equal(ems: Ems, m: Market, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    """Polls until ems agrees with the venue; returns ems's orders by clOrderId."""
    deadline = time.monotonic() + timeout
    while True:
        problems, ours = _compare(ems, m)
        if not problems:
            return {o["clOrderId"]: o for o in ours}
        assert time.monotonic() < deadline, f"ems and the venue disagree: {problems}"
        time.sleep(0.1)


def _restart(ems: Ems, m: Market) -> None:
    ems.start()
    m.api = ems.api
    ems.wait_session(m.session_id)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
@pytest.mark.parametrize("exchange", EXCHANGES)
def test_bybit_orders_fills_and_orders_placed_while_down_are_recovered(
    ems: Ems, sim: dict[str, Any], exchange: str, how: str
):
    m = _start(ems, sim, exchange)
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        far = m.resting_buy(300)
        qty2 = round(2 * m.qty, 8)
        early, resting, filled = m.cl(), m.cl(), m.cl()
        # A fill before the restart, so that the journal holds a position.
        assert m.send(clOrderId=early, transactionType="insert", side="buy", price=inside,
                      qty=m.qty)[0] == 200  # fmt: skip
        m.trade("sell", inside, m.qty)
        assert _wait_equal(ems, m)[early]["orderStatus"] == "filled"
        assert m.send(clOrderId=resting, transactionType="insert", side="buy", price=far,
                      qty=m.qty)[0] == 200  # fmt: skip
        assert m.send(clOrderId=filled, transactionType="insert", side="buy", price=inside,
                      qty=qty2)[0] == 200  # fmt: skip
        _wait_equal(ems, m)
        time.sleep(0.3)  # past the journal's write-behind window
        position_before = m.venue_position() if m.category != "spot" else m.qty
        old_prefix = _prefixes(ems, m.session_id)[-1]
        if how == "sigkill":
            ems.kill9()
        else:
            ems.stop()
            assert ems.process is not None and ems.process.proc.returncode == 0
        # While ems is down: the inside order fills, and an order goes in under the
        # session's prefix (as if ems had sent it just before dying).
        m.trade("sell", inside, qty2)
        placed_link = f"{old_prefix}d{uuid.uuid4().hex[:6]}"
        placed_id = _place_on_venue(m, placed_link, inside, 2 * m.qty)
        m.venue.fault(path="/v5/order/*", method="GET", delayMs=ADOPT_DELAY_MS, count=1)
        _restart(ems, m)
        ws = m.stream()
        frame = ws.wait(lambda f: f.get("clOrderId") == placed_link, timeout=15)
        assert frame["orderStatus"] == "new" and "adopted" in frame["message"]
        assert frame["exchOrderId"] == placed_id
        ws.close()
        by_cl = _wait_equal(ems, m)
        assert by_cl[resting]["orderStatus"] == "new"
        assert by_cl[filled]["orderStatus"] == "filled"
        assert by_cl[filled]["cumulativeFilledQty"] == pytest.approx(qty2)
        assert by_cl[placed_link]["orderStatus"] == "new"
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        assert pos["position"] == pytest.approx(position_before + qty2)
        # The working orders ems lists are exactly the venue's open orders of the session.
        _, working = ems.api.get("/orders", sessionId=m.session_id)
        prefixes = _prefixes(ems, m.session_id)
        venue_open = {
            v["orderId"] for v in m.venue_orders() if v["orderLinkId"].startswith(prefixes)
        }
        assert {o["exchOrderId"] for o in working} == venue_open
        assert {o["clOrderId"] for o in working} == {resting, placed_link}
        # The recovered session trades on: the adopted order fills, then is cancelled.
        m.trade("sell", inside, m.qty)
        by_cl = _wait_equal(ems, m)
        assert by_cl[placed_link]["orderStatus"] == "partiallyfilled"
        assert m.send(clOrderId=placed_link, transactionType="delete")[0] == 200
        by_cl = _wait_equal(ems, m)
        assert by_cl[placed_link]["orderStatus"] == "cancelled"
    finally:
        m.venue.fault(clear=True)
        m.send(transactionType="pull")


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_bybit_orders_lost_from_the_journal_are_adopted_and_unsent_ones_rejected(
    ems: Ems, sim: dict[str, Any], exchange: str
):
    m = _start(ems, sim, exchange)
    try:
        far = m.resting_buy(300)
        kept, lost = m.cl(), m.cl()
        for cl in (kept, lost):
            assert m.send(clOrderId=cl, transactionType="insert", side="buy", price=far,
                          qty=m.qty)[0] == 200  # fmt: skip
        _wait_equal(ems, m)
        time.sleep(0.3)  # past the journal's write-behind window
        ems.kill9()
        # The crash window: the last order reached the venue but not the journal.
        [(vid,)] = ems.journal_rows(
            "SELECT json_extract(state, '$.vid') FROM orders WHERE cl_order_id=?", (lost,)
        )
        ems.journal_rows("DELETE FROM orders WHERE cl_order_id=?", (lost,))
        # And an order the journal says was sent, which the venue never saw.
        [(kept_state,)] = ems.journal_rows("SELECT state FROM orders WHERE cl_order_id=?", (kept,))
        state = orjson.loads(kept_state)
        state["cl"] = "ghost-1"
        state["vid"] = state["vid"] + "zz"
        state["legs"] = {state["vid"]: "0"}
        state["exch"] = ""
        state["status"] = "new"
        state["pending"] = "new"
        ems.journal_rows(
            "INSERT INTO orders VALUES (?,?,?,1,0)",
            (m.session_id, "ghost-1", orjson.dumps(state).decode()),
        )
        _restart(ems, m)
        by_cl = _wait_equal(ems, m)
        assert by_cl[vid]["orderStatus"] == "new" and "adopted" in by_cl[vid]["message"]
        assert by_cl["ghost-1"]["orderStatus"] == "rejected"
        assert by_cl[kept]["orderStatus"] == "new"
    finally:
        m.send(transactionType="pull")


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_bybit_order_on_a_symbol_the_journal_never_saw_is_adopted_and_fills(
    ems: Ems, sim: dict[str, Any], exchange: str
):
    m = _start(ems, sim, exchange)
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        time.sleep(0.3)  # the session is journaled; it has no order yet
        old_prefix = _prefixes(ems, m.session_id)[-1]
        position_before = m.venue_position() if m.category != "spot" else 0.0
        ems.kill9()
        placed_link = f"{old_prefix}n{uuid.uuid4().hex[:6]}"
        placed_id = _place_on_venue(m, placed_link, inside, 2 * m.qty)
        _restart(ems, m)
        by_cl = _wait_equal(ems, m)
        assert by_cl[placed_link]["orderStatus"] == "new"
        assert by_cl[placed_link]["exchOrderId"] == placed_id
        assert "adopted" in by_cl[placed_link]["message"]
        m.trade("sell", inside, m.qty)
        by_cl = _wait_equal(ems, m)
        assert by_cl[placed_link]["orderStatus"] == "partiallyfilled"
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        assert pos["position"] == pytest.approx(position_before + m.qty)
    finally:
        m.send(transactionType="pull")


def test_bybit_linear_position_closed_while_down_is_flat_after_restart(
    ems: Ems, sim: dict[str, Any]
):
    """The venue lists open positions only: a position the journal holds but the venue
    no longer lists was closed while ems was down, and comes back flat (and is sent so on
    the position stream) rather than as the journal had it."""
    m = _start(ems, sim, "bybit-linear")
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        cl = m.cl()
        assert m.send(clOrderId=cl, transactionType="insert", side="buy", price=inside,
                      qty=m.qty)[0] == 200  # fmt: skip
        m.trade("sell", inside, m.qty)
        _wait_equal(ems, m)
        held = m.venue_position()
        if held == pytest.approx(0.0):  # the account was short exactly one order's size
            assert m.send(clOrderId=m.cl(), transactionType="insert", side="buy",
                          price=inside, qty=m.qty)[0] == 200  # fmt: skip
            m.trade("sell", inside, m.qty)
            _wait_equal(ems, m)
            held = m.venue_position()
        time.sleep(0.3)  # past the journal's write-behind window
        ems.kill9()
        [(journaled,)] = ems.journal_rows(
            "SELECT value FROM positions WHERE session_id=? AND symbol=?",
            (m.session_id, m.symbol),
        )
        assert journaled == pytest.approx(held)
        reply = m.venue.signed(
            "POST",
            "/v5/order/create",
            {"category": m.category, "symbol": m.symbol, "orderType": "Market",
             "side": "Sell" if held > 0 else "Buy", "qty": str(round(abs(held), 8)),
             "reduceOnly": True, "orderLinkId": f"close-{uuid.uuid4().hex[:8]}"},
        )  # fmt: skip
        assert reply["retCode"] == 0, reply
        assert m.venue_position() == 0.0
        _restart(ems, m)
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        assert pos["position"] == 0.0
        _wait_equal(ems, m)
    finally:
        m.send(transactionType="pull")
