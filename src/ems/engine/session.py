"""An order session: one named connection to one venue account.

The session owns its orders, applies venue reports to them, keeps positions and fans
every change out to its subscribers as ordertransaction frames.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ems._core import ArmedOrder, OffGridError
from ems.engine.journal import Journal
from ems.engine.orders import (
    Fill,
    Order,
    Pending,
    apply_report,
    order_from_state,
    order_state,
)
from ems.engine.risk import Denial, RiskDenied, RiskEngine
from ems.errors import ApiError, VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.metrics import Metrics
from ems.model import (
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TransactionType,
    now_ns,
)
from ems.venues.base import ExecutionReport, Instrument, VenueSession

log = logging.getLogger("ems.session")

RETAIN_FINISHED = 20_000
"""Finished orders a session remembers (clOrderId reuse is refused within them)."""

_SIGN = {Side.BUY: 1, Side.SELL: -1}
"""The core's side codes."""

RECONCILE_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds between venue queries for an order whose outcome is unknown."""

KILL_SWEEP_S = 30.0
"""How long after a kill switch pull the session keeps cancelling orders that land late."""

RECOVERY_REPLAY = 10_000
"""Update frames of the last recovery kept for clients that subscribe after it."""


class Subscriber(Protocol):
    """A stream consumer; `push` must not block (it queues)."""

    def push(self, frame: bytes) -> None: ...


@dataclass(slots=True)
class SendOrder:
    """A parsed sendOrder request; fields not given are None."""

    cl_order_id: str | None
    symbol: str | None
    session_id: str
    transaction_type: TransactionType
    price: float | None = None
    qty: float | None = None
    order_type: OrderType | None = None
    tif: TimeInForce | None = None
    side: Side | None = None
    trigger_id: str | None = None


InsertFields = tuple[str, Instrument, Side, OrderType, TimeInForce, int, int]
"""A validated insert: clOrderId, instrument, side, type, tif, price and qty units."""


@dataclass(slots=True)
class Prepared:
    """An insert validated and encoded ahead of time (held by a trigger until it fires)."""

    order: Order
    send: Callable[[], Awaitable[ExecutionReport | None]]
    request: SendOrder
    armed: ArmedOrder | None = None
    """The core's template of the request, where the venue has one (see arm_insert)."""
    send_rendered: Callable[[bytes], Awaitable[ExecutionReport | None]] | None = None
    """Sends `armed` as the trigger index rendered it."""
    fire: Callable[[bytes], None] | None = None
    """The trigger index's send call for `armed` (see `OrderSession._firing`)."""


class RiskRefusal(Exception):
    """An update refused by risk (the order itself stays as it was)."""

    def __init__(self, denial: RiskDenied) -> None:
        super().__init__(str(denial))
        self.denial = denial


class OrderSession:
    """Orders, positions and subscribers of one named session."""

    def __init__(
        self,
        session_id: str,
        exchange: str,
        venue: VenueSession,
        metrics: Metrics,
        client_id_prefix: str,
        account_key: str,
        shares_symbol: Callable[[OrderSession, str], bool],
        risk: RiskEngine | None = None,
        reference_price: Callable[[str, str], float | None] | None = None,
        journal: Journal | None = None,
        known_prefixes: tuple[str, ...] = (),
        band_reference: Callable[[str, str, Side], float | None] | None = None,
        await_reference: Callable[[OrderSession, str], Awaitable[None]] | None = None,
    ) -> None:
        self.session_id = session_id
        self.exchange = exchange
        self.venue = venue
        self.metrics = metrics
        self.account_key = account_key
        """Identifies the venue account (not secret) so sessions on one account can be found."""
        self._prefix = client_id_prefix
        self._next_id = 0
        self._shares_symbol = shares_symbol
        self.risk = risk or RiskEngine()
        self.journal = journal
        self.prefixes = (*known_prefixes, client_id_prefix)
        """Every client-id prefix this session has used (older ones from before restarts)."""
        self._reference_price = reference_price or (lambda exchange, symbol: None)
        self._band_reference = band_reference or (
            lambda exchange, symbol, side: self._reference_price(exchange, symbol)
        )
        """The price band's reference for an order on one side (engine: the book's best
        price on the side the order would take, else the last trade)."""
        self._await_reference = await_reference
        """Starts following a symbol and waits (bounded) for a reference price; given,
        an insert refused only for want of one waits for it instead."""
        self._held: set[str] = set()
        """clOrderIds of inserts waiting for the band's reference (not yet sent)."""
        self._pulls_in_flight = 0
        """Pulls whose venue calls have not returned yet."""
        self._cancel_on_ack: dict[str, bool] = {}
        """Orders in flight when a pull went out, with whether its venue calls returned."""
        self.orders: dict[str, Order] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._by_venue_id: dict[str, Order] = {}
        self._by_exch_id: dict[str, Order] = {}
        self.positions: dict[str, float] = {}
        self._spot_positions: dict[str, int] = {}
        self._risk_keys: dict[str, int] = {}
        self.subscribers: set[Subscriber] = set()
        self.position_subscribers: set[Subscriber] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.corrections: collections.deque[bytes] = collections.deque(maxlen=RECOVERY_REPLAY)
        """The update frames sent while the session was last recovered (bounded, newest
        kept): nobody is subscribed then, so each new subscriber is sent them."""
        self._recovering = False
        self._expected: dict[str, tuple[str, str | None, str]] = {}
        """Venue client ids journaled ahead of sending (a trigger's orders), with the
        clOrderId and triggerId an order found under one is adopted as."""

    # ----------------------------------------------------------------- requests

    def send(self, req: SendOrder) -> dict[str, object]:
        """Validates and dispatches one sendOrder; returns the transaction as accepted.

        Raises `ApiError` naming the field for anything refused before the venue is asked;
        in that case nothing changes.
        """
        if self.closed:
            raise ApiError("session is stopped", "sessionId", 409)
        tx = req.transaction_type
        if tx == TransactionType.INSERT:
            order = self._insert(req)
            return self.transaction(order)
        if tx == TransactionType.PULL:
            return self._pull(req)
        order = self._working_order(req)
        if req.trigger_id:
            order.trigger_id = req.trigger_id
        if tx == TransactionType.UPDATE:
            try:
                self._update(order, req)
            except RiskRefusal as refusal:
                frame = self._reject_request(order, tx, f"risk {refusal.denial}")
                frame["riskReason"] = refusal.denial.reason.value
                return frame
        else:
            self._delete(order, TransactionType.DELETE)
        return self.transaction(order)

    def _instrument(self, symbol: str | None) -> Instrument:
        if not symbol:
            raise ApiError("symbol is required", "symbol")
        inst = self.venue.instruments.get(symbol)
        if inst is None:
            raise ApiError(f"unknown symbol {symbol!r} on {self.exchange}", "symbol")
        if not inst.trading:
            raise ApiError(f"{symbol} is not trading on {self.exchange}", "symbol")
        return inst

    def _price_units(self, inst: Instrument, price: float | None) -> int:
        if price is None:
            raise ApiError("price is required for limit and postonly orders", "price")
        try:
            units = inst.price_grid.units(price)
        except OffGridError:
            raise ApiError(
                f"price {price} is not a multiple of tick size {inst.price_grid.step}",
                "price",
                reason="off_tick",
            ) from None
        except ValueError as exc:
            raise ApiError(f"price {price} is not a valid number: {exc}", "price") from None
        if units <= 0:
            raise ApiError("price must be positive", "price")
        if inst.min_price and units < inst.min_price:
            floor = inst.price_grid.format(inst.min_price)
            raise ApiError(
                f"price {price} is below the minimum {floor}", "price", reason="price_below_min"
            )
        if inst.max_price and units > inst.max_price:
            cap = inst.price_grid.format(inst.max_price)
            raise ApiError(
                f"price {price} is above the maximum {cap}", "price", reason="price_above_max"
            )
        return units

    def _qty_units(self, inst: Instrument, qty: float | None, market: bool) -> int:
        if qty is None:
            raise ApiError("qty is required for insert and update", "qty")
        try:
            units = inst.qty_grid.units(qty)
        except OffGridError:
            raise ApiError(
                f"qty {qty} is not a multiple of step size {inst.qty_grid.step}",
                "qty",
                reason="qty_step",
            ) from None
        except ValueError as exc:
            raise ApiError(f"qty {qty} is not a valid number: {exc}", "qty") from None
        lo = inst.market_min_qty if market and inst.market_min_qty else inst.min_qty
        hi = inst.market_max_qty if market and inst.market_max_qty else inst.max_qty
        if units <= 0:
            raise ApiError("qty must be positive", "qty")
        if lo and units < lo:
            raise ApiError(
                f"qty {qty} is below the minimum {inst.qty_grid.format(lo)}",
                "qty",
                reason="qty_below_min",
            )
        if hi and units > hi:
            raise ApiError(
                f"qty {qty} is above the maximum {inst.qty_grid.format(hi)}",
                "qty",
                reason="qty_above_max",
            )
        return units

    def _check_notional(
        self, inst: Instrument, price: int, qty: int, market_price: float | None = None
    ) -> None:
        """Refuses an order worth less than the venue's minimum; a market order is valued
        at `market_price`, the last price ems knows (with none, its caller skips this)."""
        if not inst.min_notional or inst.contract_size:
            return  # contract-sized venues have no quote notional floor per order
        value = inst.price_grid.value(price) if market_price is None else market_price
        notional = value * inst.qty_grid.value(qty)
        # A relative tolerance keeps 5.0 == 5.0 when the product is computed in binary.
        if notional < inst.min_notional * (1 - 1e-12):
            at = "" if market_price is None else f" at the last price {market_price:g}"
            raise ApiError(
                f"notional {notional:.8g}{at} is below the minimum {inst.min_notional:g}",
                "qty",
                reason="min_notional",
            )

    def check(self, req: SendOrder) -> None:
        """Validates a request without sending it (for orders held by triggers)."""
        if req.transaction_type == TransactionType.INSERT:
            self._validate_insert(req)
        elif req.transaction_type == TransactionType.PULL:
            self._instrument(req.symbol)
        elif not req.cl_order_id:
            raise ApiError("clOrderId is required", "clOrderId")

    def _validate_insert(self, req: SendOrder) -> InsertFields:
        cl = req.cl_order_id
        if not cl:
            raise ApiError("clOrderId is required", "clOrderId")
        if cl in self.orders:
            raise ApiError(
                f"clOrderId {cl!r} is already used in this session",
                "clOrderId",
                409,
                reason="duplicate_cl_order_id",
            )
        inst = self._instrument(req.symbol)
        caps = self.venue.capabilities
        if req.side is None:
            raise ApiError("side is required for insert", "side")
        order_type = req.order_type or OrderType.LIMIT
        if order_type not in caps.order_types:
            raise ApiError(
                f"orderType {order_type} is not supported on {self.exchange}",
                "orderType",
                reason="unsupported_order_type",
            )
        market = order_type == OrderType.MARKET
        if market:
            tif = req.tif or TimeInForce.IOC
            allowed = caps.market_tifs
        elif order_type == OrderType.POSTONLY:
            tif = req.tif or TimeInForce.GTC
            allowed = caps.postonly_tifs
        else:
            tif = req.tif or TimeInForce.GTC
            allowed = caps.tifs
        if tif not in allowed:
            raise ApiError(
                f"tif {tif} is not supported for {order_type} orders on {self.exchange}",
                "tif",
                reason="unsupported_tif",
            )
        price = 0 if market else self._price_units(inst, req.price)
        qty = self._qty_units(inst, req.qty, market)
        if not market:
            self._check_notional(inst, price, qty)
        elif inst.min_notional_on_market:
            last = self._reference_price(self.exchange, inst.symbol)
            if last is not None:
                self._check_notional(inst, price, qty, last)
        return cl, inst, req.side, order_type, tif, price, qty

    def prepare(self, req: SendOrder, venue_client_id: str | None = None) -> Prepared:
        """Validates and encodes an insert now so that sending it later is only a write.

        `venue_client_id` reuses an id given out before (a trigger restored after a
        restart keeps the ids it journaled, so the venue can tell whether it fired).
        """
        order = self._new_order(req, self._validate_insert(req))
        if venue_client_id is not None:
            order.leg_cum = {venue_client_id: 0}
            order.venue_client_id = venue_client_id
        armed = self.venue.arm_insert(order)
        if armed is None:
            return Prepared(order, self.venue.prepare_insert(order), req)
        template, write_now, send_later = armed

        def send_rendered(data: bytes) -> Awaitable[ExecutionReport | None]:
            sent = write_now(data)
            return send_later(data) if sent is None else sent

        prepared = Prepared(
            order, lambda: send_rendered(template.render()), req, template, send_rendered
        )
        prepared.fire = self._firing(prepared, write_now, send_later)
        return prepared

    def _firing(
        self,
        prepared: Prepared,
        write_now: Callable[[bytes], Awaitable[ExecutionReport | None] | None],
        send_later: Callable[[bytes], Awaitable[ExecutionReport | None]],
    ) -> Callable[[bytes], None]:
        """The send call the trigger index makes for an armed insert, with the request it
        rendered: `send_prepared`'s checks and write, in fewer steps.

        This runs between reading a trade and writing its order, usually with the CPU's
        caches cold, where each function called and object touched costs latency, so
        what can be is looked up now. A stopped session or a clOrderId taken since the
        trigger was set goes to `send_prepared`, which refuses it; the risk check runs
        where the gate says a check could refuse (a limit, a venue's order-rate rule, the
        kill switch); the write goes out at once on an idle connection, or else as any
        insert's would (waiting for a connection, or refused during a rate-limit wait).
        The bookkeeping follows the write.
        """
        order = prepared.order
        cl = order.cl_order_id
        orders = self.orders
        applies = self.risk.gate.applies
        risk_key = self._risk_key(order.symbol, order.instrument)

        def fire(rendered: bytes) -> None:
            if self.closed or cl in orders:
                self.send_prepared(prepared, rendered)
                return
            order.local_time = order.send_time = now_ns()
            if applies(risk_key):
                denial = self._risk(order, order.price, order.qty, new_order=True)
                if denial is not None:
                    self._deny(order, denial)
                    return
            sent = write_now(rendered)
            if sent is None:
                sent = send_later(rendered)
            self._register(order, sent)

        return fire

    def send_prepared(self, prepared: Prepared, rendered: bytes | None = None) -> None:
        """Sends a prepared insert (a trigger's order); refused if its id got used since.

        `rendered` is the request as the trigger index rendered it from `prepared.armed`.
        """
        if self.closed:
            raise ApiError("session is stopped", "sessionId", 409)
        order = prepared.order
        if order.cl_order_id in self.orders:
            raise ApiError(
                f"clOrderId {order.cl_order_id!r} is already used in this session",
                "clOrderId",
                409,
            )
        order.local_time = order.send_time = now_ns()
        denial = self._risk(order, order.price, order.qty, new_order=True)
        if denial is not None:
            self._deny(order, denial)
            return
        if rendered is not None and prepared.send_rendered is not None:
            sent = prepared.send_rendered(rendered)
        else:
            sent = prepared.send()
        # Replies cannot arrive before this callback returns, so registering the order
        # after the write is safe, and keeps the bookkeeping off the tick-to-trade path.
        self._register(order, sent)

    def _insert(self, req: SendOrder) -> Order:
        order = self._new_order(req, self._validate_insert(req))
        order.local_time = order.send_time = now_ns()
        denial = self._risk(order, order.price, order.qty, new_order=True)
        if (
            denial is not None
            and denial.reason == Denial.NO_REFERENCE
            and self._await_reference is not None
        ):
            # The first order on a symbol under a price band: ems starts following the
            # symbol and the order waits, pending, for a price to measure it against.
            waiting = self._await_reference(self, order.symbol)
            self._held.add(order.cl_order_id)
            self._register(order, self._insert_when_priced(order, waiting))
            return order
        if denial is not None:
            self._deny(order, denial)
            return order
        self._register(order, self.venue.insert(order))
        return order

    async def _insert_when_priced(
        self, order: Order, waiting: Awaitable[None]
    ) -> ExecutionReport | None:
        """Sends a held insert once the band has a reference (or refuses it by risk)."""
        try:
            await waiting
        except Exception as exc:
            log.warning("%s: no reference for %s: %s", self.session_id, order.symbol, exc)
        finally:
            self._held.discard(order.cl_order_id)
        if not order.working:
            return None  # cancelled while it waited
        denial = self._risk(order, order.price, order.qty, new_order=True)
        if denial is not None:
            raise RiskRefusal(denial)
        order.send_time = now_ns()
        return await self.venue.insert(order)

    def _risk(self, order: Order, price: int, qty: int, new_order: bool) -> RiskDenied | None:
        """Checks an insert (or an update's new price and size) against the risk limits,
        in O(1): the session's exposure is kept in the risk gate by `_book_risk`."""
        key = self._risk_keys.get(order.symbol)
        if key is None:
            key = self._risk_key(order.symbol, order.instrument)
        if not self.risk.gate.applies(key):
            return None
        return self.risk.check_order(
            key,
            _SIGN[order.side],
            None if order.order_type == OrderType.MARKET else price,
            qty - order.cum_qty,
            self._band_reference(self.exchange, order.symbol, order.side),
            new_order,
            order.risk_booked,
            order.risk_working,
        )

    def _risk_key(self, symbol: str, instrument: Instrument | None) -> int:
        key = self._risk_keys.get(symbol)
        if key is None:
            key = self.risk.key(self.session_id, symbol, instrument)
            if instrument is not None:
                self._risk_keys[symbol] = key
        return key

    def _book_risk(self, order: Order) -> None:
        """Keeps the risk gate's exposure in step with the order: called on every change
        (from `_emit`), it books what changed since the last call, so an order counts as
        working, with its unfilled quantity, from when it is sent until it is settled."""
        working = order.working
        remaining = order.remaining_qty if working else 0
        if working == order.risk_working and remaining == order.risk_booked:
            return
        self.risk.book(
            self._risk_key(order.symbol, order.instrument),
            _SIGN[order.side],
            int(working) - int(order.risk_working),
            remaining - order.risk_booked,
        )
        order.risk_working = working
        order.risk_booked = remaining

    def _position_changed(self, symbol: str) -> None:
        """Tells the risk gate the session's new position in `symbol`."""
        self.risk.set_position(
            self._risk_key(symbol, self.venue.instruments.get(symbol)), self.positions[symbol]
        )

    def _deny(self, order: Order, denial: RiskDenied) -> None:
        """An insert refused by risk: it exists only as a rejected order with the reason."""
        order.status = OrderStatus.REJECTED
        order.pending = Pending.NONE
        order.message = f"risk {denial}"
        order.risk_reason = denial.reason.value
        self.orders[order.cl_order_id] = order
        self.metrics.reject(self.exchange, denial.reason.value)
        self._emit(order)

    def _new_order(self, req: SendOrder, fields: InsertFields) -> Order:
        cl, inst, side, order_type, tif, price, qty = fields
        order = Order(
            session_id=self.session_id,
            exchange=self.exchange,
            cl_order_id=cl,
            venue_client_id=self._new_venue_id(),
            symbol=inst.symbol,
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            instrument=inst,
            trigger_id=req.trigger_id,
        )
        order.leg_cum[order.venue_client_id] = 0
        return order

    def _register(self, order: Order, sent: Awaitable[ExecutionReport | None]) -> None:
        """Books an order that has just been sent; everything here follows the write."""
        self.orders[order.cl_order_id] = order
        self._by_venue_id[order.venue_client_id] = order
        self.metrics.order_sent(self.exchange, TransactionType.INSERT)
        if self.journal is None:
            self._emit(order)
        else:
            with self.journal.atomic():
                self._emit(order)
                self.journal.event(
                    self.session_id,
                    "insert",
                    order.cl_order_id,
                    {"vid": order.venue_client_id, "sent": order.send_time},
                )
        self._spawn(self._run_insert(order, sent))

    def _working_order(self, req: SendOrder) -> Order:
        cl = req.cl_order_id
        if not cl:
            raise ApiError("clOrderId is required", "clOrderId")
        order = self.orders.get(cl)
        if order is None:
            raise ApiError(f"unknown clOrderId {cl!r} in this session", "clOrderId", 404)
        if not order.working:
            raise ApiError(
                f"order {cl!r} is {order.status} and can no longer change",
                "clOrderId",
                409,
                reason="order_final",
            )
        if req.symbol and req.symbol != order.symbol:
            raise ApiError(f"order {cl!r} is on {order.symbol}, not {req.symbol}", "symbol")
        return order

    def _update(self, order: Order, req: SendOrder) -> None:
        if order.pending:
            raise ApiError(
                f"order {order.cl_order_id!r} has a request in flight ({order.visible_status})",
                "clOrderId",
                409,
            )
        if order.order_type == OrderType.MARKET:
            raise ApiError("market orders cannot be updated", "clOrderId", 409)
        inst = order.instrument
        price = order.price if req.price is None else self._price_units(inst, req.price)
        qty = order.qty if req.qty is None else self._qty_units(inst, req.qty, False)
        if price == order.price and qty == order.qty:
            raise ApiError("update changes neither price nor qty", "price")
        if qty <= order.cum_qty:
            raise ApiError(
                f"qty must exceed the filled quantity {inst.qty_grid.format(order.cum_qty)}", "qty"
            )
        self._check_notional(inst, price, qty)
        denial = self._risk(order, price, qty, new_order=False)
        if denial is not None:
            self.metrics.reject(self.exchange, denial.reason.value)
            raise RiskRefusal(denial)
        order.pending = Pending.UPDATE
        order.pending_price, order.pending_qty = price, qty
        order.transaction_type = TransactionType.UPDATE
        order.send_time = now_ns()
        order.message = None
        self.metrics.order_sent(self.exchange, TransactionType.UPDATE)
        self._emit(order)
        self._spawn(self._run_amend(order, price, qty))

    def _delete(self, order: Order, tx: TransactionType) -> None:
        if order.pending == Pending.CANCEL:
            raise ApiError(
                f"order {order.cl_order_id!r} is already being cancelled", "clOrderId", 409
            )
        if order.cl_order_id in self._held:
            self._cancel_held(order, tx)
            return
        order.pending = Pending.CANCEL
        order.transaction_type = tx
        order.send_time = now_ns()
        order.message = None
        self.metrics.order_sent(self.exchange, tx)
        sent = self.venue.cancel(order)
        self._emit(order)
        self._spawn(self._run_cancel(order, sent))

    def _cancel_held(self, order: Order, tx: TransactionType) -> None:
        """Cancels an insert still waiting for the band's reference: nothing was sent."""
        self._held.discard(order.cl_order_id)
        order.status = OrderStatus.CANCELLED
        order.pending = Pending.NONE
        order.transaction_type = tx
        order.message = "cancelled before it was sent (it was waiting for a reference price)"
        self.metrics.order_sent(self.exchange, tx)
        self._emit(order)

    def _pull(self, req: SendOrder) -> dict[str, object]:
        inst = self._instrument(req.symbol)
        held = [
            o
            for o in self.orders.values()
            if o.symbol == inst.symbol and o.working and o.cl_order_id in self._held
        ]
        for o in held:
            self._cancel_held(o, TransactionType.PULL)
        targets = [
            o
            for o in self.orders.values()
            if o.symbol == inst.symbol and o.working and o.pending != Pending.CANCEL
        ]
        now = now_ns()
        for o in targets:
            if o.pending == Pending.NEW:
                # In flight: the venue may not have it when the pull gets there, so it is
                # cancelled on its own once acknowledged (after the pull's calls return).
                self._cancel_on_ack[o.cl_order_id] = False
            o.pending = Pending.CANCEL
            o.transaction_type = TransactionType.PULL
            o.send_time = now
            o.message = None
            self._emit(o)
        self.metrics.order_sent(self.exchange, TransactionType.PULL)
        if targets:
            whole = not self._shares_symbol(self, inst.symbol)
            self._pulls_in_flight += 1  # counted down when its venue calls return
            self._spawn(self._run_pull(inst.symbol, targets, whole))
        return {
            "sessionId": self.session_id,
            "symbol": inst.symbol,
            "transactionType": TransactionType.PULL.value,
            "orders": [o.cl_order_id for o in held + targets],
        }

    def _cancel_landed(self, order: Order) -> None:
        """Cancels an order that was in flight when a pull went out, once the pull's venue
        calls have returned and the venue has acknowledged the order (whichever is last
        calls this); one the pull or the venue ended needs nothing more."""
        cl = order.cl_order_id
        pull_returned = self._cancel_on_ack.get(cl)
        if pull_returned is None:
            return
        if not order.working:
            del self._cancel_on_ack[cl]
            return
        if not pull_returned or not order.exch_order_id:
            return  # the pull may still catch it, or the venue has not acknowledged it
        del self._cancel_on_ack[cl]
        if order.pending == Pending.CANCEL:
            order.pending = Pending.NONE  # the pull's cancel went before the order landed
        if order.pending != Pending.NONE or self.closed:
            return
        log.warning("%s: %s landed after a pull; cancelling it", self.session_id, cl)
        self._delete(order, TransactionType.PULL)

    def kill(self) -> list[str]:
        """The kill switch's pull of every working order of the session; returns their
        clOrderIds. Inserts in flight are cancelled as they land (`_cancel_landed`); then
        the session sweeps: once the pulls' venue calls have returned, every order still
        working that is acknowledged and has nothing in flight (its pull failed) is
        cancelled, until no insert is left in flight (bounded by KILL_SWEEP_S)."""
        pulled: list[str] = []
        for symbol in sorted({o.symbol for o in self.orders.values() if o.working}):
            result = self._pull(SendOrder(None, symbol, self.session_id, TransactionType.PULL))
            orders = result.get("orders")
            pulled += orders if isinstance(orders, list) else []
        self._spawn(self._kill_sweep())
        return pulled

    async def _kill_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KILL_SWEEP_S
        while self._pulls_in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        while loop.time() < deadline and not self.closed and self.risk.kill_switch:
            waiting = False
            for order in [o for o in self.orders.values() if o.working]:
                if order.cl_order_id in self._held:
                    self._cancel_held(order, TransactionType.PULL)
                elif order.pending == Pending.NEW or order.cl_order_id in self._cancel_on_ack:
                    waiting = True  # not acknowledged yet: it is cancelled as it lands
                elif order.pending == Pending.NONE and order.exch_order_id:
                    log.warning(
                        "%s: kill switch: %s still working; cancelling it",
                        self.session_id,
                        order.cl_order_id,
                    )
                    self._delete(order, TransactionType.PULL)
            if not waiting:
                return
            await asyncio.sleep(0.05)

    def _new_venue_id(self) -> str:
        self._next_id += 1
        return f"{self._prefix}{_base36(self._next_id)}"

    # ----------------------------------------------------------------- venue calls

    async def _run_insert(self, order: Order, sent: Awaitable[ExecutionReport | None]) -> None:
        try:
            report = await sent
        except RiskRefusal as refusal:
            self._deny(order, refusal.denial)
            return
        except VenueRateLimited as exc:
            self._reject(order, f"rate limited by venue, retry after {exc.retry_after:g}s: {exc}")
            return
        except VenueError as exc:
            self._reject(order, str(exc))
            return
        except VenueUnknownOutcome as exc:
            log.warning("insert %s outcome unknown (%s); reconciling", order.venue_client_id, exc)
            await self._reconcile(order)
            return
        if report is not None:
            self.on_report(report)

    async def _run_amend(self, order: Order, price: int, qty: int) -> None:
        try:
            report = await self.venue.amend(order, price, qty)
        except VenueError as exc:
            if order.pending == Pending.UPDATE:
                order.pending = Pending.NONE
            self._reject_request(order, TransactionType.UPDATE, str(exc))
            await self._reconcile(order)
            return
        except VenueUnknownOutcome:
            await self._reconcile(order)
            return
        if report is not None:
            self.on_report(report)

    async def _run_cancel(self, order: Order, sent: Awaitable[ExecutionReport | None]) -> None:
        try:
            report = await sent
        except VenueError as exc:
            if order.pending == Pending.CANCEL:
                order.pending = Pending.NONE
            self._reject_request(order, order.transaction_type, str(exc))
            # The venue refused: the order may have filled or never arrived; ask it.
            await self._reconcile(order)
            return
        except VenueUnknownOutcome:
            await self._reconcile(order)
            return
        if report is not None:
            self.on_report(report)

    async def _run_pull(self, symbol: str, orders: list[Order], whole_symbol: bool) -> None:
        try:
            await self.venue.cancel_all(symbol, orders, whole_symbol)
        except VenueError as exc:
            for o in orders:
                if o.pending == Pending.CANCEL:
                    o.pending = Pending.NONE
                if o.cl_order_id not in self._cancel_on_ack:
                    self._reject_request(o, TransactionType.PULL, str(exc))
        except VenueUnknownOutcome:
            pass
        finally:
            self._pulls_in_flight -= 1
        landing = [o for o in orders if o.cl_order_id in self._cancel_on_ack]
        for o in landing:
            self._cancel_on_ack[o.cl_order_id] = True
            self._cancel_landed(o)
        # Every pulled order is settled by a stream event; make sure of it (inserts still
        # in flight are settled by their own replies).
        for o in orders:
            if o.working and o not in landing:
                await self._reconcile(o)

    async def _reconcile(self, order: Order) -> None:
        """Asks the venue about an order until it answers; in-flight stays in flight.

        An order the venue says it has no record of is settled (`_venue_forgot`): one
        it had acknowledged only after a second query says the same."""
        missing = False
        for delay in RECONCILE_DELAYS:
            if not order.working and not order.pending:
                return
            await asyncio.sleep(delay)
            if self.closed:
                return
            try:
                report = await self.venue.query(order)
            except (VenueError, VenueUnknownOutcome) as exc:
                log.warning("query %s failed: %s", order.venue_client_id, exc)
                continue
            if report is None:
                if order.pending != Pending.NEW and order.exch_order_id and not missing:
                    # The venue acknowledged this order: one silent answer may be a lag
                    # between its order store and its query path; ask once more.
                    missing = True
                    continue
                log.warning("venue has no record of %s", order.venue_client_id)
                self._venue_forgot(order, "order status query")
                return
            missing = False
            self.on_report(report)
            if order.pending == Pending.NEW and order.working:
                continue
            if order.pending == Pending.CANCEL and order.working:
                # The cancel may still be travelling; look again.
                continue
            if order.pending == Pending.UPDATE:
                order.pending = Pending.NONE
                self._emit(order)
            return
        log.error("order %s still unsettled after reconciliation", order.venue_client_id)

    def refresh(self, cl_order_ids: list[str]) -> list[str]:
        """Queries the venue for the listed orders (or every working one) and corrects them."""
        if cl_order_ids:
            targets = []
            for cl in cl_order_ids:
                order = self.orders.get(cl)
                if order is None:
                    raise ApiError(f"unknown clOrderId {cl!r} in this session", "transactions")
                targets.append(order)
        else:
            targets = [o for o in self.orders.values() if o.working]
        self._spawn(self._refresh(targets))
        return [o.cl_order_id for o in targets]

    async def _refresh(self, targets: list[Order]) -> None:
        await asyncio.gather(*(self._refresh_one(o) for o in targets))
        if self.venue.capabilities.positions_from_venue:
            # A fill refresh finds was missed on the stream, and so was its position event.
            await self._refresh_positions()

    async def _refresh_positions(self) -> None:
        try:
            positions = await self.venue.positions()
        except (VenueError, VenueUnknownOutcome) as exc:
            log.warning("%s: position refresh failed: %s", self.session_id, exc)
            return
        for symbol, position in positions.items():
            self.on_venue_position(symbol, position)

    async def _refresh_one(self, order: Order) -> None:
        try:
            report = await self.venue.query(order)
        except (VenueError, VenueUnknownOutcome) as exc:
            log.warning("refresh of %s failed: %s", order.venue_client_id, exc)
            return
        if report is None:
            self._venue_forgot(order, "order status query")
            return
        if order.pending in (Pending.UPDATE, Pending.CANCEL):
            order.pending = Pending.NONE
        self.on_report(report)
        self._emit(order)

    # ----------------------------------------------------------------- venue events

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """Journals what is recorded inside as one transaction (nothing without a journal)."""
        return contextlib.nullcontext() if self.journal is None else self.journal.atomic()

    def on_report(self, report: ExecutionReport) -> None:
        """Applies a venue report (REST reply, stream event or query result)."""
        if self.journal is None:
            self.venue.account(report)
            self._apply_report(report)
            return
        # A fill's position (the venue module's count included), order state and fill
        # records: one journal transaction, so a crash cannot keep the position without
        # the fill (counted again on restart) or the fill without the position.
        with self.journal.atomic():
            self.venue.account(report)
            self._apply_report(report)

    def _apply_report(self, report: ExecutionReport) -> None:
        order = self._by_venue_id.get(report.venue_client_id)
        if order is None and report.exch_order_id:
            order = self._by_exch_id.get(report.exch_order_id)
        if order is None:
            log.debug("report for an order of another session: %s", report.venue_client_id)
            return
        if (
            order.replacing_to
            and report.venue_client_id == order.venue_client_id
            and report.status == OrderStatus.CANCELLED
        ):
            # The cancel half of a cancel-replace: the order lives on as the new leg,
            # and the old leg's report counts only for the fills it carries.
            self._switch_leg(order)
            fill = apply_report(order, report)
            if fill is not None:
                self._on_fill(order, fill)
                self._emit(order, fill)
            else:
                self._book_risk(order)  # the new leg's size
            return
        was_pending_new = order.pending == Pending.NEW
        fill = apply_report(order, report)
        if report.exch_order_id and report.venue_client_id in order.leg_cum:
            self._by_exch_id[report.exch_order_id] = order
        if was_pending_new and order.pending != Pending.NEW:
            self.metrics.ack_latency(self.exchange, now_ns() - order.send_time)
        if fill is not None:
            self._on_fill(order, fill)
            self._emit(order, fill)
        else:
            self._emit(order)
        if order.cl_order_id in self._cancel_on_ack:
            asyncio.get_running_loop().call_soon(self._cancel_landed, order)

    def begin_replace(self, order: Order) -> str:
        """Reserves the venue client id of a cancel-replace's new leg."""
        new_id = self._new_venue_id()
        order.replacing_to = new_id
        order.leg_cum[new_id] = 0
        self._by_venue_id[new_id] = order
        return new_id

    def _switch_leg(self, order: Order) -> None:
        if order.replacing_to:
            order.replaced_leg = (order.venue_client_id, order.price, order.qty)
            order.venue_client_id = order.replacing_to
            order.replacing_to = ""
            order.price, order.qty = order.pending_price, order.pending_qty

    def finish_replace(self, order: Order, new_leg: ExecutionReport | None) -> None:
        """The venue confirmed a cancel-replace; `new_leg` describes the new order."""
        self._switch_leg(order)
        order.replaced_leg = None
        if order.pending == Pending.UPDATE:
            order.pending = Pending.NONE
        if new_leg is not None:
            self.on_report(new_leg)
        self._emit(order)

    @staticmethod
    def _back_to_replaced_leg(order: Order) -> str:
        """Undoes the early move to a replacement leg that was never placed (the stream
        showed the cancel half before the venue refused the new half): the order that
        ended is the old one, at its old price and size. Returns the unplaced leg's id."""
        if order.replaced_leg is None:
            return ""
        unplaced = order.venue_client_id
        order.venue_client_id, order.price, order.qty = order.replaced_leg
        order.replaced_leg = None
        return unplaced

    def fail_replace(self, order: Order, cancelled: bool, message: str) -> None:
        """A cancel-replace failed; if its cancel half went through the order is gone."""
        new_id = order.replacing_to or self._back_to_replaced_leg(order)
        order.replacing_to = ""
        order.leg_cum.pop(new_id, None)
        self._by_venue_id.pop(new_id, None)
        if order.pending == Pending.UPDATE:
            order.pending = Pending.NONE
        if cancelled:
            order.status = OrderStatus.CANCELLED
            order.message = f"replaced order rejected: {message}"
            self.metrics.reject(self.exchange, _reason(message))
            self._emit(order)
        else:
            self._reject_request(order, TransactionType.UPDATE, message)
            # The cancel half failed too: the order may have filled or gone; ask the venue.
            self._spawn(self._reconcile(order))

    def on_venue_position(self, symbol: str, position: float) -> None:
        if self.positions.get(symbol) == position:
            return
        self.positions[symbol] = position
        self._position_changed(symbol)
        self._emit_positions(symbol)

    def on_stream_state(self, connected: bool, reason: str) -> None:
        if connected:
            log.info(
                "%s: order stream up (%s); reconciling working orders", self.session_id, reason
            )
            for order in list(self.orders.values()):
                if order.working:
                    self._spawn(self._refresh_one(order))
            if self.venue.capabilities.positions_from_venue:
                # Position events sent while the stream was down are lost too.
                self._spawn(self._refresh_positions())
        else:
            log.warning("%s: order stream down: %s", self.session_id, reason)

    def _on_fill(self, order: Order, fill: Fill) -> None:
        if self.venue.capabilities.positions_from_venue:
            return
        delta = fill.qty if order.side == Side.BUY else -fill.qty
        units = self._spot_positions.get(order.symbol, 0) + delta
        self._spot_positions[order.symbol] = units
        self.positions[order.symbol] = order.instrument.qty_grid.value(units)
        self._position_changed(order.symbol)
        self._emit_positions(order.symbol)

    def _reject(self, order: Order, message: str) -> None:
        order.status = OrderStatus.REJECTED
        order.pending = Pending.NONE
        order.message = message
        self.metrics.reject(self.exchange, _reason(message))
        self._emit(order)

    def _reject_request(self, order: Order, tx: TransactionType, message: str) -> dict[str, object]:
        """A refused update/delete: the request is rejected, the order stays as it was."""
        self.metrics.reject(self.exchange, _reason(message))
        frame = self.transaction(order)
        frame["orderStatus"] = OrderStatus.REJECTED.value
        frame["transactionType"] = tx.value
        frame["message"] = message
        self.metrics.update(self.exchange, OrderStatus.REJECTED)
        self._publish(orjson.dumps(frame))
        return frame

    def publish_rejection(self, req: SendOrder, exc: ApiError) -> None:
        """Tells subscribers that a request sent on their behalf (by a trigger) was refused."""
        self.metrics.reject(self.exchange, exc.reason)
        now = now_ns()
        frame = {
            "exchOrderId": None,
            "message": f"{exc.field}: {exc.message}" if exc.field else exc.message,
            "clOrderId": req.cl_order_id,
            "exchange": self.exchange,
            "symbol": req.symbol,
            "sessionId": self.session_id,
            "tradeId": None,
            "localTime": now,
            "exchTime": None,
            "sendTime": None,
            "price": req.price,
            "qty": req.qty,
            "cumulativeFilledQty": 0.0,
            "executedQty": 0.0,
            "remainingQty": 0.0,
            "orderType": req.order_type.value if req.order_type else None,
            "orderStatus": OrderStatus.REJECTED.value,
            "transactionType": req.transaction_type.value,
            "tif": req.tif.value if req.tif else None,
            "side": req.side.value if req.side else None,
            "tradeLiquidity": None,
            "triggerId": req.trigger_id,
        }
        self._publish(orjson.dumps(frame))

    # ----------------------------------------------------------------- streams

    def transaction(self, order: Order, fill: Fill | None = None) -> dict[str, object]:
        """The ordertransaction view of an order (and of the fill that just happened)."""
        inst = order.instrument
        pg, qg = inst.price_grid, inst.qty_grid
        return {
            "exchOrderId": order.exch_order_id or None,
            "message": order.message,
            "clOrderId": order.cl_order_id,
            "exchange": order.exchange,
            "symbol": order.symbol,
            "sessionId": order.session_id,
            "tradeId": fill.trade_id if fill else None,
            "localTime": now_ns(),
            "exchTime": order.exch_time or None,
            "sendTime": order.send_time,
            "price": pg.value(fill.price if fill and fill.price else order.price)
            if order.order_type != OrderType.MARKET or (fill and fill.price)
            else None,
            "qty": qg.value(order.qty),
            "cumulativeFilledQty": qg.value(order.cum_qty),
            "executedQty": qg.value(fill.qty) if fill else 0.0,
            "remainingQty": qg.value(order.remaining_qty) if order.working else 0.0,
            "orderType": order.order_type.value,
            "orderStatus": order.visible_status.value,
            "transactionType": order.transaction_type.value,
            "tif": order.tif.value,
            "side": order.side.value,
            "tradeLiquidity": fill.liquidity.value if fill and fill.liquidity else None,
            "triggerId": order.trigger_id,
            **({"riskReason": order.risk_reason} if order.risk_reason else {}),
        }

    def _emit(self, order: Order, fill: Fill | None = None) -> None:
        self._book_risk(order)
        key = (
            order.visible_status,
            order.cum_qty,
            order.price,
            order.qty,
            order.exch_order_id,
            order.transaction_type,
        )
        if fill is None and key == order.last_emitted:
            return
        order.last_emitted = key
        self.metrics.update(self.exchange, order.visible_status)
        self._publish(orjson.dumps(self.transaction(order, fill)))
        if not order.working and not order.finished:
            self._finish(order)
        if self.journal is not None:
            self.journal.order(
                self.session_id, order.cl_order_id, order_state(order), order.working
            )
            if fill is not None:
                self.journal.event(
                    self.session_id,
                    "fill",
                    order.cl_order_id,
                    {
                        "qty": order.instrument.qty_grid.format(fill.qty),
                        "price": order.instrument.price_grid.format(fill.price)
                        if fill.price
                        else None,
                        "tradeId": fill.trade_id,
                    },
                )

    def _finish(self, order: Order) -> None:
        """Keeps finished orders for a while (late fills, duplicate ids, /orders?all),
        then forgets the oldest, so memory stays bounded however long ems runs."""
        order.finished = True
        self._finished.append(order.cl_order_id)
        while len(self._finished) > RETAIN_FINISHED:
            old = self.orders.get(self._finished.popleft())
            if old is None or old.working:
                continue
            del self.orders[old.cl_order_id]
            for vid in old.leg_cum:
                self._by_venue_id.pop(vid, None)
            if old.exch_order_id:
                self._by_exch_id.pop(old.exch_order_id, None)

    def _publish(self, frame: bytes) -> None:
        if self._recovering:
            self.corrections.append(frame)
        for sub in tuple(self.subscribers):
            sub.push(frame)

    def positions_frame(self) -> bytes:
        return orjson.dumps({"sessionId": self.session_id, "positions": self.positions})

    def _emit_positions(self, symbol: str) -> None:
        self.metrics.position(self.session_id, self.exchange, symbol, self.positions[symbol])
        if self.journal is not None:
            self.journal.position(
                self.session_id, symbol, self._spot_positions.get(symbol), self.positions[symbol]
            )
        if self.position_subscribers:
            frame = self.positions_frame()
            for sub in tuple(self.position_subscribers):
                sub.push(frame)

    def working_orders(self) -> list[dict[str, object]]:
        return [self.transaction(o) for o in self.orders.values() if o.working]

    # ----------------------------------------------------------------- recovery

    def restore(
        self,
        orders: list[tuple[dict[str, Any], bool]],
        positions: dict[str, tuple[int | None, float]],
    ) -> None:
        """Rebuilds orders and positions from the journal (before reconciliation)."""
        for state, _working in orders:
            inst = self.venue.instruments.get(state["symbol"])
            if inst is None:
                log.error(
                    "%s: journaled order %s on unknown symbol %s",
                    self.session_id,
                    state["cl"],
                    state["symbol"],
                )
                continue
            order = order_from_state(state, self.session_id, self.exchange, inst)
            order.last_emitted = ()
            self.orders[order.cl_order_id] = order
            if not order.working:
                order.finished = True
                # The journal lists finished orders newest first; forget the oldest first.
                self._finished.appendleft(order.cl_order_id)
            for vid in order.leg_cum:
                self._by_venue_id[vid] = order
            if order.exch_order_id:
                self._by_exch_id[order.exch_order_id] = order
            self._book_risk(order)
        for symbol, (units, value) in positions.items():
            if not self.venue.capabilities.positions_from_venue:
                inst = self.venue.instruments.get(symbol)
                if units is not None and inst is not None:
                    self._spot_positions[symbol] = units
                    value = inst.qty_grid.value(units)
            self.positions[symbol] = value
            self._position_changed(symbol)

    def begin_recovery(self) -> None:
        """From here until `end_recovery`, update frames are kept as corrections."""
        self.corrections.clear()
        self._recovering = True

    def end_recovery(self) -> None:
        self._recovering = False
        self._expected.clear()
        if len(self.corrections) == RECOVERY_REPLAY:
            log.warning(
                "%s: recovery sent more than %d updates; new subscribers get the last %d",
                self.session_id,
                RECOVERY_REPLAY,
                RECOVERY_REPLAY,
            )

    def expect(
        self, venue_client_id: str, cl_order_id: str, trigger_id: str | None, symbol: str
    ) -> None:
        """Names an order that may be on the venue without ems having recorded it: if
        reconciliation finds it, it is adopted under this clOrderId and triggerId."""
        self._expected[venue_client_id] = (cl_order_id, trigger_id, symbol)

    def known(self, venue_client_id: str) -> Order | None:
        """The order that has (or had) this venue client id, if ems knows it."""
        return self._by_venue_id.get(venue_client_id)

    async def find(self, order: Order) -> Order | None:
        """Asks the venue for an order ems may have sent without recording it (`order` as
        prepared, with its journaled venue client id); adopts it if the venue has it.
        Raises VenueError or VenueUnknownOutcome when the venue cannot say."""
        known = self._by_venue_id.get(order.venue_client_id)
        if known is not None:
            return known
        report = await self.venue.query(order)
        if report is None:
            return None
        return self._adopt(report)

    def owns(self, venue_client_id: str) -> bool:
        """Whether a venue client id was made by this session (now or before a restart)."""
        return venue_client_id.startswith(self.prefixes)

    async def reconcile(self, since_ms: int) -> dict[str, int]:
        """Brings every order of this session in line with the venue after a restart.

        Orders ems journaled are queried one by one; orders the venue has under this
        session's prefixes that ems never recorded (sent just before a crash) are
        adopted, with their venue client id as clOrderId. Every correction goes out on
        the update stream.
        """
        counts = {"checked": 0, "adopted": 0, "rejected": 0}
        for order in [o for o in self.orders.values() if o.working]:
            counts["checked"] += 1
            try:
                report = await self.venue.query(order)
            except (VenueError, VenueUnknownOutcome) as exc:
                log.warning(
                    "%s: reconcile query of %s failed: %s",
                    self.session_id,
                    order.venue_client_id,
                    exc,
                )
                self._spawn(self._reconcile(order))
                continue
            if report is None:
                if not order.exch_order_id:
                    counts["rejected"] += 1
                self._venue_forgot(order, "found on restart")
                continue
            if order.pending in (Pending.UPDATE, Pending.CANCEL):
                order.pending = Pending.NONE
            self.on_report(report)
        # The account's open orders are listed on every symbol (an order sent just before
        # a crash may be on one the journal never saw); finished ones where ems traded.
        symbols = {o.symbol for o in self.orders.values()}
        symbols.update(symbol for _, _, symbol in self._expected.values())
        try:
            found = await self.venue.recent_orders(symbols, since_ms)
        except (VenueError, VenueUnknownOutcome) as exc:
            log.warning("%s: cannot list the venue's orders: %s", self.session_id, exc)
            found = []
        for report in found:
            vid = report.venue_client_id
            if not vid or not self.owns(vid) or vid in self._by_venue_id:
                continue
            adopted = self._adopt(report)
            if adopted is not None:
                counts["adopted"] += 1
        return counts

    def _venue_forgot(self, order: Order, when: str) -> None:
        """Settles an order the venue says it has no record of: rejected if the venue
        never acknowledged it, else cancelled (it was on the venue, and is not now), in
        both cases with a message saying so, so nothing stays working on a guess."""
        if not order.working:
            return
        if order.pending == Pending.NEW or not order.exch_order_id:
            self._reject(order, f"venue has no record of the order ({when}): never received")
            return
        order.status = OrderStatus.CANCELLED
        order.pending = Pending.NONE
        order.replacing_to = ""
        if order.replaced_leg is not None and order.leg_cum.get(order.venue_client_id) == 0:
            self._back_to_replaced_leg(order)
        order.message = f"venue has no record of the order ({when}): no longer working there"
        self._emit(order)

    def _adopt(self, report: ExecutionReport) -> Order | None:
        inst = self.venue.instruments.get(report.symbol)
        if inst is None or report.side is None:
            return None
        try:
            price = inst.price_grid.units(report.price) if report.price else 0
            qty = inst.qty_grid.units(report.qty or "0")
        except ValueError:
            return None
        cl, trigger_id, _ = self._expected.pop(report.venue_client_id, ("", None, ""))
        if not cl or cl in self.orders:
            cl = report.venue_client_id
        order = Order(
            session_id=self.session_id,
            exchange=self.exchange,
            cl_order_id=cl,
            venue_client_id=report.venue_client_id,
            symbol=report.symbol,
            side=report.side,
            order_type=report.order_type or OrderType.LIMIT,
            tif=report.tif or TimeInForce.GTC,
            price=price,
            qty=qty,
            instrument=inst,
            pending=Pending.NONE,
            message="adopted: found on the venue after a restart",
            trigger_id=trigger_id,
        )
        order.leg_cum[order.venue_client_id] = 0
        self.orders[order.cl_order_id] = order
        self._by_venue_id[order.venue_client_id] = order
        log.warning("%s: adopted venue order %s", self.session_id, order.venue_client_id)
        # The venue module takes it on as one it placed (pull messages, spot positions).
        self.venue.adopt(order, report)
        self.on_report(report)
        self._emit(order)
        return order

    # ----------------------------------------------------------------- lifecycle

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: venue task failed", self.session_id, exc_info=task.exception())

    async def close(self) -> None:
        self.closed = True
        for task in tuple(self._tasks):
            task.cancel()
        await self.venue.stop()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _reason(message: str) -> str:
    """A short, bounded label for the rejects metric (the venue code if there is one)."""
    head = message.split(" ", 1)[0]
    if head.startswith("-") and head[1:].isdigit():
        return head
    return "venue" if message else "unknown"
