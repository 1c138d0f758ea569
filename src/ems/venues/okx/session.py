"""An OKX order session: order entry and updates over the private WebSocket.

Orders go out as `order`, `amend-order` and `cancel-order` operations written in the call
that makes them. OKX has no cancel-by-symbol for spot and swaps, so the session keeps,
per symbol, the `batch-cancel-orders` messages for every working order it placed
(20 per message, by `clOrdId`) already serialised by the core's `OkxBatchCancel`; every
report handed to the engine updates them, and a pull only writes them.

Positions: swaps and futures report the venue's net position (`positions` channel); spot
reports the net base quantity this session has traded, counted from its own fills.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from ems._core import OkxBatchCancel, Trade, TradeScanner
from ems.errors import VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.model import TERMINAL_STATUSES, OrderStatus, OrderType, Side
from ems.venues.base import ExecutionReport, VenueListener, VenueSession, reaching
from ems.venues.feed import Feed
from ems.venues.http1 import Http1Pool
from ems.venues.ledger import PositionLedger, PositionRow, stamp
from ems.venues.okx import codec
from ems.venues.okx.products import API, CAPABILITIES, INST_TYPES, PRIVATE_PATH, PUBLIC_PATH, Hosts
from ems.venues.okx.public import OkxBook, OkxPublicFeed
from ems.venues.okx.rest import OkxRest
from ems.venues.okx.stream import QUEUE_MAX_S, ConnectionLost, PrivateSocket

if TYPE_CHECKING:
    from ems.engine.orders import Order

log = logging.getLogger("ems.okx")

ORDER_DOES_NOT_EXIST = 51603
RATE_LIMIT_CODES = frozenset({"50011", "50061"})
PAGE_SIZE = 100
PAGES_MAX = 50
REPLY_TIMEOUT_S = 10.0
"""An operation not answered in this long has an unknown outcome (the caller reconciles)."""
SUBSCRIPTIONS = [
    {"channel": "orders", "instType": "ANY"},
    {"channel": "positions", "instType": "ANY"},
]


def frame_id(frame: bytes) -> str:
    """The `id` of a message that starts `{"id":"...` (the batch-cancel builder's form)."""
    end = frame.index(b'"', 7)
    return frame[7:end].decode()


class OkxSession(VenueSession):
    """One OKX account."""

    def __init__(
        self,
        api_key: str,
        secret: str,
        passphrase: str,
        hosts: Hosts,
        listener: VenueListener,
        local_address: str | None = None,
        use_margin: bool = False,
    ) -> None:
        self.capabilities = CAPABILITIES
        self.instruments = {}
        self._api_key = api_key
        self._secret = secret
        self._passphrase = passphrase
        self._hosts = hosts
        self._listener = listener
        self._local_address = local_address
        self._use_margin = use_margin
        self._meta: dict[str, codec.OkxInstrument] = {}
        self._pool: Http1Pool | None = None
        self._rest: OkxRest | None = None
        self._socket: PrivateSocket | None = None
        self._cancels: dict[str, OkxBatchCancel] = {}
        self._own: dict[str, Order] = {}
        self._counted: dict[str, int] = {}
        self._spot_net: dict[str, int] = {}
        self._positions = PositionLedger()
        self.pull_messages = 0
        """batch-cancel-orders messages written by pulls (for tests and metrics)."""

    @property
    def rest(self) -> OkxRest:
        if self._rest is None:
            raise RuntimeError("session not started")
        return self._rest

    @property
    def socket(self) -> PrivateSocket:
        if self._socket is None:
            raise RuntimeError("session not started")
        return self._socket

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._pool = Http1Pool(self._hosts.rest_url, self._local_address)
        self._rest = OkxRest(
            self._pool, self._api_key, self._secret, self._passphrase, self._hosts.demo
        )
        try:
            await self._pool.warm(1)
            await self._rest.sync_clock()
            rows: list[dict[str, Any]] = []
            for kind in INST_TYPES:
                rows += await self._rest.get(
                    f"{API}/public/instruments", {"instType": kind}, signed=False
                )
            self.load_instruments(rows)
            await self._rest.get(f"{API}/account/balance")  # refuses bad credentials
            self._socket = PrivateSocket(
                self._hosts.ws_url + PRIVATE_PATH,
                self._api_key,
                self._secret,
                self._passphrase,
                SUBSCRIPTIONS,
                self._on_push,
                self._listener.on_stream_state,
                self._rest.now_ms,
            )
            await reaching("wsUrl", self._socket.start())
            # Read once position pushes flow, so that no fill falls between the two
            # unseen; the ledger orders the list against pushes that cross it.
            for symbol, position in (await self._venue_positions()).items():
                self._listener.on_venue_position(symbol, position)
        except BaseException:
            await self.stop()
            raise

    def load_instruments(self, rows: list[dict[str, Any]]) -> None:
        """Takes the instruments of `/public/instruments` replies (all types)."""
        self.instruments, self._meta = codec.instruments(rows)

    def pull_messages_for(self, symbol: str) -> list[bytes]:
        """The ready batch-cancel messages of a symbol (what a pull writes)."""
        builder = self._cancels.get(symbol)
        return builder.pull() if builder is not None else []

    def track_insert(self, order: Order) -> None:
        """Adds an order to the symbol's ready batch-cancel messages (as `insert` does)."""
        self._own[order.venue_client_id] = order
        self._builder(order.symbol).insert(order.venue_client_id)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.stop()
            self._socket = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def drop_stream(self) -> None:
        """Closes the private connection so that it reconnects (used by tests)."""
        if self._socket is not None:
            self._socket.drop()

    def trade_feed(self, symbol: str, on_trade: Callable[[Trade], None]) -> Feed:
        inst = self.instruments[symbol]
        parse = TradeScanner(inst.price_grid.step, inst.qty_grid.step).okx_trades

        def on_frame(frame: bytes) -> None:
            try:
                trades = parse(frame)
            except ValueError:
                return  # not a trade push (a subscription reply, a pong)
            for trade in trades:
                on_trade(trade)

        return OkxPublicFeed(
            self._hosts.ws_url + PUBLIC_PATH, "trades", symbol, on_frame, f"okx:{symbol} trades"
        )

    def book(self, symbol: str) -> OkxBook:
        return OkxBook(
            self._hosts.ws_url + PUBLIC_PATH, self.instruments[symbol], f"okx:{symbol} book"
        )

    # ------------------------------------------------------------------ reports
    def account(self, report: ExecutionReport) -> None:
        """Keeps the ready batch-cancel messages and spot positions in step with a report
        (a fill counts once: each order's counted quantity only grows)."""
        vid = report.venue_client_id
        order = self._own.get(vid)
        if order is None:
            return
        if report.status in TERMINAL_STATUSES:
            builder = self._cancels.get(order.symbol)
            if builder is not None:
                builder.remove(vid)
        meta = self._meta.get(order.symbol)
        if meta is None or meta.inst_type != "SPOT" or not report.cum_qty:
            return
        grid = order.instrument.qty_grid
        try:
            cum = grid.units(report.cum_qty)
        except ValueError:
            return
        delta = cum - self._counted.get(vid, 0)
        if delta <= 0:
            return
        self._counted[vid] = cum
        net = self._spot_net.get(order.symbol, 0) + (delta if order.side == Side.BUY else -delta)
        self._spot_net[order.symbol] = net
        self._listener.on_venue_position(order.symbol, grid.value(net))

    def _on_push(self, frame: bytes) -> None:
        head = frame[:80]
        if b'"channel":"orders"' in head:
            try:
                reports = codec.push_reports(frame)
            except ValueError as exc:
                log.error("unreadable orders push (%s): %r", exc, frame[:300])
                return
            for report in reports:
                self._listener.on_report(report)
        elif b'"channel":"positions"' in head:
            rows = self._position_rows(orjson.loads(frame).get("data", []))
            for symbol, amount in self._positions.pushed(rows).items():
                self._listener.on_venue_position(symbol, amount)

    # ------------------------------------------------------------------ orders
    def _inst_arg(self, symbol: str) -> dict[str, Any]:
        meta = self._meta[symbol]
        # Since OKX's 2026 change the WebSocket order operations name the instrument by
        # its numeric instIdCode; instId remains for venues that do not publish codes.
        if meta.inst_id_code is not None:
            return {"instIdCode": meta.inst_id_code}
        return {"instId": symbol}

    def _builder(self, symbol: str) -> OkxBatchCancel:
        builder = self._cancels.get(symbol)
        if builder is None:
            meta = self._meta[symbol]
            prefix = f"c{len(self._cancels):x}x"
            if meta.inst_id_code is not None:
                builder = OkxBatchCancel(
                    inst_id_code=meta.inst_id_code, by="clOrdId", request_prefix=prefix
                )
            else:
                builder = OkxBatchCancel(inst_id=symbol, by="clOrdId", request_prefix=prefix)
            self._cancels[symbol] = builder
        return builder

    def order_args(self, order: Order) -> dict[str, Any]:
        """The `order` operation's argument for a new order."""
        meta = self._meta[order.symbol]
        inst = order.instrument
        args = self._inst_arg(order.symbol)
        args["tdMode"] = codec.td_mode(meta.inst_type, self._use_margin)
        args["side"] = "buy" if order.side == Side.BUY else "sell"
        if meta.inst_type == "SPOT" and args["tdMode"] == "cross":
            # A cross MARGIN order names its margin currency in "Spot and futures mode"
            # (the venue refuses it without one; other account modes ignore it): the
            # quote currency a buy borrows, the base currency a sell borrows.
            args["ccy"] = inst.quote_asset if order.side == Side.BUY else inst.base_asset
        args["ordType"] = codec.ord_type(order.order_type, order.tif)
        args["sz"] = inst.qty_grid.format(order.qty)
        if order.order_type == OrderType.MARKET:
            if meta.inst_type == "SPOT":
                # Spot market buys are sized in the quote currency unless told otherwise.
                args["tgtCcy"] = "base_ccy"
        else:
            args["px"] = inst.price_grid.format(order.price)
        args["clOrdId"] = order.venue_client_id
        return args

    def insert(self, order: Order) -> Awaitable[ExecutionReport | None]:
        args = self.order_args(order)
        sent = self.socket.request("order", [args])
        self.track_insert(order)
        return self._insert_reply(sent, order)

    async def _insert_reply(
        self, sent: Awaitable[dict[str, Any]], order: Order
    ) -> ExecutionReport | None:
        vid = order.venue_client_id
        try:
            reply = await _reply(sent)
            item = _single_item(reply)
        except VenueUnknownOutcome:
            raise
        except VenueError:
            self._forget(order)
            raise
        if str(item.get("sCode")) != "0":
            self._forget(order)
            raise VenueError(codec.item_error(item), _int(item.get("sCode")))
        report = ExecutionReport(
            venue_client_id=vid,
            exch_order_id=str(item.get("ordId", "")),
            symbol=order.symbol,
            status=OrderStatus.NEW,
            cum_qty="",
            exch_time=int(item.get("ts") or 0) * codec.MS,
        )
        return report

    def _forget(self, order: Order) -> None:
        builder = self._cancels.get(order.symbol)
        if builder is not None:
            builder.remove(order.venue_client_id)

    def amend_args(self, order: Order, price: int, qty: int) -> dict[str, Any]:
        """The `amend-order` argument: only what changes (sizes are the order's total)."""
        inst = order.instrument
        args = self._inst_arg(order.symbol)
        args["clOrdId"] = order.venue_client_id
        if qty != order.qty:
            args["newSz"] = inst.qty_grid.format(qty)
        if price != order.price:
            args["newPx"] = inst.price_grid.format(price)
        return args

    def cancel_args(self, order: Order) -> dict[str, Any]:
        """The `cancel-order` argument."""
        args = self._inst_arg(order.symbol)
        args["clOrdId"] = order.venue_client_id
        return args

    async def amend(self, order: Order, price: int, qty: int) -> ExecutionReport | None:
        inst = order.instrument
        args = self.amend_args(order, price, qty)
        item = _single_item(await _reply(self.socket.request("amend-order", [args])))
        if str(item.get("sCode")) != "0":
            raise VenueError(codec.item_error(item), _int(item.get("sCode")))
        report = ExecutionReport(
            venue_client_id=order.venue_client_id,
            exch_order_id=str(item.get("ordId", "")),
            symbol=order.symbol,
            status=order.status,
            cum_qty="",
            price=inst.price_grid.format(price),
            qty=inst.qty_grid.format(qty),
            amended=True,
        )
        return report

    def cancel(self, order: Order) -> Awaitable[ExecutionReport | None]:
        args = self.cancel_args(order)
        sent = self.socket.request("cancel-order", [args])
        return self._cancel_reply(sent, order, args)

    async def _cancel_reply(
        self, sent: Awaitable[dict[str, Any]], order: Order, args: dict[str, Any]
    ) -> ExecutionReport | None:
        try:
            reply = await _reply(sent)
        except ConnectionLost:
            # A cancel is safe to repeat: send it once more on the next connection.
            if not await self.socket.wait_ready(QUEUE_MAX_S):
                raise
            reply = await _reply(self.socket.request("cancel-order", [args]))
        item = _single_item(reply)
        if str(item.get("sCode")) != "0":
            raise VenueError(codec.item_error(item), _int(item.get("sCode")))
        report = ExecutionReport(
            venue_client_id=order.venue_client_id,
            exch_order_id=str(item.get("ordId", "")),
            symbol=order.symbol,
            status=OrderStatus.CANCELLED,
            cum_qty="",
            exch_time=int(item.get("ts") or 0) * codec.MS,
        )
        return report

    async def cancel_all(self, symbol: str, orders: list[Order], whole_symbol: bool) -> int:
        builder = self._cancels.get(symbol)
        sent: list[tuple[asyncio.Future[dict[str, Any]], bytes]] = []
        if builder is not None:
            socket = self.socket
            for frame in builder.pull():
                sent.append((socket.send_raw(frame, frame_id(frame)), frame))
        messages = len(sent)
        # Orders this session did not place through `insert` (none in normal operation).
        stray = [o for o in orders if builder is None or o.venue_client_id not in builder]
        if stray:
            messages += await self._cancel_batches(symbol, [o.venue_client_id for o in stray])
        lost: list[str] = []
        for future, frame in sent:
            try:
                reply = await _reply(future)
            except VenueUnknownOutcome:
                lost += _ids_in(frame)
                continue
            except VenueError as exc:
                log.warning("pull on %s not sent: %s", symbol, exc)
                continue
            self._pull_reply(symbol, reply)
        if lost and await self.socket.wait_ready(QUEUE_MAX_S):
            # The connection dropped under the pull: cancel what is left once more.
            live = [vid for vid in lost if builder is not None and vid in builder]
            messages += await self._cancel_batches(symbol, live)
        self.pull_messages += messages
        return messages

    async def _cancel_batches(self, symbol: str, ids: list[str]) -> int:
        inst = self._inst_arg(symbol)
        futures = [
            _reply(
                self.socket.request(
                    "batch-cancel-orders", [{**inst, "clOrdId": vid} for vid in ids[i : i + 20]]
                )
            )
            for i in range(0, len(ids), 20)
        ]
        for result in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(result, dict):
                self._pull_reply(symbol, result)
            else:
                log.warning("batch cancel on %s failed: %s", symbol, result)
        return len(futures)

    def _pull_reply(self, symbol: str, reply: dict[str, Any]) -> None:
        for item in reply.get("data") or []:
            vid = str(item.get("clOrdId", ""))
            if str(item.get("sCode")) == "0":
                self._listener.on_report(
                    ExecutionReport(
                        venue_client_id=vid,
                        exch_order_id=str(item.get("ordId", "")),
                        symbol=symbol,
                        status=OrderStatus.CANCELLED,
                        cum_qty="",
                    )
                )
            else:
                log.info("pull: %s not cancelled: %s", vid, codec.item_error(item))
        if not reply.get("data") and str(reply.get("code")) != "0":
            log.warning("pull on %s refused: %s %s", symbol, reply.get("code"), reply.get("msg"))

    async def query(self, order: Order) -> ExecutionReport | None:
        try:
            data = await self.rest.get(
                f"{API}/trade/order", {"instId": order.symbol, "clOrdId": order.venue_client_id}
            )
        except VenueError as exc:
            if exc.code == ORDER_DOES_NOT_EXIST:
                self._forget(order)
                return None
            raise
        if not data:
            self._forget(order)
            return None
        report = codec.query_report(data[0])
        if order.venue_client_id not in self._own:
            self.restore_order(order)
        return report

    async def recent_orders(self, symbols: set[str], since_ms: int) -> list[ExecutionReport]:
        """Pending orders of every instrument type the session trades, and those on
        `symbols` finished since `since_ms` (7-day history)."""
        out: list[ExecutionReport] = []
        for kind in INST_TYPES:
            after = ""
            for _ in range(PAGES_MAX):
                rows = await self.rest.get(
                    f"{API}/trade/orders-pending",
                    {"instType": kind, "after": after, "limit": PAGE_SIZE},
                )
                out += [codec.query_report(r) for r in rows if r.get("instId") in self._meta]
                if len(rows) < PAGE_SIZE:
                    break
                after = str(rows[-1].get("ordId", ""))
        kinds = sorted({self._meta[s].inst_type for s in symbols if s in self._meta})
        for kind in kinds:
            # Newest first, a page at a time, back to `since_ms`.
            after = ""
            for _ in range(PAGES_MAX):
                query = {"instType": kind, "begin": since_ms, "limit": PAGE_SIZE}
                if after:
                    query["after"] = after
                rows = await self.rest.get(f"{API}/trade/orders-history", query)
                out += [codec.query_report(r) for r in rows if r.get("instId") in symbols]
                if len(rows) < PAGE_SIZE:
                    break
                after = str(rows[-1].get("ordId", ""))
            else:
                log.warning("%s orders since %d: more than %d pages", kind, since_ms, PAGES_MAX)
        return out

    def adopt(self, order: Order, report: ExecutionReport) -> None:
        vid = order.venue_client_id
        if vid in self._own:
            return
        # Counted from nothing: what it filled before it was found is not in the
        # journal's position (the order was not), so it moves the position now.
        self._own[vid] = order
        self._counted[vid] = 0
        if report.status not in TERMINAL_STATUSES:
            self._builder(order.symbol).insert(vid)

    def restore_order(self, order: Order) -> None:
        vid = order.venue_client_id
        if vid in self._own:
            return
        # The fills the journal has of it are in the restored position already; a push
        # before its reconciliation query counts only what is beyond them. A working
        # order rejoins the ready batch-cancel messages.
        self._own[vid] = order
        self._counted[vid] = order.leg_cum.get(vid, 0)
        if order.working:
            self._builder(order.symbol).insert(vid)

    def restore_position(self, symbol: str, position: float) -> None:
        meta = self._meta.get(symbol)
        inst = self.instruments.get(symbol)
        if meta is None or inst is None or meta.inst_type != "SPOT":
            return
        try:
            # Spot positions are counted from the session's fills: go on from the journal's.
            self._spot_net[symbol] = inst.qty_grid.units(position)
        except ValueError:
            log.error("restored %s position %r is off the quantity grid", symbol, position)

    def lists_position(self, symbol: str) -> bool:
        meta = self._meta.get(symbol)
        return meta is not None and meta.inst_type != "SPOT"

    async def _venue_positions(self) -> dict[str, float]:
        mark = self._positions.mark()
        items = await self.rest.get(f"{API}/account/positions")
        return self._positions.listed(mark, self._position_rows(items))

    def _position_rows(self, items: list[dict[str, Any]]) -> list[PositionRow]:
        """Net-mode derivative positions as the ledger keeps them, stamped by `uTime`
        (spot holdings are counted from fills instead, see `account`)."""
        rows: list[PositionRow] = []
        for item in items:
            inst_id = item.get("instId", "")
            meta = self._meta.get(inst_id)
            if meta is not None and meta.inst_type != "SPOT" and item.get("posSide") == "net":
                amount = float(item.get("pos") or 0)
                rows.append((inst_id, "net", stamp(item.get("uTime")), amount))
        return rows

    async def positions(self) -> dict[str, float]:
        out = await self._venue_positions()
        for symbol, net in self._spot_net.items():
            out[symbol] = self.instruments[symbol].qty_grid.value(net)
        return out


async def _reply(sent: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """An operation's reply; silence past `REPLY_TIMEOUT_S` is an unknown outcome."""
    try:
        return await asyncio.wait_for(sent, REPLY_TIMEOUT_S)
    except TimeoutError:
        raise VenueUnknownOutcome(f"no reply in {REPLY_TIMEOUT_S:g}s") from None


def _single_item(reply: dict[str, Any]) -> dict[str, Any]:
    """The one result item of a single operation; a refused request becomes `VenueError`."""
    code = str(reply.get("code", ""))
    if code in RATE_LIMIT_CODES:
        raise VenueRateLimited(f"{code} {reply.get('msg')}", _int(code), 429, 1.0)
    data = reply.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        item = data[0]
        if str(item.get("sCode")) in RATE_LIMIT_CODES:
            raise VenueRateLimited(codec.item_error(item), _int(item.get("sCode")), 429, 1.0)
        return item
    raise VenueError(f"{code} {reply.get('msg')}", _int(code))


def _ids_in(frame: bytes) -> list[str]:
    """The client order ids a batch-cancel message names."""
    out = []
    for part in frame.split(b'"clOrdId":"')[1:]:
        out.append(part[: part.index(b'"')].decode())
    return out


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
