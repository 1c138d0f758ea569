"""A Bybit v5 order session (spot, linear, inverse or option; protocols.md C).

Orders go over the trade WebSocket (`order.create`, `order.amend`, `order.cancel` and
their `-batch` forms), written in the call that builds them; while that connection is
down they go over signed REST instead.  The first insert or amend of a loop turn goes
alone at once; the ones made after it in the same turn go out together at the end of
the turn as batches of the venue's size (`batching.Batcher`), each order answered on
its own.  Updates come from the private stream's
`order`, `execution` and (derivatives) `position` topics of this category; positions
pass through a `PositionLedger`, which orders the pushes and the REST lists by the
venue's `seq` and by arrival.

Settling the unknown.  A request whose trade connection drops before the reply may or
may not have reached the venue.  Bybit refuses a second order with the same
`orderLinkId`, so an insert is simply sent again over REST: either it is placed now, or
the venue says it already has it and we read it back.  Cancels are sent again too (a
second cancel of a cancelled order is refused, and then we read the order back), and so
are amends (their target price and size are absolute).  Acknowledgements only mean
"accepted": when no push about the order follows within a few seconds the order is
read back from the venue, so a lost push cannot leave it pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from ems._core import Trade, TradeScanner, bybit_order_updates
from ems.errors import VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.model import OrderStatus, OrderType
from ems.venues.base import (
    ExecutionReport,
    Instrument,
    VenueListener,
    VenueSession,
    reaching,
)
from ems.venues.bybit import codec
from ems.venues.bybit.batching import Batcher
from ems.venues.bybit.products import Product
from ems.venues.bybit.public import BybitBook, PublicFeed
from ems.venues.bybit.rest import (
    TIMESTAMP_OUTSIDE_WINDOW,
    BybitRest,
    JsonPool,
    check_envelope,
)
from ems.venues.bybit.stream import PrivateStream
from ems.venues.bybit.trade import TradeDropped, TradeSocket
from ems.venues.feed import Feed
from ems.venues.ledger import PositionLedger, PositionRow

if TYPE_CHECKING:
    from ems.engine.orders import Order

log = logging.getLogger("ems.bybit")

REPLY_TIMEOUT_S = 10.0
TRADE_RETRY_S = 30.0
"""How often a trade WebSocket that could not be opened at start is tried again."""
PUSH_WATCHDOG_S = 3.0
"""An acknowledged request with no push about its order after this long is read back."""
DUPLICATE_LINK_ID = frozenset({110072, 170141})
NO_SUCH_ORDER = frozenset({110001, 110008, 110010, 170213, 170142, 170139, 170190})
NOT_ACCEPTED = frozenset({10019})
"""Trade WebSocket codes that mean the request was turned away unread: resend by REST."""
OPTION_BASE_COINS = ("BTC", "ETH", "SOL")
"""`instruments-info` lists only BTC options unless asked for another base coin."""
TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

OPS = {
    "create": ("order.create", "/v5/order/create"),
    "amend": ("order.amend", "/v5/order/amend"),
    "cancel": ("order.cancel", "/v5/order/cancel"),
    "create-batch": ("order.create-batch", "/v5/order/create-batch"),
    "amend-batch": ("order.amend-batch", "/v5/order/amend-batch"),
    "cancel-batch": ("order.cancel-batch", "/v5/order/cancel-batch"),
}


class BybitSession(VenueSession):
    """One Bybit account on one category."""

    def __init__(
        self,
        product: Product,
        api_key: str,
        secret: str,
        rest_url: str,
        ws_url: str,
        listener: VenueListener,
        local_address: str | None = None,
    ) -> None:
        self.product = product
        self.capabilities = product.capabilities
        self.instruments = {}
        self._api_key = api_key
        self._secret = secret
        self._rest_url = rest_url.rstrip("/")
        self._ws_url = ws_url.rstrip("/")
        self._listener = listener
        self._local_address = local_address
        self._pool: JsonPool | None = None
        self._rest: BybitRest | None = None
        self._stream: PrivateStream | None = None
        self._trade: TradeSocket | None = None
        self._last_push: dict[str, float] = {}
        """Monotonic time of the last push about each working order (by orderLinkId)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._positions = PositionLedger()
        self._creates = self._batcher("create", by_rest=False)
        self._amends = self._batcher("amend", by_rest=False)
        # What a dropped trade connection left unanswered is sent again by REST, where
        # the same merging applies (the waiters all wake in one turn).
        self._rest_creates = self._batcher("create", by_rest=True)
        self._rest_amends = self._batcher("amend", by_rest=True)

    def _batcher(self, kind: str, by_rest: bool) -> Batcher:
        batch = f"{kind}-batch"

        def one(args: dict[str, Any]) -> Awaitable[dict[str, Any]]:
            if by_rest:
                return self._rest_call(OPS[kind][1], args)
            return self._send(kind, args)

        def many(items: list[dict[str, Any]]) -> Awaitable[dict[str, Any]]:
            args = codec.batch_args(self.category, items)
            if by_rest:
                return self._rest_call(OPS[batch][1], args)
            return self._send(batch, args)

        return Batcher(OPS[batch][1], one, many, self.product.batch_max, self._spawn)

    @property
    def rest(self) -> BybitRest:
        if self._rest is None:
            raise RuntimeError("session not started")
        return self._rest

    @property
    def category(self) -> str:
        return self.product.category

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._pool = JsonPool(self._rest_url, self._local_address)
        self._rest = BybitRest(self._pool, self._api_key, self._secret)
        try:
            await self._pool.warm(2)
            await self._rest.sync_clock()
            self.instruments = await self._load_instruments()
            # A signed read proves the key before any order depends on it.
            await self._rest.request(
                "GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"}
            )
            topics = [f"order.{self.category}", f"execution.{self.category}"]
            if self.product.positions:
                topics.append(f"position.{self.category}")
            self._stream = PrivateStream(
                f"{self._ws_url}/v5/private",
                self._rest.ws_auth_args,
                self._rest.timestamp,
                topics,
                self._on_push,
                self._listener.on_stream_state,
                self._local_address,
            )
            await reaching("wsUrl", self._stream.start())
            if self.product.positions:
                # Read once the position pushes flow, so that no fill falls between the
                # two unseen; the ledger orders the list against pushes that cross it.
                for symbol, amount in (await self.positions()).items():
                    self._listener.on_venue_position(symbol, amount)
            trade = self._new_trade_socket()
            try:
                await trade.start()
                self._trade = trade
            except Exception as exc:
                # Order entry works over REST meanwhile (demo trading has no trade
                # WebSocket at all); the socket is tried again in the background.
                log.warning("%s: trade WebSocket unavailable (%s); using REST", self.category, exc)
                await trade.stop()
                self._spawn(self._retry_trade())
        except BaseException:
            await self.stop()
            raise

    def _new_trade_socket(self) -> TradeSocket:
        return TradeSocket(
            f"{self._ws_url}/v5/trade",
            self.rest.ws_auth_args,
            self.rest.timestamp,
            self._local_address,
        )

    async def _retry_trade(self) -> None:
        while self._trade is None:
            await asyncio.sleep(TRADE_RETRY_S)
            trade = self._new_trade_socket()
            try:
                await trade.start()
            except Exception as exc:
                log.debug("%s: trade WebSocket still unavailable: %s", self.category, exc)
                await trade.stop()
                continue
            log.info("%s: trade WebSocket up; orders go over it again", self.category)
            self._trade = trade

    async def stop(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        for sock in (self._trade, self._stream):
            if sock is not None:
                await sock.stop()
        self._trade = self._stream = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def drop_stream(self) -> None:
        """Closes the private stream so that it reconnects (used by tests)."""
        if self._stream is not None:
            self._stream.drop()

    async def _load_instruments(self) -> dict[str, Instrument]:
        base_coins: tuple[str | None, ...] = (
            OPTION_BASE_COINS if self.category == "option" else (None,)
        )
        items: list[dict[str, Any]] = []
        for base in base_coins:
            cursor = ""
            while True:
                params: dict[str, object] = {"category": self.category, "limit": 1000}
                if base:
                    params["baseCoin"] = base
                if cursor:
                    params["cursor"] = cursor
                data = await self.rest.request(
                    "GET", "/v5/market/instruments-info", params, signed=False
                )
                result = data.get("result") or {}
                items.extend(result.get("list") or [])
                cursor = result.get("nextPageCursor") or ""
                if not cursor:
                    break
        return codec.instruments(self.category, items)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- transport

    def _send(self, kind: str, args: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """Writes one order-entry request now (trade WebSocket, else REST); the result
        awaits the reply's `result` object (batch: the whole reply)."""
        op, path = OPS[kind]
        if self.rest.backing_off():
            # The venue asked us to slow down: nothing goes out on either transport.
            return self.rest.start("POST", path, args)
        if self._trade is not None:
            future = self._trade.request(op, args)
            if future is not None:
                return self._ws_reply(future, path, args)
        return self._rest_call(path, args)

    async def _ws_reply(
        self, future: asyncio.Future[dict[str, Any]], path: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), REPLY_TIMEOUT_S)
        except TimeoutError:
            if self._trade is not None:
                self._trade.forget(future)
            raise TradeDropped(
                f"no reply from the trade WebSocket in {REPLY_TIMEOUT_S:g}s"
            ) from None
        code = reply.get("retCode")
        if code in NOT_ACCEPTED:
            if self._trade is not None:
                self._trade.drop()  # the venue asks for a new connection
            return await self._rest_call(path, args)
        if code == TIMESTAMP_OUTSIDE_WINDOW:
            # Refused for our clock, so nothing was done: resync and send once more.
            await self.rest.sync_clock()
            return await self._rest_call(path, args)
        if code != 0:
            header = reply.get("header") or {}
            reset = str(header.get("X-Bapi-Limit-Reset-Timestamp", ""))
            try:
                check_envelope(reply, path, reset)
            except VenueRateLimited as exc:
                self.rest.back_off(reset, f"{path} (trade WebSocket)", 200)
                exc.retry_after = self.rest.wait_left()
                raise
        return {"result": reply.get("data") or {}, "retExtInfo": reply.get("retExtInfo") or {}}

    async def _rest_call(self, path: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.rest.start("POST", path, args)
        except VenueError as exc:
            if exc.code != TIMESTAMP_OUTSIDE_WINDOW:
                raise
            await self.rest.sync_clock()
            return await self.rest.request("POST", path, args)

    def _watch(self, order: Order) -> None:
        """Reads the order back if no push about it arrives soon (a lost push)."""
        sent = time.monotonic()
        loop = asyncio.get_running_loop()
        loop.call_later(PUSH_WATCHDOG_S, self._watchdog, order, sent)

    def _watchdog(self, order: Order, sent: float) -> None:
        if not order.working or self._last_push.get(order.venue_client_id, 0.0) >= sent:
            return
        log.info(
            "%s: no push for %s since its ack; reading it back",
            self.category,
            order.venue_client_id,
        )
        self._spawn(self._read_back(order))

    async def _read_back(self, order: Order) -> None:
        try:
            report = await self.query(order)
        except (VenueError, VenueUnknownOutcome) as exc:
            log.warning("read-back of %s failed: %s", order.venue_client_id, exc)
            return
        if report is not None:
            self._listener.on_report(report)

    # ----------------------------------------------------------------- orders

    def _create_args(self, order: Order) -> dict[str, Any]:
        inst = order.instrument
        price = (
            None if order.order_type == OrderType.MARKET else inst.price_grid.format(order.price)
        )
        return codec.create_args(
            self.category,
            order.symbol,
            order.side,
            order.order_type,
            order.tif,
            inst.qty_grid.format(order.qty),
            price,
            order.venue_client_id,
        )

    def insert(self, order: Order) -> Awaitable[ExecutionReport | None]:
        args = self._create_args(order)
        return self._insert_reply(self._creates.submit(args), order, args)

    def prepare_insert(self, order: Order) -> Callable[[], Awaitable[ExecutionReport | None]]:
        # Everything but the request id and timestamp is built now, before the trigger.
        args = self._create_args(order)

        def send() -> Awaitable[ExecutionReport | None]:
            return self._insert_reply(self._creates.submit(args), order, args)

        return send

    async def _insert_reply(
        self, sent: Awaitable[dict[str, Any]], order: Order, args: dict[str, Any]
    ) -> ExecutionReport | None:
        try:
            data = await sent
        except TradeDropped as exc:
            log.warning("insert %s: %s; sending it again by REST", order.venue_client_id, exc)
            try:
                data = await self._rest_creates.submit(args)
            except VenueError as again:
                if again.code not in DUPLICATE_LINK_ID:
                    raise
                # The first one got there: the venue holds the order.
                report = await self.query(order)
                if report is None:
                    raise VenueUnknownOutcome(f"{again}; but the venue cannot find it") from again
                return report
        self._watch(order)
        return codec.ack_report(data["result"], order.venue_client_id, order.symbol)

    async def amend(self, order: Order, price: int, qty: int) -> ExecutionReport | None:
        inst = order.instrument
        args = codec.amend_args(
            self.category,
            order.symbol,
            order.venue_client_id,
            inst.qty_grid.format(qty) if qty != order.qty else None,
            inst.price_grid.format(price) if price != order.price else None,
        )
        try:
            await self._amends.submit(args)
        except TradeDropped as exc:
            log.warning("amend %s: %s; sending it again by REST", order.venue_client_id, exc)
            try:
                await self._rest_amends.submit(args)
            except VenueError:
                # Already applied (nothing to change) or the order is gone: the venue's
                # own view decides.
                report = await self.query(order)
                if report is None:
                    raise
                report.amended = report.status not in TERMINAL
                return report
        self._watch(order)
        return ExecutionReport(
            venue_client_id=order.venue_client_id,
            exch_order_id=order.exch_order_id,
            symbol=order.symbol,
            status=OrderStatus.NEW,
            cum_qty="",
            price=inst.price_grid.format(price),
            qty=inst.qty_grid.format(qty),
            amended=True,
        )

    def cancel(self, order: Order) -> Awaitable[ExecutionReport | None]:
        args = codec.cancel_args(self.category, order.symbol, order.venue_client_id)
        return self._cancel_reply(self._send("cancel", args), order, args)

    async def _cancel_reply(
        self, sent: Awaitable[dict[str, Any]], order: Order, args: dict[str, Any]
    ) -> ExecutionReport | None:
        try:
            await sent
        except TradeDropped as exc:
            log.warning("cancel %s: %s; sending it again by REST", order.venue_client_id, exc)
            try:
                await self._rest_call(OPS["cancel"][1], args)
            except VenueError as again:
                if again.code not in NO_SUCH_ORDER:
                    raise
                return await self.query(order)
        # The cancel is accepted; the order push says when it is done.
        self._watch(order)
        return None

    async def cancel_all(self, symbol: str, orders: list[Order], whole_symbol: bool) -> int:
        if whole_symbol:
            return await self._cancel_symbol(symbol, orders)
        chunks = [
            orders[i : i + self.product.batch_max]
            for i in range(0, len(orders), self.product.batch_max)
        ]
        results = await asyncio.gather(
            *(self._cancel_batch(symbol, chunk) for chunk in chunks), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("batch cancel on %s failed: %s", symbol, result)
        failures = [r for r in results if isinstance(r, VenueError)]
        if failures and len(failures) == len(results):
            raise failures[0]
        return len(chunks)

    async def _cancel_symbol(self, symbol: str, orders: list[Order]) -> int:
        """`cancel-all` for the category and symbol; futures cancel at most 500 per
        call, so a full answer means there may be more, unless every order of ours is
        in the answers already (500 working orders take one call, not two)."""
        calls = 0
        cap = self.product.cancel_all_max
        # A full page may mean more orders; stop after what the count can explain.
        limit = 1 if cap is None else len(orders) // cap + 2
        left = {o.venue_client_id for o in orders}
        while calls < limit:
            data = await self._rest_call(
                "/v5/order/cancel-all", {"category": self.category, "symbol": symbol}
            )
            calls += 1
            cancelled = (data.get("result") or {}).get("list") or []
            left.difference_update(str(row.get("orderLinkId", "")) for row in cancelled)
            if cap is None or len(cancelled) < cap or not left:
                break
        for order in orders:
            self._watch(order)
        return calls

    async def _cancel_batch(self, symbol: str, chunk: list[Order]) -> None:
        args = codec.batch_args(
            self.category,
            [codec.cancel_args(self.category, symbol, o.venue_client_id) for o in chunk],
        )
        try:
            data = await self._send("cancel-batch", args)
        except TradeDropped as exc:
            log.warning("batch cancel: %s; sending it again by REST", exc)
            data = await self._rest_call(OPS["cancel-batch"][1], args)
        codes = ((data.get("retExtInfo") or {}).get("list")) or []
        for order, item in zip(chunk, codes, strict=False):
            if item.get("code", 0) not in (0, *NO_SUCH_ORDER):
                log.warning("batch cancel of %s refused: %s", order.venue_client_id, item)
        for order in chunk:
            self._watch(order)

    async def query(self, order: Order) -> ExecutionReport | None:
        params = {
            "category": self.category,
            "symbol": order.symbol,
            "orderLinkId": order.venue_client_id,
        }
        for path in ("/v5/order/realtime", "/v5/order/history"):
            data = await self.rest.request("GET", path, params)
            rows = (data.get("result") or {}).get("list") or []
            if rows:
                return codec.order_report(rows[0], full=True)
        return None

    async def recent_orders(self, symbols: set[str], since_ms: int) -> list[ExecutionReport]:
        """The category's open orders (per settle coin where Bybit requires one), then
        each symbol's orders updated since `since_ms`."""
        seen: dict[str, ExecutionReport] = {}
        queries: list[tuple[str, dict[str, object]]] = [
            ("/v5/order/realtime", selector) for selector in self._account_selectors()
        ]
        queries += [
            ("/v5/order/history", {"symbol": symbol, "startTime": since_ms})
            for symbol in sorted(symbols)
        ]
        for path, extra in queries:
            cursor = ""
            while True:
                params: dict[str, object] = {
                    "category": self.category,
                    **extra,
                    "limit": 50,
                }
                if cursor:
                    params["cursor"] = cursor
                data = await self.rest.request("GET", path, params)
                result = data.get("result") or {}
                for row in result.get("list") or []:
                    report = codec.order_report(row, full=True)
                    if report.venue_client_id:
                        seen.setdefault(report.venue_client_id, report)
                cursor = result.get("nextPageCursor") or ""
                if not cursor:
                    break
        return list(seen.values())

    async def positions(self) -> dict[str, float]:
        if not self.product.positions:
            return {}
        # The list must cover the whole account (the ledger takes a held position it
        # does not show as flat): one query per settle coin, options per base coin.
        selectors = self._account_selectors()
        mark = self._positions.mark()
        rows: list[PositionRow] = []
        for selector in selectors:
            cursor = ""
            while True:
                params: dict[str, object] = {"category": self.category, **selector, "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                data = await self.rest.request("GET", "/v5/position/list", params)
                result = data.get("result") or {}
                rows += (codec.position_row(row) for row in result.get("list") or [])
                cursor = result.get("nextPageCursor") or ""
                if not cursor:
                    break
        return self._positions.listed(mark, rows)

    def _account_selectors(self) -> list[dict[str, object]]:
        """What one account-wide query (open orders, positions) needs besides the
        category: linear and inverse want a settle coin (one query each), options a base
        coin; spot lists every symbol's orders with none."""
        if self.category in ("linear", "inverse"):
            coins = sorted({self._settle_coin(s) for s in self.instruments} - {""})
            return [{"settleCoin": coin} for coin in coins]
        if self.category == "option":
            bases = sorted({i.base_asset for i in self.instruments.values()} - {""})
            return [{"baseCoin": coin} for coin in bases] or [{}]
        return [{}]

    def _settle_coin(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        if inst is None:
            return ""
        # Linear contracts settle in their quote coin, inverse ones in their base coin.
        return inst.base_asset if self.category == "inverse" else inst.quote_asset

    # ----------------------------------------------------------------- pushes

    def _on_push(self, payload: bytes) -> None:
        head = payload[:200]
        if b'"topic":"order' in head:
            self._on_orders(payload)
            return
        message = orjson.loads(payload)
        if not isinstance(message, dict):
            return
        topic = str(message.get("topic", ""))
        data = message.get("data") or []
        if topic.startswith("order"):
            for row in data:
                self._deliver(codec.order_report(row, full=False))
        elif topic.startswith("execution"):
            for item in data:
                report = codec.execution_report(item)
                if report is not None:
                    self._deliver(report)
        elif topic.startswith("position"):
            rows = [codec.position_row(item) for item in data]
            for symbol, amount in self._positions.pushed(rows).items():
                self._listener.on_venue_position(symbol, amount)

    def _on_orders(self, payload: bytes) -> None:
        try:
            # The updates' text fields are read (and checked as UTF-8) on access.
            reports = [codec.update_report(u) for u in bybit_order_updates(payload)]
        except ValueError as exc:
            log.error("undecodable order push (%s): %r", exc, payload[:300])
            return
        for report in reports:
            self._deliver(report)

    def _deliver(self, report: ExecutionReport) -> None:
        vid = report.venue_client_id
        if report.status in TERMINAL:
            # Forgotten a little later, so that the watchdog of a request answered
            # just before still sees the order as settled.
            self._last_push[vid] = float("inf")
            asyncio.get_running_loop().call_later(
                PUSH_WATCHDOG_S * 2, self._last_push.pop, vid, None
            )
        elif self._last_push.get(vid) != float("inf"):
            self._last_push[vid] = time.monotonic()
        self._listener.on_report(report)

    # ----------------------------------------------------------------- market data

    def trade_feed(self, symbol: str, on_trade: Callable[[Trade], None]) -> Feed:
        inst = self.instruments[symbol]
        scanner = TradeScanner(inst.price_grid.step, inst.qty_grid.step)
        url = f"{self._ws_url}/v5/public/{self.category}"
        if self.category == "option":
            # Options publish one topic per base coin; keep this symbol's trades.
            topic = f"publicTrade.{inst.base_asset}"
            marker = symbol.encode()

            def on_frame(frame: bytes) -> None:
                if marker not in frame:
                    return
                message = orjson.loads(frame)
                mine = [t for t in message.get("data") or [] if t.get("s") == symbol]
                if mine:
                    for trade in scanner.bybit_trades(orjson.dumps({"data": mine})):
                        on_trade(trade)

        else:
            topic = f"publicTrade.{symbol}"
            parse = scanner.bybit_trades

            def on_frame(frame: bytes) -> None:
                try:
                    trades = parse(frame)
                except ValueError:
                    return  # not a trade push (a subscription or pong reply)
                for trade in trades:
                    on_trade(trade)

        return PublicFeed(url, topic, on_frame, f"{self.product.exchange}:{symbol} trades")

    def book(self, symbol: str) -> BybitBook:
        return BybitBook(
            f"{self._ws_url}/v5/public/{self.category}",
            self.category,
            self.instruments[symbol],
            f"{self.product.exchange}:{symbol} book",
        )
