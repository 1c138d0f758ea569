"""Bybit public streams (`/v5/public/<category>`): trades for triggers and L2 books.

A Bybit public connection carries nothing until it subscribes, so the feed sends its
`subscribe` on every (re)connect, and an application `ping` every 20 s.  Books follow
the venue's rules (protocols.md C.4): a `snapshot` (or `u` = 1) replaces the book, each
`delta` must carry `u` one higher than the last; the core applies the whole message in
one call, and a gap drops the connection so that the next subscription starts from a
fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import orjson
from picows import WSMsgType

from ems._core import RESYNC, OrderBook
from ems.venues.base import Instrument
from ems.venues.feed import Feed

log = logging.getLogger("ems.bybit.public")

PING_INTERVAL_S = 20.0


class PublicFeed(Feed):
    """One public topic, subscribed on every connect."""

    def __init__(
        self,
        url: str,
        topic: str,
        on_frame: Callable[[bytes], None],
        name: str,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(url, on_frame, on_connect=on_connect, name=name)
        self.topic = topic
        self._subscribe = orjson.dumps({"req_id": "ems", "op": "subscribe", "args": [topic]})
        self._pinger: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        await super()._connect()
        if self._transport is not None:
            self._transport.send(WSMsgType.TEXT, self._subscribe)

    async def start(self, timeout: float = 10.0) -> None:
        await super().start(timeout)
        self._pinger = asyncio.get_running_loop().create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            if self._transport is not None:
                with contextlib.suppress(Exception):
                    self._transport.send(WSMsgType.TEXT, b'{"op":"ping"}')

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        await super().stop()


class BybitBook:
    """One symbol's L2 book from `orderbook.<depth>.<symbol>` (50 levels; options 25)."""

    def __init__(self, url: str, category: str, instrument: Instrument, name: str) -> None:
        self.symbol = instrument.symbol
        self.instrument = instrument
        self.book = OrderBook("bybit", instrument.price_grid.step, instrument.qty_grid.step)
        self.resyncs = 0
        depth = 25 if category == "option" else 50
        self.feed = PublicFeed(
            url,
            f"orderbook.{depth}.{self.symbol}",
            self._on_frame,
            name,
            on_connect=self.book.invalidate,
        )
        self.feed.on_disconnect = self.book.invalidate

    async def start(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()

    def _on_frame(self, frame: bytes) -> None:
        if b'"orderbook.' not in frame[:64]:
            return  # a subscription or pong reply
        try:
            status = self.book.apply(frame)
        except ValueError as exc:
            log.error("%s: undecodable orderbook frame (%s)", self.symbol, exc)
            return
        if status == RESYNC:
            # Bybit offers no REST snapshot that lines up with `u`: resubscribing does.
            log.warning("%s: gap in the orderbook stream; resubscribing", self.symbol)
            self.resyncs += 1
            self.book.invalidate()
            self.feed.drop()
