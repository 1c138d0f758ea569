"""Orders and the state machine that applies venue reports to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ems._core import OffGridError
from ems.model import (
    TERMINAL_STATUSES,
    Liquidity,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TransactionType,
)
from ems.venues.base import ExecutionReport, Instrument


class Pending:
    """The request in flight for an order, if any (at most one at a time)."""

    NONE = ""
    NEW = "new"
    UPDATE = "update"
    CANCEL = "cancel"


@dataclass(slots=True, eq=False)
class Order:
    """One order of one session. Prices and quantities are integer grid units."""

    session_id: str
    exchange: str
    cl_order_id: str
    venue_client_id: str
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    instrument: Instrument
    transaction_type: TransactionType = TransactionType.INSERT
    status: OrderStatus = OrderStatus.NEW
    """The venue's status; what clients see is `visible_status`."""
    pending: str = Pending.NEW
    exch_order_id: str = ""
    cum_qty: int = 0
    local_time: int = 0
    send_time: int = 0
    exch_time: int = 0
    message: str | None = None
    trigger_id: str | None = None
    pending_price: int = 0
    pending_qty: int = 0
    leg_cum: dict[str, int] = field(default_factory=dict)
    """Filled quantity per venue order ("leg"): a cancel-replace starts a new venue order
    with its own count, and a late fill of the old leg must still be counted."""
    replacing_to: str = ""
    """The venue client id of the replacement leg while a cancel-replace is in flight."""
    replaced_leg: tuple[str, int, int] | None = None
    """The old leg (venue client id, price, quantity) while a cancel-replace whose cancel
    half the stream has shown waits for the venue's answer: if the new half was refused,
    the order that ends is that one."""
    last_emitted: tuple[object, ...] = ()
    finished: bool = False
    """Reached a final state and was queued for eventual forgetting."""
    risk_reason: str | None = None
    """Set when pre-trade risk refused the order (a `Denial` value)."""
    risk_working: bool = False
    risk_booked: int = 0
    """What the session's risk gate counts for this order: working, and its unfilled
    quantity (kept in step by `OrderSession._book_risk`)."""

    @property
    def visible_status(self) -> OrderStatus:
        """The status clients see: a request in flight shows as its pending state."""
        if self.status in TERMINAL_STATUSES:
            return self.status
        if self.pending == Pending.NEW:
            return OrderStatus.PENDING_NEW
        if self.pending == Pending.UPDATE:
            return OrderStatus.PENDING_UPDATE
        if self.pending == Pending.CANCEL:
            return OrderStatus.PENDING_CANCEL
        return self.status

    @property
    def working(self) -> bool:
        """Not yet settled for good: the order may still trade."""
        return self.status not in TERMINAL_STATUSES

    @property
    def remaining_qty(self) -> int:
        return max(self.qty - self.cum_qty, 0)


@dataclass(slots=True)
class Fill:
    """A quantity traded on one order, in units of its grids."""

    qty: int
    price: int | None
    trade_id: str | None
    liquidity: Liquidity | None


def _units(to_units: Callable[[str], int], text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return to_units(text)
    except OffGridError:
        # A venue value off our grid (e.g. an average price) is kept to the floor
        # rather than dropped; quantities from the venue are always on the step grid.
        return default


def apply_report(order: Order, report: ExecutionReport) -> Fill | None:
    """Applies one venue report; returns the fill it carries, if it carries new quantity.

    Reports can arrive twice (REST reply and stream event) and out of order; cumulative
    quantity per leg only grows and terminal states are final, so replays change nothing.
    A report about a leg other than the current one contributes its fills only.
    """
    inst = order.instrument
    leg = (
        report.venue_client_id if report.venue_client_id in order.leg_cum else order.venue_client_id
    )
    current = leg == order.venue_client_id
    if current and report.exch_order_id:
        order.exch_order_id = report.exch_order_id
    if report.exch_time:
        order.exch_time = max(order.exch_time, report.exch_time)
    before = order.leg_cum.get(leg, 0)
    cum = _units(inst.qty_grid.units, report.cum_qty, before)
    fill: Fill | None = None
    if cum > before:
        last_price = (
            _units(inst.price_grid.units_floor, report.last_price, 0) if report.last_price else None
        )
        fill = Fill(cum - before, last_price, report.trade_id, report.liquidity)
        order.leg_cum[leg] = cum
        order.cum_qty += cum - before
    if not current:
        return fill
    if report.amended:
        if report.price:
            order.price = _units(inst.price_grid.units, report.price, order.price)
        if report.qty:
            order.qty = _units(inst.qty_grid.units, report.qty, order.qty) + (
                order.cum_qty - order.leg_cum.get(leg, 0)
            )
        if order.pending == Pending.UPDATE:
            order.pending = Pending.NONE
    if order.status in TERMINAL_STATUSES:
        return fill
    status = report.status
    if status in TERMINAL_STATUSES:
        if status == OrderStatus.FILLED and order.cum_qty < order.qty:
            # A replaced leg filled in full: the order is filled at the leg's quantity.
            order.qty = order.cum_qty
        order.status = status
        order.pending = Pending.NONE
        if report.message:
            order.message = report.message
        return fill
    # The venue holds the order: new or partially filled.
    if order.cum_qty > 0 and status == OrderStatus.NEW:
        status = OrderStatus.PARTIALLY_FILLED
    order.status = status
    if order.pending == Pending.NEW:
        order.pending = Pending.NONE
    return fill


def order_state(order: Order) -> dict[str, object]:
    """Everything needed to rebuild an order after a restart (prices as venue text)."""
    inst = order.instrument
    pg, qg = inst.price_grid, inst.qty_grid
    return {
        "cl": order.cl_order_id,
        "vid": order.venue_client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "tif": order.tif.value,
        "price": pg.format(order.price),
        "qty": qg.format(order.qty),
        "tx": order.transaction_type.value,
        "status": order.status.value,
        "pending": order.pending,
        "exch": order.exch_order_id,
        "cum": qg.format(order.cum_qty),
        "legs": {vid: qg.format(units) for vid, units in order.leg_cum.items()},
        "sent": order.send_time,
        "exchTime": order.exch_time,
        "message": order.message,
        "trigger": order.trigger_id,
        "risk": order.risk_reason,
        "replacing": order.replacing_to,
        "replacedLeg": None
        if order.replaced_leg is None
        else [
            order.replaced_leg[0],
            pg.format(order.replaced_leg[1]),
            qg.format(order.replaced_leg[2]),
        ],
        "pendingPrice": pg.format(order.pending_price),
        "pendingQty": qg.format(order.pending_qty),
    }


def order_from_state(
    state: dict[str, Any], session_id: str, exchange: str, instrument: Instrument
) -> Order:
    """The inverse of `order_state`."""
    pg, qg = instrument.price_grid, instrument.qty_grid
    order = Order(
        session_id=session_id,
        exchange=exchange,
        cl_order_id=state["cl"],
        venue_client_id=state["vid"],
        symbol=state["symbol"],
        side=Side(state["side"]),
        order_type=OrderType(state["type"]),
        tif=TimeInForce(state["tif"]),
        price=pg.units(state["price"]),
        qty=qg.units(state["qty"]),
        instrument=instrument,
        transaction_type=TransactionType(state["tx"]),
        status=OrderStatus(state["status"]),
        pending=state["pending"],
        exch_order_id=state["exch"],
        cum_qty=qg.units(state["cum"]),
        send_time=state["sent"],
        exch_time=state["exchTime"],
        message=state["message"],
        trigger_id=state["trigger"],
        pending_price=pg.units(state["pendingPrice"]),
        pending_qty=qg.units(state["pendingQty"]),
        replacing_to=state["replacing"],
    )
    order.leg_cum = {vid: qg.units(text) for vid, text in state["legs"].items()}
    order.risk_reason = state["risk"]
    replaced = state.get("replacedLeg")
    if replaced:
        order.replaced_leg = (replaced[0], pg.units(replaced[1]), qg.units(replaced[2]))
    return order
