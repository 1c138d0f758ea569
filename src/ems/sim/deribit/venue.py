"""The simulated Deribit exchange: instruments, orders, matching, positions, events.

Everything is `Decimal`. Quantities are in contracts (BTC-PERPETUAL: 1 contract = 10 USD,
ETH-PERPETUAL: 1 contract = 1 USD), as on Deribit's FIX API. The venue knows nothing of
FIX framing: it builds ExecutionReport bodies as `(tag, value)` lists and hands them to
the account's sessions (`AccountSink`), and public trades to the market-data sinks.

Simplifications (documented): no margin or fee model; self-trades are allowed; a `day`
order (TimeInForce 0) rests like GTC (no 08:00 UTC expiry); a market order takes what the
book has and cancels the rest.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from ems.sim.accounts import Position
from ems.sim.deribit.codec import utc_timestamp
from ems.sim.marketmaker import MM_OWNER, MarketMaker, Quoting
from ems.sim.matching import ZERO, Book, Fill, RestingOrder, Side

PHANTOM = "__phantom__"


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One listed instrument (all inverse perpetuals here)."""

    symbol: str
    currency: str
    tick: Decimal
    contract_size: Decimal
    """USD per contract (ContractMultiplier, 231)."""
    min_qty: Decimal
    """Minimum and step, in contracts (MinTradeVol, 562)."""
    mid: Decimal
    mm_step: Decimal
    mm_size: Decimal


INSTRUMENTS = (
    InstrumentSpec(
        "BTC-PERPETUAL",
        "BTC",
        Decimal("0.5"),
        Decimal(10),
        Decimal(1),
        Decimal(30000),
        Decimal("1.0"),
        Decimal(500),
    ),
    InstrumentSpec(
        "ETH-PERPETUAL",
        "ETH",
        Decimal("0.05"),
        Decimal(1),
        Decimal(1),
        Decimal(2000),
        Decimal("0.1"),
        Decimal(2000),
    ),
)

START_BALANCE = {"BTC": Decimal(10), "ETH": Decimal(100)}


def text(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros."""
    out = format(value.normalize(), "f")
    return out if out != "-0" else "0"


def now_ms() -> int:
    return int(time.time() * 1000)


class RejectError(Exception):
    """A request the venue refuses; `text` goes into Text (58), `reason` into 103/380."""

    def __init__(self, text: str, reason: int = 99) -> None:
        super().__init__(text)
        self.text = text
        self.reason = reason


@dataclass(slots=True)
class Order:
    """One order of an account, open or closed."""

    order_id: int
    cl_ord_id: str
    api_key: str
    session: str
    symbol: str
    side: Side
    ord_type: str
    tif: str
    price: Decimal | None
    qty: Decimal
    post_only: bool
    reject_post_only: bool
    reduce_only: bool
    label: str
    created: int
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    status: str = "0"
    updated: int = 0
    changes: int = 0

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled if self.status in ("0", "1") else ZERO

    @property
    def is_open(self) -> bool:
        return self.status in ("0", "1")

    @property
    def avg_px(self) -> Decimal:
        return self.notional / self.filled if self.filled else ZERO

    @property
    def server_cl(self) -> str:
        """The ClOrdID (11) the venue puts in its reports: its own, not the client's."""
        return f"srv-{self.order_id}"


class AccountSink(Protocol):
    """A FIX session that receives the account's execution reports."""

    def account_event(self, order: Order, fields: list[tuple[int, str]]) -> None: ...


TradeSink = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True)
class Account:
    api_key: str
    secret: str
    balances: dict[str, Decimal] = field(default_factory=lambda: dict(START_BALANCE))
    positions: dict[str, Position] = field(default_factory=dict)


class DeribitVenue:
    """The exchange behind every Deribit front end of the simulator."""

    def __init__(self, credentials: list[tuple[str, str]], seed: int, market_maker: bool) -> None:
        self.specs = {s.symbol: s for s in INSTRUMENTS}
        self._credentials = credentials
        self._seed = seed
        self._market_maker = market_maker
        self.sinks: dict[str, list[AccountSink]] = {}
        self.trade_sinks: list[TradeSink] = []
        self.cl_ord_id_uses: dict[str, dict[str, int]] = {}
        """NewOrderSingles asked per account and ClOrdID, refused ones included (a client
        that sends one order twice shows here); kept across resets, like the sessions."""
        self._init_state()

    def _init_state(self) -> None:
        self._ids = itertools.count(1_000_001)
        self._exec_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.books: dict[str, Book] = {s: Book(s) for s in self.specs}
        self.orders: dict[int, Order] = {}
        self._by_cl: dict[tuple[str, str], list[Order]] = {}
        self._open: dict[str, dict[int, Order]] = {}
        """Orders that may be open, per account (closed ones are pruned when read)."""
        self.recent_trades: dict[str, list[dict[str, Any]]] = {s: [] for s in self.specs}
        self.accounts = {k: Account(k, s) for k, s in self._credentials}
        self.mm = MarketMaker(self._seed, lambda: next(self._ids))
        for spec in INSTRUMENTS:
            self.mm.configure(
                spec.symbol,
                Quoting(spec.mid, spec.mm_step, spec.mm_size, 5, spec.tick, self._market_maker),
            )
            self.mm.replenish(self.books[spec.symbol])

    def reset(self) -> None:
        """Initial books, no orders, starting balances (sessions and sinks stay)."""
        self._init_state()

    def secret_of(self, api_key: str) -> str | None:
        account = self.accounts.get(api_key)
        return account.secret if account else None

    def spec(self, symbol: str | None) -> InstrumentSpec:
        spec = self.specs.get(symbol or "")
        if spec is None:
            raise RejectError(f"unknown instrument {symbol!r}", 1)
        return spec

    # ----------------------------------------------------------------- reports
    def report(
        self,
        order: Order,
        exec_type: str,
        text_: str | None = None,
        fill: tuple[Decimal, Decimal, str, bool] | None = None,
        extra: list[tuple[int, str]] | None = None,
    ) -> list[tuple[int, str]]:
        """ExecutionReport (8) body fields for `order` (its whole current state)."""
        fields: list[tuple[int, str]] = [
            (37, str(order.order_id)),
            (11, order.server_cl),
            (41, order.cl_ord_id),
            (17, f"E{next(self._exec_ids)}"),
            (527, f"{order.order_id}-{order.changes}"),
            (150, exec_type),
            (39, order.status),
            (55, order.symbol),
            (54, "1" if order.side is Side.BUY else "2"),
            (60, utc_timestamp(order.updated / 1000)),
            (38, text(order.qty)),
            (40, order.ord_type),
            (59, order.tif),
            (151, text(order.leaves)),
            (14, text(order.filled)),
            (6, text(order.avg_px)),
            (854, "1"),
        ]
        if order.price is not None:
            fields.append((44, text(order.price)))
        inst = ("6A" if order.reject_post_only else "6") if order.post_only else ""
        if order.reduce_only:
            inst = f"{inst} E".strip()
        if inst:
            fields.append((18, inst))
        if fill is not None:
            price, qty, trade_id, maker = fill
            fields += [
                (31, text(price)),
                (32, text(qty)),
                (880, trade_id),
                (851, "1" if maker else "2"),
            ]
        if text_ is not None:
            fields.append((58, text_))
        if order.label:
            fields.append((100010, order.label))
        if extra:
            fields += extra
        return fields

    def emit(self, order: Order, fields: list[tuple[int, str]]) -> None:
        for sink in self.sinks.get(order.api_key, ()):
            sink.account_event(order, fields)

    # ----------------------------------------------------------------- orders
    def find_open(self, api_key: str, order_id: str | None, cl_ord_id: str | None) -> Order:
        """The open order named by Deribit's id or by the client's ClOrdID (exactly one)."""
        if order_id:
            found = self.orders.get(int(order_id)) if order_id.isdigit() else None
            if found is None or found.api_key != api_key:
                raise RejectError("order_not_found", 5)
            if not found.is_open:
                raise RejectError("order_closed", 5)
            return found
        if cl_ord_id:
            matches = [o for o in self.by_cl(api_key, cl_ord_id) if o.is_open]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise RejectError("more than one open order has this ClOrdID", 99)
        raise RejectError("order_not_found", 5)

    def new_order(
        self,
        api_key: str,
        session: str,
        cl_ord_id: str,
        symbol: str | None,
        side_text: str | None,
        qty_text: str | None,
        ord_type: str | None,
        price_text: str | None,
        tif: str | None,
        exec_inst: str | None,
        label: str | None,
    ) -> Order:
        """NewOrderSingle: validates, matches and rests; reports go to the account sinks.

        Raises `RejectError` (before any order exists) for a request it cannot read."""
        uses = self.cl_ord_id_uses.setdefault(api_key, {})
        uses[cl_ord_id] = uses.get(cl_ord_id, 0) + 1
        spec = self.spec(symbol)
        side = {"1": Side.BUY, "2": Side.SELL}.get(side_text or "")
        if side is None:
            raise RejectError(f"invalid side {side_text!r}", 99)
        ord_type = ord_type or "2"
        if ord_type not in ("1", "2"):
            raise RejectError(f"unsupported OrdType {ord_type!r}", 99)
        tif = tif or "1"
        if tif not in ("0", "1", "3", "4"):
            raise RejectError(f"unsupported TimeInForce {tif!r}", 99)
        qty = _decimal(qty_text, "OrderQty")
        if qty <= ZERO or qty % spec.min_qty:
            raise RejectError(f"invalid_amount: must be a multiple of {text(spec.min_qty)}", 99)
        price: Decimal | None = None
        if ord_type == "2":
            price = _decimal(price_text, "Price")
            if price <= ZERO or price % spec.tick:
                raise RejectError(f"invalid_price: tick size is {text(spec.tick)}", 99)
        flags = (exec_inst or "").replace(" ", "")
        post_only = "6" in flags
        if post_only and ord_type == "1":
            raise RejectError("post_only is not allowed for market orders", 99)
        if any(o.is_open for o in self.by_cl(api_key, cl_ord_id)):
            raise RejectError("duplicate ClOrdID of an open order", 6)
        ts = now_ms()
        order = Order(
            order_id=next(self._ids),
            cl_ord_id=cl_ord_id,
            api_key=api_key,
            session=session,
            symbol=spec.symbol,
            side=side,
            ord_type=ord_type,
            tif=tif if ord_type == "2" else ("4" if tif == "4" else "3"),
            price=price,
            qty=qty,
            post_only=post_only,
            reject_post_only="A" in flags,
            reduce_only="E" in flags,
            label=label or "",
            created=ts,
            updated=ts,
        )
        self.orders[order.order_id] = order
        self._by_cl.setdefault((api_key, cl_ord_id), []).append(order)
        self._open.setdefault(api_key, {})[order.order_id] = order
        book = self.books[spec.symbol]
        if order.post_only and book.crosses(side, price):
            if order.reject_post_only:
                order.status = "8"
                self.emit(order, self.report(order, "8", "post_only_reject", extra=[(103, "99")]))
                return order
            # Plain post-only: the price moves to one tick inside the opposite best.
            best = book.best_ask() if side is Side.BUY else book.best_bid()
            assert best is not None and price is not None
            order.price = best - spec.tick if side is Side.BUY else best + spec.tick
        if order.reduce_only:
            pos = self._position(api_key, spec.symbol).amt
            signed = qty if side is Side.BUY else -qty
            if pos == ZERO or (pos > 0) == (signed > 0) or abs(signed) > abs(pos):
                order.status = "8"
                self.emit(order, self.report(order, "8", "reduce_only_reject", extra=[(103, "99")]))
                return order
        self.emit(order, self.report(order, "0", "new"))
        plan = book.plan(side, qty, order.price)
        if order.tif == "4" and sum((t for _, t in plan), ZERO) < qty:
            order.status = "4"
            order.updated = now_ms()
            self.emit(order, self.report(order, "4", "fill_or_kill"))
            return order
        fills = book.execute(plan)
        self._settle(spec, order, fills)
        if order.filled == order.qty:
            pass
        elif order.tif in ("3", "4") or order.ord_type == "1":
            order.status = "4"
            order.changes += 1
            order.updated = now_ms()
            self.emit(order, self.report(order, "4", "immediate_or_cancel"))
        else:
            assert order.price is not None
            book.add(RestingOrder(order.order_id, api_key, side, order.price, order.leaves))
        self.mm.replenish(book)
        return order

    def _settle(self, spec: InstrumentSpec, taker: Order, fills: list[Fill]) -> None:
        """Books every fill on both sides and publishes the public trades."""
        ts = now_ms()
        for fill in fills:
            trade_id = f"{spec.currency}-{next(self._trade_ids)}"
            self._fill(spec, taker, fill.price, fill.qty, trade_id, False, ts)
            maker = self.orders.get(fill.maker.order_id)
            if maker is not None:
                self._fill(spec, maker, fill.price, fill.qty, trade_id, True, ts)
            self._publish_trade(spec, fill.price, fill.qty, taker.side, trade_id, ts)

    def _fill(
        self,
        spec: InstrumentSpec,
        order: Order,
        price: Decimal,
        qty: Decimal,
        trade_id: str,
        maker: bool,
        ts: int,
    ) -> None:
        order.filled += qty
        order.notional += price * qty
        order.status = "2" if order.filled >= order.qty else "1"
        order.changes += 1
        order.updated = ts
        account = self.accounts.get(order.api_key)
        if account is not None:
            signed = qty if order.side is Side.BUY else -qty
            realized = self._position(order.api_key, spec.symbol).apply_fill(
                signed, price, spec.contract_size
            )
            account.balances[spec.currency] = account.balances.get(spec.currency, ZERO) + realized
        self.emit(order, self.report(order, "F", "trade", (price, qty, trade_id, maker)))

    def _position(self, api_key: str, symbol: str) -> Position:
        account = self.accounts[api_key]
        return account.positions.setdefault(symbol, Position())

    def _publish_trade(
        self,
        spec: InstrumentSpec,
        price: Decimal,
        qty: Decimal,
        aggressor: Side,
        trade_id: str,
        ts: int,
    ) -> None:
        trade = {
            "trade_id": trade_id,
            "timestamp": ts,
            "price": price,
            "contracts": qty,
            "amount": qty * spec.contract_size,
            "direction": aggressor.value,
            "instrument_name": spec.symbol,
        }
        recent = self.recent_trades[spec.symbol]
        recent.append(trade)
        del recent[:-100]
        for sink in tuple(self.trade_sinks):
            sink(spec.symbol, trade)

    def cancel(self, order: Order, reason: str = "cancelled") -> None:
        """Takes an open order off the book and reports it (brief report, then full)."""
        self.books[order.symbol].remove(order.order_id)
        order.status = "4"
        order.changes += 1
        order.updated = now_ms()
        self.emit(
            order,
            [
                (37, str(order.order_id)),
                (11, order.server_cl),
                (41, order.cl_ord_id),
                (150, "4"),
                (39, "4"),
                (55, order.symbol),
                (58, "success" if reason == "cancelled" else reason),
            ],
        )
        self.emit(
            order, self.report(order, "4", reason if reason != "cancelled" else "notification")
        )

    def replace(self, order: Order, qty_text: str | None, price_text: str | None) -> None:
        """OrderCancelReplaceRequest: new price and/or quantity (Deribit edits in place).

        A quantity cut at the same price keeps the queue place; anything else requeues.
        The change is reported with ExecType I (order status): protocols.md D.2 lists 5
        (replaced) for drop copy only."""
        spec = self.specs[order.symbol]
        qty = _decimal(qty_text, "OrderQty") if qty_text else order.qty
        if qty <= ZERO or qty % spec.min_qty:
            raise RejectError(f"invalid_amount: must be a multiple of {text(spec.min_qty)}")
        if qty <= order.filled:
            raise RejectError("amount must exceed the filled amount")
        price = order.price
        if price_text and order.ord_type == "2":
            price = _decimal(price_text, "Price")
            if price <= ZERO or price % spec.tick:
                raise RejectError(f"invalid_price: tick size is {text(spec.tick)}")
        book = self.books[order.symbol]
        if order.post_only and price != order.price and book.crosses(order.side, price):
            if order.reject_post_only:
                raise RejectError("post_only_reject")
            best = book.best_ask() if order.side is Side.BUY else book.best_bid()
            assert best is not None
            price = best - spec.tick if order.side is Side.BUY else best + spec.tick
        new_leaves = qty - order.filled
        resting = book.get(order.order_id)
        if resting is not None and price == order.price and new_leaves <= resting.leaves:
            if new_leaves < resting.leaves:
                book.reduce(order.order_id, new_leaves)
            order.qty = qty
            order.changes += 1
            order.updated = now_ms()
            self.emit(order, self.report(order, "I", "edit"))
            return
        book.remove(order.order_id)
        order.qty, order.price = qty, price
        order.changes += 1
        order.updated = now_ms()
        self.emit(order, self.report(order, "I", "edit"))
        fills = book.match(order.side, new_leaves, price)
        self._settle(spec, order, fills)
        if order.is_open and order.leaves > ZERO:
            assert price is not None
            book.add(RestingOrder(order.order_id, order.api_key, order.side, price, order.leaves))
        self.mm.replenish(book)

    def mass_cancel(self, api_key: str, symbol: str | None, currency: str | None) -> int:
        """Cancels the account's open orders on a symbol (or all / one currency)."""
        victims = [
            o
            for o in self.open_orders(api_key, symbol)
            if currency is None or self.specs[o.symbol].currency == currency
        ]
        for order in victims:
            self.cancel(order)
        for book in self.books.values():
            self.mm.replenish(book)
        return len(victims)

    def cancel_session_orders(self, api_key: str, session: str) -> int:
        """Cancel-on-disconnect: every open order this FIX session placed."""
        victims = [o for o in self.open_orders(api_key) if o.session == session]
        for order in victims:
            self.cancel(order, "cancel_on_disconnect")
        return len(victims)

    def by_cl(self, api_key: str, cl_ord_id: str) -> list[Order]:
        """Every order (open or closed) the account sent with this ClOrdID."""
        return self._by_cl.get((api_key, cl_ord_id), [])

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[Order]:
        """The account's open orders, oldest first."""
        candidates = self._open.get(api_key, {})
        for order_id in [i for i, o in candidates.items() if not o.is_open]:
            del candidates[order_id]
        return [o for o in candidates.values() if symbol is None or o.symbol == symbol]

    def account_orders(self, api_key: str, symbol: str | None = None) -> list[Order]:
        """Every order of the account, open or closed, oldest first."""
        return [
            o
            for o in self.orders.values()
            if o.api_key == api_key and (symbol is None or o.symbol == symbol)
        ]

    def position_contracts(self, api_key: str, symbol: str) -> Decimal:
        account = self.accounts.get(api_key)
        pos = account.positions.get(symbol) if account else None
        return pos.amt if pos else ZERO

    # ----------------------------------------------------------------- admin
    def admin_trade(self, symbol: str, price: Decimal, qty: Decimal, side: Side) -> dict[str, Any]:
        """A phantom aggressor takes the book up to `price`; any rest prints at `price`."""
        spec = self.spec(symbol)
        book = self.books[spec.symbol]
        fills = book.match(side, qty, price)
        ts = now_ms()
        out: list[dict[str, Any]] = []
        for fill in fills:
            trade_id = f"{spec.currency}-{next(self._trade_ids)}"
            maker = self.orders.get(fill.maker.order_id)
            if maker is not None:
                self._fill(spec, maker, fill.price, fill.qty, trade_id, True, ts)
            self._publish_trade(spec, fill.price, fill.qty, side, trade_id, ts)
            owner = fill.maker.owner
            out.append(
                {
                    "tradeId": trade_id,
                    "price": text(fill.price),
                    "qty": text(fill.qty),
                    "orderId": str(fill.maker.order_id),
                    "owner": "mm" if owner == MM_OWNER else owner,
                }
            )
        rest = qty - sum((f.qty for f in fills), ZERO)
        if rest > ZERO:
            trade_id = f"{spec.currency}-{next(self._trade_ids)}"
            self._publish_trade(spec, price, rest, side, trade_id, ts)
            out.append(
                {
                    "tradeId": trade_id,
                    "price": text(price),
                    "qty": text(rest),
                    "orderId": None,
                    "owner": None,
                }
            )
        self.mm.replenish(book)
        return {"symbol": spec.symbol, "side": side.value, "fills": out}

    def admin_book(self, symbol: str, mid: Decimal | None, clear: bool) -> dict[str, Any]:
        spec = self.spec(symbol)
        book = self.books[spec.symbol]
        if clear:
            self.mm.clear(book)
        elif mid is not None:
            self.mm.recenter(book, mid)
        else:
            self.mm.quoting[spec.symbol].enabled = True
            self.mm.replenish(book)
        return self.book_view(spec.symbol)

    def book_view(self, symbol: str) -> dict[str, Any]:
        """Best prices, the maker's state and 10 levels a side."""
        spec = self.specs[symbol]
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "symbol": spec.symbol,
            "mid": text(self.mm.quoting[spec.symbol].mid),
            "quoting": self.mm.quoting[spec.symbol].enabled,
            "bestBid": text(bid) if bid is not None else None,
            "bestAsk": text(ask) if ask is not None else None,
            "bids": [[text(p), text(q)] for p, q in book.levels(Side.BUY, 10)],
            "asks": [[text(p), text(q)] for p, q in book.levels(Side.SELL, 10)],
        }

    def admin_order(self, order: Order) -> dict[str, Any]:
        """An order in the JSON-RPC order format (amounts in USD, plus contracts)."""
        spec = self.specs[order.symbol]
        state = {"0": "open", "1": "open", "2": "filled", "4": "cancelled", "8": "rejected"}
        tif = {
            "0": "good_til_day",
            "1": "good_til_cancelled",
            "3": "immediate_or_cancel",
            "4": "fill_or_kill",
        }
        return {
            "order_id": str(order.order_id),
            "cl_ord_id": order.cl_ord_id,
            "instrument_name": order.symbol,
            "direction": order.side.value,
            "order_type": "market" if order.ord_type == "1" else "limit",
            "time_in_force": tif[order.tif],
            "post_only": order.post_only,
            "reject_post_only": order.reject_post_only,
            "reduce_only": order.reduce_only,
            "price": text(order.price) if order.price is not None else "market_price",
            "amount": text(order.qty * spec.contract_size),
            "filled_amount": text(order.filled * spec.contract_size),
            "contracts": text(order.qty),
            "filled_contracts": text(order.filled),
            "average_price": text(order.avg_px),
            "order_state": state.get(order.status, "open"),
            "label": order.label,
            "creation_timestamp": order.created,
            "last_update_timestamp": order.updated,
        }

    def admin_account(self, api_key: str) -> dict[str, Any]:
        account = self.accounts.get(api_key)
        if account is None:
            raise RejectError("unknown account")
        positions = []
        for symbol, pos in account.positions.items():
            spec = self.specs[symbol]
            positions.append(
                {
                    "instrument_name": symbol,
                    "direction": "buy" if pos.amt > 0 else "sell" if pos.amt < 0 else "zero",
                    "size": text(pos.amt * spec.contract_size),
                    "contracts": text(pos.amt),
                    "average_price": text(pos.entry.quantize(Decimal("0.00000001"))),
                    "realized_profit_loss": text(pos.realized),
                }
            )
        return {
            "balances": {c: text(v) for c, v in account.balances.items()},
            "positions": positions,
        }

    def drift(self) -> None:
        for book in self.books.values():
            self.mm.drift(book)


def _decimal(value: str | None, name: str) -> Decimal:
    if value is None or value == "":
        raise RejectError(f"{name} is required", 99)
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise RejectError(f"{name} {value!r} is not a number", 99) from None
    if not out.is_finite():
        raise RejectError(f"{name} must be finite", 99)
    return out
