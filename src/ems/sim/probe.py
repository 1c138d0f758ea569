"""Tick-to-trade as the venue sees it: from writing a trade to reading the order it caused.

`POST /sim/trade` with `"probe": true` arms the probe; the next public trade frame the
simulator writes stamps the start, and the next order request it reads stamps the end.
Both stamps come from one clock in one process, so the difference is the whole round
trip through the client under test: its socket reads, its decision and its order write.
The start is stamped as the framed bytes go to the socket (`StampingTransport`), after
the WebSocket layer has built the frame, as the end is stamped on the bytes read, before
the HTTP server parses them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

TRADE_MARK = b'"e":"trade"'


class LatencyProbe:
    """One measurement at a time (the benchmark drives them one after another)."""

    def __init__(self) -> None:
        self._watching_write = False
        self._written_at = 0
        self._waiter: asyncio.Future[int] | None = None

    def arm(self) -> asyncio.Future[int]:
        """Starts a measurement; the future gives nanoseconds from write to read."""
        self._watching_write = True
        self._written_at = 0
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def disarm(self) -> None:
        self._watching_write = False
        self._waiter = None

    def claims(self, frame: bytes) -> bool:
        """True if `frame` (a market-data payload about to be framed) starts the armed
        measurement; its write must then call `written`."""
        if self._watching_write and TRADE_MARK in frame[:32]:
            self._watching_write = False
            return True
        return False

    def written(self) -> None:
        """Stamps the start: the claimed frame is going to the socket now."""
        self._written_at = time.perf_counter_ns()

    def order_read(self) -> None:
        """Called when an order-entry request has been read."""
        waiter = self._waiter
        if waiter is not None and self._written_at and not waiter.done():
            waiter.set_result(time.perf_counter_ns() - self._written_at)
            self._waiter = None


PROBE = LatencyProbe()


class StampingTransport:
    """Stands in for a WebSocket writer's transport: the write after `stamp_next` was
    set stamps the probe's start just before the bytes go to the socket."""

    __slots__ = ("_transport", "stamp_next")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.stamp_next = False

    def write(self, data: bytes) -> None:
        if self.stamp_next:
            self.stamp_next = False
            PROBE.written()
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
