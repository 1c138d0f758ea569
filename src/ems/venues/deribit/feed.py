"""Deribit public trades for triggers: FIX market data (chosen) or JSON-RPC WebSocket.

Both are implemented so that the choice is measured (bench/fix_roundtrip.py, `feeds`
section): on the same simulator, from the admin trade request to the parsed trade in
the callback, FIX MarketDataIncrementalRefresh over its own TCP session and the JSON-RPC
`trades.{instrument}.raw` channel over picows are within run-to-run noise of each other;
FIX needs no second venue endpoint, so it is the one sessions use (see README, Deribit).
The FIX feed is a second FIX session (SenderCompID `<order session>-md<n>`) so that a
burst of market data never queues behind, or in front of, execution reports.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import cast

import orjson
from picows import WSMsgType

from ems._core import FixMessage, OffGridError, Trade
from ems.venues.base import Instrument
from ems.venues.deribit import codec
from ems.venues.deribit.fixsession import FixHandler, FixInitiator, NotReady, SeqFile
from ems.venues.deribit.products import TARGET_COMP_ID, Endpoint
from ems.venues.feed import Feed

log = logging.getLogger("ems.deribit.feed")

TRADE_ENTRY = [279, 269, 270, 271, 272, 100009, 54, 37, 198, 39]


def market_data_session(
    endpoint: Endpoint,
    sender: str,
    api_key: str,
    secret: str,
    handler: FixHandler,
    local_address: str | None,
) -> FixInitiator:
    """A FIX session for market data only (trades or a book), beside the order session."""
    return FixInitiator(
        host=endpoint.host,
        port=endpoint.port,
        tls=ssl.create_default_context() if endpoint.tls else None,
        sender=sender,
        target=TARGET_COMP_ID,
        username=api_key,
        secret=secret,
        heartbeat_s=10,
        # Market data has nothing to recover after a restart: start afresh.
        logon_fields=[(141, "Y")],
        handler=handler,
        seq_file=SeqFile(None),
        local_address=local_address,
        name=f"deribit md {sender}",
    )


class FixTradeFeed(Feed):
    """Trades of one instrument over a FIX market-data session (V, then X per trade)."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        sender: str,
        api_key: str,
        secret: str,
        instrument: Instrument,
        on_trade: Callable[[Trade], None],
        local_address: str | None = None,
    ) -> None:
        super().__init__(str(endpoint), lambda _: None, name=f"deribit:{instrument.symbol} trades")
        self.instrument = instrument
        self._on_trade = on_trade
        self._requests = 0
        self.fix = market_data_session(endpoint, sender, api_key, secret, self, local_address)

    async def start(self, timeout: float = 10.0) -> None:
        await self.fix.start(timeout)

    async def stop(self) -> None:
        await self.fix.stop()

    def on_ready(self, first: bool) -> None:
        self.connects += 1
        self._requests += 1
        with contextlib.suppress(NotReady):
            self.fix.send(
                "V",
                [
                    (262, f"trades-{self._requests}"),
                    (263, "1"),
                    (264, "0"),
                    (265, "1"),
                    (267, "1"),
                    (269, "2"),
                    (146, "1"),
                    (55, self.instrument.symbol),
                    (100007, "1"),
                ],
            )

    def on_app(self, msg: FixMessage) -> None:
        if msg.msg_type == "X":
            self.on_incremental(msg)
        elif msg.msg_type == "Y":
            log.error("%s: market data request refused: %s", self.name, msg.get_str(58))

    def on_incremental(self, msg: FixMessage) -> None:
        """Each new trade entry (279=0, 269=2) of an incremental refresh."""
        self.frame_ns = time.perf_counter_ns()
        inst = self.instrument
        for entry in msg.group(268, TRADE_ENTRY):
            values = dict(entry)
            if values.get(269) != b"2" or values.get(279, b"0") != b"0":
                continue
            try:
                trade = codec.PublicTrade(
                    price=inst.price_grid.units(values[270].decode()),
                    qty=inst.qty_grid.units(values[271].decode()),
                    aggressor_side=codec.trade_side(values.get(54)),
                    time=codec.fix_time_ns(values.get(272)),
                    trade_id=_numeric_id(values.get(100009)),
                )
            except (KeyError, OffGridError, ValueError) as exc:
                log.warning("%s: unreadable trade entry (%s)", self.name, exc)
                continue
            self._on_trade(cast(Trade, trade))

    def on_refused(self, ref: object, text: str) -> None:
        log.error("%s: %s", self.name, text)

    def on_down(self, reason: str) -> None:
        log.warning("%s: market data connection lost (%s)", self.name, reason)


class JsonRpcTradeFeed(Feed):
    """Trades of one instrument over Deribit's JSON-RPC WebSocket (`trades.X.raw`)."""

    def __init__(self, url: str, instrument: Instrument, on_trade: Callable[[Trade], None]) -> None:
        super().__init__(
            url, self._on_frame_bytes, self._subscribe, name=f"deribit:{instrument.symbol} rpc"
        )
        self.instrument = instrument
        self._on_trade = on_trade
        self._channel = f"trades.{instrument.symbol}.raw"

    def _subscribe(self) -> None:
        # Runs right after every (re)connect, before any frame is read.
        assert self._transport is not None
        request = {
            "jsonrpc": "2.0",
            "id": self.connects,
            "method": "public/subscribe",
            "params": {"channels": [self._channel]},
        }
        self._transport.send(WSMsgType.TEXT, orjson.dumps(request))

    def _on_frame_bytes(self, frame: bytes) -> None:
        message = orjson.loads(frame)
        params = message.get("params") if isinstance(message, dict) else None
        if not isinstance(params, dict) or params.get("channel") != self._channel:
            return
        inst = self.instrument
        for item in params.get("data", ()):
            try:
                trade = codec.PublicTrade(
                    price=inst.price_grid.units(item["price"]),
                    qty=inst.qty_grid.units(item["contracts"]),
                    aggressor_side=codec.trade_side(item.get("direction")),
                    time=int(item.get("timestamp", 0)) * 1_000_000,
                    trade_id=_numeric_id(str(item.get("trade_id", "")).encode()),
                )
            except (KeyError, OffGridError, ValueError, TypeError) as exc:
                log.warning("%s: unreadable trade (%s)", self.name, exc)
                continue
            self._on_trade(cast(Trade, trade))


def _numeric_id(text: bytes | None) -> int:
    """Deribit trade ids look like `BTC-123`; triggers only need the number."""
    if not text:
        return 0
    digits = text.rsplit(b"-", 1)[-1]
    return int(digits) if digits.isdigit() else 0
