"""Reconciliation lists a busy instrument whole: OKX's order history answers a page at a
time, newest first, and ems pages back to where it has to look from."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
from tests.harness import venue_recent_orders
from tests.okx.conftest import INSTRUMENTS, OkxMarket

from ems.venues.okx import session as okx_session

BUSY = 11
PAGE = 4


def test_recent_orders_page_through_a_history_longer_than_one_answer(
    sim: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(okx_session, "PAGE_SIZE", PAGE)
    inst_id = "BTC-USDT"
    _, qty, tick, lot = INSTRUMENTS[inst_id]
    account = sim["accounts"][2]
    urls = sim["okx"]
    m = OkxMarket(inst_id, qty, tick, lot, urls["restUrl"], account, None, "")  # type: ignore[arg-type]
    bid, _ = m.best()
    since = int(time.time() * 1000) - 1000
    placed = [f"busy{uuid.uuid4().hex[:8]}{i}" for i in range(BUSY)]
    for cid in placed:
        # Far below the bid and immediate-or-cancel: each order ends at once.
        body = {"instId": inst_id, "tdMode": "cash", "side": "buy", "ordType": "ioc",
                "px": str(bid - 50 * tick), "sz": str(qty), "clOrdId": cid}  # fmt: skip
        reply = m.signed("POST", "/api/v5/trade/order", orjson.dumps(body))
        assert reply["code"] == "0", reply
    # One answer holds only PAGE of them.
    first = m.signed("GET", f"/api/v5/trade/orders-history?instType=SPOT&limit={PAGE}")
    assert len(first["data"]) == PAGE

    reports = venue_recent_orders("okx", account, urls, {inst_id}, since)
    found = {r.venue_client_id: r for r in reports}
    assert set(placed) <= found.keys()
    assert all(found[cid].status.value in ("cancelled", "expired") for cid in placed)
