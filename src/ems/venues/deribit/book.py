"""A Deribit L2 book over FIX market data: a snapshot (W), then increments (X).

The book has its own market-data FIX session (SenderCompID `<order session>-md<n>`,
like the trade feed's), which sends MarketDataRequest 263=1, 265=1, 264=0 for bids and
offers (protocols.md D.3): the venue answers with a W of the whole book, then X messages
whose entries say 279=0 New, 1 Change or 2 Delete for one price level.

Deribit's X messages carry no book sequence number, and FIX sequencing (with resends)
already guarantees that every message arrives once and in order. What is left to check
is that each entry fits the book: a New for a level already there, a Change or Delete
for a level that is not, or a book left crossed means an update was missed or the book
is wrong. Then the book is marked not synced (`GET /book` serves no levels), the old
request is cancelled (263=2) and a new one brings a fresh snapshot; messages of the old
request are ignored. A dropped connection marks the book not synced until the snapshot
that the request sent on the next logon brings.

The core has no Deribit message applier, so levels go into its generic book through
`load_levels` and `update`, one call per entry; no sequence rule of the core applies to
those calls (the venue name given to the core's book is only a label there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ems._core import ASK, BID, FixMessage, OffGridError, OrderBook
from ems.venues.base import Instrument
from ems.venues.deribit.feed import market_data_session
from ems.venues.deribit.fixsession import NotReady
from ems.venues.deribit.products import Endpoint

log = logging.getLogger("ems.deribit.book")

SNAPSHOT_ENTRY = [269, 270, 271]
UPDATE_ENTRY = [279, 269, 270, 271]
RESYNC_SPACING_S = 1.0
"""A second new-snapshot request within this long of the last waits out the rest, so a
venue that keeps sending what does not fit is not flooded with requests."""
SIDES = {b"0": BID, b"1": ASK}


class Inconsistent(Exception):
    """An update that does not fit the book."""


class DeribitBook:
    """One instrument's L2 book from FIX market data."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        sender: str,
        api_key: str,
        secret: str,
        instrument: Instrument,
        local_address: str | None = None,
    ) -> None:
        self.symbol = instrument.symbol
        self.instrument = instrument
        self.book = OrderBook("deribit", instrument.price_grid.step, instrument.qty_grid.step)
        self.name = f"deribit:{self.symbol} book"
        self.resyncs = 0
        """Updates that did not fit the book (each answered by a new snapshot request)."""
        self.snapshots = 0
        self._requests = 0
        self._req_id = ""
        self._requested_at = -RESYNC_SPACING_S
        self._retry: asyncio.TimerHandle | None = None
        self.fix = market_data_session(endpoint, sender, api_key, secret, self, local_address)

    async def start(self) -> None:
        await self.fix.start()

    async def stop(self) -> None:
        self._cancel_retry()
        await self.fix.stop()

    # ------------------------------------------------------------ FIX handler
    def on_ready(self, first: bool) -> None:
        self.book.invalidate()
        self._cancel_retry()
        self._request_snapshot()

    def on_down(self, reason: str) -> None:
        self.book.invalidate()
        log.warning("%s: market data connection lost (%s)", self.name, reason)

    def on_refused(self, ref: object, text: str) -> None:
        log.error("%s: %s", self.name, text)

    def on_app(self, msg: FixMessage) -> None:
        kind = msg.msg_type
        if kind not in ("W", "X") or msg.get_str(262) != self._req_id:
            if kind == "Y" and msg.get_str(262) == self._req_id:
                log.error("%s: book request refused: %s", self.name, msg.get_str(58))
            return  # another request's data (a cancelled one), or not market data
        try:
            if kind == "W":
                self._load(msg)
            elif self.book.synced:
                self._apply(msg)
        except (Inconsistent, KeyError, OffGridError, ValueError) as exc:
            log.warning("%s: %s; requesting a new snapshot", self.name, exc)
            self.resyncs += 1
            self.book.invalidate()
            self._resync()

    # ------------------------------------------------------------ book
    def _resync(self) -> None:
        if self._retry is not None:
            return
        wait = self._requested_at + RESYNC_SPACING_S - time.monotonic()
        if wait <= 0:
            self._request_snapshot()
        else:
            self._retry = asyncio.get_running_loop().call_later(wait, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self._request_snapshot()

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _request_snapshot(self) -> None:
        self._requested_at = time.monotonic()
        with contextlib.suppress(NotReady):
            if self._req_id:
                self.fix.send("V", [(262, self._req_id), (263, "2"), (146, "1"), (55, self.symbol)])
            self._requests += 1
            self._req_id = f"book-{self._requests}"
            self.fix.send(
                "V",
                [
                    (262, self._req_id),
                    (263, "1"),
                    (264, "0"),
                    (265, "1"),
                    (267, "2"),
                    (269, "0"),
                    (269, "1"),
                    (146, "1"),
                    (55, self.symbol),
                ],
            )

    def _load(self, msg: FixMessage) -> None:
        price, qty = self.instrument.price_grid.units, self.instrument.qty_grid.units
        levels: dict[int, list[tuple[int, int]]] = {BID: [], ASK: []}
        for entry in msg.group(268, SNAPSHOT_ENTRY):
            values = dict(entry)
            side = SIDES.get(values.get(269, b""))
            if side is None:
                continue
            levels[side].append((price(values[270].decode()), qty(values[271].decode())))
        self.book.load_levels(levels[BID], levels[ASK], 0)
        self.snapshots += 1
        if self.book.crossed:
            raise Inconsistent("the snapshot is crossed")

    def _apply(self, msg: FixMessage) -> None:
        price, qty = self.instrument.price_grid.units, self.instrument.qty_grid.units
        book = self.book
        for entry in msg.group(268, UPDATE_ENTRY):
            values = dict(entry)
            side = SIDES.get(values.get(269, b""))
            if side is None:
                continue  # a trade or an index value
            action = values.get(279, b"0")
            px = price(values[270].decode())
            had = book.size_at(side, px)
            if action == b"2":
                if not had:
                    raise Inconsistent(f"delete of a level not in the book ({px})")
                book.update(side, px, 0)
                continue
            size = qty(values[271].decode())
            if action == b"0" and had:
                raise Inconsistent(f"new level already in the book ({px})")
            if action == b"1" and not had:
                raise Inconsistent(f"change of a level not in the book ({px})")
            book.update(side, px, size)
        if book.crossed:
            raise Inconsistent("the book is crossed")
