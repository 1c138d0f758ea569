"""Deribit FIX faults end to end: lost messages, dropped TCP, cancel on disconnect, triggers.

Faults are injected by the simulator (`/sim/fault`); ems must recover through the FIX
session rules alone (ResendRequest, PossDup resends, reconnect) and end with the same
view as the venue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.deribit.conftest import DeribitMarket, assert_matches_venue, start_deribit
from tests.harness import Api

FAULT_ACCOUNT = 1


def _status(cl: str, *statuses: str) -> Any:
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


@pytest.fixture
def faulty(dapi: Api, sim: dict[str, Any]) -> Iterator[DeribitMarket]:
    m = start_deribit(dapi, sim, FAULT_ACCOUNT)
    yield m
    m.fault(clear=True)
    assert_matches_venue(m, timeout=10)
    m.send(transactionType="pull")


def _session(m: DeribitMarket) -> dict[str, Any]:
    sessions = m.admin("GET", "/sim/sessions")
    (mine,) = [s for s in sessions if s["apiKey"] == m.account["apiKey"] and s["connected"]
               and s["senderCompId"].endswith(_suffix(m))]  # fmt: skip
    return mine


def _suffix(m: DeribitMarket) -> str:
    import hashlib

    return hashlib.sha256(m.session_id.encode()).hexdigest()[:12]


def test_lost_venue_report_is_recovered_by_resend_request(faulty: DeribitMarket):
    ws = faulty.stream()
    faulty.fault(fix="loseOutbound", apiKey=faulty.account["apiKey"], count=1)
    first, second = faulty.cl(), faulty.cl()
    price = faulty.resting_buy()
    faulty.send(clOrderId=first, transactionType="insert", side="buy", price=price, qty=1)
    time.sleep(0.2)
    assert ws.wait(_status(first, "pendingnew"))
    assert not [f for f in ws.frames if _status(first, "new")(f)]  # its report was lost
    # The next report carries a higher MsgSeqNum: ems asks for the gap and gets it.
    faulty.send(clOrderId=second, transactionType="insert", side="buy", price=price, qty=1)
    ws.wait(_status(first, "new"))
    ws.wait(_status(second, "new"))
    ws.close()


def test_lost_answer_to_a_resend_request_is_asked_for_again(faulty: DeribitMarket):
    ws = faulty.stream()
    key = faulty.account["apiKey"]
    faulty.fault(fix="loseOutbound", apiKey=key, count=1)
    faulty.fault(fix="loseResendReply", apiKey=key, count=1)
    first, second = faulty.cl(), faulty.cl()
    price = faulty.resting_buy()
    faulty.send(clOrderId=first, transactionType="insert", side="buy", price=price, qty=1)
    time.sleep(0.2)
    # The second report shows the gap; the answer to ems's ResendRequest is lost too.
    faulty.send(clOrderId=second, transactionType="insert", side="buy", price=price, qty=1)
    asked = time.monotonic()
    ws.wait(_status(first, "new"), timeout=10)
    ws.wait(_status(second, "new"), timeout=5)
    assert time.monotonic() - asked >= 1.0  # recovered by asking again, not by the first ask
    assert faulty.admin("GET", "/sim/fault") == []  # the lost answer was used up
    ws.close()


def test_lost_order_is_resent_when_the_venue_asks(faulty: DeribitMarket):
    ws = faulty.stream()
    faulty.fault(fix="loseInbound", apiKey=faulty.account["apiKey"], count=1)
    first, second = faulty.cl(), faulty.cl()
    price = faulty.resting_buy()
    faulty.send(clOrderId=first, transactionType="insert", side="buy", price=price, qty=1)
    time.sleep(0.2)
    assert [o for o in faulty.venue_orders() if o["cl_ord_id"]] == []
    faulty.send(clOrderId=second, transactionType="insert", side="buy", price=price, qty=1)
    ws.wait(_status(first, "new"))
    ws.wait(_status(second, "new"))
    assert len(faulty.venue_orders()) == 2
    ws.close()


def test_dropped_tcp_with_orders_in_flight_settles_after_reconnect_and_resend(
    faulty: DeribitMarket,
):
    ws = faulty.stream()
    bid, ask = faulty.best()
    near = faulty.price(bid + faulty.tick) if ask - bid > faulty.tick else float(bid)
    resting = faulty.cl()
    faulty.send(clOrderId=resting, transactionType="insert", side="buy", price=near, qty=3)
    ws.wait(_status(resting, "new"))
    # Two orders leave ems but never reach the venue before the connection dies.
    faulty.fault(fix="loseInbound", apiKey=faulty.account["apiKey"], count=2)
    in_flight = [faulty.cl(), faulty.cl()]
    for cl in in_flight:
        faulty.send(
            clOrderId=cl, transactionType="insert", side="buy", price=faulty.resting_buy(), qty=1
        )
    time.sleep(0.1)
    dropped = faulty.fault(fix="drop", apiKey=faulty.account["apiKey"])
    assert dropped["dropped"] >= 1
    # A fill while ems is away: its report waits in the venue's store.
    faulty.trade("sell", near, 1)
    for cl in in_flight:
        ws.wait(_status(cl, "new"), timeout=15)
    ws.wait(_status(resting, "partiallyfilled"), timeout=15)
    assert_matches_venue(faulty, timeout=10)
    ws.close()


def test_cancel_on_disconnect_cancels_and_ems_learns_it_after_reconnect(
    dapi: Api, sim: dict[str, Any]
):
    m = start_deribit(dapi, sim, FAULT_ACCOUNT, cancelOnDisconnect=True)
    ws = m.stream()
    cl = m.cl()
    m.send(clOrderId=cl, transactionType="insert", side="buy", price=m.resting_buy(), qty=2)
    ws.wait(_status(cl, "new"))
    m.fault(fix="drop", apiKey=m.account["apiKey"])
    done = ws.wait(_status(cl, "cancelled"), timeout=15)
    assert done["message"] == "cancel_on_disconnect"
    assert [o for o in m.venue_orders() if o["cl_ord_id"]] == []
    assert_matches_venue(m)
    ws.close()


def test_trigger_fires_on_a_fix_market_data_trade(dapi: Api, sim: dict[str, Any]):
    m = start_deribit(dapi, sim, FAULT_ACCOUNT)
    bid, ask = m.best()
    mid = (bid + ask) / 2
    m.admin("POST", "/sim/book", json={"symbol": m.symbol, "clear": True})
    try:
        status, body = dapi.post(
            "/startTriggerManager",
            {"symbol": m.symbol, "exchange": "deribit", "sessionId": m.session_id},
        )
        assert status == 200, body
        ws = m.stream()
        cl = m.cl()
        level = m.price(mid + 20 * m.tick)
        order = m.order(
            clOrderId=cl, transactionType="insert", side="buy",
            price=m.price(mid - 400 * m.tick), qty=1,
        )  # fmt: skip
        status, body = dapi.post(
            "/setTrigger",
            {"id": f"t-{cl}", "price": level, "symbol": m.symbol, "direction": "up",
             "exchange": "deribit", "orders": [order]},
        )  # fmt: skip
        assert status == 200, body
        m.trade("sell", level, 1)  # a sell aggressor fires "down" triggers only
        time.sleep(0.3)
        assert not [f for f in ws.frames if f.get("clOrderId") == cl]
        m.trade("buy", level, 1)
        fired = ws.wait(_status(cl, "new"))
        assert fired["triggerId"] == f"t-{cl}"
        dapi.post(
            "/stopTriggerManager",
            {"symbol": m.symbol, "exchange": "deribit", "sessionId": m.session_id},
        )
        ws.close()
    finally:
        m.admin("POST", "/sim/book", json={"symbol": m.symbol, "mid": float(mid)})
    assert_matches_venue(m)
    m.send(transactionType="pull")


def test_venue_sequence_state_matches_ems_after_recovery(faulty: DeribitMarket):
    ws = faulty.stream()
    cl = faulty.cl()
    faulty.send(clOrderId=cl, transactionType="insert", side="buy", price=faulty.resting_buy(),
                qty=Decimal(1).__int__())  # fmt: skip
    ws.wait(_status(cl, "new"))
    faulty.fault(fix="drop", apiKey=faulty.account["apiKey"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = _session(faulty)
            break
        except ValueError:
            time.sleep(0.05)
    else:
        raise AssertionError("ems did not reconnect")
    assert state["nextIn"] > 1 and state["nextOut"] > 1
    ws.close()
