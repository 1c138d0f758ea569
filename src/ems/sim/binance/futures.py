"""The simulated Binance USD-M (``/fapi``) and COIN-M (``/dapi``) venues.

One-way position mode only (``positionSide`` BOTH), cross margin, leverage 20 by
default.  USD-M quantities are in base units and PnL/fees in USDT; COIN-M quantities are
contracts (``contractSize`` USD each) and PnL/fees are in the base coin (inverse):
``pnl = contracts * contractSize * (1/entry - 1/exit)``, entry prices averaged
harmonically.  Fees: maker 0.02 %, taker 0.05 % of the notional, taken from the wallet.

Simplifications (documented): ``reduceOnly`` orders are rejected (-2022) unless they
reduce the current position, and their quantity is clamped to the position at entry;
the margin check is ``notional / leverage`` against ``wallet + uPnL - margin in use``;
there is no liquidation, funding or mark-price independent of the book mid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from ems.sim.accounts import Position
from ems.sim.binance.auth import now_ms
from ems.sim.binance.errors import (
    FOK_REJECT,
    GTX_REJECT,
    NO_SUCH_ORDER,
    UNKNOWN_ORDER,
    BinanceError,
    not_required,
)
from ems.sim.binance.specs import (
    DEFAULT_LEVERAGE,
    FUTURES_MAKER_FEE,
    FUTURES_TAKER_FEE,
    INITIAL_BALANCES,
    Product,
    SymbolSpec,
    fmt,
    futures_symbol_info,
    plain,
    rate_limits,
)
from ems.sim.binance.venue import BinanceVenue, Order, Params, decimals_of, on_grid
from ems.sim.matching import ZERO, RestingOrder, Side

_FUTURES_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_EIGHT = Decimal("0.00000001")
MAX_BATCH_ORDERS = 5
MAX_BATCH_CANCELS = 10


def f8(value: Decimal) -> str:
    """Eight decimals (balances, fees, average prices)."""
    return fmt(value, 8)


@dataclass(slots=True)
class _Intent:
    spec: SymbolSpec
    side: str
    type: str
    tif: str
    price: Decimal
    qty: Decimal
    client_id: str | None
    reduce_only: bool
    resp_type: str


def _batch_list(p: Params, name: str) -> list[Any]:
    """A JSON list parameter (python-binance and ccxt both URL-encode it)."""
    raw = p.req(name)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = orjson.loads(raw.replace("'", '"'))
        except orjson.JSONDecodeError:
            raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
    if not isinstance(value, list):
        raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FuturesVenue(BinanceVenue):
    """Binance USD-M or COIN-M futures."""

    depth_speeds = {"@depth": 250, "@depth@100ms": 100, "@depth@250ms": 250, "@depth@500ms": 500}

    def __init__(self, product: Product, *args: Any, **kwargs: Any) -> None:
        """``product`` is USDM or COINM."""
        self._client_seq = 0
        self.inverse = product is Product.COINM
        self.prefix = "/dapi" if self.inverse else "/fapi"
        super().__init__(product, *args, **kwargs)

    def _init_accounts(self) -> None:
        self.wallets: dict[str, dict[str, Decimal]] = {
            key: dict(INITIAL_BALANCES[self.product]) for key in self.credentials
        }
        self.positions: dict[str, dict[str, Position]] = {
            key: {s: Position() for s in self.specs} for key in self.credentials
        }
        self.leverage: dict[str, dict[str, int]] = {
            key: dict.fromkeys(self.specs, DEFAULT_LEVERAGE) for key in self.credentials
        }
        self.cum_base: dict[int, Decimal] = {}

    def partial_speeds(self) -> dict[str, int]:
        """Futures partial depth: 250 ms default, ``@100ms`` and ``@500ms``."""
        return {"": 250, "@100ms": 100, "@500ms": 500}

    # ------------------------------------------------------------- rendering
    def px(self, symbol: str, value: Decimal) -> str:
        """Prices with the symbol's pricePrecision."""
        return fmt(value, self.specs[symbol].price_precision)

    def qty(self, symbol: str, value: Decimal) -> str:
        """Quantities with the symbol's quantityPrecision."""
        return fmt(value, self.specs[symbol].qty_precision)

    def trade_event(
        self, symbol: str, trade_id: int, price: Decimal, qty: Decimal, ts: int, aggressor: Side
    ) -> dict[str, Any]:
        """Futures ``@trade``."""
        return {
            "e": "trade", "E": ts, "T": ts, "s": symbol, "t": trade_id,
            "p": self.px(symbol, price), "q": self.qty(symbol, qty), "X": "MARKET",
            "m": aggressor is Side.SELL,
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
        """Futures ``@aggTrade``."""
        return {
            "e": "aggTrade", "E": ts, "a": agg_id, "s": symbol, "p": self.px(symbol, price),
            "q": self.qty(symbol, qty), "f": first, "l": last, "T": ts,
            "m": aggressor is Side.SELL,
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
        """Futures ``depthUpdate`` with ``T`` and ``pu``."""
        event: dict[str, Any] = {
            "e": "depthUpdate", "E": ts, "T": ts, "s": symbol, "U": U, "u": u, "pu": pu,
            "b": bids, "a": asks,
        }  # fmt: skip
        if self.inverse:
            event["ps"] = self.specs[symbol].pair
        return event

    def book_ticker_event(self, symbol: str, ts: int) -> dict[str, Any]:
        """Futures ``@bookTicker`` (has ``e``, ``E`` and ``T``)."""
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        event: dict[str, Any] = {
            "e": "bookTicker",
            "u": book.update_id,
            "s": symbol,
            "b": self.px(symbol, bid or ZERO),
            "B": self.qty(symbol, book.level_qty(Side.BUY, bid) if bid else ZERO),
            "a": self.px(symbol, ask or ZERO),
            "A": self.qty(symbol, book.level_qty(Side.SELL, ask) if ask else ZERO),
            "T": ts,
            "E": ts,
        }
        if self.inverse:
            event["ps"] = self.specs[symbol].pair
        return event

    def partial_depth_event(self, symbol: str, levels: int, ts: int) -> dict[str, Any]:
        """Futures partial depth (a ``depthUpdate`` with the top levels)."""
        snap = self.depth_snapshot(symbol, levels)
        uid = snap["lastUpdateId"]
        return {
            "e": "depthUpdate", "E": ts, "T": ts, "s": symbol, "U": uid, "u": uid, "pu": uid,
            "b": snap["bids"], "a": snap["asks"],
        }  # fmt: skip

    def depth_snapshot(self, symbol: str, limit: int) -> dict[str, Any]:
        """Futures depth adds ``E`` and ``T``."""
        snap = super().depth_snapshot(symbol, limit)
        ts = now_ms()
        out: dict[str, Any] = {"lastUpdateId": snap["lastUpdateId"], "E": ts, "T": ts}
        if self.inverse:
            out["symbol"] = symbol
            out["pair"] = self.specs[symbol].pair
        out["bids"] = snap["bids"]
        out["asks"] = snap["asks"]
        return out

    # ------------------------------------------------------------- public data
    def exchange_info(self, p: Params) -> dict[str, Any]:
        """``GET /fapi/v1/exchangeInfo`` or ``/dapi/v1/exchangeInfo``."""
        margin_assets = sorted({s.margin_asset for s in self.specs.values()})
        out: dict[str, Any] = {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": rate_limits(self.product),
            "exchangeFilters": [],
            "symbols": [futures_symbol_info(self.product, s) for s in self.specs.values()],
        }
        if not self.inverse:
            out["futuresType"] = "U_MARGINED"
            out["assets"] = [
                {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"}
                for a in margin_assets
            ]
        return out

    def recent_trades(self, p: Params) -> list[dict[str, Any]]:
        """``GET /fapi/v1/trades``."""
        spec = self.spec(p.get("symbol"))
        limit = min(p.integer("limit") or 500, 1000)
        out = []
        for t in list(self.public_trades[spec.symbol])[-limit:]:
            row: dict[str, Any] = {
                "id": t.trade_id,
                "price": self.px(spec.symbol, t.price),
                "qty": self.qty(spec.symbol, t.qty),
            }
            if self.inverse:
                row["baseQty"] = f8(t.qty * spec.contract_size / t.price)
            else:
                row["quoteQty"] = f8(t.qty * t.price)
            row["time"] = t.time
            row["isBuyerMaker"] = t.buyer_is_maker
            out.append(row)
        return out

    def premium_index(self, p: Params) -> Any:
        """``GET /fapi/v1/premiumIndex``: mark = index = the book mid; no funding."""
        specs = [self.spec(p.get("symbol"))] if p.has("symbol") else list(self.specs.values())
        now = now_ms()
        out = []
        for s in specs:
            mark = self.px(s.symbol, self.mark_price(s.symbol))
            row: dict[str, Any] = {
                "symbol": s.symbol, "markPrice": mark, "indexPrice": mark,
                "estimatedSettlePrice": mark, "lastFundingRate": "0.00000000",
                "interestRate": "0.00010000",
                "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000, "time": now,
            }  # fmt: skip
            if self.inverse:
                row["pair"] = s.pair
            out.append(row)
        return out[0] if p.has("symbol") and not self.inverse else out

    # ------------------------------------------------------------- money helpers
    def _notional(self, spec: SymbolSpec, qty: Decimal, price: Decimal) -> Decimal:
        """Notional in the margin asset."""
        if self.inverse:
            return qty * spec.contract_size / price if price else ZERO
        return qty * price

    def _upnl(self, spec: SymbolSpec, pos: Position, mark: Decimal) -> Decimal:
        return pos.unrealized(mark, spec.contract_size if self.inverse else None)

    def _margin_in_use(self, api_key: str, asset: str) -> tuple[Decimal, Decimal, Decimal]:
        """``(unrealized PnL, position initial margin, open-order initial margin)``."""
        upnl = pos_im = order_im = ZERO
        for symbol, pos in self.positions[api_key].items():
            spec = self.specs[symbol]
            if spec.margin_asset != asset:
                continue
            lev = Decimal(self.leverage[api_key][symbol])
            mark = self.mark_price(symbol)
            upnl += self._upnl(spec, pos, mark)
            pos_im += self._notional(spec, abs(pos.amt), mark) / lev
        for order in self.open_orders(api_key):
            spec = self.specs[order.symbol]
            if spec.margin_asset == asset and not order.reduce_only:
                lev = Decimal(self.leverage[api_key][order.symbol])
                order_im += self._notional(spec, order.leaves, order.price) / lev
        return upnl, pos_im, order_im

    def _available(self, api_key: str, asset: str) -> Decimal:
        upnl, pos_im, order_im = self._margin_in_use(api_key, asset)
        return self.wallets[api_key].get(asset, ZERO) + upnl - pos_im - order_im

    # ------------------------------------------------------------- orders
    def _client_id(self) -> str:
        self._client_seq += 1
        return f"sim{self.seed}f{self._client_seq:010d}"

    def _check_price(self, spec: SymbolSpec, price: Decimal) -> None:
        if decimals_of(price) > spec.price_precision:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if price <= ZERO:
            raise BinanceError(-4001, "Price less than 0.")
        if price < spec.min_price:
            raise BinanceError(-4013, "Price less than min price.")
        if price > spec.max_price:
            raise BinanceError(-4002, "Price greater than max price.")
        if not on_grid(price, spec.min_price, spec.tick):
            raise BinanceError(-4014, "Price not increased by tick size.")

    def _check_qty(self, spec: SymbolSpec, qty: Decimal, market: bool) -> None:
        if decimals_of(qty) > spec.qty_precision:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty <= ZERO:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if qty < spec.min_qty:
            raise BinanceError(-4004, "Quantity less than min quantity.")
        if qty > (spec.market_max_qty if market else spec.max_qty):
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        if not on_grid(qty, spec.min_qty, spec.step):
            raise BinanceError(-4023, "Qty not increased by step size.")

    def _validate(self, api_key: str, p: Params) -> _Intent:
        spec = self.spec(p.get("symbol"))
        side = p.req("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = p.req("type")
        if otype not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide") or "BOTH"
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        tif = p.get("timeInForce")
        if otype == "LIMIT":
            if tif is None:
                raise BinanceError(
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                )
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise BinanceError(-1115, "Invalid timeInForce.")
            price = p.decimal("price")
            if price is None:
                p.req("price")
                raise AssertionError  # unreachable
            self._check_price(spec, price)
        else:
            if p.has("price"):
                raise not_required("price")
            tif = "GTC"
            price = ZERO
        qty = p.decimal("quantity")
        if qty is None:
            p.req("quantity")
            raise AssertionError  # unreachable
        self._check_qty(spec, qty, otype == "MARKET")
        client_id = p.get("newClientOrderId")
        if client_id is not None:
            if len(client_id) > 36:
                raise BinanceError(-4015, "Client order id length should not be more than 36 chars")
            if not _FUTURES_CLIENT_ID.match(client_id):
                raise BinanceError(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                    "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
                )
        reduce_text = (p.get("reduceOnly") or "false").lower()
        if reduce_text not in ("true", "false"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'reduceOnly'")
        reduce_only = reduce_text == "true"
        resp_type = p.get("newOrderRespType") or "ACK"
        if resp_type not in ("ACK", "RESULT"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'")
        if not self.inverse and not reduce_only:
            reference = price if otype == "LIMIT" else self.mark_price(spec.symbol)
            if qty * reference < spec.min_notional:
                raise BinanceError(
                    -4164,
                    f"Order's notional must be no smaller than {plain(spec.min_notional)} "
                    "(unless you choose reduce only).",
                )
        return _Intent(spec, side, otype, tif, price, qty, client_id, reduce_only, resp_type)

    def new_order(self, api_key: str, p: Params, test: bool = False) -> dict[str, Any]:
        """``POST /fapi/v1/order`` (``/order/test`` with ``test``)."""
        intent = self._validate(api_key, p)
        if test:
            return {}
        response = self._execute(api_key, intent)
        self.settle()
        return response

    def _execute(self, api_key: str, it: _Intent) -> dict[str, Any]:
        spec = it.spec
        symbol = spec.symbol
        book = self.books[symbol]
        client_id = it.client_id or self._client_id()
        self.note_client_id(api_key, client_id)
        if (api_key, symbol, client_id) in self.open_client_ids:
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        side = Side.BUY if it.side == "BUY" else Side.SELL
        qty = it.qty
        pos = self.positions[api_key][symbol]
        if it.reduce_only:
            reduces = (pos.amt > 0 and side is Side.SELL) or (pos.amt < 0 and side is Side.BUY)
            if not reduces:
                raise BinanceError(-2022, "ReduceOnly Order is rejected.")
            qty = min(qty, abs(pos.amt))
        limit = it.price if it.type == "LIMIT" else None
        if it.tif == "GTX" and book.crosses(side, limit):
            raise BinanceError(-5022, GTX_REJECT)
        plan = book.plan(side, qty, limit)
        if it.tif == "FOK" and sum((q for _, q in plan), ZERO) < qty:
            raise BinanceError(-5021, FOK_REJECT)
        if not it.reduce_only:
            reference = it.price if it.type == "LIMIT" else self.mark_price(symbol)
            lev = Decimal(self.leverage[api_key][symbol])
            needed = self._notional(spec, qty, reference) / lev
            if needed > self._available(api_key, spec.margin_asset):
                raise BinanceError(-2019, "Margin is insufficient.")
        ts = now_ms()
        order = Order(
            symbol=symbol, order_id=self.next_order_id(), client_order_id=client_id,
            account=api_key, side=it.side, type=it.type, tif=it.tif, price=it.price,
            orig_qty=qty, time=ts, update_time=ts, working_time=ts,
            reduce_only=it.reduce_only, orig_type=it.type,
        )  # fmt: skip
        self.register(order)
        self.cum_base[order.order_id] = ZERO
        ack = self.order_view(order, with_time=False)
        self._report(order, "NEW", ts)
        self._take(order, side, plan, ts)
        if order.is_open:
            if it.type == "MARKET" or it.tif in ("IOC", "FOK"):
                self._finish(order, "EXPIRED", ts)
                self._report(order, "EXPIRED", ts)
            else:
                book.add(RestingOrder(order.order_id, api_key, side, order.price, order.leaves))
                self.touch_symbol(symbol)
        if it.resp_type == "ACK":
            return ack
        return self.order_view(order, with_time=False)

    def _take(
        self, order: Order, side: Side, plan: list[tuple[RestingOrder, Decimal]], ts: int
    ) -> None:
        """Executes a taker plan for an account's order."""
        fills = self.books[order.symbol].execute(plan)
        trade_ids = self.publish_fills(order.symbol, fills, side, ts)
        for fill, trade_id in zip(fills, trade_ids, strict=True):
            self.fill_order(order, fill.price, fill.qty, False, trade_id, ts)
            self._maker_fill(fill, trade_id, ts)

    def fill_order(
        self, order: Order, price: Decimal, qty: Decimal, is_maker: bool, trade_id: int, ts: int
    ) -> dict[str, Any]:
        """Settles one fill: position, realized PnL and fee, then the user events."""
        spec = self.specs[order.symbol]
        pos = self.positions[order.account][order.symbol]
        signed = qty if order.side == "BUY" else -qty
        realized = pos.apply_fill(signed, price, spec.contract_size if self.inverse else None)
        pos.update_time = ts
        rate = FUTURES_MAKER_FEE if is_maker else FUTURES_TAKER_FEE
        notional = self._notional(spec, qty, price)
        fee = (notional * rate).quantize(_EIGHT, ROUND_HALF_UP)
        wallet = self.wallets[order.account]
        wallet[spec.margin_asset] = wallet.get(spec.margin_asset, ZERO) + realized - fee
        order.executed_qty += qty
        order.cum_quote += qty * price
        self.cum_base[order.order_id] = self.cum_base.get(order.order_id, ZERO) + notional
        order.update_time = ts
        done = order.executed_qty >= order.orig_qty
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done:
            self.closed(order)
        trade = {
            "symbol": order.symbol, "id": trade_id, "orderId": order.order_id,
            "side": order.side, "price": self.px(order.symbol, price),
            "qty": self.qty(order.symbol, qty), "realizedPnl": f8(realized),
            "marginAsset": spec.margin_asset, "commission": f8(fee),
            "commissionAsset": spec.margin_asset, "time": ts, "positionSide": "BOTH",
            "buyer": order.side == "BUY", "maker": is_maker,
        }  # fmt: skip
        if self.inverse:
            trade["pair"] = spec.pair
            trade["baseQty"] = f8(notional)
        else:
            trade["quoteQty"] = f8(qty * price)
        self.account_trades[order.account].append(trade)
        self._report(
            order, "TRADE", ts, last_qty=qty, last_price=price, commission=fee,
            trade_id=trade_id, is_maker=is_maker, realized=realized,
        )  # fmt: skip
        if not self.inverse:
            self.users.publish(
                order.account,
                {
                    "e": "TRADE_LITE", "E": ts, "T": ts, "s": order.symbol,
                    "q": self.qty(order.symbol, order.orig_qty),
                    "p": self.px(order.symbol, order.price), "m": is_maker,
                    "c": order.client_order_id, "S": order.side,
                    "L": self.px(order.symbol, price), "l": self.qty(order.symbol, qty),
                    "t": trade_id, "i": order.order_id,
                },
            )  # fmt: skip
        self._account_update(order.account, order.symbol, ts)
        return trade

    def _finish(self, order: Order, status: str, ts: int) -> None:
        order.status = status
        order.update_time = ts
        self.closed(order)

    def _avg(self, order: Order) -> Decimal:
        if not order.executed_qty:
            return ZERO
        if self.inverse:
            base = self.cum_base.get(order.order_id, ZERO)
            spec = self.specs[order.symbol]
            return order.executed_qty * spec.contract_size / base if base else ZERO
        return order.avg_price

    def _open_notional(self, api_key: str, symbol: str) -> tuple[Decimal, Decimal]:
        bids = asks = ZERO
        spec = self.specs[symbol]
        for o in self.open_orders(api_key, symbol):
            value = self._notional(spec, o.leaves, o.price)
            if o.side == "BUY":
                bids += value
            else:
                asks += value
        return bids, asks

    def _report(
        self,
        order: Order,
        exec_type: str,
        ts: int,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        commission: Decimal = ZERO,
        trade_id: int = 0,
        is_maker: bool = False,
        realized: Decimal = ZERO,
    ) -> None:
        spec = self.specs[order.symbol]
        s = order.symbol
        bids, asks = self._open_notional(order.account, s)
        o: dict[str, Any] = {
            "s": s, "c": order.client_order_id, "S": order.side, "o": order.type,
            "f": order.tif, "q": self.qty(s, order.orig_qty), "p": self.px(s, order.price),
            "ap": f8(self._avg(order)), "sp": self.px(s, ZERO), "x": exec_type,
            "X": order.status, "i": order.order_id, "l": self.qty(s, last_qty),
            "z": self.qty(s, order.executed_qty), "L": self.px(s, last_price),
            "N": spec.margin_asset, "n": f8(commission), "T": ts, "t": trade_id,
            "b": f8(bids), "a": f8(asks), "m": is_maker, "R": order.reduce_only,
            "wt": "CONTRACT_PRICE", "ot": order.orig_type, "ps": "BOTH", "cp": False,
            "AP": "0", "cr": "0", "pP": False, "si": 0, "ss": 0, "rp": f8(realized),
            "V": "NONE", "pm": "NONE", "gtd": 0, "er": "0",
        }  # fmt: skip
        if self.inverse:
            o["ma"] = spec.margin_asset
        self.users.publish(order.account, {"e": "ORDER_TRADE_UPDATE", "E": ts, "T": ts, "o": o})

    def _account_update(self, api_key: str, symbol: str, ts: int) -> None:
        spec = self.specs[symbol]
        pos = self.positions[api_key][symbol]
        wallet = self.wallets[api_key].get(spec.margin_asset, ZERO)
        upnl = self._upnl(spec, pos, self.mark_price(symbol))
        self.users.publish(
            api_key,
            {
                "e": "ACCOUNT_UPDATE", "E": ts, "T": ts,
                "a": {
                    "m": "ORDER",
                    "B": [{"a": spec.margin_asset, "wb": f8(wallet), "cw": f8(wallet), "bc": "0"}],
                    "P": [
                        {
                            "s": symbol, "pa": self.qty(symbol, pos.amt), "ep": f8(pos.entry),
                            "bep": f8(pos.entry), "cr": f8(pos.realized), "up": f8(upnl),
                            "mt": "cross", "iw": "0", "ps": "BOTH",
                        }
                    ],
                },
            },
        )  # fmt: skip

    def balance_event(self, api_key: str, assets: list[str], ts: int) -> None:
        """Futures report balances in ACCOUNT_UPDATE on every fill instead."""

    # ------------------------------------------------------------- views
    def order_view(self, o: Order, with_time: bool = True) -> dict[str, Any]:
        """The futures order object (``time`` is present on queries, not on placement)."""
        s = o.symbol
        out: dict[str, Any] = {
            "orderId": o.order_id, "symbol": s, "status": o.status,
            "clientOrderId": o.client_order_id, "price": self.px(s, o.price),
            "avgPrice": f8(self._avg(o)), "origQty": self.qty(s, o.orig_qty),
            "executedQty": self.qty(s, o.executed_qty), "cumQty": self.qty(s, o.executed_qty),
        }  # fmt: skip
        if self.inverse:
            out["cumBase"] = f8(self.cum_base.get(o.order_id, ZERO))
            out["pair"] = self.specs[s].pair
        else:
            out["cumQuote"] = fmt(o.cum_quote, 5)
        out.update(
            {
                "timeInForce": o.tif, "type": o.type, "reduceOnly": o.reduce_only,
                "closePosition": False, "side": o.side, "positionSide": "BOTH",
                "stopPrice": self.px(s, ZERO), "workingType": "CONTRACT_PRICE",
                "priceProtect": False, "origType": o.orig_type, "priceMatch": "NONE",
                "selfTradePreventionMode": "NONE", "goodTillDate": 0,
            }
        )  # fmt: skip
        if with_time:
            out["time"] = o.time
        out["updateTime"] = o.update_time
        return out

    # ------------------------------------------------------------- cancel / query
    def _lookup(self, api_key: str, p: Params) -> tuple[SymbolSpec, Order | None]:
        spec = self.spec(p.get("symbol"))
        order_id = p.integer("orderId")
        client_id = p.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        return spec, self.find_order(api_key, spec.symbol, order_id, client_id)

    def _cancel(self, order: Order, ts: int) -> dict[str, Any]:
        self.books[order.symbol].remove(order.order_id)
        self.touch_symbol(order.symbol)
        self._finish(order, "CANCELED", ts)
        self._report(order, "CANCELED", ts)
        return self.order_view(order, with_time=False)

    def cancel_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``DELETE /fapi/v1/order``."""
        _, order = self._lookup(api_key, p)
        if order is None or not order.is_open:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        response = self._cancel(order, now_ms())
        self.settle()
        return response

    def query_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``GET /fapi/v1/order``."""
        _, order = self._lookup(api_key, p)
        if order is None:
            raise BinanceError(-2013, NO_SUCH_ORDER)
        return self.order_view(order)

    def query_open_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``GET /fapi/v1/openOrder``: only a working order."""
        _, order = self._lookup(api_key, p)
        if order is None or not order.is_open:
            raise BinanceError(-2013, NO_SUCH_ORDER)
        return self.order_view(order)

    def open_orders_view(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /fapi/v1/openOrders``."""
        symbol = self.spec(p.get("symbol")).symbol if p.has("symbol") else None
        return [self.order_view(o) for o in self.open_orders(api_key, symbol)]

    def cancel_all(self, api_key: str, p: Params) -> dict[str, Any]:
        """``DELETE /fapi/v1/allOpenOrders``."""
        spec = self.spec(p.get("symbol"))
        ts = now_ms()
        for order in self.open_orders(api_key, spec.symbol):
            self._cancel(order, ts)
        self.settle()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def all_orders(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /fapi/v1/allOrders``."""
        spec = self.spec(p.get("symbol"))
        start_id = p.integer("orderId")
        start, end = p.integer("startTime"), p.integer("endTime")
        limit = min(p.integer("limit") or 500, 1000)
        out = [
            self.order_view(o)
            for o in (self.orders[oid] for oid in self.account_orders.get(api_key, []))
            if o.symbol == spec.symbol
            and (start_id is None or o.order_id >= start_id)
            and (start is None or o.time >= start)
            and (end is None or o.time <= end)
        ]
        return out[:limit] if start_id is not None else out[-limit:]

    def user_trades(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /fapi/v1/userTrades``."""
        spec = self.spec(p.get("symbol"))
        order_id, from_id = p.integer("orderId"), p.integer("fromId")
        limit = min(p.integer("limit") or 500, 1000)
        out = [
            t
            for t in self.account_trades.get(api_key, [])
            if t["symbol"] == spec.symbol
            and (order_id is None or t["orderId"] == order_id)
            and (from_id is None or t["id"] >= from_id)
        ]
        return out[:limit] if from_id is not None else out[-limit:]

    # ------------------------------------------------------------- modify
    def modify_order(self, api_key: str, p: Params) -> dict[str, Any]:
        """``PUT /fapi/v1/order``: new price and/or quantity of a working LIMIT order.

        A lower quantity at the same price keeps the queue position; any other change
        re-queues the order, and a new price that crosses trades at once (GTX: -5022).
        """
        spec, order = self._lookup(api_key, p)
        side = p.req("side")
        qty = p.decimal("quantity")
        if qty is None:
            p.req("quantity")
            raise AssertionError  # unreachable
        price = p.decimal("price")
        if price is None:
            p.req("price")
            raise AssertionError  # unreachable
        self._check_price(spec, price)
        self._check_qty(spec, qty, False)
        if order is None or not order.is_open:
            raise BinanceError(-2013, NO_SUCH_ORDER)
        if side != order.side:
            raise BinanceError(-1117, "Invalid side.")
        if order.type != "LIMIT":
            raise BinanceError(-1116, "Invalid orderType.")
        if price == order.price and qty == order.orig_qty:
            raise BinanceError(-5027, "No need to modify the order.")
        if qty <= order.executed_qty:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        book = self.books[spec.symbol]
        book_side = order.book_side
        ts = now_ms()
        if price == order.price and qty < order.orig_qty:
            book.reduce(order.order_id, qty - order.executed_qty)
            order.orig_qty = qty
            order.update_time = ts
            self.touch_symbol(spec.symbol)
            self._report(order, "AMENDMENT", ts)
        else:
            # Checked before the order leaves the book, so that a refused modify keeps
            # the order where it was (crossing looks at the other side only).
            if order.tif == "GTX" and book.crosses(book_side, price):
                raise BinanceError(-5022, GTX_REJECT)
            book.remove(order.order_id)
            order.price = price
            order.orig_qty = qty
            order.update_time = ts
            self._report(order, "AMENDMENT", ts)
            self._take(order, book_side, book.plan(book_side, order.leaves, price), ts)
            if order.is_open:
                book.add(RestingOrder(order.order_id, api_key, book_side, price, order.leaves))
            self.touch_symbol(spec.symbol)
        self.settle()
        return self.order_view(order, with_time=False)

    # ------------------------------------------------------------- batches
    def batch_orders(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``POST /fapi/v1/batchOrders``: at most 5, each answered on its own."""
        items = _batch_list(p, "batchOrders")
        if not items or len(items) > MAX_BATCH_ORDERS:
            raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        out: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict):
                out.append(
                    {"code": -1130, "msg": "Data sent for parameter 'batchOrders' is not valid."}
                )
                continue
            try:
                intent = self._validate(api_key, Params({k: _text(v) for k, v in item.items()}))
                out.append(self._execute(api_key, intent))
            except BinanceError as exc:
                out.append({"code": exc.code, "msg": exc.msg})
        self.settle()
        return out

    def batch_modify(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``PUT /fapi/v1/batchOrders``: at most 5 modifications."""
        items = _batch_list(p, "batchOrders")
        if not items or len(items) > MAX_BATCH_ORDERS:
            raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        out: list[dict[str, Any]] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                out.append(
                    self.modify_order(api_key, Params({k: _text(v) for k, v in item.items()}))
                )
            except BinanceError as exc:
                out.append({"code": exc.code, "msg": exc.msg})
        return out

    def batch_cancel(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``DELETE /fapi/v1/batchOrders`` with ``orderIdList`` or ``origClientOrderIdList``."""
        spec = self.spec(p.get("symbol"))
        if p.has("orderIdList"):
            ids = _batch_list(p, "orderIdList")
            lookups: list[tuple[int | None, str | None]] = [(int(i), None) for i in ids]
        elif p.has("origClientOrderIdList"):
            cids = _batch_list(p, "origClientOrderIdList")
            lookups = [(None, str(c)) for c in cids]
        else:
            raise BinanceError(
                -1102,
                "Param 'orderIdList' or 'origClientOrderIdList' must be sent, "
                "but both were empty/null!",
            )
        if not lookups or len(lookups) > MAX_BATCH_CANCELS:
            raise BinanceError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
        ts = now_ms()
        out: list[dict[str, Any]] = []
        for order_id, client_id in lookups:
            order = self.find_order(api_key, spec.symbol, order_id, client_id)
            if order is None or not order.is_open:
                out.append({"code": -2011, "msg": UNKNOWN_ORDER})
            else:
                out.append(self._cancel(order, ts))
        self.settle()
        return out

    # ------------------------------------------------------------- account
    def set_leverage(self, api_key: str, p: Params) -> dict[str, Any]:
        """``POST /fapi/v1/leverage``."""
        spec = self.spec(p.get("symbol"))
        lev = p.integer("leverage")
        if lev is None:
            p.req("leverage")
            raise AssertionError  # unreachable
        if not 1 <= lev <= 125:
            raise BinanceError(-4028, f"Leverage {lev} is not valid")
        self.leverage[api_key][spec.symbol] = lev
        out: dict[str, Any] = {"leverage": lev, "symbol": spec.symbol}
        if self.inverse:
            out["maxQty"] = "1000"
        else:
            out["maxNotionalValue"] = "10000000"
        return out

    def position_risk(self, api_key: str, p: Params, version: int) -> list[dict[str, Any]]:
        """``positionRisk``: fapi v2 (every symbol), fapi v3 (non-zero only), dapi v1."""
        wanted = self.spec(p.get("symbol")).symbol if p.has("symbol") else None
        if self.inverse and p.has("pair"):
            pair = p.get("pair")
            symbols = [s for s in self.specs.values() if s.pair == pair]
        else:
            symbols = [s for s in self.specs.values() if wanted is None or s.symbol == wanted]
        out = []
        for spec in symbols:
            pos = self.positions[api_key][spec.symbol]
            if version == 3 and pos.amt == ZERO and not self.open_orders(api_key, spec.symbol):
                continue
            mark = self.mark_price(spec.symbol)
            lev = self.leverage[api_key][spec.symbol]
            notional = self._notional(spec, pos.amt, mark)
            upnl = self._upnl(spec, pos, mark)
            row: dict[str, Any] = {
                "symbol": spec.symbol, "positionAmt": self.qty(spec.symbol, pos.amt),
                "entryPrice": f8(pos.entry), "breakEvenPrice": f8(pos.entry),
                "markPrice": f8(mark), "unRealizedProfit": f8(upnl),
                "liquidationPrice": "0", "positionSide": "BOTH",
                "isolatedMargin": "0.00000000", "isolatedWallet": "0",
                "updateTime": pos.update_time,
            }  # fmt: skip
            if version == 3:
                bids, asks = self._open_notional(api_key, spec.symbol)
                im = abs(notional) / lev
                row.update(
                    {
                        "marginAsset": spec.margin_asset, "notional": f8(notional),
                        "initialMargin": f8(im),
                        "maintMargin": f8(abs(notional) * Decimal("0.004")),
                        "positionInitialMargin": f8(im),
                        "openOrderInitialMargin": f8((bids + asks) / lev),
                        "adl": 0, "bidNotional": f8(bids), "askNotional": f8(asks),
                    }
                )  # fmt: skip
            else:
                row.update(
                    {"leverage": str(lev), "marginType": "cross", "isAutoAddMargin": "false"}
                )
                if self.inverse:
                    row["maxQty"] = "1000"
                    row["notionalValue"] = f8(notional)
                else:
                    row["maxNotionalValue"] = "10000000"
                    row["notional"] = f8(notional)
            out.append(row)
        return out

    def _asset_rows(self, api_key: str) -> list[dict[str, Any]]:
        rows = []
        for asset, wallet in sorted(self.wallets[api_key].items()):
            upnl, pos_im, order_im = self._margin_in_use(api_key, asset)
            available = wallet + upnl - pos_im - order_im
            rows.append(
                {
                    "asset": asset, "walletBalance": f8(wallet), "unrealizedProfit": f8(upnl),
                    "marginBalance": f8(wallet + upnl), "maintMargin": f8(pos_im / 5),
                    "initialMargin": f8(pos_im + order_im), "positionInitialMargin": f8(pos_im),
                    "openOrderInitialMargin": f8(order_im), "crossWalletBalance": f8(wallet),
                    "crossUnPnl": f8(upnl), "availableBalance": f8(available),
                    "maxWithdrawAmount": f8(min(wallet, available)),
                    "marginAvailable": True, "updateTime": now_ms(),
                }
            )  # fmt: skip
        return rows

    def account(self, api_key: str, p: Params, version: int) -> dict[str, Any]:
        """``GET /fapi/v2|v3/account`` or ``/dapi/v1/account``."""
        assets = self._asset_rows(api_key)
        positions = []
        for spec in self.specs.values():
            pos = self.positions[api_key][spec.symbol]
            if version == 3 and pos.amt == ZERO:
                continue
            mark = self.mark_price(spec.symbol)
            lev = self.leverage[api_key][spec.symbol]
            notional = self._notional(spec, pos.amt, mark)
            bids, asks = self._open_notional(api_key, spec.symbol)
            row: dict[str, Any] = {
                "symbol": spec.symbol, "positionSide": "BOTH",
                "positionAmt": self.qty(spec.symbol, pos.amt),
                "unrealizedProfit": f8(self._upnl(spec, pos, mark)),
                "initialMargin": f8(abs(notional) / lev), "maintMargin": f8(abs(notional) / 250),
                "positionInitialMargin": f8(abs(notional) / lev),
                "openOrderInitialMargin": f8((bids + asks) / lev),
                "updateTime": pos.update_time,
            }  # fmt: skip
            if version != 3:
                row.update(
                    {
                        "leverage": str(lev), "isolated": False, "entryPrice": f8(pos.entry),
                        "breakEvenPrice": f8(pos.entry), "isolatedWallet": "0",
                    }
                )  # fmt: skip
                if self.inverse:
                    row["maxQty"] = "1000"
                    row["notionalValue"] = f8(notional)
                else:
                    row["maxNotional"] = "10000000"
                    row["bidNotional"] = f8(bids)
                    row["askNotional"] = f8(asks)
            else:
                row["notional"] = f8(notional)
                row["isolatedWallet"] = "0"
                row["isolatedMargin"] = "0"
            positions.append(row)
        out: dict[str, Any] = {"assets": assets, "positions": positions}
        if self.inverse:
            out.update(
                {"canDeposit": True, "canTrade": True, "canWithdraw": True, "feeTier": 0,
                 "updateTime": now_ms()}
            )  # fmt: skip
            return out
        wallet = sum((Decimal(a["walletBalance"]) for a in assets if a["asset"] == "USDT"), ZERO)
        upnl = sum((Decimal(a["unrealizedProfit"]) for a in assets if a["asset"] == "USDT"), ZERO)
        avail = sum((Decimal(a["availableBalance"]) for a in assets if a["asset"] == "USDT"), ZERO)
        head: dict[str, Any] = {
            "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "feeBurn": False, "tradeGroupId": -1, "updateTime": 0, "multiAssetsMargin": False,
            "totalInitialMargin": f8(wallet - avail + upnl), "totalMaintMargin": "0.00000000",
            "totalWalletBalance": f8(wallet), "totalUnrealizedProfit": f8(upnl),
            "totalMarginBalance": f8(wallet + upnl), "totalPositionInitialMargin": "0.00000000",
            "totalOpenOrderInitialMargin": "0.00000000", "totalCrossWalletBalance": f8(wallet),
            "totalCrossUnPnl": f8(upnl), "availableBalance": f8(avail),
            "maxWithdrawAmount": f8(avail),
        }  # fmt: skip
        head.update(out)
        return head

    def balance(self, api_key: str, p: Params, version: int) -> list[dict[str, Any]]:
        """``GET /fapi/v2|v3/balance`` or ``/dapi/v1/balance``."""
        out = []
        for row in self._asset_rows(api_key):
            item: dict[str, Any] = {
                "accountAlias": "SgsR", "asset": row["asset"], "balance": row["walletBalance"],
                "crossWalletBalance": row["crossWalletBalance"], "crossUnPnl": row["crossUnPnl"],
                "availableBalance": row["availableBalance"],
            }  # fmt: skip
            if self.inverse:
                item["withdrawAvailable"] = row["maxWithdrawAmount"]
            else:
                item["maxWithdrawAmount"] = row["maxWithdrawAmount"]
                item["marginAvailable"] = True
            item["updateTime"] = row["updateTime"]
            out.append(item)
        return out

    def leverage_brackets(self, api_key: str, p: Params) -> list[dict[str, Any]]:
        """``GET /fapi/v1/leverageBracket`` (``/dapi/v2/leverageBracket`` keyed by pair)."""
        specs = [self.spec(p.get("symbol"))] if p.has("symbol") else list(self.specs.values())
        # Three illustrative tiers: (leverage, cap, maintenance ratio, maintenance amount).
        tiers = (
            (125, 50_000, "0.004", 0),
            (100, 250_000, "0.005", 50),
            (50, 10_000_000, "0.01", 1300),
        )
        out: list[dict[str, Any]] = []
        for spec in specs:
            brackets: list[dict[str, Any]] = []
            floor = 0
            for i, (lev, cap, ratio, cum) in enumerate(tiers, start=1):
                row: dict[str, Any] = {"bracket": i, "initialLeverage": lev}
                if self.inverse:
                    row.update({"qtyCap": cap // 100, "qtyFloor": floor // 100})
                else:
                    row.update({"notionalCap": cap, "notionalFloor": floor})
                row.update({"maintMarginRatio": float(ratio), "cum": float(cum)})
                brackets.append(row)
                floor = cap
            if self.inverse:
                out.append({"pair": spec.pair, "brackets": brackets})
            else:
                out.append({"symbol": spec.symbol, "notionalCoef": 1.0, "brackets": brackets})
        return out

    # ------------------------------------------------------------- admin
    def admin_orders(self, api_key: str, symbol: str | None) -> list[dict[str, Any]]:
        """``GET /sim/orders``: working orders in openOrders format."""
        sym = self.spec(symbol).symbol if symbol else None
        return [self.order_view(o) for o in self.open_orders(api_key, sym)]

    def admin_account(self, api_key: str) -> dict[str, Any]:
        """``GET /sim/account``: account, balances and positions."""
        version = 1 if self.inverse else 2
        return {
            "account": self.account(api_key, Params({}), version),
            "balances": self.balance(api_key, Params({}), version),
            "positions": self.position_risk(api_key, Params({}), version),
        }


def futures_endpoints(server: Any) -> None:
    """Registers the ``/fapi`` or ``/dapi`` endpoints of a futures venue."""
    from ems.sim.binance.rest import API_KEY, SIGNED, Endpoint, Handler, check_listen_key

    venue = server.venue
    assert isinstance(venue, FuturesVenue)
    v1 = f"{venue.prefix}/v1"

    def key(account: str | None) -> str:
        assert account is not None
        return account

    def depth(_: str | None, p: Params) -> Any:
        spec = venue.spec(p.get("symbol"))
        return venue.depth_snapshot(spec.symbol, min(p.integer("limit") or 500, 1000))

    def new_listen_key(account: str | None, p: Params) -> Any:
        return {"listenKey": venue.listen_key_for(key(account))}

    def keep_listen_key(account: str | None, p: Params) -> Any:
        listen_key = venue.listen_key_for(key(account))
        if p.has("listenKey"):
            check_listen_key(venue, key(account), p)
        return {"listenKey": listen_key}

    def close_listen_key(account: str | None, p: Params) -> Any:
        venue.close_listen_key(venue.listen_key_for(key(account)))
        return {}

    def dual_get(account: str | None, p: Params) -> Any:
        return {"dualSidePosition": False}

    def dual_set(account: str | None, p: Params) -> Any:
        if (p.req("dualSidePosition")).lower() == "true":
            raise BinanceError(-4068, "Hedge mode is not supported by this simulator.")
        raise BinanceError(-4059, "No need to change position side.")

    def acct(call: Callable[[str, Params], Any]) -> Handler:
        """Adapts a venue method taking (api_key, params) to an endpoint handler."""
        return lambda a, p: call(key(a), p)

    def versioned(call: Callable[[str, Params, int], Any], version: int) -> Handler:
        return lambda a, p: call(key(a), p, version)

    def public(call: Callable[[Params], Any]) -> Handler:
        return lambda a, p: call(p)

    eps = [
        Endpoint("GET", f"{v1}/ping", lambda a, p: {}),
        Endpoint("GET", f"{v1}/time", lambda a, p: {"serverTime": now_ms()}),
        Endpoint("GET", f"{v1}/exchangeInfo", public(venue.exchange_info)),
        Endpoint("GET", f"{v1}/depth", depth, weight=5),
        Endpoint("GET", f"{v1}/trades", public(venue.recent_trades), weight=5),
        Endpoint("GET", f"{v1}/ticker/price", public(venue.ticker_price)),
        Endpoint("GET", f"{v1}/ticker/bookTicker", public(venue.book_ticker)),
        Endpoint("GET", f"{v1}/ticker/24hr", public(venue.ticker_24hr)),
        Endpoint("GET", f"{v1}/premiumIndex", public(venue.premium_index)),
        Endpoint("POST", f"{v1}/order", acct(venue.new_order), SIGNED, 0, True),
        Endpoint("POST", f"{v1}/order/test", lambda a, p: venue.new_order(key(a), p, True), SIGNED),
        Endpoint("GET", f"{v1}/order", acct(venue.query_order), SIGNED),
        Endpoint("DELETE", f"{v1}/order", acct(venue.cancel_order), SIGNED),
        Endpoint("PUT", f"{v1}/order", acct(venue.modify_order), SIGNED, 1, True),
        Endpoint("GET", f"{v1}/openOrder", acct(venue.query_open_order), SIGNED),
        Endpoint("GET", f"{v1}/openOrders", acct(venue.open_orders_view), SIGNED),
        Endpoint("DELETE", f"{v1}/allOpenOrders", acct(venue.cancel_all), SIGNED),
        Endpoint("GET", f"{v1}/allOrders", acct(venue.all_orders), SIGNED, 5),
        Endpoint("GET", f"{v1}/userTrades", acct(venue.user_trades), SIGNED, 5),
        Endpoint("POST", f"{v1}/batchOrders", acct(venue.batch_orders), SIGNED, 5, True),
        Endpoint("PUT", f"{v1}/batchOrders", acct(venue.batch_modify), SIGNED, 5, True),
        Endpoint("DELETE", f"{v1}/batchOrders", acct(venue.batch_cancel), SIGNED),
        Endpoint("POST", f"{v1}/leverage", acct(venue.set_leverage), SIGNED),
        Endpoint("GET", f"{v1}/positionSide/dual", dual_get, SIGNED, 30),
        Endpoint(
            "GET",
            f"{venue.prefix}/{'v2' if venue.inverse else 'v1'}/leverageBracket",
            acct(venue.leverage_brackets),
            SIGNED,
        ),
        Endpoint("POST", f"{v1}/positionSide/dual", dual_set, SIGNED),
        Endpoint("POST", f"{v1}/listenKey", new_listen_key, API_KEY),
        Endpoint("PUT", f"{v1}/listenKey", keep_listen_key, API_KEY),
        Endpoint("DELETE", f"{v1}/listenKey", close_listen_key, API_KEY),
    ]
    # COIN-M serves account/balance/positionRisk on v1; USD-M on v2 and v3.
    for version in (1,) if venue.inverse else (2, 3):
        base = f"{venue.prefix}/v{version}"
        eps += [
            Endpoint("GET", f"{base}/account", versioned(venue.account, version), SIGNED, 5),
            Endpoint("GET", f"{base}/balance", versioned(venue.balance, version), SIGNED, 5),
            Endpoint(
                "GET", f"{base}/positionRisk", versioned(venue.position_risk, version), SIGNED, 5
            ),
        ]
    for ep in eps:
        server.add(ep)
