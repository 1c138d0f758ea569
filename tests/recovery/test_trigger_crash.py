"""A trigger that fired just before a crash does not fire again after the restart.

The trigger's orders go out before its removal reaches the journal. The test widens that
window on purpose (the journal waits 3 s before each commit) and kills ems with SIGKILL
right after the venue has the order, so the journal still holds the trigger and not the
order: exactly the state a crash at the worst moment leaves.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from tests.e2e.conftest import Market, start_session
from tests.recovery.conftest import Ems, lagging_ems

COMMIT_DELAY_MS = 3000


def _trigger_rows(ems: Ems, trigger_id: str) -> list[dict[str, Any]]:
    rows = ems.journal_rows("SELECT body FROM strategies WHERE kind='trigger'")
    return [b for b in (orjson.loads(r[0]) for r in rows) if b["id"] == trigger_id]


def _venue_orders(m: Market) -> list[dict[str, Any]]:
    return list(m.signed("GET", "/api/v3/allOrders", symbol=m.symbol, limit=1000))


def _set_trigger(ems: Ems, m: Market, trigger_id: str, level: float, order: Any) -> int:
    code, _ = ems.api.post(
        "/setTrigger",
        {
            "id": trigger_id,
            "price": level,
            "symbol": m.symbol,
            "direction": "up",
            "exchange": m.exchange,
            "orders": [order],
        },
    )
    return code


def test_a_trigger_that_fired_before_a_crash_is_not_armed_again(
    tmp_path: Path, logs_dir: Path, sim: dict[str, Any]
):
    ems = lagging_ems(tmp_path, logs_dir, COMMIT_DELAY_MS)
    try:
        m = start_session(ems.api, sim, "binance-spot", f"trig-{uuid.uuid4().hex[:8]}")
        bid, ask = m.best()
        level = m.price((bid + ask) / 2 + 20 * m.tick)
        once_price = m.price(bid - 310 * m.tick)
        code, body = ems.api.post(
            "/startTriggerManager",
            {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id},
        )
        assert code == 200, body
        cl = m.cl()
        order = m.order(
            clOrderId=cl, transactionType="insert", side="buy", price=once_price, qty=0.001
        )
        assert _set_trigger(ems, m, "once", level, order) == 200
        # The trigger, with the venue client id its order will use, reaches the disk.
        deadline = time.monotonic() + COMMIT_DELAY_MS / 1000 + 10
        while not _trigger_rows(ems, "once"):
            assert time.monotonic() < deadline, "the trigger was never journaled"
            time.sleep(0.05)
        [journaled] = _trigger_rows(ems, "once")
        [vid] = journaled["venueIds"]
        assert vid.startswith(m.prefixes())

        # Fire it; kill ems the moment the venue has the order.
        deadline = time.monotonic() + 10
        fired_at = 0.0
        while not fired_at:
            m.trade("buy", level, 0.001)
            until = time.monotonic() + 0.5
            while time.monotonic() < until:
                if any(o["clientOrderId"] == vid for o in _venue_orders(m)):
                    fired_at = time.monotonic()
                    break
            assert time.monotonic() < deadline, "the trigger never fired"
        ems.kill9()
        assert time.monotonic() - fired_at < COMMIT_DELAY_MS / 1000 / 2
        # The crash window was hit: the journal still has the trigger, not its order.
        assert _trigger_rows(ems, "once"), "the trigger's removal was committed before the kill"
        assert ems.journal_rows("SELECT * FROM orders WHERE cl_order_id=?", (cl,)) == []

        ems.start()
        m.api = ems.api
        ems.wait_session(m.session_id)
        # The order is adopted as the trigger's, under the client's clOrderId.
        deadline = time.monotonic() + 20
        while True:
            _, ours = ems.api.get("/orders", sessionId=m.session_id, all="true")
            mine = [o for o in ours if o["clOrderId"] == cl]
            if mine:
                break
            assert time.monotonic() < deadline, ours
            time.sleep(0.1)
        assert mine[0]["triggerId"] == "once" and mine[0]["orderStatus"] == "new"
        # A client that subscribes now hears the correction.
        ws = m.stream()
        adopted = ws.wait(lambda f: f.get("clOrderId") == cl, timeout=5)
        assert adopted["triggerId"] == "once" and "adopted" in adopted["message"]

        # The manager is back and trades reach it: a probe trigger at the same level
        # fires on the next trade; the crashed trigger must not fire with it.
        probe_cl = m.cl()
        probe = m.order(
            clOrderId=probe_cl,
            transactionType="insert",
            side="buy",
            price=m.price(bid - 320 * m.tick),
            qty=0.002,
        )
        deadline = time.monotonic() + 20
        while _set_trigger(ems, m, "probe", level, probe) == 404:  # manager not restored yet
            assert time.monotonic() < deadline, "the trigger manager did not come back"
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while True:
            m.trade("buy", level, 0.001)
            try:
                ws.wait(lambda f: f.get("clOrderId") == probe_cl, timeout=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the probe trigger never fired"
        for _ in range(3):
            m.trade("buy", level, 0.001)
        time.sleep(0.5)
        venue = [o for o in _venue_orders(m) if o["clientOrderId"].startswith(m.prefixes())]
        at_once_price = [o for o in venue if Decimal(o["price"]) == Decimal(str(once_price))]
        assert len(at_once_price) == 1, at_once_price
        assert at_once_price[0]["clientOrderId"] == vid
        _, ours = ems.api.get("/orders", sessionId=m.session_id, all="true")
        assert [o["clOrderId"] for o in ours if o["triggerId"] == "once"] == [cl]
        ws.close()
        m.send(transactionType="pull")
    finally:
        ems.stop()
