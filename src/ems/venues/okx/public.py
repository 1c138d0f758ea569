"""OKX public channels (`/ws/v5/public`): trades for triggers and the `books` L2 book.

A public connection carries nothing until it subscribes, so every feed sends its
`subscribe` on each (re)connect, and the text `ping` every 20 s (OKX closes a connection
that carried nothing for 30 s, and a quiet market is quiet).

Books follow the venue's rules (protocols.md B.4): a subscription is answered with a
`snapshot`, then each `update` carries `prevSeqId` equal to the last `seqId` and a
CRC32 `checksum` of the top 25 levels. The core applies a whole push in one call and
checks both. On a gap or a checksum mismatch the book is marked not synced (`GET /book`
serves no levels) and the channel is unsubscribed and subscribed again on the same
connection, which brings a fresh snapshot; pushes still in flight from the old
subscription are ignored until it arrives. A reconnect resubscribes the same way. If no
snapshot comes within `SNAPSHOT_TIMEOUT_S`, the connection is dropped and made anew.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from picows import WSMsgType

from ems._core import RESYNC, OrderBook
from ems.venues.base import Instrument
from ems.venues.feed import Feed

log = logging.getLogger("ems.okx.public")

PING_INTERVAL_S = 20.0
SNAPSHOT_TIMEOUT_S = 5.0


def _op(op: str, channel: str, inst_id: str) -> bytes:
    return orjson.dumps({"op": op, "args": [{"channel": channel, "instId": inst_id}]})


class OkxPublicFeed(Feed):
    """One public channel of one instrument, subscribed on every connect."""

    def __init__(
        self,
        url: str,
        channel: str,
        inst_id: str,
        on_frame: Callable[[bytes], None],
        name: str,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(url, on_frame, on_connect=on_connect, name=name)
        self.channel = channel
        self.inst_id = inst_id
        self._subscribe = _op("subscribe", channel, inst_id)
        self._unsubscribe = _op("unsubscribe", channel, inst_id)
        self._pinger: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        await super()._connect()
        if self._transport is not None:
            self._transport.send(WSMsgType.TEXT, self._subscribe)
        if self._pinger is None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping())

    def resubscribe(self) -> None:
        """Unsubscribes and subscribes again on the current connection (OKX answers the
        subscription with a snapshot); without a connection the reconnect does it."""
        if self._transport is not None:
            try:
                self._transport.send(WSMsgType.TEXT, self._unsubscribe)
                self._transport.send(WSMsgType.TEXT, self._subscribe)
            except Exception as exc:  # the run loop reconnects
                log.debug("%s: resubscribe failed: %s", self.name, exc)

    async def _ping(self) -> None:
        while not self._stopping:
            await asyncio.sleep(PING_INTERVAL_S)
            if self._transport is not None:
                try:
                    self._transport.send(WSMsgType.TEXT, b"ping")
                except Exception as exc:  # the run loop reconnects
                    log.debug("%s: ping failed: %s", self.name, exc)

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        await super().stop()


class OkxBook:
    """One instrument's L2 book from the `books` channel (400 levels a side)."""

    def __init__(self, url: str, instrument: Instrument, name: str) -> None:
        self.symbol = instrument.symbol
        self.instrument = instrument
        self.book = OrderBook("okx", instrument.price_grid.step, instrument.qty_grid.step)
        self.resyncs = 0
        """Gaps and checksum mismatches seen (each answered by a resubscription)."""
        self.snapshots = 0
        self._awaiting_snapshot = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.feed = OkxPublicFeed(
            url, "books", self.symbol, self._on_frame, name, on_connect=self._on_connect
        )
        self.feed.on_disconnect = self.book.invalidate

    async def start(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        self._cancel_watchdog()
        await self.feed.stop()

    def _on_connect(self) -> None:
        # The subscription this connection sends brings a snapshot; until it is loaded
        # the levels kept from the last connection may be stale.
        self.book.invalidate()
        self._await_snapshot()

    def _on_frame(self, frame: bytes) -> None:
        if frame.startswith(b'{"event"') or frame == b"pong":
            if b'"error"' in frame[:20]:
                log.error("%s: %s", self.symbol, frame[:300].decode(errors="replace"))
            return
        try:
            status = self.book.apply(frame)
        except ValueError as exc:
            log.error("%s: undecodable books push (%s)", self.symbol, exc)
            return
        if self._awaiting_snapshot:
            if self.book.synced:
                self._awaiting_snapshot = False
                self.snapshots += 1
                self._cancel_watchdog()
            return  # updates of the previous subscription, still in flight
        if status == RESYNC:
            log.warning("%s: gap or checksum mismatch in books; resubscribing", self.symbol)
            self.resyncs += 1
            self.book.invalidate()
            self._await_snapshot()
            self.feed.resubscribe()

    def _await_snapshot(self) -> None:
        self._awaiting_snapshot = True
        self._cancel_watchdog()
        self._watchdog = asyncio.get_running_loop().call_later(
            SNAPSHOT_TIMEOUT_S, self._no_snapshot
        )

    def _no_snapshot(self) -> None:
        self._watchdog = None
        if self._awaiting_snapshot:
            log.warning("%s: no books snapshot after resubscribing; reconnecting", self.symbol)
            self.feed.drop()

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
