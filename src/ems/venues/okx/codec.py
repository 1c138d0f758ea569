"""OKX JSON to ems and back: instruments, order arguments, pushes, replies, queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ems._core import Grid, OrderUpdate, okx_order_updates
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport, Instrument
from ems.venues.fields import millis, text

MS = 1_000_000

STATE = {
    "live": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "mmp_canceled": OrderStatus.CANCELLED,
}

EXPIRING_SOURCES = frozenset({"13", "14"})
"""cancelSource values that end an fok/ioc/market order without a cancel request."""

CANCEL_SOURCES = {
    "0": "Order canceled by system",
    "1": "Order canceled by user",
    "13": "FOK order was canceled as it could not be filled in full",
    "14": "IOC order was partially canceled as it could not be filled in full",
    "15": "The order price is beyond the limit",
    "20": "Cancel all after triggered",
    "31": "The post-only order will take liquidity in taker orders",
    "32": "Self trade prevention",
}

ORDER_TYPE = {
    "limit": (OrderType.LIMIT, TimeInForce.GTC),
    "ioc": (OrderType.LIMIT, TimeInForce.IOC),
    "fok": (OrderType.LIMIT, TimeInForce.FOK),
    "market": (OrderType.MARKET, TimeInForce.IOC),
    "post_only": (OrderType.POSTONLY, TimeInForce.GTC),
}


@dataclass(frozen=True, slots=True)
class OkxInstrument:
    """What order arguments need beyond the grids."""

    inst_id: str
    inst_type: str
    inst_id_code: int | None


def ord_type(order_type: OrderType, tif: TimeInForce) -> str:
    """The OKX ordType of an ems order type and time in force."""
    if order_type == OrderType.MARKET:
        return "market"
    if order_type == OrderType.POSTONLY:
        return "post_only"
    if tif == TimeInForce.IOC:
        return "ioc"
    if tif == TimeInForce.FOK:
        return "fok"
    return "limit"


def td_mode(inst_type: str, use_margin: bool) -> str:
    """Spot trades `cash` unless margin is on (`cross`); derivatives always trade `cross`."""
    if inst_type == "SPOT":
        return "cross" if use_margin else "cash"
    return "cross"


def instruments(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, Instrument], dict[str, OkxInstrument]]:
    """Grids and limits of every live instrument of a `/public/instruments` reply."""
    grids: dict[str, Instrument] = {}
    meta: dict[str, OkxInstrument] = {}
    for row in rows:
        inst_id = row.get("instId")
        if not inst_id:
            continue
        try:
            price_grid = Grid(str(row["tickSz"]))
            qty_grid = Grid(str(row["lotSz"]))
        except (KeyError, ValueError):
            continue  # a grid we cannot represent is not tradable by us
        kind = str(row.get("instType", ""))
        ct_val = row.get("ctVal") or ""
        min_sz = row.get("minSz") or ""
        code = row.get("instIdCode")
        grids[inst_id] = Instrument(
            symbol=inst_id,
            price_grid=price_grid,
            qty_grid=qty_grid,
            min_qty=qty_grid.units_floor(min_sz) if min_sz else 0,
            max_qty=qty_grid.units_floor(row["maxLmtSz"]) if row.get("maxLmtSz") else 0,
            market_max_qty=qty_grid.units_floor(row["maxMktSz"]) if row.get("maxMktSz") else 0,
            contract_size=float(ct_val) if kind != "SPOT" and ct_val else None,
            base_asset=str(row.get("baseCcy") or row.get("ctValCcy") or ""),
            quote_asset=str(row.get("quoteCcy") or row.get("settleCcy") or ""),
            trading=row.get("state", "live") == "live",
        )
        meta[inst_id] = OkxInstrument(
            inst_id, kind, int(code) if isinstance(code, int | str) and str(code) else None
        )
    return grids, meta


def _message(state: str, cancel_source: str) -> str | None:
    if state != "canceled" or cancel_source in ("", "1"):
        return None
    text = CANCEL_SOURCES.get(cancel_source, "canceled by the venue")
    return f"cancelSource {cancel_source}: {text}"


def _status(state: str, cancel_source: str) -> OrderStatus:
    if state == "canceled" and cancel_source in EXPIRING_SOURCES:
        return OrderStatus.EXPIRED
    return STATE.get(state, OrderStatus.NEW)


def update_report(u: OrderUpdate, amended: bool = False) -> ExecutionReport:
    """A report from one `orders` channel item (as read by the core scanner)."""
    fill = u.last_qty not in ("", "0")
    return ExecutionReport(
        venue_client_id=u.client_order_id,
        exch_order_id=u.order_id,
        symbol=u.symbol,
        status=_status(u.status, u.reject_reason),
        cum_qty=u.cum_qty,
        price=u.price or None,
        qty=u.qty or None,
        last_qty=u.last_qty if fill else None,
        last_price=u.last_price if fill else None,
        trade_id=u.trade_id if fill and u.trade_id else None,
        liquidity=(Liquidity.ADD if u.is_maker else Liquidity.REMOVE) if fill else None,
        exch_time=(u.trade_time if fill and u.trade_time else u.exch_time) * MS,
        message=_message(u.status, u.reject_reason),
        side=Side.BUY if u.side > 0 else Side.SELL,
        order_type=ORDER_TYPE.get(u.order_type, (None, None))[0],
        tif=ORDER_TYPE.get(u.order_type, (None, None))[1],
        amended=amended,
    )


def push_reports(frame: bytes) -> list[ExecutionReport]:
    """Every order of an `orders` push, scanned without building dicts.

    An amend shows as `amendResult` "0"; those rare frames are also read in full to
    learn which items they are, since the scanner does not carry that field.
    """
    updates = okx_order_updates(frame)
    if b'"amendResult":"0"' not in frame:
        return [update_report(u) for u in updates]
    items = orjson.loads(frame).get("data", [])
    amended = [isinstance(i, dict) and i.get("amendResult") == "0" for i in items]
    if len(amended) != len(updates):
        amended = [False] * len(updates)
    return [update_report(u, a) for u, a in zip(updates, amended, strict=True)]


def query_report(data: dict[str, Any]) -> ExecutionReport:
    """A report from `GET /trade/order`: the venue's whole view, fills included."""
    state = text(data, "state")
    source = text(data, "cancelSource")
    avg = text(data, "avgPx")
    kind = ORDER_TYPE.get(text(data, "ordType"), (None, None))
    return ExecutionReport(
        venue_client_id=text(data, "clOrdId"),
        exch_order_id=text(data, "ordId"),
        symbol=text(data, "instId"),
        status=_status(state, source),
        cum_qty=text(data, "accFillSz") or "0",
        price=text(data, "px") or None,
        qty=text(data, "sz") or None,
        last_price=avg if avg and avg != "0" else None,
        exch_time=millis(data.get("uTime")) * MS,
        message=_message(state, source),
        side=Side.BUY if data.get("side") == "buy" else Side.SELL,
        order_type=kind[0],
        tif=kind[1],
    )


def item_error(item: dict[str, Any]) -> str:
    """`sCode sMsg` of a refused item."""
    return f"{item.get('sCode', '')} {item.get('sMsg', '')}".strip()
