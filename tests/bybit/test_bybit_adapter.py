"""The Bybit adapter in process against the simulator: what the engine's restart path
and reconciliation read from it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
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


def test_a_position_list_answered_after_a_fill_push_does_not_undo_the_fill(sim: dict[str, Any]):
    """A `position/list` the venue made before a fill but that arrives after the fill's
    push is older than the push: the session keeps the pushed position, both in what it
    reports and in what `positions()` returns (the engine's reconciliation reads that),
    at start as later. A position closed since the last list is flat, not left out."""
    venue = venue_for(sim, "bybit-linear", 2)
    symbol = "ETHUSDT"

    def market(side: str, qty: str) -> None:
        reply = venue.signed(
            "POST",
            "/v5/order/create",
            {
                "category": "linear",
                "symbol": symbol,
                "side": side,
                "orderType": "Market",
                "qty": qty,
                "orderLinkId": f"led-{uuid.uuid4().hex[:10]}",
            },
        )
        assert reply["retCode"] == 0, reply

    def venue_position() -> float:
        rows = venue.signed("GET", "/v5/position/list", {"category": "linear", "symbol": symbol})[
            "result"
        ]["list"]
        return sum(float(r["size"]) * (-1 if r["side"] == "Sell" else 1) for r in rows)

    async def until(check: Any) -> None:
        for _ in range(200):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("timed out")

    async def run() -> None:
        listener = _Listener()
        session = BybitSession(
            PRODUCTS["bybit-linear"],
            venue.key,
            venue.secret,
            venue.rest_url,
            venue.ws_url,
            listener,
        )
        # As the session starts, its first list is made, then a fill, then the list
        # arrives: the fill's push must be seen (the stream is up before the list).
        venue.fault(path="/v5/position/list", delayMs=600, late=True, apiKey=venue.key)
        starting = asyncio.ensure_future(session.start())
        await until(lambda: not venue.admin("GET", "/sim/fault")["armed"])
        market("Buy", "0.05")
        await starting
        try:
            before = venue_position()
            await until(lambda: listener.positions.get(symbol) == pytest.approx(before))
            # The list is made now and answered 600 ms later; the fill lands in between.
            venue.fault(path="/v5/position/list", delayMs=600, late=True, apiKey=venue.key)
            reading = asyncio.ensure_future(session.positions())
            await asyncio.sleep(0.15)
            market("Buy", "0.1")
            after = before + 0.1
            assert venue_position() == pytest.approx(after)
            await until(lambda: listener.positions.get(symbol) == pytest.approx(after))
            listed = await reading
            assert listed[symbol] == pytest.approx(after)
            assert listener.positions[symbol] == pytest.approx(after)
            # Flat: the venue lists open positions only; a held one missing is zero.
            market("Sell", str(round(after, 2)))
            await until(lambda: listener.positions.get(symbol) == pytest.approx(0.0))
            assert (await session.positions())[symbol] == 0.0
        finally:
            await session.stop()

    asyncio.run(run())
