"""Fan-out of Binance market-data and user-data events to WebSocket subscribers.

Market streams are keyed by their lower-case Binance name (``btcusdt@trade``); every
payload is encoded once and handed to each subscriber, which wraps it for a combined
stream if it needs to.  Diff-depth streams are built from the book's numbered level
changes: each interval (``@depth`` = 1000 ms on spot and 250 ms on futures,
``@depth@100ms`` ...) keeps its own accumulator, so an event's ``U`` is always the
previous event's ``u`` + 1 and futures events carry ``pu`` = the previous ``u``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ems.sim.matching import Side

StreamSink = Callable[[str, bytes], None]
"""Receives ``(stream name, encoded payload)``."""

UserSink = Callable[[dict[str, Any]], None]
"""Receives one user-data event object."""


class MarketHub:
    """Subscribers per market stream name."""

    def __init__(self) -> None:
        """Creates a hub with no subscribers."""
        self._subs: dict[str, set[StreamSink]] = {}

    def subscribe(self, stream: str, sink: StreamSink) -> None:
        """Adds a subscriber to one stream."""
        self._subs.setdefault(stream, set()).add(sink)

    def unsubscribe(self, stream: str, sink: StreamSink) -> None:
        """Removes a subscriber from one stream."""
        subs = self._subs.get(stream)
        if subs is not None:
            subs.discard(sink)
            if not subs:
                del self._subs[stream]

    def wanted(self, stream: str) -> bool:
        """Whether anyone listens to a stream (so the payload is worth encoding)."""
        return stream in self._subs

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Encodes a payload once and hands it to every subscriber of the stream."""
        subs = self._subs.get(stream)
        if not subs:
            return
        data = orjson.dumps(payload)
        for sink in list(subs):
            sink(stream, data)


class UserHub:
    """Subscribers to one account's user-data events, keyed by API key.

    Event faults (armed through the admin API) act on the next ``count`` events of an
    account: ``drop`` loses them, ``duplicate`` delivers them twice, ``reorder`` holds
    one back and delivers it right after the account's following event.
    """

    def __init__(self) -> None:
        """Creates a hub with no subscribers."""
        self._subs: dict[str, list[UserSink]] = {}
        self._faults: dict[str, list[Any]] = {}
        self._held: dict[str, dict[str, Any]] = {}

    def subscribe(self, api_key: str, sink: UserSink) -> None:
        """Adds a sink for an account's events."""
        self._subs.setdefault(api_key, []).append(sink)

    def unsubscribe(self, api_key: str, sink: UserSink) -> None:
        """Removes a sink (no error if it was not there)."""
        subs = self._subs.get(api_key)
        if subs is not None and sink in subs:
            subs.remove(sink)

    def arm(self, api_key: str, mode: str, count: int) -> None:
        """Arms an event fault (``drop``, ``duplicate`` or ``reorder``) for an account."""
        if mode not in ("drop", "duplicate", "reorder") or count < 1:
            raise ValueError("userEvents must be drop, duplicate or reorder, count >= 1")
        self._faults[api_key] = [mode, count]

    def clear_faults(self) -> None:
        """Disarms event faults and delivers anything held back."""
        self._faults.clear()
        held, self._held = self._held, {}
        for api_key, event in held.items():
            self._deliver(api_key, event)

    def _consume(self, api_key: str) -> str | None:
        fault = self._faults.get(api_key)
        if fault is None:
            return None
        fault[1] -= 1
        if fault[1] <= 0:
            del self._faults[api_key]
        return str(fault[0])

    def _deliver(self, api_key: str, event: dict[str, Any]) -> None:
        for sink in list(self._subs.get(api_key, ())):
            sink(event)

    def publish(self, api_key: str, event: dict[str, Any]) -> None:
        """Hands one event to every sink of the account, in subscription order."""
        if api_key in self._faults:
            mode = self._faults[api_key][0]
            if mode == "reorder" and api_key in self._held:
                pass  # this event overtakes the held one below
            else:
                self._consume(api_key)
                if mode == "drop":
                    return
                if mode == "reorder":
                    self._held[api_key] = event
                    return
                self._deliver(api_key, event)  # duplicate: once here, once below
        self._deliver(api_key, event)
        held = self._held.pop(api_key, None)
        if held is not None:
            self._deliver(api_key, held)


@dataclass(slots=True)
class _DepthAccumulator:
    interval_ms: int
    first: int = 0
    last: int = 0
    previous: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    def record(self, side: Side, price: Decimal, qty: Decimal, update_id: int) -> None:
        if not self.first:
            self.first = update_id
        self.last = update_id
        (self.bids if side is Side.BUY else self.asks)[price] = qty


class DepthDiffs:
    """The diff-depth accumulators of one symbol, one per update speed."""

    def __init__(self, speeds: dict[str, int], start_id: int) -> None:
        """``speeds`` maps a stream suffix (``@depth@100ms``) to its interval in ms."""
        self._acc = {
            suffix: _DepthAccumulator(interval, previous=start_id)
            for suffix, interval in speeds.items()
        }

    def record(self, side: Side, price: Decimal, qty: Decimal, update_id: int) -> None:
        """Notes one level change in every accumulator."""
        for acc in self._acc.values():
            acc.record(side, price, qty, update_id)

    def due(self, tick: int) -> list[tuple[str, int, int, int, list[Any], list[Any]]]:
        """Drains the accumulators whose interval divides ``tick`` (ms since start).

        Returns ``(suffix, U, u, pu, bids, asks)`` for each non-empty one.
        """
        out = []
        for suffix, acc in self._acc.items():
            if tick % acc.interval_ms or not acc.first:
                continue
            bids = [[p, q] for p, q in sorted(acc.bids.items(), reverse=True)]
            asks = [[p, q] for p, q in sorted(acc.asks.items())]
            out.append((suffix, acc.first, acc.last, acc.previous, bids, asks))
            acc.previous = acc.last
            acc.first = 0
            acc.bids = {}
            acc.asks = {}
        return out
