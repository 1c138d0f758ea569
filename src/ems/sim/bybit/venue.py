"""State of the simulated Bybit: books, orders, unified wallets, positions, pushes.

One venue object serves all four categories.  It is driven from one event loop and
every public method runs to completion without awaiting, so each request is atomic
with respect to the others.  Methods take already-decoded parameters (a JSON object's
values, or query-string text) and return the ``result`` object of the reply, raising
:class:`~ems.sim.bybit.errors.BybitError` for a refusal.

Semantics (from the venue documentation, protocols.md C.3):

* A create/amend/cancel acknowledgement only says the request was accepted; the order's
  fate is pushed on the private ``order`` and ``execution`` topics.  Per fill the
  ``execution`` push goes out before the ``order`` push of the same change.
* PostOnly that would take, FOK that cannot fill in full, and the unfilled part of IOC
  and market orders are accepted and then ``Cancelled`` with ``cancelType`` UNKNOWN and
  ``rejectReason`` ``EC_PostOnlyWillTakeLiquidity``, ``EC_NoEnoughQtyToFill``,
  ``EC_NoImmediateQtyToFill`` (nothing filled) or ``EC_CancelForNoFullFill`` (part
  filled; spot reports that as ``PartiallyFilledCanceled``).
* ``orderLinkId`` is unique per account and category over every order ever placed.
* Spot locks the quote (buy) or base (sell) of a limit order; derivatives reserve an
  initial margin of notional / 10 in the settle coin; both refuse with the venue's
  insufficient-balance codes.
* Positions are one-way (``positionIdx`` 0); inverse quantities are USD contracts.
* Self-trades are allowed (the simulator advertises ``smpType`` None).
"""

from __future__ import annotations

import random
import re
import uuid
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from ems.sim.accounts import Balance, Position
from ems.sim.bybit import errors
from ems.sim.bybit.auth import now_ms
from ems.sim.bybit.errors import BybitError, param
from ems.sim.bybit.specs import (
    INITIAL_WALLET,
    INSTRUMENTS,
    LEVERAGE,
    MAKER_FEE,
    OPTION_FEE,
    SPOT_FEE,
    TAKER_FEE,
    Category,
    Instrument,
)
from ems.sim.bybit.streams import OrderbookTopic, PrivateHub, PublicHub
from ems.sim.marketmaker import MM_OWNER, MarketMaker, Quoting
from ems.sim.matching import ZERO, Book, Fill, RestingOrder, Side

ADMIN_OWNER = "__admin__"
OPEN = ("New", "PartiallyFilled")
LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
COIN_USD = {"USDT": Decimal(1), "USDC": Decimal(1), "BTC": Decimal(30000), "ETH": Decimal(2000)}

PUBLIC_DEPTHS = {
    Category.SPOT: (1, 50, 200, 1000),
    Category.LINEAR: (1, 50, 200, 1000),
    Category.INVERSE: (1, 50, 200, 1000),
    Category.OPTION: (25, 100),
}
DEPTH_INTERVAL_MS = {1: 50, 25: 50, 50: 50, 100: 100, 200: 100, 1000: 200}
"""Push interval per depth on the simulator's 50 ms clock (the venue's are shorter)."""


def text(value: object) -> str:
    """A parameter value as text (JSON numbers and booleans included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def fmt(value: Decimal, step: Decimal) -> str:
    """A value with as many decimals as ``step`` has (how Bybit prints prices and sizes)."""
    exponent = step.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{value:.{places}f}"


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros."""
    if value == ZERO:
        return "0"
    out = f"{value.normalize():f}"
    return out


def on_step(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole number of ``step``."""
    try:
        return value % step == ZERO
    except InvalidOperation:
        return False


@dataclass(slots=True, eq=False)
class Order:
    """One order of a simulated account, open or finished."""

    inst: Instrument
    seq: int
    order_id: str
    link_id: str
    account: str
    side: str
    order_type: str
    tif: str
    price: Decimal
    qty: Decimal
    created: int
    updated: int
    market_unit: str = ""
    reduce_only: bool = False
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    status: str = "New"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    locked: Decimal = ZERO
    """Spot: what is still locked in the wallet for this order."""
    im: Decimal = ZERO
    """Derivatives: initial margin still reserved for the unfilled part."""
    last_price_on_created: Decimal = ZERO
    closed_pnl: Decimal = ZERO

    @property
    def book_side(self) -> Side:
        """The matching engine's side."""
        return Side.BUY if self.side == "Buy" else Side.SELL

    @property
    def is_open(self) -> bool:
        """New or partially filled."""
        return self.status in OPEN

    @property
    def leaves(self) -> Decimal:
        """Unfilled quantity while open (0 once finished, and for spend-quote orders)."""
        if not self.is_open or self.market_unit == "quoteCoin":
            return ZERO
        return self.qty - self.cum_qty

    @property
    def avg_price(self) -> Decimal:
        """Average fill price (0 without fills)."""
        return self.cum_value / self.cum_qty if self.cum_qty else ZERO

    @property
    def fee_coin(self) -> str:
        """The coin fees are charged in: spot buys pay in base, sells in quote."""
        if self.inst.category is Category.SPOT:
            return self.inst.base if self.side == "Buy" else self.inst.quote
        return self.inst.settle


class Account:
    """One unified trading account: coins and one-way positions."""

    def __init__(self) -> None:
        """Funded with :data:`INITIAL_WALLET`."""
        self.coins: dict[str, Balance] = {c: Balance(v) for c, v in INITIAL_WALLET.items()}
        self.positions: dict[str, Position] = {}
        self.position_seq: dict[str, int] = {}
        self.realised: dict[str, Decimal] = {}

    def coin(self, name: str) -> Balance:
        """A coin's balance (created empty on first use)."""
        return self.coins.setdefault(name, Balance(ZERO))


class BybitVenue:
    """Books, orders, accounts and market data of every category."""

    def __init__(self, api_keys: list[str], seed: int, market_maker: bool = True) -> None:
        """Builds the initial state; :meth:`reset` returns to it."""
        self.api_keys = list(api_keys)
        self.seed = seed
        self.market_maker_enabled = market_maker
        self.instruments: dict[str, Instrument] = {i.key: i for i in INSTRUMENTS}
        self.public = PublicHub()
        self.private = PrivateHub()
        self.topics: dict[tuple[str, int], OrderbookTopic] = {}
        self._update_ids: dict[str, int] = {key: 1000 for key in self.instruments}
        self._ids = random.Random(f"ems-sim-bybit:{seed}")
        self._seq = 0
        self._spot_id = 1_700_000_000_000_000_000
        self._push_id = 0
        self.counts: dict[str, dict[str, int]] = {}
        """Requests per account and operation (REST path or WS op), for the admin API."""
        self.link_id_uses: dict[str, dict[str, int]] = {}
        """Order creations asked per account and orderLinkId, refused ones included (a
        client that sends one order twice shows here)."""
        self._init_state()

    # ---------------------------------------------------------------- lifecycle
    def _init_state(self) -> None:
        self.books: dict[str, Book] = {}
        self.orders: dict[str, Order] = {}
        self.by_seq: dict[int, Order] = {}
        self.link_ids: dict[tuple[str, str], dict[str, Order]] = {}
        self.history: dict[str, list[Order]] = {k: [] for k in self.api_keys}
        self.working: dict[str, dict[str, Order]] = {k: {} for k in self.api_keys}
        self.executions: dict[str, deque[dict[str, Any]]] = {
            k: deque(maxlen=2000) for k in self.api_keys
        }
        self.accounts: dict[str, Account] = {k: Account() for k in self.api_keys}
        self.trades: dict[str, deque[dict[str, Any]]] = {
            key: deque(maxlen=500) for key in self.instruments
        }
        self.last_price: dict[str, Decimal] = {}
        self.last_match_ms: dict[str, int] = {}
        self._touched: set[str] = set()
        self.mm = MarketMaker(self.seed, self.next_seq)
        for key, inst in self.instruments.items():
            book = Book(key, update_id=self._update_ids[key])
            self.books[key] = book
            self.mm.configure(
                key,
                Quoting(
                    mid=inst.mid,
                    step=inst.mm_step,
                    size=inst.mm_size,
                    levels=inst.mm_levels,
                    tick=inst.tick,
                    enabled=self.market_maker_enabled,
                ),
            )
            self.mm.replenish(book)

    def reset(self) -> None:
        """Restores books, orders and wallets; sequence numbers keep increasing."""
        for key, book in self.books.items():
            self._update_ids[key] = book.update_id + 1
        self._init_state()

    # ---------------------------------------------------------------- ids
    def next_seq(self) -> int:
        """A book-level id, unique within the venue."""
        self._seq += 1
        return self._seq

    def _new_order_id(self, category: Category) -> str:
        if category is Category.SPOT:
            self._spot_id += 1
            return str(self._spot_id)
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _new_exec_id(self, category: Category) -> str:
        if category is Category.SPOT:
            self._spot_id += 1
            return str(self._spot_id)
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def push_id(self) -> str:
        """A private push's ``id``."""
        self._push_id += 1
        return f"{self._push_id:x}-{self._ids.getrandbits(48):012x}"

    def count(self, account: str, operation: str) -> None:
        """Counts one request of an account (REST path or WS op)."""
        per = self.counts.setdefault(account, {})
        per[operation] = per.get(operation, 0) + 1

    # ---------------------------------------------------------------- parameters
    @staticmethod
    def category(value: object) -> Category:
        """The ``category`` parameter (10001 when missing or unknown)."""
        try:
            return Category(text(value))
        except ValueError:
            raise param("Illegal category") from None

    def instrument(self, category: Category, symbol: object) -> Instrument:
        """An instrument of a category (spot 170121, others 10001 when unknown)."""
        name = text(symbol)
        if not name:
            raise param("params error: symbol is empty")
        inst = self.instruments.get(f"{category.value}/{name}")
        if inst is None:
            if category is Category.SPOT:
                raise BybitError(170121, "Invalid symbol.")
            raise param("params error: symbol invalid")
        return inst

    @staticmethod
    def decimal(value: object, name: str, spot: bool) -> Decimal:
        """A positive decimal parameter."""
        raw = text(value)
        if not DECIMAL_RE.match(raw) or Decimal(raw) <= ZERO:
            if spot:
                raise BybitError(170130, f"Data sent for paramter '{name}' is not valid.")
            raise param(f"params error: {name} invalid")
        return Decimal(raw)

    # ---------------------------------------------------------------- lookups
    def find(
        self, account: str, category: Category, symbol: str | None, order_id: str, link_id: str
    ) -> Order | None:
        """An account's order by orderId (which wins) or orderLinkId."""
        order: Order | None = None
        if order_id:
            order = self.orders.get(order_id)
        elif link_id:
            order = self.link_ids.get((account, category.value), {}).get(link_id)
        if order is None or order.account != account or order.inst.category is not category:
            return None
        if symbol and order.inst.symbol != symbol:
            return None
        return order

    def open_orders(self, account: str, category: Category | None = None) -> list[Order]:
        """An account's working orders, oldest first."""
        return [
            o
            for o in self.working.get(account, {}).values()
            if category is None or o.inst.category is category
        ]

    def mark_price(self, inst: Instrument) -> Decimal:
        """The book mid snapped to the tick, else the last price, else the initial mid."""
        book = self.books[inst.key]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return ((bid + ask) / 2 / inst.tick).to_integral_value() * inst.tick
        return self.last_price.get(inst.key, inst.mid)

    # ---------------------------------------------------------------- orders
    def create(self, account: str, category: Category, p: dict[str, Any]) -> dict[str, Any]:
        """``order/create`` (also one item of a batch)."""
        spot = category is Category.SPOT
        inst = self.instrument(category, p.get("symbol"))
        side = text(p.get("side"))
        if side not in ("Buy", "Sell"):
            raise (
                BybitError(170117, "Invalid side.") if spot else param("params error: side invalid")
            )
        order_type = text(p.get("orderType"))
        if order_type not in ("Limit", "Market"):
            if spot:
                raise BybitError(170116, "Invalid orderType.")
            raise param("params error: orderType invalid")
        tif = text(p.get("timeInForce")) or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            if tif == "RPI":
                raise BybitError(170355, "RPI orders are restricted to approved market makers only")
            raise (
                BybitError(170115, "Invalid timeInForce.")
                if spot
                else param("params error: timeInForce invalid")
            )
        if order_type == "Market":
            tif = "IOC"
        qty = self.decimal(p.get("qty"), "qty", spot)
        market_unit = ""
        if spot and order_type == "Market":
            market_unit = text(p.get("marketUnit")) or (
                "quoteCoin" if side == "Buy" else "baseCoin"
            )
            if market_unit not in ("baseCoin", "quoteCoin"):
                raise BybitError(170130, "Data sent for paramter 'marketUnit' is not valid.")
        price = ZERO
        if order_type == "Limit":
            if p.get("price") in (None, ""):
                raise (
                    BybitError(170130, "Data sent for paramter 'price' is not valid.")
                    if spot
                    else (param("params error: price is required for Limit order"))
                )
            price = self.decimal(p.get("price"), "price", spot)
            self._check_price(inst, price)
        if market_unit != "quoteCoin":
            self._check_qty(inst, qty, order_type == "Market")
        if order_type == "Limit" and inst.min_notional and qty * price < inst.min_notional:
            if spot:
                raise BybitError(170140, "Order value exceeded lower limit")
            raise BybitError(110094, "Order notional value below the lower limit")
        link_id = text(p.get("orderLinkId"))
        if link_id:
            uses = self.link_id_uses.setdefault(account, {})
            uses[link_id] = uses.get(link_id, 0) + 1
            if not LINK_ID_RE.match(link_id):
                raise param("params error: orderLinkId invalid")
            if link_id in self.link_ids.get((account, category.value), {}):
                raise errors.duplicate_link_id(spot)
        elif category is Category.OPTION:
            raise param("params error: orderLinkId is required for options")
        position_idx = p.get("positionIdx", 0)
        if text(position_idx) not in ("", "0"):
            raise param("position idx not match position mode")
        reduce_only = text(p.get("reduceOnly")).lower() == "true"
        if reduce_only and not spot:
            position = self.accounts[account].positions.get(inst.key)
            amt = position.amt if position else ZERO
            reducing = (amt > 0 and side == "Sell") or (amt < 0 and side == "Buy")
            if not reducing:
                raise BybitError(
                    110017, "current position is zero, cannot fix reduce-only order qty"
                )
            qty = min(qty, abs(amt))
        self._check_open_order_limit(account, category, inst)
        now = now_ms()
        order = Order(
            inst=inst,
            seq=self.next_seq(),
            order_id=self._new_order_id(category),
            link_id=link_id,
            account=account,
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            created=now,
            updated=now,
            market_unit=market_unit,
            reduce_only=reduce_only,
            last_price_on_created=self.last_price.get(inst.key, self.mark_price(inst)),
        )
        self._reserve(order)
        self._register(order)
        self._enter(order)
        self.settle()
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _check_open_order_limit(self, account: str, category: Category, inst: Instrument) -> None:
        """Spot counts every symbol, linear and inverse the symbol, options the base coin."""
        working = self.open_orders(account, category)
        limit = category.open_order_limit
        if category is Category.SPOT:
            if len(working) >= limit:
                raise BybitError(
                    170810, "Cannot exceed maximum of 500 conditional, TP/SL and active orders."
                )
            return
        if category is Category.OPTION:
            if sum(1 for o in working if o.inst.base == inst.base) >= limit:
                # The docs give no code of their own for the option cap; the futures one
                # (110020) is used with the option figure.
                raise BybitError(110020, f"Not allowed to have more than {limit} active orders.")
            return
        if sum(1 for o in working if o.inst is inst) >= limit:
            raise BybitError(110020, f"Not allowed to have more than {limit} active orders.")

    def _check_price(self, inst: Instrument, price: Decimal) -> None:
        spot = inst.category is Category.SPOT
        if not on_step(price, inst.tick):
            if spot:
                raise BybitError(170134, "Order price decimal too long.")
            raise param(f"params error: price must be a multiple of tickSize {inst.tick}")
        too_low = inst.min_price and price < inst.min_price
        if too_low or (inst.max_price and price > inst.max_price):
            raise BybitError(110003, "Order price exceeds the allowable range.")

    def _check_qty(self, inst: Instrument, qty: Decimal, market: bool) -> None:
        spot = inst.category is Category.SPOT
        if not on_step(qty, inst.qty_step):
            if spot:
                raise BybitError(170137, "Order volume decimal too long")
            raise param(f"params error: qty must be a multiple of qtyStep {inst.qty_step}")
        if qty < inst.min_qty:
            if spot:
                raise BybitError(170136, "Order quantity lower than the minimum.")
            raise param("The number of contracts exceeds minimum limit allowed")
        cap = inst.max_market_qty if market else inst.max_qty
        if qty > cap:
            if spot:
                raise BybitError(170381, "Order quantity too large.")
            raise param("The number of contracts exceeds maximum limit allowed")

    # -- funding
    def _margin(self, inst: Instrument, qty: Decimal, price: Decimal) -> Decimal:
        """Initial margin in the settle coin of ``qty`` at ``price``."""
        if inst.category is Category.INVERSE:
            return qty * inst.contract_value / price / LEVERAGE
        if inst.category is Category.OPTION:
            return qty * price
        return qty * price / LEVERAGE

    def available(self, account: str, coin: str) -> Decimal:
        """Free coin less the margin held by open derivative orders and positions."""
        acct = self.accounts[account]
        held = sum(
            (o.im for o in self.working.get(account, {}).values() if o.inst.settle == coin), ZERO
        )
        for key, pos in acct.positions.items():
            inst = self.instruments[key]
            if inst.settle == coin and pos.amt and inst.category is not Category.OPTION:
                held += self._margin(inst, abs(pos.amt), pos.entry)
        return acct.coin(coin).free - held

    def _taker_estimate(self, order: Order) -> Decimal:
        """A market order's worst-case price: the deepest level it would reach."""
        book = self.books[order.inst.key]
        plan = book.plan(order.book_side, order.qty)
        if plan:
            return (
                max(m.price for m, _ in plan)
                if order.side == "Buy"
                else min(m.price for m, _ in plan)
            )
        return self.mark_price(order.inst)

    def _reserve(self, order: Order) -> None:
        inst = order.inst
        acct = self.accounts[order.account]
        if inst.category is Category.SPOT:
            if order.order_type == "Market":
                if order.side == "Buy":
                    need = (
                        order.qty
                        if order.market_unit == "quoteCoin"
                        else (order.qty * self._taker_estimate(order))
                    )
                    ok = acct.coin(inst.quote).free >= need
                else:
                    need = (
                        order.qty
                        if order.market_unit == "baseCoin"
                        else (order.qty / (self.books[inst.key].best_bid() or inst.mid))
                    )
                    ok = acct.coin(inst.base).free >= need
                if not ok:
                    raise errors.insufficient(True)
                return
            coin = inst.quote if order.side == "Buy" else inst.base
            amount = order.qty * order.price if order.side == "Buy" else order.qty
            if not acct.coin(coin).lock(amount):
                raise errors.insufficient(True)
            order.locked = amount
            return
        price = order.price if order.order_type == "Limit" else self._taker_estimate(order)
        im = self._margin(inst, order.qty, price)
        if order.reduce_only:
            im = ZERO
        if self.available(order.account, inst.settle) < im:
            raise errors.insufficient(False)
        order.im = im

    def _release(self, order: Order) -> None:
        """Gives back what a finished order still holds."""
        inst = order.inst
        if order.locked:
            coin = inst.quote if order.side == "Buy" else inst.base
            self.accounts[order.account].coin(coin).unlock(order.locked)
            order.locked = ZERO
        order.im = ZERO

    def _register(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.history.setdefault(order.account, []).append(order)
        if order.link_id:
            self.link_ids.setdefault((order.account, order.inst.category.value), {})[
                order.link_id
            ] = order
        self.working.setdefault(order.account, {})[order.order_id] = order
        self.by_seq[order.seq] = order

    def _finish(
        self, order: Order, status: str, reject: str = "EC_NoError", cancel: str = ""
    ) -> None:
        order.status = status
        order.reject_reason = reject
        if cancel:
            order.cancel_type = cancel
        order.updated = now_ms()
        self._release(order)
        self.working.get(order.account, {}).pop(order.order_id, None)
        self.by_seq.pop(order.seq, None)

    # -- matching
    def _enter(self, order: Order) -> None:
        """Matches an order (new or re-priced) and rests, fills or ends it; pushes."""
        book = self.books[order.inst.key]
        side = order.book_side
        limit = order.price if order.order_type == "Limit" else None
        leaves = order.qty - order.cum_qty
        if order.tif == "PostOnly" and book.crosses(side, limit):
            self._finish(order, "Cancelled", "EC_PostOnlyWillTakeLiquidity")
            self._push_orders([order])
            return
        if order.market_unit == "quoteCoin":
            plan = book.plan(
                side, None, None, quote_budget=order.qty - order.cum_value, step=order.inst.qty_step
            )
        else:
            plan = book.plan(side, leaves, limit)
        planned = sum((q for _, q in plan), ZERO)
        if order.tif == "FOK" and planned < leaves:
            self._finish(order, "Cancelled", "EC_NoEnoughQtyToFill")
            self._push_orders([order])
            return
        fills = book.execute(plan)
        ts = now_ms()
        if fills:
            self._touched.add(order.inst.key)
            self._print(order.inst, fills, side, ts)
            taker = [self._fill(order, f.price, f.qty, False, ts) for f in fills]
            makers = [self._maker_fill(f, ts) for f in fills]
            self._push_fills(order, taker, with_order=False)
            for maker, execution in makers:
                if maker is not None and execution is not None:
                    self._push_fills(maker, [execution], with_order=True)
        if order.is_open:
            if order.market_unit == "quoteCoin":
                # A spend-quote market buy takes what its budget buys; it is filled
                # unless the book ran out first.
                if order.cum_qty and book.best_ask() is not None:
                    self._finish(order, "Filled")
                else:
                    self._end_unfilled(order)
            elif order.order_type == "Market" or order.tif == "IOC":
                self._end_unfilled(order)
            else:
                book.add(
                    RestingOrder(
                        order_id=order.seq,
                        owner=order.account,
                        side=side,
                        price=order.price,
                        leaves=order.qty - order.cum_qty,
                    )
                )
                self.by_seq[order.seq] = order
        self._push_orders([order])
        if fills:
            self._push_positions(order.account, order.inst)

    def _end_unfilled(self, order: Order) -> None:
        """Ends what an IOC or market order could not fill at once."""
        spot = order.inst.category is Category.SPOT
        status = "PartiallyFilledCanceled" if order.cum_qty and spot else "Cancelled"
        reason = "EC_CancelForNoFullFill" if order.cum_qty else "EC_NoImmediateQtyToFill"
        self._finish(order, status, reason)

    def _print(self, inst: Instrument, fills: list[Fill], aggressor: Side, ts: int) -> None:
        """Publishes the public trades of one aggressor's fills."""
        items = []
        for fill in fills:
            trade_id = self._new_exec_id(inst.category)
            self.last_price[inst.key] = fill.price
            item: dict[str, Any] = {
                "T": ts,
                "s": inst.symbol,
                "S": "Buy" if aggressor is Side.BUY else "Sell",
                "v": fmt(fill.qty, inst.qty_step),
                "p": fmt(fill.price, inst.tick),
            }
            if inst.category in (Category.LINEAR, Category.INVERSE):
                item["L"] = "PlusTick" if aggressor is Side.BUY else "MinusTick"
            item.update(
                {"i": trade_id, "BT": False, "RPI": False, "seq": self.books[inst.key].update_id}
            )
            if inst.category is Category.OPTION:
                mark = self.mark_price(inst)
                item.update({"mP": plain(mark), "iP": "30000", "mIv": "0.5", "iv": "0.5"})
            items.append(item)
            self.trades[inst.key].append(item)
        self.last_match_ms[inst.key] = ts
        topic = f"publicTrade.{inst.base if inst.category is Category.OPTION else inst.symbol}"
        message: dict[str, Any] = {"topic": topic, "type": "snapshot", "ts": ts, "data": items}
        if inst.category is Category.OPTION:
            message = {"id": f"{topic}-{ts}-{self.push_id()}", **message}
        self.public.publish(inst.category.value, topic, message)

    def _maker_fill(self, fill: Fill, ts: int) -> tuple[Order | None, dict[str, Any] | None]:
        if fill.maker.owner in (MM_OWNER, ADMIN_OWNER):
            return None, None
        maker = self.by_seq.get(fill.maker.order_id)
        if maker is None:
            return None, None
        return maker, self._fill(maker, fill.price, fill.qty, True, ts)

    def _fill(
        self, order: Order, price: Decimal, qty: Decimal, is_maker: bool, ts: int
    ) -> dict[str, Any]:
        """Books one fill on an order and its account; returns the execution item."""
        inst = order.inst
        acct = self.accounts[order.account]
        value = qty * price
        if inst.category is Category.INVERSE:
            value = qty * inst.contract_value / price
        rate = (
            SPOT_FEE
            if inst.category is Category.SPOT
            else (
                OPTION_FEE
                if inst.category is Category.OPTION
                else (MAKER_FEE if is_maker else TAKER_FEE)
            )
        )
        before = order.qty - order.cum_qty
        order.cum_qty += qty
        order.cum_value += qty * price
        order.updated = ts
        closed = ZERO
        pnl = ZERO
        if inst.category is Category.SPOT:
            fee_base = qty * rate if order.side == "Buy" else qty * price * rate
            fee = fee_base.quantize(Decimal("0.00000001"), ROUND_DOWN)
            if order.side == "Buy":
                cost = qty * price
                quote = acct.coin(inst.quote)
                if order.locked:
                    release = min(order.locked, qty * order.price)
                    quote.locked -= release
                    order.locked -= release
                    quote.free += release - cost
                else:
                    quote.free -= cost
                acct.coin(inst.base).free += qty - fee
            else:
                base = acct.coin(inst.base)
                if order.locked:
                    release = min(order.locked, qty)
                    base.locked -= release
                    order.locked -= release
                    base.free += release - qty
                else:
                    base.free -= qty
                acct.coin(inst.quote).free += qty * price - fee
        else:
            fee = (value * rate).quantize(Decimal("0.00000001"), ROUND_DOWN)
            position = acct.positions.setdefault(inst.key, Position())
            signed = qty if order.side == "Buy" else -qty
            if position.amt and (position.amt > 0) != (signed > 0):
                closed = min(abs(position.amt), qty)
            settle = acct.coin(inst.settle)
            if inst.category is Category.OPTION:
                previous = position.amt
                position.apply_fill(signed, price)
                position.realized = ZERO  # premiums are paid and received in cash instead
                settle.free -= signed * price
                if previous and position.amt == ZERO:
                    position.entry = ZERO
            else:
                pnl = position.apply_fill(
                    signed,
                    price,
                    inst.contract_value if inst.category is Category.INVERSE else None,
                )
                settle.free += pnl
                acct.realised[inst.key] = acct.realised.get(inst.key, ZERO) + pnl
            position.update_time = ts
            settle.free -= fee
            acct.position_seq[inst.key] = self.books[inst.key].update_id
            if before > ZERO and order.im:
                order.im -= order.im * min(qty / before, Decimal(1))
        order.cum_fee += fee
        order.closed_pnl += pnl
        self.last_price[inst.key] = price
        execution: dict[str, Any] = {
            "category": inst.category.value,
            "symbol": inst.symbol,
            "isLeverage": "0",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": fmt(order.price, inst.tick) if order.order_type == "Limit" else "0",
            "orderQty": fmt(order.qty, inst.qty_step) if order.market_unit != "quoteCoin" else "0",
            "leavesQty": fmt(max(order.qty - order.cum_qty, ZERO), inst.qty_step)
            if order.market_unit != "quoteCoin"
            else "0",
            "orderType": order.order_type,
            "stopOrderType": "",
            "execFee": plain(fee),
            "execId": self._new_exec_id(inst.category),
            "execPrice": fmt(price, inst.tick),
            "execQty": fmt(qty, inst.qty_step),
            "execPnl": plain(pnl),
            "execType": "Trade",
            "execValue": plain(value),
            "execTime": str(ts),
            "isMaker": is_maker,
            "feeRate": plain(rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": plain(self.mark_price(inst)),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": fmt(closed, inst.qty_step) if inst.category is not Category.SPOT else "",
            "seq": self.books[inst.key].update_id,
            "feeCurrency": order.fee_coin,
            "marketUnit": order.market_unit,
            "extraFees": "",
        }
        if inst.category is not Category.SPOT and inst.category is not Category.OPTION:
            execution["createType"] = "CreateByUser"
        self.executions[order.account].append(execution)
        if order.is_open and order.market_unit != "quoteCoin" and order.cum_qty >= order.qty:
            self._finish(order, "Filled")
        elif order.is_open:
            order.status = "PartiallyFilled"
        return execution

    def _push_fills(self, order: Order, executions: list[dict[str, Any]], with_order: bool) -> None:
        """Pushes executions, then (for a maker) the order and position, then the wallet.

        A taker's order and position are pushed by :meth:`_enter` once matching ends.
        """
        self.private.publish(order.account, "execution", order.inst.category.value, executions)
        if with_order:
            self._push_orders([order])
            self._push_positions(order.account, order.inst)
        self._touch_wallet(order)

    def _touch_wallet(self, order: Order) -> None:
        coins = (
            [order.inst.base, order.inst.quote]
            if order.inst.category is Category.SPOT
            else [order.inst.settle]
        )
        self.private.publish(order.account, "wallet", "", [self.wallet_view(order.account, coins)])

    # -- amend / cancel
    def amend(self, account: str, category: Category, p: dict[str, Any]) -> dict[str, Any]:
        """``order/amend``: new price and/or quantity of a working order."""
        spot = category is Category.SPOT
        inst = self.instrument(category, p.get("symbol"))
        order = self.find(
            account, category, inst.symbol, text(p.get("orderId")), text(p.get("orderLinkId"))
        )
        if not text(p.get("orderId")) and not text(p.get("orderLinkId")):
            raise param("params error: orderId or orderLinkId is required")
        if order is None or not order.is_open:
            raise errors.no_order(spot)
        new_price = order.price
        new_qty = order.qty
        if p.get("price") not in (None, ""):
            if order.order_type != "Limit":
                raise param("params error: market order price cannot be amended")
            new_price = self.decimal(p.get("price"), "price", spot)
            self._check_price(inst, new_price)
        if p.get("qty") not in (None, ""):
            new_qty = self.decimal(p.get("qty"), "qty", spot)
            self._check_qty(inst, new_qty, False)
        if new_price == order.price and new_qty == order.qty:
            raise param(
                "The order remains unchanged as the parameters entered match the existing ones."
            )
        if new_qty <= order.cum_qty:
            if spot:
                raise BybitError(
                    170313,
                    "The modified contract quantity cannot be less than to the filled quantity",
                )
            raise param("params error: qty must be greater than the filled quantity")
        if inst.min_notional and new_qty * new_price < inst.min_notional:
            if spot:
                raise BybitError(170140, "Order value exceeded lower limit")
            raise BybitError(110094, "Order notional value below the lower limit")
        # Re-reserve for the new terms before touching the book.
        acct = self.accounts[account]
        if spot:
            coin = inst.quote if order.side == "Buy" else inst.base
            leaves = new_qty - order.cum_qty
            amount = leaves * new_price if order.side == "Buy" else leaves
            balance = acct.coin(coin)
            if balance.free + order.locked < amount:
                raise errors.insufficient(True)
            balance.unlock(order.locked)
            balance.lock(amount)
            order.locked = amount
        else:
            im = (
                ZERO
                if order.reduce_only
                else self._margin(inst, new_qty - order.cum_qty, new_price)
            )
            if self.available(account, inst.settle) + order.im < im:
                raise errors.insufficient(False)
            order.im = im
        book = self.books[inst.key]
        order.updated = now_ms()
        if new_price == order.price and new_qty < order.qty:
            book.reduce(order.seq, new_qty - order.cum_qty)
            order.qty = new_qty
            self._touched.add(inst.key)
            self._push_orders([order])
        else:
            book.remove(order.seq)
            order.price, order.qty = new_price, new_qty
            self._touched.add(inst.key)
            self._enter(order)
        self.settle()
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def cancel(self, account: str, category: Category, p: dict[str, Any]) -> dict[str, Any]:
        """``order/cancel``."""
        inst = self.instrument(category, p.get("symbol"))
        order_id, link_id = text(p.get("orderId")), text(p.get("orderLinkId"))
        if not order_id and not link_id:
            raise param("params error: orderId or orderLinkId is required")
        order = self.find(account, category, inst.symbol, order_id, link_id)
        if order is None or not order.is_open:
            raise errors.no_order(category is Category.SPOT)
        self._cancel(order)
        self.settle()
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _cancel(self, order: Order) -> None:
        self.books[order.inst.key].remove(order.seq)
        self._touched.add(order.inst.key)
        status = (
            "PartiallyFilledCanceled"
            if (order.cum_qty and order.inst.category is Category.SPOT)
            else "Cancelled"
        )
        self._finish(order, status, cancel="CancelByUser")
        self._push_orders([order])

    def cancel_all(self, account: str, category: Category, p: dict[str, Any]) -> dict[str, Any]:
        """``order/cancel-all`` by symbol, baseCoin or settleCoin (futures: 500 at most)."""
        symbol, base, settle = (
            text(p.get("symbol")),
            text(p.get("baseCoin")),
            text(p.get("settleCoin")),
        )
        if category in (Category.LINEAR, Category.INVERSE) and not (symbol or base or settle):
            raise param("params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            self.instrument(category, symbol)
        targets = [
            o
            for o in self.open_orders(account, category)
            if (not symbol or o.inst.symbol == symbol)
            and (symbol or not base or o.inst.base == base)
            and (symbol or base or not settle or o.inst.settle == settle)
        ]
        cap = category.cancel_all_max
        if cap is not None and len(targets) > cap:
            picker = random.Random(now_ms())
            targets = picker.sample(targets, cap)
        for order in targets:
            self._cancel(order)
        self.settle()
        return {
            "list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in targets],
            "success": "1",
        }

    def batch(
        self, account: str, kind: str, p: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``create-batch`` / ``amend-batch`` / ``cancel-batch``: the result and retExtInfo."""
        category = self.category(p.get("category"))
        requests = p.get("request")
        if not isinstance(requests, list) or not requests:
            raise param("params error: request is empty")
        if len(requests) > category.batch_max:
            raise param(f"params error: batch size exceeds the limit of {category.batch_max}")
        handler = {"create": self.create, "amend": self.amend, "cancel": self.cancel}[kind]
        results = []
        codes = []
        for item in requests:
            row: dict[str, Any] = {
                "category": category.value,
                "symbol": text(item.get("symbol")) if isinstance(item, dict) else "",
                "orderId": "",
                "orderLinkId": text(item.get("orderLinkId")) if isinstance(item, dict) else "",
            }
            try:
                if not isinstance(item, dict):
                    raise param("params error: request item must be an object")
                out = handler(account, category, item)
                row.update(out)
                codes.append({"code": 0, "msg": "OK"})
            except BybitError as exc:
                codes.append({"code": exc.code, "msg": exc.msg})
            if kind == "create":
                row["createAt"] = str(now_ms()) if row["orderId"] else ""
            results.append(row)
        return {"list": results}, {"list": codes}

    # ---------------------------------------------------------------- admin
    def admin_trade(
        self, category: Category, symbol: str, price: Decimal, qty: Decimal, side: Side
    ) -> dict[str, Any]:
        """A phantom aggressor takes the book up to ``price``; the rest prints at ``price``."""
        inst = self.instrument(category, symbol)
        book = self.books[inst.key]
        ts = now_ms()
        fills = book.match(side, qty, price)
        out = []
        if fills:
            self._print(inst, fills, side, ts)
        for fill in fills:
            maker, execution = self._maker_fill(fill, ts)
            if maker is not None and execution is not None:
                self._push_fills(maker, [execution], with_order=True)
            out.append(
                {
                    "price": fmt(fill.price, inst.tick),
                    "qty": fmt(fill.qty, inst.qty_step),
                    "orderId": maker.order_id if maker else None,
                    "owner": maker.account if maker else "mm",
                }
            )
        rest = qty - sum((f.qty for f in fills), ZERO)
        if rest > ZERO:
            ghost = RestingOrder(0, ADMIN_OWNER, side.opposite, price, rest)
            self._print(inst, [Fill(ghost, price, rest, True)], side, ts)
            out.append(
                {
                    "price": fmt(price, inst.tick),
                    "qty": fmt(rest, inst.qty_step),
                    "orderId": None,
                    "owner": None,
                }
            )
        self._touched.add(inst.key)
        self.settle()
        return {"category": category.value, "symbol": inst.symbol, "side": side.value, "fills": out}

    def admin_book(
        self, category: Category, symbol: str, mid: Decimal | None, clear: bool
    ) -> dict[str, Any]:
        """Recenters or clears the market maker of one book."""
        inst = self.instrument(category, symbol)
        book = self.books[inst.key]
        if clear:
            self.mm.clear(book)
        elif mid is not None:
            self.mm.recenter(book, mid)
        else:
            self.mm.quoting[inst.key].enabled = True
            self.mm.replenish(book)
        self._touched.add(inst.key)
        self.settle()
        q = self.mm.quoting[inst.key]
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "category": category.value,
            "symbol": inst.symbol,
            "mid": fmt(q.mid, inst.tick),
            "quoting": q.enabled,
            "bestBid": fmt(bid, inst.tick) if bid is not None else None,
            "bestAsk": fmt(ask, inst.tick) if ask is not None else None,
        }

    def settle(self) -> None:
        """Ends a mutating request: the market maker tops its quotes back up."""
        touched, self._touched = self._touched, set()
        for key in touched:
            self.mm.replenish(self.books[key])

    def drift(self) -> None:
        """Moves every quoted mid one seeded step (``--mm-interval-ms``)."""
        for key, book in self.books.items():
            self.mm.drift(book)
            self._touched.add(key)
        self.settle()

    # ---------------------------------------------------------------- pushes
    def _push_orders(self, orders: list[Order]) -> None:
        by_account: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for order in orders:
            by_account.setdefault((order.account, order.inst.category.value), []).append(
                self.order_view(order, push=True)
            )
        for (account, category), items in by_account.items():
            self.private.publish(account, "order", category, items)

    def _push_positions(self, account: str, inst: Instrument) -> None:
        if inst.category is Category.SPOT:
            return
        self.private.publish(
            account, "position", inst.category.value, [self.position_view(account, inst, push=True)]
        )

    def flush_depth(self, elapsed_ms: int) -> None:
        """Publishes the orderbook topics due at ``elapsed_ms`` (the simulator's clock)."""
        for (key, depth), topic in self.topics.items():
            if elapsed_ms % DEPTH_INTERVAL_MS.get(depth, 100):
                continue
            inst = self.instruments[key]
            name = f"orderbook.{depth}.{inst.symbol}"
            if self.public.wanted(inst.category.value, name):
                self._publish_depth(inst, topic)

    def _publish_depth(self, inst: Instrument, topic: OrderbookTopic) -> None:
        book = self.books[inst.key]
        changed = topic.advance(
            book.levels(Side.BUY, topic.depth), book.levels(Side.SELL, topic.depth)
        )
        if changed is None:
            return
        kind = "snapshot" if topic.depth == 1 else "delta"
        message = self.depth_message(inst, topic, kind, changed)
        self.public.publish(inst.category.value, f"orderbook.{topic.depth}.{inst.symbol}", message)

    def depth_message(
        self,
        inst: Instrument,
        topic: OrderbookTopic,
        kind: str,
        levels: tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]] | None = None,
    ) -> dict[str, Any]:
        """An orderbook push: the whole top (snapshot) or the changed levels (delta)."""
        if levels is None or kind == "snapshot":
            bids = sorted(topic.bids.items(), key=lambda lv: lv[0], reverse=True)
            asks = sorted(topic.asks.items(), key=lambda lv: lv[0])
        else:
            bids, asks = levels
        ts = now_ms()
        return {
            "topic": f"orderbook.{topic.depth}.{inst.symbol}",
            "type": kind,
            "ts": ts,
            "data": {
                "s": inst.symbol,
                "b": [[fmt(p, inst.tick), fmt(q, inst.qty_step)] for p, q in bids],
                "a": [[fmt(p, inst.tick), fmt(q, inst.qty_step)] for p, q in asks],
                "u": topic.u,
                "seq": self.books[inst.key].update_id,
            },
            "cts": self.last_match_ms.get(inst.key, ts),
        }

    def orderbook_snapshot(self, inst: Instrument, depth: int) -> dict[str, Any]:
        """The snapshot a new subscriber of ``orderbook.{depth}.{symbol}`` gets first.

        Pending changes are published to existing subscribers first, so that the
        snapshot and the deltas after it share one sequence of ``u``.
        """
        topic = self.topics.get((inst.key, depth))
        if topic is None:
            topic = self.topics[(inst.key, depth)] = OrderbookTopic(
                depth, u=self.books[inst.key].update_id
            )
        self._publish_depth(inst, topic)
        return self.depth_message(inst, topic, "snapshot")

    # ---------------------------------------------------------------- views
    def order_view(self, order: Order, push: bool = False) -> dict[str, Any]:
        """An order as ``order/realtime`` lists it (``push``: as the order topic sends it)."""
        inst = order.inst
        spot = inst.category is Category.SPOT
        leaves = order.qty - order.cum_qty if order.is_open else ZERO
        if order.market_unit == "quoteCoin":
            leaves = ZERO
        view: dict[str, Any] = {}
        if push:
            view["category"] = inst.category.value
        view.update(
            {
                "orderId": order.order_id,
                "orderLinkId": order.link_id,
                "blockTradeId": "",
                "symbol": inst.symbol,
                "price": fmt(order.price, inst.tick) if order.order_type == "Limit" else "0",
                "qty": fmt(order.qty, inst.qty_step)
                if order.market_unit != "quoteCoin"
                else plain(order.qty),
                "side": order.side,
                "isLeverage": "0" if spot else "",
                "positionIdx": 0,
                "orderStatus": order.status,
                "cancelType": order.cancel_type,
                "rejectReason": order.reject_reason,
                "avgPrice": plain(order.avg_price) if order.cum_qty else ("" if push else "0"),
                "leavesQty": fmt(leaves, inst.qty_step),
                "leavesValue": plain(leaves * order.price),
                "cumExecQty": fmt(order.cum_qty, inst.qty_step),
                "cumExecValue": plain(order.cum_value),
                "cumExecFee": plain(order.cum_fee),
                "timeInForce": order.tif,
                "orderType": order.order_type,
                "stopOrderType": "",
                "orderIv": "",
                "marketUnit": order.market_unit,
                "triggerPrice": "",
                "takeProfit": "",
                "stopLoss": "",
                "tpTriggerBy": "",
                "slTriggerBy": "",
                "triggerDirection": 0,
                "triggerBy": "",
                "lastPriceOnCreated": plain(order.last_price_on_created),
                "reduceOnly": order.reduce_only,
                "closeOnTrigger": False,
                "placeType": "price" if inst.category is Category.OPTION else "",
                "smpType": "None",
                "smpGroup": 0,
                "smpOrderId": "",
                "tpslMode": "" if spot or inst.category is Category.OPTION else "UNKNOWN",
                "tpLimitPrice": "",
                "slLimitPrice": "",
                "createdTime": str(order.created),
                "updatedTime": str(order.updated),
                "cumFeeDetail": {order.fee_coin: plain(order.cum_fee)} if order.cum_fee else {},
                "feeCurrency": order.fee_coin if spot else "",
                "closedPnl": plain(order.closed_pnl),
            }
        )
        if not spot and inst.category is not Category.OPTION:
            view["createType"] = "CreateByUser"
        return view

    def position_view(self, account: str, inst: Instrument, push: bool = False) -> dict[str, Any]:
        """One position as ``position/list`` lists it (``push``: as the topic sends it)."""
        acct = self.accounts[account]
        pos = acct.positions.get(inst.key) or Position()
        mark = self.mark_price(inst)
        size = abs(pos.amt)
        inverse = inst.category is Category.INVERSE
        value = (
            size * inst.contract_value / pos.entry if inverse and pos.entry else size * pos.entry
        )
        upl = pos.unrealized(mark, inst.contract_value if inverse else None)
        im = self._margin(inst, size, pos.entry) if size and pos.entry else ZERO
        view: dict[str, Any] = {}
        if push:
            view["category"] = inst.category.value
        view.update(
            {
                "positionIdx": 0,
                "riskId": 1,
                "riskLimitValue": "2000000",
                "symbol": inst.symbol,
                "side": "" if not pos.amt else ("Buy" if pos.amt > 0 else "Sell"),
                "size": fmt(size, inst.qty_step),
                ("entryPrice" if push else "avgPrice"): plain(pos.entry),
                "positionValue": plain(value),
                "tradeMode": 0,
                "positionStatus": "Normal",
                "autoAddMargin": 0,
                "adlRankIndicator": 2 if size else 0,
                "leverage": plain(LEVERAGE),
                "positionBalance": plain(im),
                "markPrice": fmt(mark, inst.tick),
                "liqPrice": "",
                "bustPrice": "",
                "positionMM": plain(im / 2),
                "positionIM": plain(im),
                "tpslMode": "Full",
                "takeProfit": "0",
                "stopLoss": "0",
                "trailingStop": "0",
                "unrealisedPnl": plain(upl),
                "curRealisedPnl": plain(pos.realized),
                "cumRealisedPnl": plain(acct.realised.get(inst.key, ZERO)),
                "seq": acct.position_seq.get(inst.key, -1),
                "isReduceOnly": False,
                "mmrSysUpdatedTime": "",
                "leverageSysUpdatedTime": "",
                "sessionAvgPrice": "",
                "createdTime": str(pos.update_time or now_ms()),
                "updatedTime": str(pos.update_time or now_ms()),
            }
        )
        return view

    def positions(
        self, account: str, category: Category, symbol: str, settle: str, base: str
    ) -> list[dict[str, Any]]:
        """``position/list`` rows: the named symbol always, otherwise non-empty positions."""
        if category is Category.SPOT:
            raise param("Illegal category")
        if symbol:
            return [self.position_view(account, self.instrument(category, symbol))]
        if category is Category.LINEAR and not settle:
            raise param("params error: symbol or settleCoin is required")
        acct = self.accounts[account]
        out = []
        for key, pos in acct.positions.items():
            inst = self.instruments[key]
            if inst.category is not category or not pos.amt:
                continue
            if (settle and inst.settle != settle) or (base and inst.base != base):
                continue
            out.append(self.position_view(account, inst))
        return out

    def wallet_view(self, account: str, coins: list[str] | None = None) -> dict[str, Any]:
        """The unified account as ``account/wallet-balance`` lists it."""
        acct = self.accounts[account]
        rows = []
        total_equity = ZERO
        total_im = ZERO
        names = coins or sorted(acct.coins)
        for name in names:
            bal = acct.coin(name)
            order_im = sum(
                (o.im for o in self.working.get(account, {}).values() if o.inst.settle == name),
                ZERO,
            )
            position_im = ZERO
            upl = ZERO
            realised = ZERO
            for key, pos in acct.positions.items():
                inst = self.instruments[key]
                if inst.settle != name or not pos.amt:
                    continue
                inverse = inst.category is Category.INVERSE
                upl += pos.unrealized(
                    self.mark_price(inst), inst.contract_value if inverse else None
                )
                if inst.category is not Category.OPTION:
                    position_im += self._margin(inst, abs(pos.amt), pos.entry)
            for key, value in acct.realised.items():
                if self.instruments[key].settle == name:
                    realised += value
            wallet = bal.free + bal.locked
            equity = wallet + upl
            usd = equity * COIN_USD.get(name, ZERO)
            total_equity += usd
            total_im += (order_im + position_im) * COIN_USD.get(name, ZERO)
            rows.append(
                {
                    "coin": name,
                    "equity": plain(equity),
                    "usdValue": plain(usd),
                    "walletBalance": plain(wallet),
                    "locked": plain(bal.locked),
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "availableToWithdraw": plain(max(bal.free - order_im - position_im, ZERO)),
                    "accruedInterest": "0",
                    "totalOrderIM": plain(order_im),
                    "totalPositionIM": plain(position_im),
                    "totalPositionMM": plain(position_im / 2),
                    "unrealisedPnl": plain(upl),
                    "cumRealisedPnl": plain(realised),
                    "bonus": "0",
                    "marginCollateral": True,
                    "collateralSwitch": True,
                    "availableToBorrow": "",
                    "spotBorrow": "0",
                }
            )
        return {
            "accountType": "UNIFIED",
            "totalEquity": plain(total_equity),
            "totalWalletBalance": plain(total_equity),
            "totalMarginBalance": plain(total_equity),
            "totalAvailableBalance": plain(total_equity - total_im),
            "totalPerpUPL": "0",
            "totalInitialMargin": plain(total_im),
            "totalMaintenanceMargin": plain(total_im / 2),
            "accountIMRate": "0",
            "accountMMRate": "0",
            "accountLTV": "0",
            "coin": rows,
        }

    def instrument_view(self, inst: Instrument) -> dict[str, Any]:
        """One instrument as ``market/instruments-info`` lists it."""
        if inst.category is Category.SPOT:
            return {
                "symbol": inst.symbol,
                "baseCoin": inst.base,
                "quoteCoin": inst.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": plain(inst.qty_step),
                    "quotePrecision": "0.00000001",
                    "minOrderQty": plain(inst.min_qty),
                    "maxOrderQty": plain(inst.max_qty),
                    "minOrderAmt": plain(inst.min_notional),
                    "maxOrderAmt": "8000000",
                    "maxLimitOrderQty": plain(inst.max_qty),
                    "maxMarketOrderQty": plain(inst.max_market_qty),
                    "postOnlyMaxLimitOrderSize": plain(inst.max_qty),
                },
                "priceFilter": {"tickSize": plain(inst.tick)},
                "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
                "symbolType": "",
            }
        if inst.category is Category.OPTION:
            return {
                "symbol": inst.symbol,
                "status": "Trading",
                "baseCoin": inst.base,
                "quoteCoin": inst.quote,
                "settleCoin": inst.settle,
                "optionsType": inst.options_type,
                "launchTime": "1700000000000",
                "deliveryTime": str(inst.delivery_time),
                "deliveryFeeRate": "0.00015",
                "priceFilter": {
                    "minPrice": plain(inst.min_price),
                    "maxPrice": plain(inst.max_price),
                    "tickSize": plain(inst.tick),
                },
                "lotSizeFilter": {
                    "maxOrderQty": plain(inst.max_qty),
                    "minOrderQty": plain(inst.min_qty),
                    "qtyStep": plain(inst.qty_step),
                },
                "displayName": inst.symbol,
            }
        return {
            "symbol": inst.symbol,
            "contractType": inst.contract_type,
            "status": "Trading",
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(max(0, -int(inst.tick.normalize().as_tuple().exponent))),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": fmt(inst.min_price, inst.tick),
                "maxPrice": fmt(inst.max_price, inst.tick),
                "tickSize": fmt(inst.tick, inst.tick),
            },
            "lotSizeFilter": {
                "maxOrderQty": fmt(inst.max_qty, inst.qty_step),
                "minOrderQty": fmt(inst.min_qty, inst.qty_step),
                "qtyStep": fmt(inst.qty_step, inst.qty_step),
                "postOnlyMaxOrderQty": fmt(inst.max_qty, inst.qty_step),
                "maxMktOrderQty": fmt(inst.max_market_qty, inst.qty_step),
                "minNotionalValue": plain(inst.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": inst.settle,
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "symbolType": "",
        }

    def ticker_view(self, inst: Instrument) -> dict[str, Any]:
        """One row of ``market/tickers`` built from what the simulator printed."""
        book = self.books[inst.key]
        bid, ask = book.best_bid(), book.best_ask()
        last = self.last_price.get(inst.key, self.mark_price(inst))
        trades = list(self.trades[inst.key])
        volume = sum((Decimal(t["v"]) for t in trades), ZERO)
        turnover = sum((Decimal(t["v"]) * Decimal(t["p"]) for t in trades), ZERO)
        row: dict[str, Any] = {
            "symbol": inst.symbol,
            "lastPrice": fmt(last, inst.tick),
            "bid1Price": fmt(bid, inst.tick) if bid is not None else "",
            "bid1Size": fmt(book.level_qty(Side.BUY, bid), inst.qty_step)
            if bid is not None
            else "",
            "ask1Price": fmt(ask, inst.tick) if ask is not None else "",
            "ask1Size": fmt(book.level_qty(Side.SELL, ask), inst.qty_step)
            if ask is not None
            else "",
            "prevPrice24h": fmt(Decimal(trades[0]["p"]) if trades else last, inst.tick),
            "price24hPcnt": "0",
            "highPrice24h": fmt(max((Decimal(t["p"]) for t in trades), default=last), inst.tick),
            "lowPrice24h": fmt(min((Decimal(t["p"]) for t in trades), default=last), inst.tick),
            "turnover24h": plain(turnover),
            "volume24h": plain(volume),
        }
        if inst.category is not Category.SPOT:
            row.update(
                {
                    "markPrice": fmt(self.mark_price(inst), inst.tick),
                    "indexPrice": fmt(self.mark_price(inst), inst.tick),
                    "openInterest": "0",
                    "fundingRate": "0.0001" if inst.category is not Category.OPTION else "",
                    "nextFundingTime": "0",
                }
            )
        return row
