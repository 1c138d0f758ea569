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


def test_orders_of_one_turn_after_the_first_go_out_as_batches_of_the_venue_size():
    """The first request of a loop turn is written at once and alone; the next ones of
    the same turn go at the end of it, in batches of at most `batch_max`; each caller
    gets its own item's result or the venue's refusal of that item."""
    from ems.errors import VenueError
    from ems.venues.bybit.batching import Batcher

    written: list[tuple[str, list[str]]] = []

    async def one(args: dict[str, Any]) -> dict[str, Any]:
        return {"result": {"orderLinkId": args["orderLinkId"]}, "retExtInfo": {}}

    async def many(items: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [{"orderLinkId": i["orderLinkId"], "orderId": "x"} for i in items]
        codes = [
            {"code": 110007, "msg": "Available balance is insufficient"}
            if i["orderLinkId"] == "o7"
            else {"code": 0, "msg": "OK"}
            for i in items
        ]
        return {"result": {"list": rows}, "retExtInfo": {"list": codes}}

    def record_one(args: dict[str, Any]) -> Any:
        written.append(("one", [args["orderLinkId"]]))
        return one(args)

    def record_many(items: list[dict[str, Any]]) -> Any:
        written.append(("batch", [i["orderLinkId"] for i in items]))
        return many(items)

    async def run() -> list[Any]:
        tasks: set[asyncio.Task[Any]] = set()

        def spawn(coro: Any) -> None:
            task = asyncio.get_running_loop().create_task(coro)
            tasks.add(task)

        batcher = Batcher("/v5/order/create-batch", record_one, record_many, 10, spawn)
        sent = [batcher.submit({"orderLinkId": f"o{i}"}) for i in range(12)]
        # Only the first is written before the turn ends.
        assert written == [("one", ["o0"])]
        results = await asyncio.gather(*sent, return_exceptions=True)
        # A later turn starts afresh: its first request goes alone again.
        alone = await batcher.submit({"orderLinkId": "late"})
        return [*results, alone]

    results = asyncio.run(run())
    assert written == [
        ("one", ["o0"]),
        ("batch", [f"o{i}" for i in range(1, 11)]),
        ("one", ["o11"]),  # a batch of one goes as the single request
        ("one", ["late"]),
    ]
    refused = results[7]
    assert isinstance(refused, VenueError) and refused.code == 110007
    assert str(refused) == "110007 Available balance is insufficient"
    ok = [r for i, r in enumerate(results) if i != 7]
    assert [r["result"]["orderLinkId"] for r in ok] == [
        *(f"o{i}" for i in range(12) if i != 7),
        "late",
    ]
