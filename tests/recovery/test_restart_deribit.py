"""Restart recovery on Deribit (FIX): `ems serve` killed and started again on the same
journal finds the orders it sent but never journaled (OrderMassStatusRequest for every
open order of the account), settles the journaled ones one by one, and ends with the
venue's working orders and position."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.deribit.conftest import DeribitMarket, assert_matches_venue, start_deribit
from tests.recovery.conftest import Ems


def _restart(ems: Ems, m: DeribitMarket) -> None:
    ems.start()
    m.api = ems.api
    ems.wait_session(m.session_id)


def _orders(ems: Ems, m: DeribitMarket) -> dict[str, dict[str, Any]]:
    _, body = ems.api.get("/orders", sessionId=m.session_id, all="true")
    return {o["clOrderId"]: o for o in body}


def test_deribit_orders_lost_from_the_journal_are_adopted_and_missed_fills_recovered(
    ems: Ems, sim: dict[str, Any]
):
    # The last test account: the Deribit tests' own sessions trade on the first ones.
    m = start_deribit(ems.api, sim, len(sim["accounts"]) - 1)
    try:
        bid, ask = m.best()
        inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
        far = m.resting_buy(300)
        kept, lost, filled = m.cl(), m.cl(), m.cl()
        for cl, price, qty in ((kept, far, 1), (lost, far, 1), (filled, inside, 2)):
            assert m.send(clOrderId=cl, transactionType="insert", side="buy", price=price,
                          qty=qty)[0] == 200  # fmt: skip
        assert_matches_venue(m, timeout=10)
        time.sleep(0.3)  # past the journal's write-behind window
        position_before = m.venue_position()
        ems.kill9()
        # The crash window: the order reached the venue but not the journal.
        [(vid,)] = ems.journal_rows(
            "SELECT json_extract(state, '$.vid') FROM orders WHERE cl_order_id=?", (lost,)
        )
        ems.journal_rows("DELETE FROM orders WHERE cl_order_id=?", (lost,))
        # While ems is down the inside order fills.
        m.trade("sell", inside, 2)
        _restart(ems, m)
        assert_matches_venue(m, timeout=20)
        by_cl = _orders(ems, m)
        assert by_cl[vid]["orderStatus"] == "new" and "adopted" in by_cl[vid]["message"]
        assert by_cl[kept]["orderStatus"] == "new"
        assert by_cl[filled]["orderStatus"] == "filled"
        assert by_cl[filled]["cumulativeFilledQty"] == pytest.approx(2)
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        assert pos["position"] == pytest.approx(position_before + 2)
        # The adopted order is the session's like any other: it can be cancelled.
        ws = m.stream()
        assert m.send(clOrderId=vid, transactionType="delete")[0] == 200
        ws.wait(lambda f: f.get("clOrderId") == vid and f["orderStatus"] == "cancelled")
        ws.close()
        assert_matches_venue(m, timeout=10)
    finally:
        m.send(transactionType="pull")
