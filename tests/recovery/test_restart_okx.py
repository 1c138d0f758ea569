"""Restart recovery on OKX (spot and swap): `ems serve` stopped (SIGTERM or SIGKILL) and
started again on the same journal comes back with its session, its working orders, the
fills it missed, the orders placed under its prefix while it was down, and a position
equal to the venue's."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.okx.conftest import OkxMarket, start_okx_session
from tests.recovery.conftest import Ems, lagging_ems

STATUS = {
    "live": "new",
    "partially_filled": "partiallyfilled",
    "filled": "filled",
    "canceled": "cancelled",
    "mmp_canceled": "cancelled",
}
ADOPT_DELAY_MS = 2000
"""The sim holds ems's first order query after a restart this long, so that the test's
stream subscription is in place before reconciliation publishes anything."""


def _prefixes(ems: Ems, session_id: str) -> tuple[str, ...]:
    _, sessions = ems.api.get("/sessions")
    return next(tuple(s["clientIdPrefixes"]) for s in sessions if s["sessionId"] == session_id)


def _venue_order(m: OkxMarket, ord_id: str) -> dict[str, Any] | None:
    reply = m.signed("GET", f"/api/v5/trade/order?instId={m.inst_id}&ordId={ord_id}")
    return reply["data"][0] if reply.get("code") == "0" and reply.get("data") else None


def _place_on_venue(m: OkxMarket, cl_ord_id: str, px: float, sz: float) -> str:
    """An order sent straight to the venue with the session's account (not through ems)."""
    body = {
        "instId": m.inst_id,
        "tdMode": "cross" if m.swap else "cash",
        "side": "buy",
        "ordType": "limit",
        "px": str(px),
        "sz": str(sz),
        "clOrdId": cl_ord_id,
    }
    reply = m.signed("POST", "/api/v5/trade/order", orjson.dumps(body))
    assert reply["code"] == "0" and reply["data"][0]["sCode"] == "0", reply
    return str(reply["data"][0]["ordId"])


def _compare(ems: Ems, m: OkxMarket) -> tuple[list[str], list[dict[str, Any]]]:
    """What differs between ems's view of the session and the venue's (empty: nothing)."""
    code, body = ems.api.get("/orders", sessionId=m.session_id, all="true")
    if code != 200:
        return [f"GET /orders: {code} {body}"], []
    ours = [o for o in body if o["symbol"] == m.inst_id]
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
        if STATUS[v["state"]] != o["orderStatus"]:
            problems.append(f"{o['clOrderId']}: {o['orderStatus']} vs {v['state']}")
        if Decimal(v["accFillSz"]) != Decimal(str(o["cumulativeFilledQty"])):
            problems.append(f"{o['clOrderId']}: filled {o['cumulativeFilledQty']} vs {v}")
        spot_position += Decimal(v["accFillSz"]) * (1 if v["side"] == "buy" else -1)
    known = {o["exchOrderId"] for o in ours}
    prefixes = _prefixes(ems, m.session_id)
    for v in m.venue_orders():
        if v["clOrdId"].startswith(prefixes) and v["ordId"] not in known:
            problems.append(f"venue order {v['clOrdId']} unknown to ems")
    _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.inst_id)
    venue_position = m.venue_position() if m.swap else float(spot_position)
    if pos["position"] != pytest.approx(venue_position):
        problems.append(f"position {pos['position']} vs venue {venue_position}")
    return problems, ours


def _wait_equal(ems: Ems, m: OkxMarket, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    """Polls until ems agrees with the venue; returns ems's orders by clOrderId."""
    deadline = time.monotonic() + timeout
    while True:
        problems, ours = _compare(ems, m)
        if not problems:
            return {o["clOrderId"]: o for o in ours}
        assert time.monotonic() < deadline, f"ems and the venue disagree: {problems}"
        time.sleep(0.1)


def _restart(ems: Ems, m: OkxMarket) -> None:
    ems.start()
    m.api = ems.api
    ems.wait_session(m.session_id)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
@pytest.mark.parametrize("inst_id", ["BTC-USDT", "BTC-USDT-SWAP"])
def test_okx_orders_fills_and_orders_placed_while_down_are_recovered(
    ems: Ems, sim: dict[str, Any], inst_id: str, how: str
):
    m = start_okx_session(ems.api, sim, inst_id)
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        far = m.resting_buy(300)
        early, resting, filled = m.cl(), m.cl(), m.cl()
        # A fill before the restart, so that the journal holds a position.
        assert m.send(clOrderId=early, transactionType="insert", side="buy", price=inside,
                      qty=m.qty)[0] == 200  # fmt: skip
        m.trade("sell", inside, m.qty)
        assert _wait_equal(ems, m)[early]["orderStatus"] == "filled"
        assert m.send(clOrderId=resting, transactionType="insert", side="buy", price=far,
                      qty=m.qty)[0] == 200  # fmt: skip
        assert m.send(clOrderId=filled, transactionType="insert", side="buy", price=inside,
                      qty=2 * m.qty)[0] == 200  # fmt: skip
        _wait_equal(ems, m)
        time.sleep(0.3)  # past the journal's write-behind window
        position_before = m.venue_position() if m.swap else m.qty
        old_prefix = _prefixes(ems, m.session_id)[-1]
        if how == "sigkill":
            ems.kill9()
        else:
            ems.stop()
            assert ems.process is not None and ems.process.proc.returncode == 0
        # While ems is down: the inside order fills, and an order goes in under the
        # session's prefix (as if ems had sent it just before dying).
        m.trade("sell", inside, 2 * m.qty)
        placed_cl = f"{old_prefix}d{uuid.uuid4().hex[:6]}"
        placed_id = _place_on_venue(m, placed_cl, far, m.qty)
        m.fault(path="/api/v5/trade/order*", method="GET", delayMs=ADOPT_DELAY_MS, count=1)
        _restart(ems, m)
        ws = m.stream()
        frame = ws.wait(lambda f: f.get("clOrderId") == placed_cl, timeout=15)
        assert frame["orderStatus"] == "new" and "adopted" in frame["message"]
        assert frame["exchOrderId"] == placed_id
        ws.close()
        by_cl = _wait_equal(ems, m)
        assert by_cl[resting]["orderStatus"] == "new"
        assert by_cl[filled]["orderStatus"] == "filled"
        assert by_cl[filled]["cumulativeFilledQty"] == pytest.approx(2 * m.qty)
        assert by_cl[placed_cl]["orderStatus"] == "new"
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.inst_id)
        assert pos["position"] == pytest.approx(position_before + 2 * m.qty)
        # The working orders ems lists are exactly the venue's open orders of the session.
        _, working = ems.api.get("/orders", sessionId=m.session_id)
        prefixes = _prefixes(ems, m.session_id)
        venue_open = {v["ordId"] for v in m.venue_orders() if v["clOrdId"].startswith(prefixes)}
        assert {o["exchOrderId"] for o in working} == venue_open
        assert {o["clOrderId"] for o in working} == {resting, placed_cl}
        # The recovered session trades on: the adopted order can be cancelled by its id.
        assert m.send(clOrderId=placed_cl, transactionType="delete")[0] == 200
        by_cl = _wait_equal(ems, m)
        assert by_cl[placed_cl]["orderStatus"] == "cancelled"
    finally:
        m.fault(clear=True)
        m.send(transactionType="pull")
        m.clear_venue()


@pytest.mark.parametrize("inst_id", ["BTC-USDT", "BTC-USDT-SWAP"])
def test_okx_fills_of_an_order_adopted_after_a_restart_move_the_position(
    ems: Ems, sim: dict[str, Any], inst_id: str
):
    m = start_okx_session(ems.api, sim, inst_id)
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        # The journal has no order on the symbol: ems lists the account's open orders on
        # every instrument, so it finds one sent just before the crash all the same.
        _wait_equal(ems, m)
        time.sleep(0.3)  # past the journal's write-behind window
        old_prefix = _prefixes(ems, m.session_id)[-1]
        position_before = m.venue_position() if m.swap else 0.0
        ems.kill9()
        placed_cl = f"{old_prefix}d{uuid.uuid4().hex[:6]}"
        _place_on_venue(m, placed_cl, inside, 2 * m.qty)
        _restart(ems, m)
        assert _wait_equal(ems, m)[placed_cl]["orderStatus"] == "new"
        m.trade("sell", inside, m.qty)
        deadline = time.monotonic() + 10
        while True:
            _, body = ems.api.get("/orders", sessionId=m.session_id, all="true")
            adopted = next(o for o in body if o["clOrderId"] == placed_cl)
            if adopted["orderStatus"] == "partiallyfilled":
                break
            assert time.monotonic() < deadline, adopted
            time.sleep(0.1)
        _wait_equal(ems, m, timeout=5)
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.inst_id)
        assert pos["position"] == pytest.approx(position_before + m.qty)
    finally:
        m.send(transactionType="pull")
        m.clear_venue()


@pytest.mark.parametrize("inst_id", ["BTC-USDT", "BTC-USDT-SWAP"])
def test_okx_orders_lost_from_the_journal_are_adopted_and_unsent_ones_rejected(
    ems: Ems, sim: dict[str, Any], inst_id: str
):
    m = start_okx_session(ems.api, sim, inst_id)
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
        state["cl"] = "ghost1"
        state["vid"] = state["vid"] + "zz"
        state["legs"] = {state["vid"]: "0"}
        state["exch"] = ""
        state["status"] = "new"
        state["pending"] = "new"
        ems.journal_rows(
            "INSERT INTO orders VALUES (?,?,?,1,0)",
            (m.session_id, "ghost1", orjson.dumps(state).decode()),
        )
        _restart(ems, m)
        by_cl = _wait_equal(ems, m)
        assert by_cl[vid]["orderStatus"] == "new" and "adopted" in by_cl[vid]["message"]
        assert by_cl["ghost1"]["orderStatus"] == "rejected"
        assert by_cl[kept]["orderStatus"] == "new"
    finally:
        m.send(transactionType="pull")
        m.clear_venue()


RECOVERY_COMMIT_DELAY_MS = 1500
"""The journal writer's lag in the next test: a restarting session waits this long for
its own record to be committed, which used to be a window in which clients could reach
it before its journaled orders and positions were back."""


def test_okx_spot_fill_of_an_order_sent_as_the_session_recovers_is_kept(
    tmp_path: Path, logs_dir: Path, sim: dict[str, Any]
):
    ems = lagging_ems(tmp_path, logs_dir, RECOVERY_COMMIT_DELAY_MS)
    m = start_okx_session(ems.api, sim, "BTC-USDT")
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        take = m.price(ask + 10 * m.tick)
        early = m.cl()
        assert m.send(clOrderId=early, transactionType="insert", side="buy", price=inside,
                      qty=m.qty)[0] == 200  # fmt: skip
        m.trade("sell", inside, m.qty)
        assert _wait_equal(ems, m)[early]["orderStatus"] == "filled"
        time.sleep(RECOVERY_COMMIT_DELAY_MS / 1000 + 1.0)  # the journal has the position
        ems.kill9()
        ems.start()
        m.api = ems.api
        # The first request the restarted ems lets through: a buy that fills at once.
        taker = m.cl()
        deadline = time.monotonic() + 20
        while True:
            code, body = m.send(
                clOrderId=taker, transactionType="insert", side="buy", price=take, qty=m.qty,
                tif="ioc",
            )  # fmt: skip
            if code == 200:
                break
            assert code in (400, 404), body  # the session is not back yet
            assert time.monotonic() < deadline, body
            time.sleep(0.01)
        by_cl = _wait_equal(ems, m)
        assert by_cl[taker]["orderStatus"] == "filled"
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.inst_id)
        assert pos["position"] == pytest.approx(2 * m.qty)
    finally:
        m.send(transactionType="pull")
        m.clear_venue()
        ems.stop()
