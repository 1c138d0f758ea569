"""A Deribit order session over FIX 4.4 (protocols.md D).

Order entry: NewOrderSingle (D; post-only is ExecInst `6A`, which rejects instead of
repricing), OrderCancelRequest (F), OrderCancelReplaceRequest (G) for updates and
OrderMassCancelRequest (q) for a pull. Execution reports (8) go to the engine as they
arrive; the order-entry calls return once the request is on the wire (`insert`), or
when the venue has answered (`cancel`, `amend`, `cancel_all`, `query`).

Quantities are Deribit contracts (BTC-PERPETUAL: 1 contract = 10 USD). Positions are
the venue's PositionReport (AP) at logon and after every reconnect, moved by each fill
(ExecType F, LastQty 32) reported after it; FIX delivers every report once and in
order, so the sum is exact, with or without a trade id on the fill.

An update is settled by the venue's answer to it: OrderCancelReject (9), or the first
ExecutionReport for the order that is not a fill and shows the requested price and
quantity. Deribit's order-entry session reports a change with ExecType I (order
status); 5 (replaced) is listed for drop copy only, and is taken as well.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ems._core import BUY, SELL, FixMessage, Trade
from ems.errors import VenueError, VenueUnknownOutcome
from ems.model import OrderStatus, OrderType, Side
from ems.venues.base import ExecutionReport, VenueListener, VenueSession, reaching
from ems.venues.deribit import codec
from ems.venues.deribit.book import DeribitBook
from ems.venues.deribit.feed import FixTradeFeed
from ems.venues.deribit.fixsession import FixInitiator, NotReady, SeqFile, session_file
from ems.venues.deribit.products import CAPABILITIES, TARGET_COMP_ID, TIF_CODES, Endpoint
from ems.venues.feed import Feed

if TYPE_CHECKING:
    from ems.engine.orders import Order

log = logging.getLogger("ems.deribit")

HEARTBEAT_S = 10
REPLY_TIMEOUT_S = 10.0
_ENDED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED})
_FINAL = _ENDED | {OrderStatus.FILLED}


async def _sent() -> ExecutionReport | None:
    """What `insert` returns: the request is on the wire; reports follow on the session."""
    return None


async def _refused(exc: Exception) -> ExecutionReport | None:
    raise exc


def sender_comp_id(session_id: str) -> str:
    """SenderCompID of an ems session: short, stable, and free of FIX delimiters."""
    return "ems-" + hashlib.sha256(session_id.encode()).hexdigest()[:12]


class DeribitSession(VenueSession):
    """One Deribit account over one FIX session."""

    def __init__(
        self,
        *,
        session_id: str,
        api_key: str,
        secret: str,
        endpoint: Endpoint,
        listener: VenueListener,
        local_address: str | None = None,
        cancel_on_disconnect: bool | None = None,
        state_file: bool = True,
    ) -> None:
        self.capabilities = CAPABILITIES
        self.instruments = {}
        self.endpoint = endpoint
        self._listener = listener
        self._api_key = api_key
        self._secret = secret
        self._local_address = local_address
        self._session_id = session_id
        self.sender = sender_comp_id(session_id)
        logon: list[tuple[int, str]] = [(9015, "Y")]
        if cancel_on_disconnect is not None:
            logon.append((9001, "Y" if cancel_on_disconnect else "N"))
        path = session_file(self.sender, TARGET_COMP_ID, api_key, str(endpoint))
        self.fix = FixInitiator(
            host=endpoint.host,
            port=endpoint.port,
            tls=ssl.create_default_context() if endpoint.tls else None,
            sender=self.sender,
            target=TARGET_COMP_ID,
            username=api_key,
            secret=secret,
            heartbeat_s=HEARTBEAT_S,
            logon_fields=logon,
            handler=self,
            seq_file=SeqFile(path if state_file else None),
            local_address=local_address,
            name=f"deribit {self.sender}",
        )
        self._ids = itertools.count(1)
        self._feeds = itertools.count(1)
        self._cancels: dict[str, asyncio.Future[None]] = {}
        self._amends: dict[str, asyncio.Future[None]] = {}
        self._amend_to: dict[str, tuple[Decimal, Decimal]] = {}
        """Price and quantity each pending update asked for."""
        self._requests: dict[str, asyncio.Future[Any]] = {}
        self._queries: dict[str, tuple[asyncio.Future[list[FixMessage]], list[FixMessage]]] = {}
        self._by_exch_id: dict[str, str] = {}
        self.venue_positions: dict[str, float] = {}
        self._started = False

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        try:
            await reaching("wsUrl", self.fix.start())
            data = await self._request("x", "sec", [(559, "4"), (263, "0")], 320)
            self.instruments = codec.instruments(data)
            self._apply_positions(await self._request("AN", "pos", [(724, "0")], 710))
            self._started = True
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.fix.stop()
        self._fail_pending(VenueUnknownOutcome("session stopped"))

    def drop_connection(self) -> None:
        """Closes the FIX connection abruptly so that it reconnects (tests)."""
        self.fix.drop()

    # ----------------------------------------------------------------- FixHandler
    def on_app(self, msg: FixMessage) -> None:
        kind = msg.msg_type
        if kind == "8":
            if 584 in msg:
                self._on_status_report(msg)
            else:
                self._on_execution_report(msg)
        elif kind == "9":
            self._on_cancel_reject(msg)
        elif kind == "j":
            self.fix.on_business_reject(msg)
        elif kind in ("r", "y"):
            self._resolve(msg.get_str(11 if kind == "r" else 320), msg)
        elif kind == "AP":
            if not self._resolve(msg.get_str(710), msg):
                self._apply_positions(msg)
        else:
            log.debug("%s: unhandled FIX message %s", self.sender, kind)

    def on_refused(self, ref: object, text: str) -> None:
        if not isinstance(ref, tuple) or len(ref) != 2:
            return
        kind, key = ref
        exc = VenueError(text)
        if kind == "D":
            self._listener.on_report(
                ExecutionReport(key, "", "", OrderStatus.REJECTED, message=text)
            )
        elif kind == "F":
            self._settle(self._cancels, key, exc)
        elif kind == "G":
            self._settle_amend(key, exc)
        elif kind == "AF":
            entry = self._queries.pop(key, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(exc)
        else:
            future = self._requests.pop(key, None)
            if future is not None and not future.done():
                future.set_exception(exc)

    def on_ready(self, first: bool) -> None:
        if first:
            return
        self._listener.on_stream_state(True, "FIX session re-established")
        asyncio.get_running_loop().create_task(self._refresh_positions())

    def on_down(self, reason: str) -> None:
        self._fail_pending(VenueUnknownOutcome(f"FIX connection lost: {reason}"))
        self._listener.on_stream_state(False, reason)

    # ----------------------------------------------------------------- inbound
    def _on_execution_report(self, msg: FixMessage) -> None:
        report = codec.execution_report(msg)
        vid = report.venue_client_id
        if report.exch_order_id and vid:
            self._by_exch_id[report.exch_order_id] = vid
        if report.last_qty and report.side is not None:
            # codec sets LastQty on fills (ExecType F) only.
            delta = float(report.last_qty)
            self._move_position(report.symbol, delta if report.side == Side.BUY else -delta)
        settles_amend = report.amended or (
            vid in self._amends and report.last_qty is None and self._shows_amend(vid, report)
        )
        if settles_amend and not report.amended:
            report.amended = True  # so the engine takes the new price and quantity
        self._listener.on_report(report)
        if report.status in _ENDED:
            # Cancelled (by us or the venue): a pending cancel is answered. A fill that
            # ends the order does not answer it: the venue still refuses the cancel (9).
            self._settle(self._cancels, vid, None)
            self._settle_amend(vid, None)
        elif settles_amend:
            self._settle_amend(vid, None)
        if (
            report.status in _FINAL
            and vid not in self._cancels
            and vid not in self._amends
            and report.exch_order_id
        ):
            self._by_exch_id.pop(report.exch_order_id, None)

    def _on_status_report(self, msg: FixMessage) -> None:
        key = msg.get_str(584) or ""
        entry = self._queries.get(key)
        if entry is None:
            return
        future, reports = entry
        if msg.get(911) != b"0":
            reports.append(msg)
        if msg.get(912) == b"Y" or msg.get(911) == b"0":
            self._queries.pop(key, None)
            if not future.done():
                future.set_result(reports)

    def _on_cancel_reject(self, msg: FixMessage) -> None:
        cl, orig = msg.get_str(11), msg.get_str(41)
        vid = cl if cl in self._cancels or cl in self._amends else None
        if vid is None and orig:
            vid = self._by_exch_id.get(orig, orig)
        if vid is None:
            return
        text = msg.get_str(58) or "cancel rejected"
        exc = VenueError(f"{text}", None, 400, {"ordStatus": msg.get_str(39)})
        pending = self._amends if msg.get(434) == b"2" else self._cancels
        if vid not in pending:
            pending = self._amends if vid in self._amends else self._cancels
        if pending is self._amends:
            self._settle_amend(vid, exc)
        else:
            self._settle(pending, vid, exc)
        if orig and vid not in self._cancels and vid not in self._amends:
            self._by_exch_id.pop(orig, None)

    def _resolve(self, key: str | None, msg: FixMessage) -> bool:
        future = self._requests.pop(key or "", None)
        if future is None:
            return False
        if not future.done():
            future.set_result(msg)
        return True

    def _shows_amend(self, vid: str, report: ExecutionReport) -> bool:
        """The report shows the price and quantity the pending update asked for."""
        price, qty = self._amend_to.get(vid, (None, None))
        try:
            return (
                report.price is not None
                and report.qty is not None
                and Decimal(report.price) == price
                and Decimal(report.qty) == qty
            )
        except InvalidOperation:
            return False

    def _settle_amend(self, vid: str, exc: Exception | None) -> None:
        self._amend_to.pop(vid, None)
        self._settle(self._amends, vid, exc)

    @staticmethod
    def _settle(pending: dict[str, asyncio.Future[None]], key: str, exc: Exception | None) -> None:
        future = pending.pop(key, None)
        if future is None or future.done():
            return
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)

    def _fail_pending(self, exc: Exception) -> None:
        for pending in (self._cancels, self._amends, self._requests):
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            pending.clear()
        self._amend_to.clear()
        for future, _ in self._queries.values():
            if not future.done():
                future.set_exception(exc)
        self._queries.clear()

    # ----------------------------------------------------------------- positions
    def _apply_positions(self, msg: FixMessage) -> None:
        snapshot = codec.positions(msg)
        for symbol in self.venue_positions.keys() - snapshot.keys():
            snapshot[symbol] = 0.0
        for symbol, amount in snapshot.items():
            self.venue_positions[symbol] = amount
            self._listener.on_venue_position(symbol, amount)

    def _move_position(self, symbol: str, delta: float) -> None:
        amount = self.venue_positions.get(symbol, 0.0) + delta
        self.venue_positions[symbol] = amount
        self._listener.on_venue_position(symbol, amount)

    async def _refresh_positions(self) -> None:
        try:
            self._apply_positions(await self._request("AN", "pos", [(724, "0")], 710))
        except (VenueError, VenueUnknownOutcome) as exc:
            log.warning("%s: position refresh failed: %s", self.sender, exc)

    async def positions(self) -> dict[str, float]:
        return codec.positions(await self._request("AN", "pos", [(724, "0")], 710))

    # ----------------------------------------------------------------- requests
    async def _request(
        self, msg_type: str, prefix: str, fields: list[tuple[int, str | int]], id_tag: int
    ) -> FixMessage:
        """A request answered by one message carrying our id in `id_tag`."""
        key = f"{prefix}-{next(self._ids)}"
        future: asyncio.Future[FixMessage] = asyncio.get_running_loop().create_future()
        self._requests[key] = future
        try:
            self.fix.send(msg_type, [(id_tag, key), *fields], ref=(msg_type, key))
        except NotReady as exc:
            self._requests.pop(key, None)
            raise VenueUnknownOutcome(str(exc)) from None
        reply: FixMessage = await self._wait(future, key, self._requests)
        return reply

    @staticmethod
    async def _wait(future: asyncio.Future[Any], key: str, pending: dict[str, Any]) -> Any:
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        except TimeoutError:
            pending.pop(key, None)
            raise VenueUnknownOutcome(f"no answer from the venue in {REPLY_TIMEOUT_S:g}s") from None

    def insert(self, order: Order) -> Awaitable[ExecutionReport | None]:
        fix = self.fix
        try:
            seq = fix.claim()
        except NotReady as exc:
            return _refused(VenueError(f"not sent: {exc}"))
        inst = order.instrument
        market = order.order_type == OrderType.MARKET
        raw = fix.encoder.new_order_single(
            seq,
            order.venue_client_id,
            order.symbol,
            BUY if order.side == Side.BUY else SELL,
            inst.qty_grid.format(order.qty),
            None if market else inst.price_grid.format(order.price),
            "1" if market else "2",
            TIF_CODES[order.tif],
            "6A" if order.order_type == OrderType.POSTONLY else None,
        )
        fix.commit(raw, ("D", order.venue_client_id))
        return _sent()

    def _target(self, order: Order) -> list[tuple[int, str | int]]:
        # Deribit's order id (41) is its fastest lookup; before the venue has
        # acknowledged the order we only know our ClOrdID (11).
        if order.exch_order_id:
            return [(41, order.exch_order_id), (55, order.symbol)]
        return [(11, order.venue_client_id), (55, order.symbol)]

    def cancel(self, order: Order) -> Awaitable[ExecutionReport | None]:
        vid = order.venue_client_id
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.fix.send("F", self._target(order), ref=("F", vid))
        except NotReady as exc:
            return _refused(VenueUnknownOutcome(f"not sent: {exc}"))
        self._cancels[vid] = future
        return self._wait(future, vid, self._cancels)

    async def amend(self, order: Order, price: int, qty: int) -> ExecutionReport | None:
        vid = order.venue_client_id
        inst = order.instrument
        fields = self._target(order)
        qty_text, price_text = inst.qty_grid.format(qty), inst.price_grid.format(price)
        fields += [
            (54, "1" if order.side == Side.BUY else "2"),
            (38, qty_text),
            (40, "2"),
            (44, price_text),
        ]
        if order.order_type == OrderType.POSTONLY:
            fields.append((18, "6A"))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.fix.send("G", fields, ref=("G", vid))
        except NotReady as exc:
            raise VenueError(f"not sent: {exc}") from None
        self._amends[vid] = future
        self._amend_to[vid] = (Decimal(price_text), Decimal(qty_text))
        try:
            await self._wait(future, vid, self._amends)
        finally:
            self._amend_to.pop(vid, None)
        return None

    async def cancel_all(self, symbol: str, orders: list[Order], whole_symbol: bool) -> int:
        if whole_symbol:
            reply = await self._request("q", "mc", [(530, "1"), (55, symbol)], 11)
            if reply.get(531) in (None, b"0"):
                raise VenueError(f"mass cancel refused: {reply.get_str(58) or 'no reason'}")
            return 1
        results = await asyncio.gather(*(self.cancel(o) for o in orders), return_exceptions=True)
        for order, result in zip(orders, results, strict=True):
            if isinstance(result, Exception):
                log.warning("cancel of %s failed: %s", order.venue_client_id, result)
        return len(orders)

    async def query(self, order: Order) -> ExecutionReport | None:
        if order.exch_order_id:
            key = order.exch_order_id
            fields: list[tuple[int, str | int]] = [(584, key), (585, "1")]
        else:
            key = order.venue_client_id
            fields = [(584, key), (585, "7"), (9014, "1"), (55, order.symbol)]
        reports = await self._mass_status(key, fields)
        mine = [codec.execution_report(m) for m in reports]
        mine = [r for r in mine if r.venue_client_id == order.venue_client_id] or mine
        return mine[-1] if mine else None

    async def _mass_status(self, key: str, fields: list[tuple[int, str | int]]) -> list[FixMessage]:
        """The status reports (8) answering one OrderMassStatusRequest (AF) whose
        MassStatusReqID (584) is `key`; a request already waiting under it is shared."""
        entry = self._queries.get(key)
        if entry is None:
            future: asyncio.Future[list[FixMessage]] = asyncio.get_running_loop().create_future()
            entry = self._queries[key] = (future, [])
            try:
                self.fix.send("AF", fields, ref=("AF", key))
            except NotReady as exc:
                self._queries.pop(key, None)
                raise VenueUnknownOutcome(str(exc)) from None
        try:
            reports: list[FixMessage] = await asyncio.wait_for(
                asyncio.shield(entry[0]), REPLY_TIMEOUT_S
            )
        except TimeoutError:
            self._queries.pop(key, None)
            raise VenueUnknownOutcome("no answer to the status request") from None
        return reports

    async def recent_orders(self, symbols: set[str], since_ms: int) -> list[ExecutionReport]:
        """Every open order of the account (OrderMassStatusRequest, 585=7 with no symbol).
        Deribit's FIX session has no order history request, so an order that ended
        while ems was down and that ems never recorded is not found."""
        key = f"ms-{next(self._ids)}"
        reports = await self._mass_status(key, [(584, key), (585, "7")])
        return [r for r in map(codec.execution_report, reports) if r.venue_client_id]

    def trade_feed(self, symbol: str, on_trade: Callable[[Trade], None]) -> Feed:
        inst = self.instruments[symbol]
        return FixTradeFeed(
            endpoint=self.endpoint,
            # One market-data session per feed: the venue allows one logon per name.
            sender=f"{self.sender}-md{next(self._feeds)}",
            api_key=self._api_key,
            secret=self._secret,
            instrument=inst,
            on_trade=on_trade,
            local_address=self._local_address,
        )

    def book(self, symbol: str) -> DeribitBook:
        return DeribitBook(
            endpoint=self.endpoint,
            sender=f"{self.sender}-md{next(self._feeds)}",
            api_key=self._api_key,
            secret=self._secret,
            instrument=self.instruments[symbol],
            local_address=self._local_address,
        )
