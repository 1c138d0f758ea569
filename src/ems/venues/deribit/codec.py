"""Deribit FIX messages to ems: instruments, execution reports, positions, trades."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

from ems._core import BUY, SELL, FixMessage, Grid
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport, Instrument

STATUS = {
    b"0": OrderStatus.NEW,
    b"1": OrderStatus.PARTIALLY_FILLED,
    b"2": OrderStatus.FILLED,
    b"4": OrderStatus.CANCELLED,
    b"6": OrderStatus.NEW,  # pending cancel: still working until the venue says otherwise
    b"8": OrderStatus.REJECTED,
    b"C": OrderStatus.EXPIRED,
}
TIF = {b"0": TimeInForce.DAY, b"1": TimeInForce.GTC, b"3": TimeInForce.IOC, b"4": TimeInForce.FOK}
SIDE = {b"1": Side.BUY, b"2": Side.SELL}
_IMMEDIATE = frozenset({b"3", b"4"})
_EXPLAINED = frozenset({OrderStatus.REJECTED, OrderStatus.EXPIRED})
_CAUSES = frozenset({b"cancel_on_disconnect"})
ORDER_NOT_FOUND = b"5"
"""OrdRejReason 5, "unknown order", in a status report."""


def fix_time_ns(text: bytes | None) -> int:
    """A FIX UTCTimestamp (`YYYYMMDD-HH:MM:SS[.sss[sss]]`) as epoch nanoseconds (0 if bad)."""
    if not text or len(text) < 17:
        return 0
    try:
        head = time.strptime(text[:17].decode(), "%Y%m%d-%H:%M:%S")
    except ValueError:
        return 0
    frac = text[18:] if len(text) > 18 and text[17:18] == b"." else b""
    nanos = int(frac.decode().ljust(9, "0")[:9]) if frac.isdigit() else 0
    return calendar.timegm(head) * 1_000_000_000 + nanos


def instruments(msg: FixMessage) -> dict[str, Instrument]:
    """Every listed instrument from a SecurityList (y): tick 969, minimum 562, size 231."""
    members = [55, 107, 167, 201, 202, 15, 120, 969, 562, 231, 225, 541, 1079, 2576, 1524, 311]
    out: dict[str, Instrument] = {}
    for group in msg.group(146, members):
        values = dict(group)
        symbol = values.get(55, b"").decode()
        tick = values.get(969)
        step = values.get(562)
        if not symbol or not tick or not step:
            continue
        try:
            price_grid, qty_grid = Grid(tick.decode()), Grid(step.decode())
        except ValueError:
            continue  # a grid we cannot represent is not tradable by us
        multiplier = values.get(231)
        currency = (values.get(15) or b"").decode()
        out[symbol] = Instrument(
            symbol=symbol,
            price_grid=price_grid,
            qty_grid=qty_grid,
            min_qty=1,
            contract_size=float(multiplier) if multiplier else None,
            base_asset=currency,
            quote_asset="USD",
        )
    return out


def execution_report(msg: FixMessage) -> ExecutionReport:
    """An ExecutionReport (8). The client's ClOrdID is in OrigClOrdID (41): Deribit puts
    its own id in ClOrdID (11). Fills arrive one per report (ReportFillsAsExecReports)."""
    (
        order_id,
        orig_cl,
        status,
        exec_type,
        symbol,
        side,
        qty,
        price,
        cum,
        last_px,
        last_qty,
        trade_id,
        liquidity,
        tif,
        ord_type,
        text,
        when,
        avg_px,
        change_id,
    ) = msg.get_many(
        [37, 41, 39, 150, 55, 54, 38, 44, 14, 31, 32, 880, 851, 59, 40, 58, 60, 6, 527]
    )
    state = STATUS.get(status or b"", OrderStatus.NEW)
    if state == OrderStatus.CANCELLED and (tif in _IMMEDIATE or ord_type == b"1"):
        # An ioc/fok/market remainder is ended by the venue, not by a cancel request.
        state = OrderStatus.EXPIRED
    fill = exec_type == b"F"
    if fill and not trade_id:
        # TrdMatchID (880) is not in Deribit's report excerpt; SecondaryExecID (527), the
        # id of the order change, is, and names the fill as uniquely for this order.
        trade_id = change_id
    if not fill and exec_type == b"I" and avg_px and avg_px != b"0":
        # A status report: fills found this way are priced at the average.
        last_px = avg_px
    return ExecutionReport(
        venue_client_id=orig_cl.decode() if orig_cl else "",
        exch_order_id=order_id.decode() if order_id else "",
        symbol=symbol.decode() if symbol else "",
        status=state,
        cum_qty=cum.decode() if cum else "",
        price=price.decode() if price else None,
        qty=qty.decode() if qty else None,
        last_qty=last_qty.decode() if fill and last_qty else None,
        last_price=last_px.decode() if last_px and (fill or exec_type == b"I") else None,
        trade_id=trade_id.decode() if fill and trade_id else None,
        liquidity=(Liquidity.ADD if liquidity == b"1" else Liquidity.REMOVE) if fill else None,
        exch_time=fix_time_ns(when),
        message=text.decode() if text and (state in _EXPLAINED or text in _CAUSES) else None,
        side=SIDE.get(side or b""),
        order_type=OrderType.MARKET if ord_type == b"1" else OrderType.LIMIT,
        tif=TIF.get(tif or b""),
        amended=exec_type == b"5",  # drop copy; the order session's I is matched by the session
    )


def positions(msg: FixMessage) -> dict[str, float]:
    """Net contracts per symbol from a PositionReport (AP): LongQty - ShortQty."""
    out: dict[str, float] = {}
    for group in msg.group(702, [703, 704, 705, 55, 854, 231, 883, 54, 730, 15]):
        values = dict(group)
        symbol = values.get(55)
        if not symbol:
            continue
        long_qty = float(values.get(704) or 0)
        short_qty = float(values.get(705) or 0)
        out[symbol.decode()] = long_qty - short_qty
    return out


@dataclass(slots=True)
class PublicTrade:
    """A public trade on the instrument's grids, shaped like `ems._core.Trade`.

    The core has no Deribit trade scanner and its `Trade` cannot be built from Python,
    so the FIX and JSON-RPC feeds hand these to the trigger manager instead."""

    price: int
    qty: int
    aggressor_side: int
    time: int
    trade_id: int


def trade_side(side: bytes | str | None) -> int:
    return BUY if side in (b"1", "buy") else SELL
