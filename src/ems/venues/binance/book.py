"""A Binance L2 book kept in the core: diff stream plus REST snapshot, resynced on gaps.

Follows the venue's recipe (protocols.md A.7): diffs are buffered from the moment the
stream opens, a REST snapshot is loaded over them, and any sequence gap (U/u on spot,
pu on futures) drops the book back to "buffering" until a fresh snapshot is loaded.
The whole diff message is applied in one call into the core; no Python object is made
per level.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ems._core import RESYNC, OrderBook
from ems.venues.feed import Feed

if TYPE_CHECKING:
    from ems.venues.binance.session import BinanceSession

log = logging.getLogger("ems.binance.book")

SNAPSHOT_LIMIT = 1000
RESYNC_DELAY_S = 0.2


class BinanceBook:
    """One symbol's book, its diff feed and its snapshot fetches."""

    def __init__(self, session: BinanceSession, symbol: str, md_url: str) -> None:
        inst = session.instruments[symbol]
        venue = "binance_spot" if session.product.spot else "binance_futures"
        self.symbol = symbol
        self.book = OrderBook(venue, inst.price_grid.step, inst.qty_grid.step)
        self.instrument = inst
        self._session = session
        self._resyncing = False
        self.snapshots = 0
        self.feed = Feed(
            f"{md_url}/ws/{symbol.lower()}@depth@100ms",
            self._on_frame,
            on_connect=self._on_connect,
            name=f"{session.product.exchange}:{symbol} depth",
        )
        self.feed.on_disconnect = self.book.invalidate

    async def start(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()

    def _on_connect(self) -> None:
        self.book.invalidate()
        self._resync()

    def _on_frame(self, frame: bytes) -> None:
        try:
            status = self.book.apply(frame)
        except ValueError as exc:
            log.error("%s: undecodable depth frame (%s)", self.symbol, exc)
            return
        if status == RESYNC:
            log.warning("%s: sequence gap in the depth stream; resyncing", self.symbol)
            self.book.invalidate()
            self._resync()

    def _resync(self) -> None:
        if not self._resyncing:
            self._resyncing = True
            asyncio.get_running_loop().create_task(self._load_snapshot())

    async def _load_snapshot(self) -> None:
        try:
            while True:
                # A snapshot must not be older than the first buffered diff; if it is,
                # loading says RESYNC and we fetch again.
                await asyncio.sleep(RESYNC_DELAY_S)
                body = await self._session.raw_get(
                    "depth", {"symbol": self.symbol, "limit": SNAPSHOT_LIMIT}
                )
                self.snapshots += 1
                if self.book.load_snapshot(body) != RESYNC:
                    return
        except Exception as exc:
            log.warning("%s: depth snapshot failed: %s", self.symbol, exc)
            self.feed.drop()  # reconnecting starts a fresh sync
        finally:
            self._resyncing = False
