"""Binance JSON to ems: instruments from exchangeInfo, reports from replies and events."""

from __future__ import annotations

from typing import Any

from ems._core import Grid, OrderUpdate
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport, Instrument
from ems.venues.fields import child, millis, optional_text, text

STATUS = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "PENDING_CANCEL": OrderStatus.NEW,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}

ORDER_TYPE = {
    "LIMIT": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "LIMIT_MAKER": OrderType.POSTONLY,
}
TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}

MS = 1_000_000


def _units_or_zero(grid: Grid, text: str | None) -> int:
    if not text:
        return 0
    return grid.units_floor(text)


def instruments(exchange_info: dict[str, Any]) -> dict[str, Instrument]:
    """Every symbol's grids and limits from an exchangeInfo reply (spot or futures)."""
    out: dict[str, Instrument] = {}
    for sym in exchange_info.get("symbols", []):
        filters = {f["filterType"]: f for f in sym.get("filters", [])}
        price_filter = filters.get("PRICE_FILTER")
        lot = filters.get("LOT_SIZE")
        if not price_filter or not lot:
            continue
        try:
            price_grid = Grid(price_filter["tickSize"])
            qty_grid = Grid(lot["stepSize"])
        except ValueError:
            continue  # a symbol whose grid we cannot represent is not tradable by us
        market_lot = filters.get("MARKET_LOT_SIZE", {})
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        min_notional = notional.get("minNotional") or notional.get("notional") or "0"
        on_market = notional.get("applyMinToMarket", notional.get("applyToMarket", True))
        contract = sym.get("contractSize")
        status = sym.get("status") or sym.get("contractStatus") or "TRADING"
        out[sym["symbol"]] = Instrument(
            symbol=sym["symbol"],
            price_grid=price_grid,
            qty_grid=qty_grid,
            min_price=_units_or_zero(price_grid, price_filter.get("minPrice")),
            max_price=_units_or_zero(price_grid, price_filter.get("maxPrice")),
            min_qty=_units_or_zero(qty_grid, lot.get("minQty")),
            max_qty=_units_or_zero(qty_grid, lot.get("maxQty")),
            market_min_qty=_units_or_zero(qty_grid, market_lot.get("minQty")),
            market_max_qty=_units_or_zero(qty_grid, market_lot.get("maxQty")),
            min_notional=float(min_notional),
            min_notional_on_market=on_market is not False,
            contract_size=float(contract) if contract else None,
            base_asset=sym.get("baseAsset", ""),
            quote_asset=sym.get("quoteAsset", ""),
            trading=status == "TRADING",
        )
    return out


def reply_report(data: dict[str, Any], venue_client_id: str | None = None) -> ExecutionReport:
    """A report from an order reply (place, cancel, modify).

    Fills are learnt from the user stream, which carries trade ids and prices, or from a
    query; a reply that says "filled" before those arrive is held back as "new" so that
    no client sees a fill without its quantity.
    """
    status = STATUS.get(text(data, "status"), OrderStatus.NEW)
    executed = text(data, "executedQty") or "0"
    if status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.EXPIRED) and (
        executed not in ("0", "") and float(executed) > 0
    ):
        status = OrderStatus.NEW
    return ExecutionReport(
        venue_client_id=venue_client_id or text(data, "clientOrderId"),
        exch_order_id=text(data, "orderId"),
        symbol=text(data, "symbol"),
        status=status,
        cum_qty="",
        price=optional_text(data, "price"),
        qty=optional_text(data, "origQty"),
        exch_time=millis(data.get("updateTime"), data.get("transactTime")) * MS,
    )


def query_report(data: dict[str, Any]) -> ExecutionReport:
    """A report from an order query: the venue's whole view, fills included."""
    executed = text(data, "executedQty") or "0"
    avg = optional_text(data, "avgPrice")
    if not avg or float(avg) == 0:
        quote = text(data, "cummulativeQuoteQty") or text(data, "cumQuote")
        avg = str(float(quote) / float(executed)) if quote and float(executed) > 0 else None
    return ExecutionReport(
        venue_client_id=text(data, "clientOrderId"),
        exch_order_id=text(data, "orderId"),
        symbol=text(data, "symbol"),
        status=STATUS.get(text(data, "status"), OrderStatus.NEW),
        cum_qty=executed,
        price=optional_text(data, "price"),
        qty=optional_text(data, "origQty"),
        last_price=avg,
        exch_time=millis(data.get("updateTime"), data.get("time")) * MS,
        side=SIDE.get(text(data, "side")),
        order_type=ORDER_TYPE.get(text(data, "type")),
        tif=TIF.get(text(data, "timeInForce")),
    )


def execution_report(ev: dict[str, Any]) -> ExecutionReport:
    """A spot `executionReport` user-stream event."""
    exec_type = text(ev, "x")
    original = text(ev, "C")
    client_id = original if exec_type == "CANCELED" and original else text(ev, "c")
    trade = exec_type == "TRADE"
    reason = optional_text(ev, "r")
    trade_id = text(ev, "t", "-1") if trade else "-1"
    return ExecutionReport(
        venue_client_id=client_id,
        exch_order_id=text(ev, "i"),
        symbol=text(ev, "s"),
        status=STATUS.get(text(ev, "X"), OrderStatus.NEW),
        cum_qty=text(ev, "z"),
        price=optional_text(ev, "p"),
        qty=optional_text(ev, "q"),
        last_qty=optional_text(ev, "l") if trade else None,
        last_price=optional_text(ev, "L") if trade else None,
        trade_id=trade_id if trade_id != "-1" else None,
        liquidity=(Liquidity.ADD if ev.get("m") else Liquidity.REMOVE) if trade else None,
        exch_time=millis(ev.get("T"), ev.get("E")) * MS,
        message=reason if reason and reason != "NONE" else None,
        amended=exec_type == "REPLACED",
    )


def order_trade_update(ev: dict[str, Any]) -> ExecutionReport:
    """A futures `ORDER_TRADE_UPDATE` user-stream event."""
    o = child(ev, "o")
    exec_type = text(o, "x")
    trade = exec_type in ("TRADE", "CALCULATED")
    return ExecutionReport(
        venue_client_id=text(o, "c"),
        exch_order_id=text(o, "i"),
        symbol=text(o, "s"),
        status=STATUS.get(text(o, "X"), OrderStatus.NEW),
        cum_qty=text(o, "z"),
        price=optional_text(o, "p"),
        qty=optional_text(o, "q"),
        last_qty=optional_text(o, "l") if trade else None,
        last_price=optional_text(o, "L") if trade else None,
        trade_id=text(o, "t") or None if trade and o.get("t") else None,
        liquidity=(Liquidity.ADD if o.get("m") else Liquidity.REMOVE) if trade else None,
        exch_time=millis(o.get("T"), ev.get("T"), ev.get("E")) * MS,
        amended=exec_type == "AMENDMENT",
    )


def update_report(u: OrderUpdate) -> ExecutionReport:
    """A report from the core's scan of an `executionReport` or `ORDER_TRADE_UPDATE`.

    Same mapping as `execution_report` / `order_trade_update`, without building a dict of
    the whole event: only the fields read become Python strings.
    """
    exec_type = u.exec_type
    trade = exec_type in ("TRADE", "CALCULATED")
    original = u.orig_client_order_id
    client_id = original if exec_type == "CANCELED" and original else u.client_order_id
    reason = u.reject_reason
    trade_id = u.trade_id if trade else ""
    return ExecutionReport(
        venue_client_id=client_id,
        exch_order_id=u.order_id,
        symbol=u.symbol,
        status=STATUS.get(u.status, OrderStatus.NEW),
        cum_qty=u.cum_qty,
        price=u.price or None,
        qty=u.qty or None,
        last_qty=u.last_qty if trade else None,
        last_price=u.last_price if trade else None,
        trade_id=trade_id if trade_id not in ("", "-1", "0") else None,
        liquidity=(Liquidity.ADD if u.is_maker else Liquidity.REMOVE) if trade else None,
        exch_time=(u.trade_time or u.exch_time) * MS,
        message=reason if reason and reason != "NONE" else None,
        amended=exec_type in ("REPLACED", "AMENDMENT"),
    )
