"""The simulated Binance spot venue: balances, orders, executionReports.

Balances: a LIMIT/LIMIT_MAKER buy locks ``price * quantity`` of the quote asset and a
sell locks the quantity of the base asset; fills settle from the lock (a buy filled
below its limit gets the difference back to ``free``) and a finished order releases what
is left.  MARKET orders lock nothing: the whole fill is planned first and checked
against the free balance.  Commission is 0.1 % of what is received (base asset on a
buy, quote asset on a sell, rounded half-up to 8 decimals), maker and taker alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from ems.sim.accounts import Balance
from ems.sim.binance.auth import now_ms
from ems.sim.binance.errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    NO_SUCH_ORDER,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    BinanceError,
    filter_failure,
    not_required,
    rejected,
)
from ems.sim.binance.specs import (
    INITIAL_BALANCES,
    SPOT_FEE,
    Product,
    SymbolSpec,
    fmt,
    rate_limits,
    spot_symbol_info,
)
from ems.sim.binance.venue import BinanceVenue, Order, Params, decimals_of, on_grid
from ems.sim.matching import ZERO, RestingOrder, Side

_SPOT_CLIENT_ID = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
_EIGHT = Decimal("0.00000001")

# Error codes that mean "the request itself is malformed": cancelReplace reports these
# before doing anything, while any other new-order failure comes after the cancel.
STRUCTURAL_CODES = frozenset({-1100, -1102, -1106, -1115, -1116, -1117, -1121, -1111})


def f8(value: Decimal) -> str:
    """Spot's 8-decimal rendering."""
    return fmt(value, 8)


@dataclass(slots=True)
class _Intent:
    """A validated new order, not yet accepted."""

    spec: SymbolSpec
    side: str
    type: str
    tif: str
    price: Decimal
    qty: Decimal | None
    quote_qty: Decimal | None
    client_id: str | None
    resp_type: str


class SpotVenue(BinanceVenue):
    """Binance spot (``/api/v3``)."""

    depth_speeds = {"@depth": 1000, "@depth@100ms": 100}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """See :class:`BinanceVenue`."""
        self._client_seq = 0
        super().__init__(Product.SPOT, *args, **kwargs)

    def _init_accounts(self) -> None:
        self.balances: dict[str, dict[str, Balance]] = {
            key: {a: Balance(v) for a, v in INITIAL_BALANCES[Product.SPOT].items()}
            for key in self.credentials
        }
        self.account_time: dict[str, int] = dict.fromkeys(self.credentials, now_ms())

    def partial_speeds(self) -> dict[str, int]:
        """Spot partial depth: 1000 ms and ``@100ms``."""
        return {"": 1000, "@100ms": 100}

    # ------------------------------------------------------------- rendering
    def px(self, symbol: str, value: Decimal) -> str:
        """Spot prices have 8 decimals."""
        return f8(value)

    def qty(self, symbol: str, value: Decimal) -> str:
        """Spot quantities have 8 decimals."""
        return f8(value)

    def trade_event(
        self, symbol: str, trade_id: int, price: Decimal, qty: Decimal, ts: int, aggressor: Side
    ) -> dict[str, Any]:
        """Spot ``@trade``; ``m`` is true when the seller was the aggressor."""
        return {
            "e": "trade", "E": ts, "s": symbol, "t": trade_id, "p": f8(price), "q": f8(qty),
            "T": ts, "m": aggressor is Side.SELL, "M": True,
        }  # fmt: skip

    def agg_trade_event(
        self,
        symbol: str,
        agg_id: int,
        price: Decimal,
        qty: Decimal,
        first: int,
        last: int,
        aggressor: Side,
        ts: int,
    ) -> dict[str, Any]:
        """Spot ``@aggTrade``."""
        return {
            "e": "aggTrade", "E": ts, "s": symbol, "a": agg_id, "p": f8(price), "q": f8(qty),
            "f": first, "l": last, "T": ts, "m": aggressor is Side.SELL, "M": True,
        }  # fmt: skip

    def depth_event(
        self,
        symbol: str,
        U: int,
        u: int,
        pu: int,
        bids: list[Any],
        asks: list[Any],
        ts: int,
    ) -> dict[str, Any]:
        """Spot ``depthUpdate`` (no ``pu``)."""
        return {"e": "depthUpdate", "E": ts, "s": symbol, "U": U, "u": u, "b": bids, "a": asks}

    def book_ticker_event(self, symbol: str, ts: int) -> dict[str, Any]:
        """Spot ``@bookTicker`` (no event type or time, like the real stream)."""
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "u": book.update_id,
            "s": symbol,
            "b": f8(bid or ZERO),
            "B": f8(book.level_qty(Side.BUY, bid) if bid else ZERO),
            "a": f8(ask or ZERO),
            "A": f8(book.level_qty(Side.SELL, ask) if ask else ZERO),
        }

    def partial_depth_event(self, symbol: str, levels: int, ts: int) -> dict[str, Any]:
        """Spot partial depth ``{lastUpdateId, bids, asks}``."""
        return self.depth_snapshot(symbol, levels)

    # ------------------------------------------------------------- public data
    def exchange_info(self, p: Params) -> dict[str, Any]:
        """``GET /api/v3/exchangeInfo`` (optionally ``symbol`` or ``symbols``)."""
        wanted: list[str] | None = None
        if p.has("symbol"):
            wanted = [self.spec(p.get("symbol")).symbol]
        elif p.has("symbols"):
            try:
                names = orjson.loads(p.req("symbols"))
            except orjson.JSONDecodeError:
                raise BinanceError(
                    -1100, "Illegal characters found in parameter 'symbols'"
                ) from None
            wanted = [self.spec(str(n)).symbol for n in names]
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": rate_limits(Product.SPOT),
            "exchangeFilters": [],
            "symbols": [
                spot_symbol_info(s)
                for s in self.specs.values()
                if wanted is None or s.symbol in wanted
            ],
        }

    def recent_trades(self, p: Params) -> list[dict[str, Any]]:
        """``GET /api/v3/trades``."""
        spec = self.spec(p.get("symbol"))
        limit = min(p.integer("limit") or 500, 1000)
        trades = list(self.public_trades[spec.symbol])[-limit:]
        return [
            {
                "id": t.trade_id, "price": f8(t.price), "qty": f8(t.qty),
                "quoteQty": f8(t.price * t.qty), "time": t.time,
                "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True,
            }
            for t in trades
        ]  # fmt: skip

    # ------------------------------------------------------------- orders
    def _client_id(self) -> str:
        self._client_seq += 1
        return f"sim{self.seed}x{self._client_seq:010d}"

    def _validate(self, p: Params) -> _Intent:
        """Parses and filter-checks a new order; raises Binance's errors."""
        spec = self.spec(p.get("symbol"))
        side = p.req("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = p.req("type")
        if otype not in ("LIMIT", "LIMIT_MAKER", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        tif = p.get("timeInForce")
        price = p.decimal("price")
        qty = p.decimal("quantity")
        quote_qty = p.decimal("quoteOrderQty")
        if otype == "LIMIT":
            if tif is None:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                )
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
            if qty is None:
                p.req("quantity")
            if price is None:
                p.req("price")
            if quote_qty is not None:
                raise not_required("quoteOrderQty")
        elif otype == "LIMIT_MAKER":
            if tif is not None:
                raise not_required("timeInForce")
            if qty is None:
                p.req("quantity")
            if price is None:
                p.req("price")
            if quote_qty is not None:
                raise not_required("quoteOrderQty")
            tif = "GTC"
        else:
            if tif is not None:
                raise not_required("timeInForce")
            if price is not None:
                raise not_required("price")
            if qty is None and quote_qty is None:
                raise BinanceError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if qty is not None and quote_qty is not None:
                raise not_required("quoteOrderQty")
            tif = "GTC"
        for name, value in (("price", price), ("quantity", qty), ("quoteOrderQty", quote_qty)):
            if value is not None and decimals_of(value) > 8:
                raise BinanceError(-1111, f"Parameter '{name}' has too much precision.")
        client_id = p.get("newClientOrderId")
        if client_id is not None and not _SPOT_CLIENT_ID.match(client_id):
            raise BinanceError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                "'^[a-zA-Z0-9-_]{1,36}$'.",
            )
        resp_type = p.get("newOrderRespType") or ("FULL" if otype != "LIMIT_MAKER" else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'")
        if price is not None and (
            price < spec.min_price
            or price > spec.max_price
            or not on_grid(price, spec.min_price, spec.tick)
        ):
            raise filter_failure("PRICE_FILTER")
        if qty is not None:
            if (
                qty < spec.min_qty
                or qty > spec.max_qty
                or not on_grid(qty, spec.min_qty, spec.step)
            ):
                raise filter_failure("LOT_SIZE")
            if otype == "MARKET" and qty > spec.market_max_qty:
                raise filter_failure("MARKET_LOT_SIZE")
        if price is not None and qty is not None and price * qty < spec.min_notional:
            raise filter_failure("NOTIONAL")
        if otype == "MARKET":
            reference = (
                quote_qty if quote_qty is not None else (qty or ZERO) * self.mark_price(spec.symbol)
            )
            if reference < spec.min_notional:
                raise filter_failure("NOTIONAL")
        return _Intent(spec, side, otype, tif, price or ZERO, qty, quote_qty, client_id, resp_type)

    def new_order(self, api_key: str, p: Params, test: bool = False) -> dict[str, Any]:
        """``POST /api/v3/order`` (and ``/order/test`` with ``test``)."""
        intent = self._validate(p)
        if test:
            return {}
        return self._execute(api_key, intent)

    def _execute(self, api_key: str, it: _Intent) -> dict[str, Any]:
        spec = it.spec
        symbol = spec.symbol
        book = self.books[symbol]
        client_id = it.client_id or self._client_id()
        self.note_client_id(api_key, client_id)
        if (api_key, symbol, client_id) in self.open_client_ids:
            raise rejected(DUPLICATE_ORDER)
        side = Side.BUY if it.side == "BUY" else Side.SELL
        if it.type == "LIMIT_MAKER" and book.crosses(side, it.price):
            raise rejected(WOULD_TAKE)
        bal = self.balances[api_key]
        base, quote = (
            bal.setdefault(spec.base, Balance(ZERO)),
            bal.setdefault(spec.quote, Balance(ZERO)),
        )
        locked = ZERO
        plan = None
        if it.type == "MARKET":
            plan = book.plan(side, it.qty, None, it.quote_qty, spec.step)
            taken = sum((q for _, q in plan), ZERO)
            cost = sum((m.price * q for m, q in plan), ZERO)
            if (side is Side.BUY and cost > quote.free) or (
                side is Side.SELL and taken > base.free
            ):
                raise rejected(INSUFFICIENT_BALANCE)
        elif side is Side.BUY:
            locked = it.price * (it.qty or ZERO)
            if not quote.lock(locked):
                raise rejected(INSUFFICIENT_BALANCE)
        else:
            locked = it.qty or ZERO
            if not base.lock(locked):
                raise rejected(INSUFFICIENT_BALANCE)
        if locked:
            self.touch(api_key, spec.base if side is Side.SELL else spec.quote)
        ts = now_ms()
        orig_qty = it.qty or ZERO
        if it.type == "MARKET" and it.quote_qty is not None and plan is not None:
            # A quote-sized market order's quantity is what its budget buys in the book.
            orig_qty = sum((q for _, q in plan), ZERO)
        order = Order(
            symbol=symbol, order_id=self.next_order_id(), client_order_id=client_id,
            account=api_key, side=it.side, type=it.type, tif=it.tif, price=it.price,
            orig_qty=orig_qty, time=ts, orig_quote_qty=it.quote_qty or ZERO,
            update_time=ts, working_time=ts, locked=locked, orig_type=it.type,
        )  # fmt: skip
        self.register(order)
        self._report(order, "NEW", ts)
        fills_out: list[dict[str, Any]] = []
        if it.type == "LIMIT" and it.tif == "FOK":
            plan = book.plan(side, it.qty, it.price)
            if sum((q for _, q in plan), ZERO) < order.orig_qty:
                plan = []
        elif plan is None:
            plan = book.plan(side, it.qty, it.price)
        fills = book.execute(plan)
        trade_ids = self.publish_fills(symbol, fills, side, ts)
        for fill, trade_id in zip(fills, trade_ids, strict=True):
            fills_out.append(self.fill_order(order, fill.price, fill.qty, False, trade_id, ts))
            self._maker_fill(fill, trade_id, ts)
        if order.is_open:
            if it.type == "MARKET" or it.tif in ("IOC", "FOK"):
                self._finish(order, "EXPIRED", ts)
                self._report(order, "EXPIRED", ts)
            else:
                book.add(RestingOrder(order.order_id, api_key, side, order.price, order.leaves))
                self.touch_symbol(symbol)
        self.settle()
        return self._order_response(order, it.resp_type, fills_out, ts)

    def fill_order(
        self, order: Order, price: Decimal, qty: Decimal, is_maker: bool, trade_id: int, ts: int
    ) -> dict[str, Any]:
        """Settles one fill of an account's order and sends its executionReport."""
        spec = self.specs[order.symbol]
        bal = self.balances[order.account]
        base = bal.setdefault(spec.base, Balance(ZERO))
        quote = bal.setdefault(spec.quote, Balance(ZERO))
        notional = price * qty
        if order.side == "BUY":
            if order.locked:
                release = order.price * qty
                order.locked -= release
                quote.locked -= release
                quote.free += release - notional
            else:
                quote.free -= notional
            commission = (qty * SPOT_FEE).quantize(_EIGHT, ROUND_HALF_UP)
            commission_asset = spec.base
            base.free += qty - commission
        else:
            if order.locked:
                order.locked -= qty
                base.locked -= qty
            else:
                base.free -= qty
            commission = (notional * SPOT_FEE).quantize(_EIGHT, ROUND_HALF_UP)
            commission_asset = spec.quote
            quote.free += notional - commission
        self.touch(order.account, spec.base, spec.quote)
        order.executed_qty += qty
        order.cum_quote += notional
        order.update_time = ts
        done = order.executed_qty >= order.orig_qty
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done:
            self._release(order)
            self.closed(order)
        self.account_trades[order.account].append(
            {
                "symbol": order.symbol, "id": trade_id, "orderId": order.order_id,
                "orderListId": -1, "price": f8(price), "qty": f8(qty),
                "quoteQty": f8(notional), "commission": f8(commission),
                "commissionAsset": commission_asset, "time": ts,
                "isBuyer": order.side == "BUY", "isMaker": is_maker, "isBestMatch": True,
            }
        )  # fmt: skip
        self._report(
            order, "TRADE", ts, last_qty=qty, last_price=price, commission=commission,
            commission_asset=commission_asset, trade_id=trade_id, is_maker=is_maker,
        )  # fmt: skip
        return {
            "price": f8(price), "qty": f8(qty), "commission": f8(commission),
            "commissionAsset": commission_asset, "tradeId": trade_id,
        }  # fmt: skip

    def _release(self, order: Order) -> None:
        """Gives back whatever the order still holds locked."""
        if not order.locked:
            return
        spec = self.specs[order.symbol]
        asset = spec.quote if order.side == "BUY" else spec.base
        bal = self.balances[order.account][asset]
        bal.unlock(order.locked)
        order.locked = ZERO
        self.touch(order.account, asset)

    def _finish(self, order: Order, status: str, ts: int) -> None:
        order.status = status
        order.update_time = ts
        self._release(order)
        self.closed(order)

    def _report(
        self,
        order: Order,
        exec_type: str,
        ts: int,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        commission: Decimal = ZERO,
        commission_asset: str | None = None,
        trade_id: int = -1,
        is_maker: bool = False,
        client_id: str | None = None,
        orig_client_id: str = "",
    ) -> None:
        on_book = self.books[order.symbol].get(order.order_id) is not None
        if exec_type == "NEW":
            on_book = order.type in ("LIMIT", "LIMIT_MAKER") and order.tif == "GTC"
        elif exec_type == "TRADE":
            on_book = order.is_open and order.type != "MARKET" and order.tif == "GTC"
        event = {
            "e": "executionReport", "E": ts, "s": order.symbol,
            "c": client_id or order.client_order_id, "S": order.side, "o": order.type,
            "f": order.tif, "q": f8(order.orig_qty), "p": f8(order.price),
            "P": "0.00000000", "F": "0.00000000", "g": -1, "C": orig_client_id,
            "x": exec_type, "X": order.status, "r": "NONE", "i": order.order_id,
            "l": f8(last_qty), "z": f8(order.executed_qty), "L": f8(last_price),
            "n": f8(commission), "N": commission_asset, "T": ts, "t": trade_id,
            "I": self.next_exec_id(), "w": on_book, "m": is_maker, "M": False,
            "O": order.time, "Z": f8(order.cum_quote), "Y": f8(last_qty * last_price),
            "Q": f8(order.orig_quote_qty), "W": order.working_time, "V": "NONE",
        }  # fmt: skip
        self.users.publish(order.account, event)

    def balance_event(self, api_key: str, assets: list[str], ts: int) -> None:
        """``outboundAccountPosition`` with the changed assets."""
        bal = self.balances.get(api_key)
        if bal is None:
            return
        self.account_time[api_key] = ts
        self.users.publish(
            api_key,
            {
                "e": "outboundAccountPosition", "E": ts, "u": ts,
                "B": [
                    {"a": a, "f": f8(bal[a].free), "l": f8(bal[a].locked)}
                    for a in assets
                    if a in bal
                ],
            },
        )  # fmt: skip

    # ------------------------------------------------------------- responses
    def _order_response(
        self, o: Order, resp_type: str, fills: list[dict[str, Any]], ts: int
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
            "clientOrderId": o.client_order_id, "transactTime": ts,
        }  # fmt: skip
        if resp_type == "ACK":
            return out
        out.update(
            {
                "price": f8(o.price), "origQty": f8(o.orig_qty), "executedQty": f8(o.executed_qty),
                "origQuoteOrderQty": f8(o.orig_quote_qty), "cummulativeQuoteQty": f8(o.cum_quote),
                "status": o.status, "timeInForce": o.tif, "type": o.type, "side": o.side,
                "workingTime": o.working_time, "selfTradePreventionMode": "NONE",
            }
        )  # fmt: skip
        if resp_type == "FULL":
            out["fills"] = fills
        return out

    def order_view(self, o: Order) -> dict[str, Any]:
        """The ``GET /api/v3/order`` / ``openOrders`` object."""
        return {
            "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
            "clientOrderId": o.client_order_id, "price": f8(o.price),
            "origQty": f8(o.orig_qty), "executedQty": f8(o.executed_qty),
            "cummulativeQuoteQty": f8(o.cum_quote), "status": o.status,
            "timeInForce": o.tif, "type": o.type, "side": o.side,
            "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.time,
            "updateTime": o.update_time, "isWorking": True, "workingTime": o.working_time,
            "origQuoteOrderQty": f8(o.orig_quote_qty), "selfTradePreventionMode": "NONE",
        }  # fmt: skip

    def _cancel_view(self, o: Order, cancel_client_id: str, ts: int) -> dict[str, Any]:
        return {
            "symbol": o.symbol, "origClientOrderId": o.client_order_id, "orderId": o.order_id,
            "orderListId": -1, "clientOrderId": cancel_client_id, "transactTime": ts,
            "price": f8(o.price), "origQty": f8(o.orig_qty), "executedQty": f8(o.executed_qty),
            "origQuoteOrderQty": f8(o.orig_quote_qty), "cummulativeQuoteQty": f8(o.cum_quote),
            "status": o.status, "timeInForce": o.tif, "type": o.type, "side": o.side,
            "selfTradePreventionMode": "NONE",
        }  # fmt: skip

    # ------------------------------------------------------------- cancel / query
    def _lookup(
        self, api_key: str, p: Params, id_name: str = "orderId", cid_name: str = "origClientOrderId"
    ) -> tuple[SymbolSpec, Order | None]:
        spec = self.spec(p.get("symbol"))
        order_id = p.integer(id_name)
        client_id = p.get(cid_name)
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102, f"Param '{cid_name}' or '{id_name}' must be sent, but both were empty/null!"
            )
        return spec, self.find_order(api_key, spec.symbol, order_id, client_id)

    def cancel_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``DELETE /api/v3/order``."""
        _, order = self._lookup(api_key, p)
        if order is None or not order.is_open:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        restriction = p.get("cancelRestrictions")
        if (restriction == "ONLY_NEW" and order.status != "NEW") or (
            restriction == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise BinanceError(-2011, "Order was not canceled due to cancel restrictions.")
        ts = now_ms()
        response = self._cancel(order, p.get("newClientOrderId") or self._client_id(), ts)
        self.settle()
        return response

    def _cancel(self, order: Order, cancel_client_id: str, ts: int) -> dict[str, Any]:
        self.books[order.symbol].remove(order.order_id)
        self.touch_symbol(order.symbol)
        self._finish(order, "CANCELED", ts)
        self._report(
            order, "CANCELED", ts, client_id=cancel_client_id, orig_client_id=order.client_order_id
        )
        return self._cancel_view(order, cancel_client_id, ts)

    def query_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``GET /api/v3/order``."""
        _, order = self._lookup(api_key, p)
        if order is None:
            raise BinanceError(-2013, NO_SUCH_ORDER)
        return self.order_view(order)

    def open_orders_view(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /api/v3/openOrders``."""
        symbol = self.spec(p.get("symbol")).symbol if p.has("symbol") else None
        return [self.order_view(o) for o in self.open_orders(api_key, symbol)]

    def cancel_all(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``DELETE /api/v3/openOrders``: every working order of one symbol."""
        spec = self.spec(p.get("symbol"))
        orders = self.open_orders(api_key, spec.symbol)
        if not orders:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        ts = now_ms()
        out = [self._cancel(o, self._client_id(), ts) for o in orders]
        self.settle()
        return out

    def all_orders(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /api/v3/allOrders``."""
        spec = self.spec(p.get("symbol"))
        start_id = p.integer("orderId")
        start, end = p.integer("startTime"), p.integer("endTime")
        limit = min(p.integer("limit") or 500, 1000)
        out = []
        for oid in self.account_orders.get(api_key, []):
            o = self.orders[oid]
            if o.symbol != spec.symbol or (start_id is not None and oid < start_id):
                continue
            if (start is not None and o.time < start) or (end is not None and o.time > end):
                continue
            out.append(self.order_view(o))
        return out[:limit] if start_id is not None else out[-limit:]

    def my_trades(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /api/v3/myTrades``."""
        spec = self.spec(p.get("symbol"))
        order_id, from_id = p.integer("orderId"), p.integer("fromId")
        start, end = p.integer("startTime"), p.integer("endTime")
        limit = min(p.integer("limit") or 500, 1000)
        out = [
            t
            for t in self.account_trades.get(api_key, [])
            if t["symbol"] == spec.symbol
            and (order_id is None or t["orderId"] == order_id)
            and (from_id is None or t["id"] >= from_id)
            and (start is None or t["time"] >= start)
            and (end is None or t["time"] <= end)
        ]
        return out[:limit] if from_id is not None else out[-limit:]

    # ------------------------------------------------------------- amend / replace
    def amend_keep_priority(self, api_key: str, p: Params) -> dict[str, Any]:
        """``PUT /api/v3/order/amend/keepPriority``: lower the quantity, keep the queue place."""
        spec, order = self._lookup(api_key, p)
        new_qty = p.decimal("newQty")
        if new_qty is None:
            p.req("newQty")
            raise AssertionError  # unreachable: req raised
        if decimals_of(new_qty) > 8:
            raise BinanceError(-1111, "Parameter 'newQty' has too much precision.")
        if order is None or not order.is_open:
            raise BinanceError(-2013, NO_SUCH_ORDER)
        if new_qty >= order.orig_qty:
            raise BinanceError(-2038, "Order amend (quantity increase) is not supported.")
        if new_qty < spec.min_qty or not on_grid(new_qty, spec.min_qty, spec.step):
            raise filter_failure("LOT_SIZE")
        if new_qty <= order.executed_qty:
            raise filter_failure("LOT_SIZE")
        new_client_id = p.get("newClientOrderId") or self._client_id()
        if new_client_id != order.client_order_id:
            self.note_client_id(api_key, new_client_id)
        if new_client_id != order.client_order_id and (
            (api_key, spec.symbol, new_client_id) in self.open_client_ids
        ):
            raise rejected(DUPLICATE_ORDER)
        ts = now_ms()
        removed = order.orig_qty - new_qty
        self.books[spec.symbol].reduce(order.order_id, new_qty - order.executed_qty)
        self.touch_symbol(spec.symbol)
        order.orig_qty = new_qty
        if order.locked:
            give_back = order.price * removed if order.side == "BUY" else removed
            asset = spec.quote if order.side == "BUY" else spec.base
            bal = self.balances[api_key][asset]
            order.locked -= give_back
            bal.locked -= give_back
            bal.free += give_back
            self.touch(api_key, asset)
        previous = order.client_order_id
        self.release_client_id(order)
        order.client_order_id = new_client_id
        order.update_time = ts
        self.open_client_ids[(api_key, spec.symbol, new_client_id)] = order.order_id
        self._report(order, "REPLACED", ts, orig_client_id=previous)
        self.settle()
        return {
            "transactTime": ts,
            "executionId": self._exec_id,
            "amendedOrder": {
                "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                "origClientOrderId": previous, "clientOrderId": new_client_id,
                "price": f8(order.price), "qty": f8(order.orig_qty),
                "executedQty": f8(order.executed_qty), "preventedQty": "0.00000000",
                "quoteOrderQty": f8(order.orig_quote_qty),
                "cumulativeQuoteQty": f8(order.cum_quote), "status": order.status,
                "timeInForce": order.tif, "type": order.type, "side": order.side,
                "workingTime": order.working_time, "selfTradePreventionMode": "NONE",
            },
        }  # fmt: skip

    def cancel_replace(self, api_key: str, p: Params) -> dict[str, Any]:
        """``POST /api/v3/order/cancelReplace`` with its 400/409 partial-failure bodies."""
        self.spec(p.get("symbol"))
        mode = p.req("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'cancelReplaceMode'")
        intent: _Intent | None = None
        new_error: BinanceError | None = None
        try:
            intent = self._validate(p)
        except BinanceError as exc:
            if exc.code in STRUCTURAL_CODES:
                raise
            new_error = exc
        _, order = self._lookup(api_key, p, "cancelOrderId", "cancelOrigClientOrderId")
        cancel_response: dict[str, Any]
        cancel_ok = order is not None and order.is_open
        ts = now_ms()
        if order is not None and cancel_ok:
            cancel_id = p.get("cancelNewClientOrderId") or self._client_id()
            cancel_response = self._cancel(order, cancel_id, ts)
        else:
            cancel_response = {"code": -2011, "msg": UNKNOWN_ORDER}
            if mode == "STOP_ON_FAILURE":
                raise BinanceError(
                    -2022,
                    "Order cancel-replace failed.",
                    data={
                        "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                        "cancelResponse": cancel_response, "newOrderResponse": None,
                    },
                )  # fmt: skip
        new_response: dict[str, Any]
        new_ok = False
        if intent is not None:
            try:
                new_response = self._execute(api_key, intent)
                new_ok = True
            except BinanceError as exc:
                new_response = exc.body()
        else:
            assert new_error is not None
            new_response = new_error.body()
        self.settle()
        data = {
            "cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
            "newOrderResult": "SUCCESS" if new_ok else "FAILURE",
            "cancelResponse": cancel_response,
            "newOrderResponse": new_response,
        }
        if cancel_ok and new_ok:
            return data
        if cancel_ok or new_ok:
            raise BinanceError(-2021, "Order cancel-replace partially failed.", 409, data)
        raise BinanceError(-2022, "Order cancel-replace failed.", 400, data)

    # ------------------------------------------------------------- account
    def account(self, api_key: str, p: Params) -> dict[str, Any]:
        """``GET /api/v3/account``."""
        omit = (p.get("omitZeroBalances") or "false").lower() == "true"
        balances = [
            {"asset": a, "free": f8(b.free), "locked": f8(b.locked)}
            for a, b in sorted(self.balances[api_key].items())
            if not (omit and b.free == ZERO and b.locked == ZERO)
        ]
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f8(SPOT_FEE), "taker": f8(SPOT_FEE),
                "buyer": "0.00000000", "seller": "0.00000000",
            },
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.account_time.get(api_key, 0), "accountType": "SPOT",
            "balances": balances, "permissions": ["SPOT"],
            "uid": 100000 + list(self.credentials).index(api_key),
        }  # fmt: skip

    # ------------------------------------------------------------- admin
    def admin_orders(self, api_key: str, symbol: str | None) -> list[dict[str, Any]]:
        """``GET /sim/orders``: the account's working orders in openOrders format."""
        sym = self.spec(symbol).symbol if symbol else None
        return [self.order_view(o) for o in self.open_orders(api_key, sym)]

    def admin_account(self, api_key: str) -> dict[str, Any]:
        """``GET /sim/account``: the spot account object."""
        return self.account(api_key, Params({}))
