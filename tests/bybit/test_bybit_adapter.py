"""The Bybit adapter in process against the simulator: what the engine's restart path
and reconciliation read from it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from tests.bybit.conftest import venue_for

from ems.model import OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport
from ems.venues.bybit.products import PRODUCTS
from ems.venues.bybit.session import BybitSession


class _Listener:
    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []
        self.positions: dict[str, float] = {}

    def on_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)

    def on_venue_position(self, symbol: str, position: float) -> None:
        self.positions[symbol] = position

    def on_stream_state(self, connected: bool, reason: str) -> None: ...


def test_recent_orders_list_open_and_recently_finished_orders(sim: dict[str, Any]):
    venue = venue_for(sim, "bybit-spot", 2)
    resting, finished = (f"rec-{uuid.uuid4().hex[:8]}" for _ in range(2))
    since = int(time.time() * 1000) - 1000
    base = {
        "category": "spot",
        "symbol": "ETHUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
    }
    venue.signed(
        "POST",
        "/v5/order/create",
        {**base, "price": "1500", "timeInForce": "PostOnly", "orderLinkId": resting},
    )
    venue.signed(
        "POST",
        "/v5/order/create",
        {**base, "price": "1501", "timeInForce": "IOC", "orderLinkId": finished},
    )

    async def run() -> list[ExecutionReport]:
        session = BybitSession(
            PRODUCTS["bybit-spot"],
            venue.key,
            venue.secret,
            venue.rest_url,
            venue.ws_url,
            _Listener(),
        )
        await session.start()
        try:
            return await session.recent_orders({"ETHUSDT"}, since)
        finally:
            await session.stop()

    found = {r.venue_client_id: r for r in asyncio.run(run())}
    assert found[resting].status == OrderStatus.NEW
    assert found[resting].order_type == OrderType.POSTONLY
    assert found[resting].tif == TimeInForce.GTC and found[resting].side == Side.BUY
    assert found[resting].price == "1500.00" and found[resting].qty == "0.01000"
    assert found[finished].status == OrderStatus.EXPIRED
    assert found[finished].message == "EC_NoImmediateQtyToFill"
    venue.signed("POST", "/v5/order/cancel-all", {"category": "spot", "symbol": "ETHUSDT"})
