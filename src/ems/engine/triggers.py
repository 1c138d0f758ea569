"""The trigger manager: groups of orders sent the instant a price level trades.

One manager per (exchange, symbol) listens to that symbol's public trades through the
session it was started with. A trigger fires once, on the first trade whose aggressor
matches its direction and whose price reaches its level: `up` on a buy-aggressor trade
at or above the level, `down` on a sell-aggressor trade at or below it. A trade that
crosses several levels fires them all, in the order the price crosses them.

Everything here runs on the event loop thread: a clear that has been acknowledged has
already removed the trigger from the index, so no order can go out for it afterwards.

A trigger's orders go out before its removal is journaled, so a crash can leave a fired
trigger in the journal. Its orders' venue client ids are journaled when it is set, and a
restart keeps them: if the venue has an order under one of them, the trigger fired; it
is reported so and not armed again (its orders are adopted, with their clOrderId and
triggerId). Only a trigger none of whose orders the venue knows is armed again.
"""

from __future__ import annotations

import enum
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ems._core import BUY, DOWN, UP, OffGridError, Trade, TradeScanner, TriggerIndex
from ems.engine.engine import Engine
from ems.engine.session import OrderSession, Prepared, SendOrder
from ems.errors import ApiError, VenueError, VenueUnknownOutcome
from ems.model import now_ns
from ems.venues.base import Instrument
from ems.venues.feed import Feed

log = logging.getLogger("ems.triggers")


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(slots=True)
class TriggerOrder:
    """One order of a trigger; inserts are validated when the trigger is set."""

    session: OrderSession
    request: SendOrder
    prepared: Prepared | None = None


@dataclass(slots=True)
class Trigger:
    trigger_id: str
    number: int
    price: int
    direction: Direction
    orders: list[TriggerOrder]
    raw_orders: list[Any]
    """The orders as the client sent them (journaled, re-read on restart)."""


class TriggerManager:
    """Triggers of one (exchange, symbol)."""

    def __init__(self, engine: Engine, session: OrderSession, instrument: Instrument) -> None:
        self.engine = engine
        self.session = session
        self.exchange = session.exchange
        self.symbol = instrument.symbol
        self.instrument = instrument
        self.index = TriggerIndex()
        self.triggers: dict[str, Trigger] = {}
        self._by_number: dict[int, Trigger] = {}
        self._numbers = itertools.count(1)
        self.feed: Feed = session.venue.trade_feed(instrument.symbol, self.on_trade)
        self.last_trade_ns = 0
        self.fired = 0
        self._tick_to_order = engine.metrics.tick_to_order.labels(self.exchange)
        self._key = (self.exchange, self.symbol)
        self._scan = TradeScanner(
            instrument.price_grid.step, instrument.qty_grid.step
        ).binance_trade
        self._price_value = instrument.price_grid.value
        self.ready = False
        """True once the trade stream is open; until then the manager takes no triggers."""

    async def start(self) -> None:
        await self.feed.start()
        self.ready = True
        self.engine.warmers.append(self.warm)

    def warm(self) -> bool:
        """Exercises the trade-to-order path without acting: parse the latest frame,
        look it up in the index, render the nearest trigger's first order (or sign a
        dummy one). False, doing nothing, while no trigger is armed."""
        if not self.triggers:
            return False
        frame = self.feed.last_frame
        if frame:
            try:
                trade = self._scan(frame)
                self.index.would_fire(trade.price, trade.aggressor_side)
            except ValueError:
                pass  # another venue's frame format: only the signing below is rehearsed
        for trigger in self.triggers.values():
            prepared = trigger.orders[0].prepared if trigger.orders else None
            if prepared is not None and prepared.armed is not None:
                prepared.armed.render()
                return True
        self.session.venue.warm()
        return True

    async def stop(self) -> None:
        self.clear_all()
        if self.warm in self.engine.warmers:
            self.engine.warmers.remove(self.warm)
        await self.feed.stop()

    def set(
        self,
        trigger_id: str,
        price: float,
        direction: Direction,
        orders: list[TriggerOrder],
        raw_orders: list[Any] | None = None,
    ) -> Trigger:
        if trigger_id in self.triggers:
            raise ApiError(f"trigger {trigger_id!r} already exists", "id", 409)
        try:
            level = self.instrument.price_grid.units(price)
        except OffGridError:
            raise ApiError(
                f"price {price} is not a multiple of tick size {self.instrument.price_grid.step}",
                "price",
            ) from None
        if level <= 0:
            raise ApiError("price must be positive", "price")
        trigger = Trigger(
            trigger_id, next(self._numbers), level, direction, orders, raw_orders or []
        )
        self.index.arm(
            trigger.number,
            UP if direction == Direction.UP else DOWN,
            level,
            [
                (item.prepared.armed, item.prepared.fire)
                if item.prepared is not None
                and item.prepared.armed is not None
                and item.prepared.fire is not None
                else None
                for item in orders
            ],
        )
        self.triggers[trigger_id] = trigger
        self._by_number[trigger.number] = trigger
        self.engine.rehearse_soon()
        self._journal(
            trigger_id,
            {
                "id": trigger_id,
                "price": price,
                "direction": direction.value,
                "orders": trigger.raw_orders,
                "venueIds": [
                    item.prepared.order.venue_client_id if item.prepared is not None else None
                    for item in orders
                ],
            },
        )
        return trigger

    def _journal(self, trigger_id: str, body: Any | None) -> None:
        journal = self.engine.journal
        if journal is not None:
            journal.strategy("trigger", f"{self.exchange}|{self.symbol}|{trigger_id}", body)

    def clear(self, trigger_id: str) -> None:
        trigger = self.triggers.pop(trigger_id, None)
        if trigger is None:
            raise ApiError(
                f"unknown trigger {trigger_id!r} on {self.exchange} {self.symbol}", "id", 404
            )
        self.index.remove(trigger.number)
        del self._by_number[trigger.number]
        self._journal(trigger_id, None)

    def clear_all(self) -> int:
        count = len(self.triggers)
        for trigger in self.triggers.values():
            self.index.remove(trigger.number)
            self._journal(trigger.trigger_id, None)
        self.triggers.clear()
        self._by_number.clear()
        return count

    def on_trade(self, trade: Trade) -> None:
        """The hot path: one public trade in, every fired trigger's orders out."""
        # Armed orders (templates in the core) are rendered and sent by the index itself,
        # before it returns; what comes back per order is True (sent), the exception its
        # send raised, or what is left for Python to send, in the trigger's sequence.
        fired = self.index.on_trade(trade.price, trade.aggressor_side)
        if fired is not None:
            for number, results in fired:
                trigger = self._by_number.pop(number)
                del self.triggers[trigger.trigger_id]
                for item, result in zip(trigger.orders, results, strict=True):
                    if result is True:
                        continue
                    try:
                        if isinstance(result, BaseException):
                            raise result
                        if item.prepared is not None:
                            item.session.send_prepared(item.prepared, result)
                        else:
                            item.session.send(item.request)
                    except ApiError as exc:
                        item.session.publish_rejection(item.request, exc)
                    except Exception:
                        log.exception("trigger %s: order not sent", trigger.trigger_id)
                self.fired += 1
                self._journal(trigger.trigger_id, None)
                log.debug(
                    "trigger %s fired at %d (%s)",
                    trigger.trigger_id,
                    trade.price,
                    "buy" if trade.aggressor_side == BUY else "sell",
                )
            self._tick_to_order.observe((time.perf_counter_ns() - self.feed.frame_ns) / 1e9)
        self.last_trade_ns = now_ns()
        self.engine.last_price[self._key] = self._price_value(trade.price)


def _journaled_orders(t: dict[str, Any]) -> list[tuple[Any, str]]:
    """A journaled trigger's insert orders that have a venue client id, with that id."""
    vids = t.get("venueIds") or []
    raws = t.get("orders") or []
    return [
        (raw, vid)
        for raw, vid in zip(raws, vids, strict=False)
        if vid and isinstance(raw, dict) and isinstance(raw.get("clOrderId"), str)
    ]


class TriggerManagers:
    """Every trigger manager of the server, by (exchange, symbol)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.managers: dict[tuple[str, str], TriggerManager] = {}
        self.build_orders: Callable[[str, str, Any], list[TriggerOrder]] | None = None
        """Turns journaled order JSON back into trigger orders (set by the API layer)."""
        engine.on_restoring.append(self._expect)
        engine.on_recovered.append(self._restore)
        self._waiting: list[tuple[TriggerManager, dict[str, Any]]] = []
        """Journaled triggers whose orders name a session that has not recovered yet."""

    def get(self, exchange: str | None, symbol: str | None) -> TriggerManager:
        if not exchange:
            raise ApiError("exchange is required", "exchange")
        if not symbol:
            raise ApiError("symbol is required", "symbol")
        manager = self.managers.get((exchange, symbol))
        if manager is None:
            raise ApiError(f"no trigger manager for {exchange} {symbol}", "symbol", 404)
        if not manager.ready:
            # A trigger taken now would be lost with the manager if its stream never opens.
            raise ApiError(
                f"the trigger manager for {exchange} {symbol} is still opening its trade stream",
                "symbol",
                409,
            )
        return manager

    async def start(self, session_id: str, exchange: str, symbol: str) -> TriggerManager:
        session = self.engine.session(session_id)
        if session.exchange != exchange:
            raise ApiError(f"session {session_id} trades {session.exchange}", "exchange")
        instrument = session.venue.instruments.get(symbol)
        if instrument is None:
            raise ApiError(f"unknown symbol {symbol!r} on {exchange}", "symbol")
        key = (exchange, symbol)
        if key in self.managers:
            raise ApiError(f"a trigger manager for {exchange} {symbol} is running", "symbol", 409)
        manager = TriggerManager(self.engine, session, instrument)
        self.managers[key] = manager
        try:
            await manager.start()
        except Exception as exc:
            self.managers.pop(key, None)
            raise ApiError(f"cannot open the trade stream: {exc}", "sessionId", 502) from None
        if self.engine.journal is not None:
            self.engine.journal.strategy(
                "triggermanager", f"{exchange}|{symbol}", {"sessionId": session_id}
            )
        return manager

    def _expect(self, session: OrderSession) -> None:
        """Names, before `session` is reconciled, the journaled triggers' orders on it: an
        order found on the venue under one of their ids is adopted as the trigger's."""
        journal = self.engine.journal
        if journal is None:
            return
        for _, t in journal.strategies("trigger"):
            for raw, vid in _journaled_orders(t):
                if raw.get("sessionId") == session.session_id:
                    session.expect(vid, raw["clOrderId"], t["id"], raw.get("symbol") or "")

    async def _restore(self, session: OrderSession) -> None:
        """Brings back the managers (and their triggers) that ran on a recovered session."""
        journal = self.engine.journal
        if journal is None:
            return
        triggers = journal.strategies("trigger")
        waiting, self._waiting = self._waiting, []
        for key, body in journal.strategies("triggermanager"):
            if body.get("sessionId") != session.session_id:
                continue
            exchange, _, symbol = key.partition("|")
            manager = self.managers.get((exchange, symbol)) or await self.start(
                session.session_id, exchange, symbol
            )
            fired = 0
            for tkey, t in triggers:
                if not tkey.startswith(f"{key}|") or t["id"] in manager.triggers:
                    continue
                fired += await self._try_restore(manager, t)
            log.warning(
                "trigger manager %s restored with %d triggers; %d had fired before the restart",
                key,
                len(manager.triggers),
                fired,
            )
        # Triggers that waited for a session to come back: this one may be it.
        for manager, t in waiting:
            if t["id"] not in manager.triggers and manager is self.managers.get(manager._key):
                await self._try_restore(manager, t)

    async def _try_restore(self, manager: TriggerManager, t: dict[str, Any]) -> int:
        """Restores one trigger (1 if it had fired before the restart, else 0); one whose
        orders name a session not recovered yet waits for that session."""
        try:
            return int(await self._restore_one(manager, t))
        except ApiError as exc:
            if exc.status == 404 and (exc.field or "").endswith("sessionId"):
                log.warning(
                    "trigger %s waits for the recovery of a session it trades through (%s)",
                    t["id"],
                    exc.message,
                )
                self._waiting.append((manager, t))
            else:
                log.error("trigger %s not restored: %s (%s)", t["id"], exc.message, exc.field)
            return 0

    async def _restore_one(self, manager: TriggerManager, t: dict[str, Any]) -> bool:
        """Arms a journaled trigger again, unless the venue shows it fired; True if it did."""
        journaled = _journaled_orders(t)
        if self._fired(manager, t, journaled):
            return True
        assert self.build_orders is not None
        orders = self.build_orders(manager.exchange, t["id"], t["orders"])
        vids = t.get("venueIds") or []
        for i, item in enumerate(orders):
            vid = vids[i] if i < len(vids) else None
            if item.prepared is not None and vid:
                item.prepared = item.session.prepare(item.request, vid)
        for item in orders:
            if item.prepared is None or item.prepared.order.venue_client_id not in vids:
                continue
            try:
                found = await item.session.find(item.prepared.order)
            except (VenueError, VenueUnknownOutcome) as exc:
                # Arming a trigger that may have fired could send its orders twice.
                raise ApiError(
                    f"cannot ask the venue whether it fired: {exc}", "venueIds", 502
                ) from None
            if found is not None:
                return self._fired(manager, t, journaled)
        manager.set(t["id"], t["price"], Direction(t["direction"]), orders, t["orders"])
        return False

    def _fired(
        self, manager: TriggerManager, t: dict[str, Any], journaled: list[tuple[Any, str]]
    ) -> bool:
        """Whether a session knows one of the trigger's orders (it fired before the crash);
        if so the trigger is reported fired and forgotten."""
        for raw, vid in journaled:
            session = self.engine.sessions.get(raw.get("sessionId"))
            if session is not None and session.known(vid) is not None:
                log.warning(
                    "trigger %s fired before the restart (order %s is on the venue); "
                    "not armed again",
                    t["id"],
                    vid,
                )
                manager.fired += 1
                manager._journal(t["id"], None)
                return True
        return False

    async def stop(self, exchange: str, symbol: str, session_id: str | None) -> int:
        manager = self.get(exchange, symbol)
        if session_id and session_id != manager.session.session_id:
            raise ApiError(
                f"the {exchange} {symbol} manager runs on session {manager.session.session_id}",
                "sessionId",
            )
        del self.managers[(exchange, symbol)]
        count = len(manager.triggers)
        await manager.stop()
        if self.engine.journal is not None:
            self.engine.journal.strategy("triggermanager", f"{exchange}|{symbol}", None)
        return count

    async def close(self) -> None:
        for manager in list(self.managers.values()):
            await manager.stop()
        self.managers.clear()
