"""Bybit v5 JSON to and from ems: requests built from orders, reports from replies and
pushes, instruments from `instruments-info` (protocols.md C.3, C.4).

How Bybit reports an order, and what ems makes of it:

* A create/amend/cancel acknowledgement only says "accepted"; the order's state comes
  from the private `order` push, its fills from the `execution` push (trade id, price,
  maker/taker).  A working order's `order` push therefore carries no fill quantity
  here (the `execution` push brings it with its details); a final push carries the
  cumulative quantity so that nothing is missed if the `execution` push was lost.
* `Cancelled` means different things: `cancelType` CancelByUser is a cancel we asked
  for (ems `cancelled`); `rejectReason` EC_PostOnlyWillTakeLiquidity is a post-only
  order refused for taking (ems `rejected`, as on the other venues); the unfilled rest
  of an IOC, FOK or market order is ems `expired`.  The venue's reason is kept in the
  report's message.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ems._core import Grid, OrderUpdate
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport, Instrument
from ems.venues.ledger import PositionRow, stamp

MS = 1_000_000

WORKING = {
    "New": OrderStatus.NEW,
    "Untriggered": OrderStatus.NEW,
    "Triggered": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
}
CANCELLED = frozenset({"Cancelled", "PartiallyFilledCanceled", "Deactivated"})
POST_ONLY_REFUSED = "EC_PostOnlyWillTakeLiquidity"
ORDER_TYPE = {"Limit": OrderType.LIMIT, "Market": OrderType.MARKET}
TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
SIDE = {"Buy": Side.BUY, "Sell": Side.SELL}
NO_REASON = frozenset({"", "EC_NoError", "UNKNOWN"})


# ------------------------------------------------------------------ requests


def tif_text(order_type: OrderType, tif: TimeInForce) -> str:
    """The `timeInForce` Bybit expects: PostOnly for post-only, IOC for market."""
    if order_type == OrderType.POSTONLY:
        return "PostOnly"
    if order_type == OrderType.MARKET:
        return "IOC"
    return tif.value.upper()


def create_args(
    category: str,
    symbol: str,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    qty: str,
    price: str | None,
    order_link_id: str,
) -> dict[str, Any]:
    """An `order.create` / `POST /v5/order/create` request."""
    args: dict[str, Any] = {
        "category": category,
        "symbol": symbol,
        "side": "Buy" if side == Side.BUY else "Sell",
        "orderType": "Market" if order_type == OrderType.MARKET else "Limit",
        "qty": qty,
    }
    if order_type != OrderType.MARKET and price is not None:
        args["price"] = price
    args["timeInForce"] = tif_text(order_type, tif)
    if category == "spot" and order_type == OrderType.MARKET:
        # Spot market buys are sized in the quote coin unless told otherwise; ems
        # quantities are always in the base coin.
        args["marketUnit"] = "baseCoin"
    args["orderLinkId"] = order_link_id
    return args


def amend_args(
    category: str, symbol: str, order_link_id: str, qty: str | None, price: str | None
) -> dict[str, Any]:
    """An `order.amend` request; only what changes is sent."""
    args: dict[str, Any] = {"category": category, "symbol": symbol, "orderLinkId": order_link_id}
    if qty is not None:
        args["qty"] = qty
    if price is not None:
        args["price"] = price
    return args


def cancel_args(category: str, symbol: str, order_link_id: str) -> dict[str, Any]:
    """An `order.cancel` request."""
    return {"category": category, "symbol": symbol, "orderLinkId": order_link_id}


def batch_args(category: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch request: the category once, then the items without it."""
    return {
        "category": category,
        "request": [{k: v for k, v in item.items() if k != "category"} for item in items],
    }


# ------------------------------------------------------------------ instruments


def _units(grid: Grid, text: object) -> int:
    if not text:
        return 0
    try:
        return grid.units_floor(str(text))
    except ValueError:
        return 0


def instruments(category: str, items: list[dict[str, Any]]) -> dict[str, Instrument]:
    """Every symbol's grids and limits from `instruments-info` list items."""
    out: dict[str, Instrument] = {}
    for item in items:
        price_filter = item.get("priceFilter") or {}
        lot = item.get("lotSizeFilter") or {}
        step = lot.get("basePrecision") if category == "spot" else lot.get("qtyStep")
        tick = price_filter.get("tickSize")
        if not step or not tick:
            continue
        try:
            price_grid = Grid(str(tick))
            qty_grid = Grid(str(step))
        except ValueError:
            continue  # a symbol whose grid we cannot represent is not tradable by us
        if category == "spot":
            max_qty = lot.get("maxLimitOrderQty") or lot.get("maxOrderQty")
            market_max = lot.get("maxMarketOrderQty") or lot.get("maxOrderQty")
            notional = lot.get("minOrderAmt") or "0"
        else:
            max_qty = lot.get("maxOrderQty")
            market_max = lot.get("maxMktOrderQty") or lot.get("maxOrderQty")
            notional = lot.get("minNotionalValue") or "0"
        out[item["symbol"]] = Instrument(
            symbol=item["symbol"],
            price_grid=price_grid,
            qty_grid=qty_grid,
            min_price=_units(price_grid, price_filter.get("minPrice")),
            max_price=_units(price_grid, price_filter.get("maxPrice")),
            min_qty=_units(qty_grid, lot.get("minOrderQty")),
            max_qty=_units(qty_grid, max_qty),
            market_min_qty=_units(qty_grid, lot.get("minOrderQty")),
            market_max_qty=_units(qty_grid, market_max),
            min_notional=float(notional),
            # Inverse contracts are sized in USD: one contract is one USD.
            contract_size=1.0 if category == "inverse" else None,
            base_asset=item.get("baseCoin", ""),
            quote_asset=item.get("quoteCoin", ""),
            trading=item.get("status", "Trading") == "Trading",
        )
    return out


# ------------------------------------------------------------------ reports


def order_state(
    status: str, cancel_type: str, reject_reason: str, tif: str, order_type: str
) -> tuple[OrderStatus, str | None]:
    """The ems status of a Bybit order state, and the venue's reason worth showing."""
    working = WORKING.get(status)
    if working is not None:
        return working, None
    reason = None if reject_reason in NO_REASON else reject_reason
    if status == "Filled":
        return OrderStatus.FILLED, None
    if status == "Rejected":
        return OrderStatus.REJECTED, reason or "rejected by the venue"
    if status in CANCELLED:
        if reject_reason == POST_ONLY_REFUSED:
            return OrderStatus.REJECTED, reject_reason
        if cancel_type == "CancelByUser":
            return OrderStatus.CANCELLED, None
        if tif in ("IOC", "FOK") or order_type == "Market":
            return OrderStatus.EXPIRED, reason
        detail = cancel_type if cancel_type not in NO_REASON else reason
        return OrderStatus.CANCELLED, detail
    return OrderStatus.NEW, None


def _report(
    link_id: str,
    order_id: str,
    symbol: str,
    status: str,
    cancel_type: str,
    reject_reason: str,
    tif: str,
    order_type: str,
    price: str,
    qty: str,
    cum_qty: str,
    avg_price: str,
    updated_ms: int,
    full: bool,
) -> ExecutionReport:
    state, message = order_state(status, cancel_type, reject_reason, tif, order_type)
    final = state not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
    show_fills = full or final
    if not show_fills and state == OrderStatus.PARTIALLY_FILLED:
        # The fill itself arrives on the execution topic; until then the order is
        # simply working (the engine shows partiallyfilled once it counts a fill).
        state = OrderStatus.NEW
    has_avg = bool(avg_price) and avg_price not in ("0", "")
    return ExecutionReport(
        venue_client_id=link_id,
        exch_order_id=order_id,
        symbol=symbol,
        status=state,
        cum_qty=cum_qty if show_fills else "",
        price=price if price and price != "0" else None,
        qty=qty or None,
        last_price=avg_price if show_fills and has_avg else None,
        exch_time=updated_ms * MS,
        message=message,
        order_type=OrderType.POSTONLY if tif == "PostOnly" else ORDER_TYPE.get(order_type),
        tif=TimeInForce.GTC if tif == "PostOnly" else TIF.get(tif),
    )


def update_report(u: OrderUpdate) -> ExecutionReport:
    """A report from one order of an `order` push, as scanned by the core."""
    return _report(
        u.client_order_id,
        u.order_id,
        u.symbol,
        u.status,
        u.exec_type,
        u.reject_reason,
        u.time_in_force,
        u.order_type,
        u.price,
        u.qty,
        u.cum_qty,
        u.avg_price,
        u.exch_time,
        full=False,
    )


def order_report(row: dict[str, Any], full: bool) -> ExecutionReport:
    """A report from an order object (`order` push item, or a query row when `full`)."""
    report = _report(
        str(row.get("orderLinkId", "")),
        str(row.get("orderId", "")),
        str(row.get("symbol", "")),
        str(row.get("orderStatus", "")),
        str(row.get("cancelType", "")),
        str(row.get("rejectReason", "")),
        str(row.get("timeInForce", "")),
        str(row.get("orderType", "")),
        str(row.get("price", "")),
        str(row.get("qty", "")),
        str(row.get("cumExecQty", "") or "0"),
        str(row.get("avgPrice", "")),
        _int(row.get("updatedTime")),
        full=full,
    )
    report.side = SIDE.get(str(row.get("side", "")))
    return report


def execution_report(item: dict[str, Any]) -> ExecutionReport | None:
    """A report from one `execution` push item (None for funding, settlement, ...)."""
    if item.get("execType", "Trade") != "Trade":
        return None
    try:
        order_qty = Decimal(str(item.get("orderQty") or "0"))
        leaves = Decimal(str(item.get("leavesQty") or "0"))
    except InvalidOperation:
        return None
    cum = f"{order_qty - leaves:f}" if order_qty > 0 else ""
    return ExecutionReport(
        venue_client_id=str(item.get("orderLinkId", "")),
        exch_order_id=str(item.get("orderId", "")),
        symbol=str(item.get("symbol", "")),
        status=OrderStatus.FILLED
        if order_qty > 0 and leaves == 0
        else OrderStatus.PARTIALLY_FILLED,
        cum_qty=cum,
        last_qty=str(item.get("execQty", "")) or None,
        last_price=str(item.get("execPrice", "")) or None,
        trade_id=str(item.get("execId", "")) or None,
        liquidity=Liquidity.ADD if item.get("isMaker") else Liquidity.REMOVE,
        exch_time=_int(item.get("execTime")) * MS,
    )


def ack_report(data: dict[str, Any], link_id: str, symbol: str) -> ExecutionReport:
    """A report from a create acknowledgement: the venue holds the order (state to come)."""
    return ExecutionReport(
        venue_client_id=str(data.get("orderLinkId") or link_id),
        exch_order_id=str(data.get("orderId", "")),
        symbol=symbol,
        status=OrderStatus.NEW,
        cum_qty="",
    )


def position_amount(item: dict[str, Any]) -> float:
    """The signed size of a `position` push item or `position/list` row.

    A size that is not a number (or a number's text) is refused with ValueError rather
    than read as flat: the venue's position would otherwise be taken to be zero."""
    size = item.get("size") or 0
    if isinstance(size, bool) or not isinstance(size, int | float | str):
        raise ValueError(f"position size: expected a number, got {type(size).__name__}")
    size = float(size)
    return -size if item.get("side") == "Sell" else size


def position_row(item: dict[str, Any]) -> PositionRow:
    """A `position` push item or `position/list` row as the ledger keeps it: the leg is
    the `positionIdx` (0 one-way, 1/2 the hedge-mode buy/sell sides), the stamp the
    cross sequence `seq` (-1 until the symbol first trades)."""
    return (
        str(item.get("symbol", "")),
        str(item.get("positionIdx", 0)),
        stamp(item.get("seq")),
        position_amount(item),
    )


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
