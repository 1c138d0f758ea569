"""Reconciliation while ems runs: an order the venue had acknowledged and now has no
record of is settled with a final status that says so, never left working on a guess."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import Market, start_session
from tests.recovery.conftest import Ems


def _fault(m: Market, **spec: Any) -> Any:
    return m.venue("POST", "/sim/fault", json=spec)


def test_an_acknowledged_order_the_venue_no_longer_knows_is_cancelled_with_a_message(
    ems: Ems, sim: dict[str, Any]
):
    m = start_session(ems.api, sim, "binance-spot", f"gap-{uuid.uuid4().hex[:8]}")
    ws = m.stream()
    cl = m.cl()
    bid, _ = m.best()
    try:
        assert m.send(clOrderId=cl, transactionType="insert", side="buy",
                      price=m.price(bid - 300 * m.tick), qty=m.qty)[0] == 200  # fmt: skip
        new = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
        # The venue refuses the cancel as an unknown order and its status queries say the
        # same (as after a venue-side purge): ems asks twice, then settles the order.
        _fault(m, path="/api/v3/order", method="DELETE", count=1, status=400, code=-2011,
               msg="Unknown order sent.")  # fmt: skip
        _fault(m, path="/api/v3/order", method="GET", count=2, status=400, code=-2013,
               msg="Order does not exist.")  # fmt: skip
        assert m.send(clOrderId=cl, transactionType="delete")[0] == 200
        done = ws.wait(
            lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "cancelled", timeout=15
        )
        assert "venue has no record" in done["message"]
        assert done["exchOrderId"] == new["exchOrderId"]
        _, working = ems.api.get("/orders", sessionId=m.session_id)
        assert cl not in {o["clOrderId"] for o in working}
        _, every = ems.api.get("/orders", sessionId=m.session_id, all="true")
        assert next(o for o in every if o["clOrderId"] == cl)["orderStatus"] == "cancelled"
    finally:
        ws.close()
        _fault(m, clear=True)
        # The order the faults hid is still on the simulated venue: take it off.
        m.signed("DELETE", f"{m.api_path}/openOrders", symbol=m.symbol)
