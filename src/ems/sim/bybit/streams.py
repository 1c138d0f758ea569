"""Fan-out of the simulated Bybit's WebSocket pushes.

Public topics are keyed by category and topic name (spot and linear both have
``publicTrade.BTCUSDT``).  Private pushes are published once per account as
``(kind, category, data)`` and rendered by each subscriber under the topic name it
subscribed with (``order`` or ``order.linear``).  Account event faults (armed through
the admin API) act on the next ``count`` private pushes: ``drop`` loses them,
``duplicate`` delivers them twice, ``reorder`` holds one back until the next.

``OrderbookTopic`` keeps, per ``orderbook.{depth}.{symbol}``, the top levels last
published and the update id ``u``, which grows by exactly one per pushed message, so
that a snapshot sent to a new subscriber is consistent with the deltas that follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

PublicSink = Callable[[bytes], None]
PrivateSink = Callable[[str, str, list[dict[str, Any]]], None]
"""Receives ``(kind, category, data items)``; renders and queues the push itself."""


class PublicHub:
    """Subscribers per (category, topic)."""

    def __init__(self) -> None:
        """No subscribers yet."""
        self._subs: dict[tuple[str, str], list[PublicSink]] = {}

    def subscribe(self, category: str, topic: str, sink: PublicSink) -> None:
        """Adds a subscriber."""
        self._subs.setdefault((category, topic), []).append(sink)

    def unsubscribe(self, category: str, topic: str, sink: PublicSink) -> None:
        """Removes a subscriber (no error if absent)."""
        subs = self._subs.get((category, topic))
        if subs and sink in subs:
            subs.remove(sink)
            if not subs:
                del self._subs[(category, topic)]

    def wanted(self, category: str, topic: str) -> bool:
        """Whether anyone listens (so the push is worth encoding)."""
        return (category, topic) in self._subs

    def publish(self, category: str, topic: str, message: dict[str, Any]) -> None:
        """Encodes once and hands the bytes to every subscriber."""
        subs = self._subs.get((category, topic))
        if not subs:
            return
        data = orjson.dumps(message)
        for sink in list(subs):
            sink(data)


class PrivateHub:
    """Subscribers per account, with the admin API's event faults."""

    def __init__(self) -> None:
        """No subscribers and no faults."""
        self._subs: dict[str, list[PrivateSink]] = {}
        self._faults: dict[str, list[Any]] = {}
        self._held: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}

    def subscribe(self, account: str, sink: PrivateSink) -> None:
        """Adds a sink for an account's pushes."""
        self._subs.setdefault(account, []).append(sink)

    def unsubscribe(self, account: str, sink: PrivateSink) -> None:
        """Removes a sink (no error if absent)."""
        subs = self._subs.get(account)
        if subs and sink in subs:
            subs.remove(sink)

    def arm(self, account: str, mode: str, count: int) -> None:
        """Arms ``drop``, ``duplicate`` or ``reorder`` for the next ``count`` pushes."""
        if mode not in ("drop", "duplicate", "reorder") or count < 1:
            raise ValueError("userEvents must be drop, duplicate or reorder, count >= 1")
        self._faults[account] = [mode, count]

    def clear_faults(self) -> None:
        """Disarms every fault and delivers what was held back."""
        self._faults.clear()
        held, self._held = self._held, {}
        for account, push in held.items():
            self._deliver(account, push)

    def _deliver(self, account: str, push: tuple[str, str, list[dict[str, Any]]]) -> None:
        for sink in list(self._subs.get(account, ())):
            sink(*push)

    def publish(self, account: str, kind: str, category: str, data: list[dict[str, Any]]) -> None:
        """Hands one push to every sink of the account (faults permitting)."""
        push = (kind, category, data)
        fault = self._faults.get(account)
        if fault is not None and not (fault[0] == "reorder" and account in self._held):
            fault[1] -= 1
            if fault[1] <= 0:
                del self._faults[account]
            if fault[0] == "drop":
                return
            if fault[0] == "reorder":
                self._held[account] = push
                return
            self._deliver(account, push)  # duplicate: once here, once below
        self._deliver(account, push)
        held = self._held.pop(account, None)
        if held is not None:
            self._deliver(account, held)


@dataclass(slots=True)
class OrderbookTopic:
    """What ``orderbook.{depth}.{symbol}`` last published."""

    depth: int
    u: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    started: bool = False

    def advance(
        self, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]] | None:
        """Moves to the book's current top levels; returns the changed levels (size 0
        for a level that left the top), or None when nothing changed."""
        new_bids, new_asks = dict(bids), dict(asks)
        changed_b = _diff(self.bids, new_bids)
        changed_a = _diff(self.asks, new_asks)
        if self.started and not changed_b and not changed_a:
            return None
        self.bids, self.asks = new_bids, new_asks
        self.u += 1
        self.started = True
        return (
            sorted(changed_b, key=lambda lv: lv[0], reverse=True),
            sorted(changed_a, key=lambda lv: lv[0]),
        )


def _diff(
    old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]
) -> list[tuple[Decimal, Decimal]]:
    out = [(price, qty) for price, qty in new.items() if old.get(price) != qty]
    out.extend((price, Decimal(0)) for price in old if price not in new)
    return out
