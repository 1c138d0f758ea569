"""Reconciliation lists a busy instrument whole: OKX's order history answers a page at a
time, newest first, and ems pages back to where it has to look from."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest
from tests.okx.conftest import INSTRUMENTS, OkxMarket

from ems.venues import registry
from ems.venues.base import ExecutionReport
from ems.venues.okx import session as okx_session

BUSY = 11
PAGE = 4


class _Listener:
    def on_report(self, report: ExecutionReport) -> None: ...

    def on_venue_position(self, symbol: str, position: float) -> None: ...

    def on_stream_state(self, connected: bool, reason: str) -> None: ...


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

    async def run() -> list[ExecutionReport]:
        params = registry.VenueParams(
            exchange="okx", api_key=account["apiKey"], secret=account["secretKey"],
            passphrase=account["passphrase"], rest_url=urls["restUrl"], ws_url=urls["wsUrl"],
            local_address=None, testnet=False, use_margin=False,
        )  # fmt: skip
        venue = registry.create_venue(params, _Listener())  # type: ignore[arg-type]
        await venue.start()
        try:
            return await venue.recent_orders({inst_id}, since)
        finally:
            await venue.stop()

    found = {r.venue_client_id: r for r in asyncio.run(run())}
    assert set(placed) <= found.keys()
    assert all(found[cid].status.value in ("cancelled", "expired") for cid in placed)
