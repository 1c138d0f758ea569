"""Triggers on OKX: the public `trades` channel fires orders through the OKX session."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.harness import Api
from tests.okx.conftest import assert_matches_venue, start_okx_session, status_is


def test_trigger_fires_on_okx_trades_in_the_aggressor_direction(api: Api, sim: dict[str, Any]):
    m = start_okx_session(api, sim, "BTC-USDT-SWAP")
    status, body = api.post(
        "/startTriggerManager",
        {"symbol": m.inst_id, "exchange": "okx", "sessionId": m.session_id},
    )
    assert status == 200, body
    bid, ask = m.best()
    # No market maker: each admin print happens exactly at the price it names.
    m.admin("POST", "/sim/book", json={"instId": m.inst_id, "clear": True})
    try:
        ws = m.stream()
        far = m.price(bid - 300 * m.tick)
        level = m.price(ask + 50 * m.tick)
        up, down = m.cl(), m.cl()

        def order(cl: str) -> dict[str, Any]:
            return m.order(clOrderId=cl, transactionType="insert", side="buy", price=far, qty=1)

        for trigger_id, direction, price, cl in (
            ("okx-up", "up", level, up),
            ("okx-down", "down", m.price(bid - 50 * m.tick), down),
        ):
            status, body = api.post(
                "/setTrigger",
                {"id": trigger_id, "price": price, "symbol": m.inst_id, "direction": direction,
                 "exchange": "okx", "orders": [order(cl)]},
            )  # fmt: skip
            assert status == 200, body
        # A sell print at the up level does not fire the up trigger; a buy print does.
        m.trade("sell", level, 1)
        m.trade("buy", m.price(Decimal(str(level)) + m.tick), 1)
        fired = ws.wait(status_is(up, "new"), timeout=10)
        assert fired["triggerId"] == "okx-up"
        assert not [f for f in ws.frames if f.get("clOrderId") == down]
        assert_matches_venue(m)
        ws.close()
    finally:
        api.post(
            "/stopTriggerManager",
            {"symbol": m.inst_id, "exchange": "okx", "sessionId": m.session_id},
        )
        m.send(transactionType="pull")
        m.admin("POST", "/sim/book", json={"instId": m.inst_id, "mid": float((bid + ask) / 2)})
