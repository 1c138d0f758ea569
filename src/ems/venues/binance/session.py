"""A Binance order session (spot, USD-M, COIN-M): REST order entry, WS order updates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ems._core import Trade, TradeScanner, binance_order_update
from ems.errors import VenueError, VenueUnknownOutcome
from ems.model import OrderType, Side
from ems.venues.base import (
    ArmedInsert,
    ExecutionReport,
    VenueListener,
    VenueSession,
    reaching,
)
from ems.venues.binance import codec
from ems.venues.binance.book import BinanceBook
from ems.venues.binance.products import Product
from ems.venues.binance.rest import INVALID_TIMESTAMP, BinanceRest, encode_query
from ems.venues.binance.stream import UserStream
from ems.venues.feed import Feed
from ems.venues.http1 import Http1Pool, HttpError
from ems.venues.ledger import PositionLedger, stamp

if TYPE_CHECKING:
    from ems.engine.orders import Order

log = logging.getLogger("ems.binance")

NO_SUCH_ORDER = -2013
_WARM_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.001",
    "price": "10000",
    "newClientOrderId": "ems0000warmx1",
}
BATCH_CANCEL_MAX = 10
ALL_ORDERS_LIMIT = 1000
"""The most orders one `allOrders` answer holds (the venue's maximum `limit`)."""
DAY_MS = 86_400_000
"""The longest `startTime`-`endTime` window `allOrders` takes."""


class ReplaceListener(VenueListener, Protocol):
    """The engine calls a spot cancel-replace needs."""

    def begin_replace(self, order: Order) -> str: ...

    def finish_replace(self, order: Order, new_leg: ExecutionReport | None) -> None: ...

    def fail_replace(self, order: Order, cancelled: bool, message: str) -> None: ...


class BinanceSession(VenueSession):
    """One Binance account on one product."""

    def __init__(
        self,
        product: Product,
        api_key: str,
        secret: str,
        rest_url: str,
        ws_url: str,
        listener: ReplaceListener,
        local_address: str | None = None,
        md_url: str | None = None,
        ws_field: str = "wsUrl",
    ) -> None:
        self.product = product
        self.capabilities = product.capabilities
        self.instruments = {}
        self._api_key = api_key
        self._secret = secret
        self._rest_url = rest_url.rstrip("/")
        self._ws_url = ws_url.rstrip("/")
        self._md_url = (md_url or ws_url).rstrip("/")
        self._ws_field = ws_field
        """The startOrderHandler setting that named `ws_url`, for connection errors."""
        self._listener = listener
        self._local_address = local_address
        self._pool: Http1Pool | None = None
        self._rest: BinanceRest | None = None
        self._stream: UserStream | None = None
        self._positions = PositionLedger()
        self._listen_key = ""

    @property
    def rest(self) -> BinanceRest:
        if self._rest is None:
            raise RuntimeError("session not started")
        return self._rest

    def _path(self, name: str) -> str:
        return f"{self.product.api}/{name}"

    async def start(self) -> None:
        self._pool = Http1Pool(self._rest_url, self._local_address)
        self._rest = BinanceRest(self._pool, self._api_key, self._secret)
        try:
            await self._pool.warm(2)
            await self._rest.sync_clock(self._path("time"))
            info = await self._rest.request("GET", self._path("exchangeInfo"), signed=False)
            self.instruments = codec.instruments(info)
            params = {"omitZeroBalances": "true"} if self.product.spot else {}
            await self._rest.request("GET", self.product.account_path, params)
            if self.product.spot:
                self._stream = UserStream(
                    self._spot_stream_url,
                    self._on_event,
                    self._listener.on_stream_state,
                    api_key=self._api_key,
                    secret=self._secret,
                    fast=self._on_order_frame,
                )
            else:
                self._stream = UserStream(
                    self._futures_stream_url,
                    self._on_event,
                    self._listener.on_stream_state,
                    keepalive=self._keep_listen_key,
                    fast=self._on_order_frame,
                )
            await reaching(self._ws_field, self._stream.start())
            if not self.product.spot:
                # Read once ACCOUNT_UPDATE events flow, so that no fill falls between the
                # two unseen; the ledger orders the list against events that cross it.
                for symbol, position in (await self.positions()).items():
                    self._listener.on_venue_position(symbol, position)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def drop_stream(self) -> None:
        """Closes the user-data connection so that it reconnects (used by tests)."""
        if self._stream is not None:
            self._stream.drop()

    def warm(self) -> None:
        if self._rest is not None:
            self._rest.sign(_WARM_PARAMS).encode()

    def book(self, symbol: str) -> BinanceBook:
        return BinanceBook(self, symbol, self._md_url)

    async def raw_get(self, name: str, params: dict[str, object]) -> bytes:
        """An unsigned GET whose body is returned as bytes (for the core's parsers)."""
        target = f"{self._path(name)}?{encode_query(params)}"
        try:
            resp = await self.rest.pool.request("GET", target, {})
        except HttpError as exc:
            raise VenueUnknownOutcome(f"GET {name}: {exc}") from exc
        if resp.status >= 300:
            raise VenueError(f"GET {name}: HTTP {resp.status}", None, resp.status)
        return resp.body

    def trade_feed(self, symbol: str, on_trade: Callable[[Trade], None]) -> Feed:
        inst = self.instruments[symbol]
        scanner = TradeScanner(inst.price_grid.step, inst.qty_grid.step)
        url = f"{self._md_url}/ws/{symbol.lower()}@trade"
        return Feed(
            url,
            on_trade,
            name=f"{self.product.exchange}:{symbol} trades",
            parse=scanner.binance_trade,
        )

    async def _spot_stream_url(self) -> str:
        return f"{self._ws_url}/ws-api/v3"

    async def _futures_stream_url(self) -> str:
        data = await self.rest.request("POST", self._path("listenKey"), signed=False, key_only=True)
        self._listen_key = data["listenKey"]
        return f"{self._ws_url}/ws/{self._listen_key}"

    async def _keep_listen_key(self) -> None:
        await self.rest.request("PUT", self._path("listenKey"), signed=False, key_only=True)

    def _on_order_frame(self, frame: bytes) -> bool:
        """Order updates are scanned by the core straight from the frame's bytes."""
        head = frame[:64]
        if b"executionReport" not in head and b"ORDER_TRADE_UPDATE" not in head:
            return False
        try:
            # The update's text fields are read (and checked as UTF-8) on access.
            report = codec.update_report(binance_order_update(frame))
        except ValueError as exc:
            log.error("undecodable order update (%s): %r", exc, frame[:200])
            return True
        self._listener.on_report(report)
        return True

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("e")
        if kind in ("executionReport", "ORDER_TRADE_UPDATE"):
            decode = (
                codec.execution_report if kind == "executionReport" else codec.order_trade_update
            )
            try:
                report = decode(event)
            except ValueError as exc:
                log.error("undecodable order event (%s): %r", exc, str(event)[:200])
                return
            self._listener.on_report(report)
        elif kind == "ACCOUNT_UPDATE":
            at = stamp(event.get("T"))
            rows = [
                (str(p["s"]), str(p.get("ps") or "BOTH"), at, float(p.get("pa", 0)))
                for p in event.get("a", {}).get("P", [])
            ]
            for symbol, amount in self._positions.pushed(rows).items():
                self._listener.on_venue_position(symbol, amount)
        elif kind == "listenKeyExpired" and self._stream is not None:
            self._stream.drop()

    def _start(self, method: str, name: str, params: dict[str, object]) -> Awaitable[Any]:
        """Writes the request now (when a connection is idle); the result awaits the reply."""
        return self._retry_clock(
            self.rest.start(method, self._path(name), params), method, name, params
        )

    async def _retry_clock(
        self, first: Awaitable[Any], method: str, name: str, params: dict[str, object]
    ) -> Any:
        try:
            return await first
        except VenueError as exc:
            if exc.code != INVALID_TIMESTAMP:
                raise
            # Refused for our clock, so nothing was done: resync and send once more.
            await self.rest.sync_clock(self._path("time"))
            return await self.rest.request(method, self._path(name), params)

    async def _send(self, method: str, name: str, params: dict[str, object]) -> Any:
        return await self._start(method, name, params)

    def _order_params(self, order: Order, qty: int, client_id: str) -> dict[str, object]:
        """A new order's parameters (post-only is LIMIT_MAKER on spot, GTX on futures;
        market orders carry neither price nor timeInForce)."""
        inst = order.instrument
        params: dict[str, object] = {
            "symbol": order.symbol,
            "side": "BUY" if order.side == Side.BUY else "SELL",
        }
        if order.order_type == OrderType.MARKET:
            params["type"] = "MARKET"
        elif order.order_type == OrderType.POSTONLY and self.product.spot:
            params["type"] = "LIMIT_MAKER"
        else:
            params["type"] = "LIMIT"
            params["timeInForce"] = (
                "GTX" if order.order_type == OrderType.POSTONLY else order.tif.value.upper()
            )
        params["quantity"] = inst.qty_grid.format(qty)
        if order.order_type != OrderType.MARKET:
            params["price"] = inst.price_grid.format(
                order.pending_price if order.replacing_to else order.price
            )
        params["newClientOrderId"] = client_id
        params["newOrderRespType"] = "RESULT"
        return params

    def insert(self, order: Order) -> Awaitable[ExecutionReport | None]:
        sent = self._start(
            "POST", "order", self._order_params(order, order.qty, order.venue_client_id)
        )
        return self._reply_report(sent, order.venue_client_id)

    def arm_insert(self, order: Order) -> ArmedInsert:
        params = self._order_params(order, order.qty, order.venue_client_id)
        vid = order.venue_client_id

        def finish(sent: Awaitable[Any]) -> Awaitable[ExecutionReport | None]:
            return self._reply_report(self._retry_clock(sent, "POST", "order", params), vid)

        return self.rest.arm("POST", self._path("order"), params, finish)

    @staticmethod
    async def _reply_report(sent: Awaitable[Any], venue_client_id: str) -> ExecutionReport:
        return codec.reply_report(await sent, venue_client_id)

    @staticmethod
    def amend_params(order: Order, price: int, qty: int) -> dict[str, object]:
        """Futures `PUT order`: the new absolute price and quantity of the same order."""
        inst = order.instrument
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.venue_client_id,
            "side": "BUY" if order.side == Side.BUY else "SELL",
            "quantity": inst.qty_grid.format(qty),
            "price": inst.price_grid.format(price),
        }

    @staticmethod
    def keep_priority_params(order: Order, qty: int) -> dict[str, object]:
        """Spot `PUT order/amend/keepPriority`: a smaller quantity, same id and place."""
        return {
            "symbol": order.symbol,
            "origClientOrderId": order.venue_client_id,
            "newClientOrderId": order.venue_client_id,
            "newQty": order.instrument.qty_grid.format(qty),
        }

    def cancel_replace_params(self, order: Order, qty: int, new_id: str) -> dict[str, object]:
        """Spot `POST order/cancelReplace`: cancel the current leg, then place a new one
        for what is left to fill (`qty` less the fills so far), only if the cancel worked."""
        params = self._order_params(order, qty - order.cum_qty, new_id)
        params["cancelReplaceMode"] = "STOP_ON_FAILURE"
        params["cancelOrigClientOrderId"] = order.venue_client_id
        return params

    async def amend(self, order: Order, price: int, qty: int) -> ExecutionReport | None:
        inst = order.instrument
        if not self.product.spot:
            data = await self._send("PUT", "order", self.amend_params(order, price, qty))
            report = codec.reply_report(data, order.venue_client_id)
            report.amended = True
            return report
        if price == order.price and qty < order.qty:
            # A pure size reduction keeps queue priority on spot.
            data = await self._send(
                "PUT", "order/amend/keepPriority", self.keep_priority_params(order, qty)
            )
            amended = data.get("amendedOrder", data)
            report = codec.reply_report(amended, order.venue_client_id)
            report.qty = amended.get("origQty") or amended.get("qty") or inst.qty_grid.format(qty)
            report.amended = True
            return report
        return await self._cancel_replace(order, qty)

    async def _cancel_replace(self, order: Order, qty: int) -> ExecutionReport | None:
        new_id = self._listener.begin_replace(order)
        params = self.cancel_replace_params(order, qty, new_id)
        try:
            data = await self._send("POST", "order/cancelReplace", params)
        except VenueError as exc:
            detail = exc.data if isinstance(exc.data, dict) else {}
            cancelled = detail.get("cancelResult") == "SUCCESS"
            self._listener.fail_replace(order, cancelled, str(exc))
            return None
        new_leg = data.get("newOrderResponse")
        report = codec.reply_report(new_leg, new_id) if isinstance(new_leg, dict) else None
        self._listener.finish_replace(order, report)
        return None

    def cancel(self, order: Order) -> Awaitable[ExecutionReport | None]:
        sent = self._start(
            "DELETE", "order", {"symbol": order.symbol, "origClientOrderId": order.venue_client_id}
        )
        return self._reply_report(sent, order.venue_client_id)

    async def cancel_all(self, symbol: str, orders: list[Order], whole_symbol: bool) -> int:
        if whole_symbol:
            name = "openOrders" if self.product.spot else "allOpenOrders"
            data = await self._send("DELETE", name, {"symbol": symbol})
            if isinstance(data, list):
                for item in data:
                    vid = item.get("origClientOrderId") or item.get("clientOrderId", "")
                    self._listener.on_report(codec.reply_report(item, vid))
            return 1
        if self.product.spot:
            results = await asyncio.gather(
                *(self.cancel(o) for o in orders), return_exceptions=True
            )
            for order, result in zip(orders, results, strict=True):
                if isinstance(result, ExecutionReport):
                    self._listener.on_report(result)
                elif isinstance(result, Exception):
                    log.warning("cancel of %s failed: %s", order.venue_client_id, result)
            return len(orders)
        calls = 0
        for start in range(0, len(orders), BATCH_CANCEL_MAX):
            chunk = orders[start : start + BATCH_CANCEL_MAX]
            ids = orjson.dumps([o.venue_client_id for o in chunk]).decode()
            data = await self._send(
                "DELETE", "batchOrders", {"symbol": symbol, "origClientOrderIdList": ids}
            )
            calls += 1
            for item in data if isinstance(data, list) else []:
                if "orderId" in item:
                    self._listener.on_report(codec.reply_report(item))
                else:
                    log.warning("batch cancel item refused: %s", item)
        return calls

    async def query(self, order: Order) -> ExecutionReport | None:
        try:
            data = await self.rest.request(
                "GET",
                self._path("order"),
                {"symbol": order.symbol, "origClientOrderId": order.venue_client_id},
            )
        except VenueError as exc:
            if exc.code == NO_SUCH_ORDER:
                return None
            raise
        return codec.query_report(data)

    async def positions(self) -> dict[str, float]:
        if not self.product.positions_path:
            return {}
        mark = self._positions.mark()
        data = await self.rest.request("GET", self.product.positions_path)
        rows = [
            (
                str(p["symbol"]),
                str(p.get("positionSide") or "BOTH"),
                stamp(p.get("updateTime")),
                float(p.get("positionAmt", 0)),
            )
            for p in data
        ]
        return self._positions.listed(mark, rows)

    async def recent_orders(self, symbols: set[str], since_ms: int) -> list[ExecutionReport]:
        """Open orders on every symbol, plus each traded symbol's orders since `since_ms`."""
        seen: dict[str, ExecutionReport] = {}
        for item in await self.rest.request("GET", self._path("openOrders")):
            report = codec.query_report(item)
            seen[report.venue_client_id] = report
        for symbol in sorted(symbols):
            for item in await self._orders_since(symbol, since_ms):
                report = codec.query_report(item)
                seen.setdefault(report.venue_client_id, report)
        return list(seen.values())

    async def _orders_since(self, symbol: str, since_ms: int) -> list[dict[str, Any]]:
        """Every order of `symbol` from `since_ms` to now. `allOrders` answers at most
        `ALL_ORDERS_LIMIT` orders for a window of at most a day: a window that comes back
        full is split in two and each half asked again, so a busy symbol is listed whole
        (whichever end of a full window the venue chose to answer with)."""
        now = self.rest.timestamp()
        windows = [
            (start, min(start + DAY_MS - 1, now)) for start in range(since_ms, now + 1, DAY_MS)
        ]
        out: list[dict[str, Any]] = []
        while windows:
            start, end = windows.pop()
            params = {"symbol": symbol, "startTime": start, "endTime": end}
            items = await self.rest.request(
                "GET", self._path("allOrders"), {**params, "limit": ALL_ORDERS_LIMIT}
            )
            if len(items) >= ALL_ORDERS_LIMIT and end > start:
                middle = (start + end) // 2
                windows += [(start, middle), (middle + 1, end)]
                continue
            out += items
        return out
