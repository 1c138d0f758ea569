"""State shared by the simulated Binance products: books, orders, ids, market data.

A venue object is driven from one event loop and every public method runs to completion
without awaiting, so each request is atomic with respect to the others.  Mutating calls
end with :meth:`BinanceVenue.settle`, which lets the market maker replenish, publishes
``bookTicker`` changes and flushes per-account balance events, in that order.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ems.sim.binance.auth import Credential, now_ms
from ems.sim.binance.errors import BinanceError, bad_symbol, mandatory
from ems.sim.binance.specs import Product, SymbolSpec, symbols_for
from ems.sim.binance.streams import DepthDiffs, MarketHub, UserHub
from ems.sim.marketmaker import MM_OWNER, MarketMaker, Quoting
from ems.sim.matching import ZERO, Book, Fill, Side

_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")

ADMIN_OWNER = "__admin__"
"""Owner name of the phantom aggressor of ``POST /sim/trade``."""


class Params:
    """Request parameters (already decoded) with Binance's validation errors."""

    def __init__(self, data: Mapping[str, str]) -> None:
        """Wraps a mapping of parameter name to text value."""
        self._data = dict(data)

    def get(self, name: str) -> str | None:
        """The value, or None when absent or empty."""
        value = self._data.get(name)
        return None if value is None or value == "" else value

    def has(self, name: str) -> bool:
        """Whether the parameter was sent with a value."""
        return self.get(name) is not None

    def req(self, name: str) -> str:
        """The value, or -1102 when missing."""
        value = self.get(name)
        if value is None:
            raise mandatory(name)
        return value

    def decimal(self, name: str) -> Decimal | None:
        """A non-negative decimal parameter, or None when absent; -1100 when malformed."""
        value = self.get(name)
        if value is None:
            return None
        if not _DECIMAL_RE.match(value):
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        return Decimal(value)

    def integer(self, name: str) -> int | None:
        """An integer parameter, or None when absent; -1100 when malformed."""
        value = self.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; "
                "legal range is '^[0-9]{1,20}$'.",
            ) from None

    def items(self) -> list[tuple[str, str]]:
        """All parameters."""
        return list(self._data.items())


def decimals_of(value: Decimal) -> int:
    """How many digits a decimal has after the point (ignoring trailing zeros)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    """Whether ``value - origin`` is a whole multiple of ``step`` (a zero step disables)."""
    if step == ZERO:
        return True
    try:
        return (value - origin) % step == ZERO
    except InvalidOperation:
        return False


@dataclass(slots=True, eq=False)
class Order:
    """One order of a simulated account, open or finished."""

    symbol: str
    order_id: int
    client_order_id: str
    account: str
    side: str
    type: str
    tif: str
    price: Decimal
    orig_qty: Decimal
    time: int
    orig_quote_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    working_time: int = -1
    locked: Decimal = ZERO
    reduce_only: bool = False
    position_side: str = "BOTH"
    orig_type: str = ""
    stop_price: Decimal = ZERO
    price_match: str = "NONE"

    @property
    def book_side(self) -> Side:
        """The matching engine's side."""
        return Side.BUY if self.side == "BUY" else Side.SELL

    @property
    def is_open(self) -> bool:
        """Still working (NEW or PARTIALLY_FILLED)."""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def leaves(self) -> Decimal:
        """Quantity not yet executed."""
        return self.orig_qty - self.executed_qty

    @property
    def avg_price(self) -> Decimal:
        """Average fill price (0 without fills)."""
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO


@dataclass(slots=True)
class PublicTrade:
    """A printed trade, kept for the REST ``trades`` endpoint."""

    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_is_maker: bool


class BinanceVenue:
    """Books, orders and market data of one Binance product."""

    product: Product
    depth_speeds: dict[str, int]

    def __init__(
        self,
        product: Product,
        credentials: list[Credential],
        seed: int,
        market_maker: bool = True,
    ) -> None:
        """Builds the initial state; ``reset`` returns to it."""
        self.product = product
        self.credentials = {c.api_key: c for c in credentials}
        self.seed = seed
        self.market_maker_enabled = market_maker
        self.specs: dict[str, SymbolSpec] = {s.symbol: s for s in symbols_for(product)}
        self.market = MarketHub()
        self.users = UserHub()
        self.listen_keys: dict[str, str] = {}
        self._listen_seq = 0
        self.listen_key_closed: list[Callable[[str], None]] = []
        self._next_id = 1000000 * (list(Product).index(product) + 1)
        self._exec_id = 0
        self._trade_ids: dict[str, int] = {s: 0 for s in self.specs}
        self._agg_ids: dict[str, int] = {s: 0 for s in self.specs}
        self._update_ids: dict[str, int] = {s: 1000 for s in self.specs}
        self.depth: dict[str, DepthDiffs] = {}
        self._last_ticker: dict[str, tuple[Any, ...]] = {}
        self._init_state()

    # ---------------------------------------------------------------- lifecycle
    def _init_state(self) -> None:
        self.books: dict[str, Book] = {}
        self.orders: dict[int, Order] = {}
        self.open_client_ids: dict[tuple[str, str, str], int] = {}
        self.client_id_uses: dict[str, dict[str, int]] = {}
        """Per account, how often each client order id was asked for (refused ones too)."""
        self.account_orders: dict[str, list[int]] = {k: [] for k in self.credentials}
        self.working: dict[str, dict[int, Order]] = {k: {} for k in self.credentials}
        self.account_trades: dict[str, list[dict[str, Any]]] = {k: [] for k in self.credentials}
        self.public_trades: dict[str, deque[PublicTrade]] = {
            s: deque(maxlen=1000) for s in self.specs
        }
        self.last_price: dict[str, Decimal] = {}
        self._touched_symbols: set[str] = set()
        self._touched_assets: dict[str, set[str]] = {}
        self.mm = MarketMaker(self.seed, self.next_order_id)
        for symbol, spec in self.specs.items():
            book = Book(symbol, update_id=self._update_ids[symbol])
            if symbol not in self.depth:
                self.depth[symbol] = DepthDiffs(self.depth_speeds, book.update_id)
            book.add_listener(self.depth[symbol].record)
            self.books[symbol] = book
            self.mm.configure(
                symbol,
                Quoting(
                    mid=spec.mid,
                    step=spec.mm_step,
                    size=spec.mm_size,
                    levels=spec.mm_levels,
                    tick=spec.tick,
                    enabled=self.market_maker_enabled,
                ),
            )
            self.mm.replenish(book)
            self._touched_symbols.add(symbol)
        self._init_accounts()
        self.settle()

    def _init_accounts(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Restores the initial state; stream sequence numbers keep increasing."""
        for symbol, book in self.books.items():
            for side in (Side.BUY, Side.SELL):
                for price, _ in book.levels(side):
                    for resting in book.orders_at(side, price):
                        book.remove(resting.order_id)
            self._update_ids[symbol] = book.update_id
        self._init_state()

    # ---------------------------------------------------------------- ids
    def note_client_id(self, api_key: str, client_id: str) -> None:
        """Counts a request for an order under `client_id` (for `/sim/stats`)."""
        uses = self.client_id_uses.setdefault(api_key, {})
        uses[client_id] = uses.get(client_id, 0) + 1

    def next_order_id(self) -> int:
        """A new order id, unique within this venue."""
        self._next_id += 1
        return self._next_id

    def next_exec_id(self) -> int:
        """A new execution id."""
        self._exec_id += 1
        return self._exec_id

    def next_trade_id(self, symbol: str) -> int:
        """A new trade id of one symbol."""
        self._trade_ids[symbol] += 1
        return self._trade_ids[symbol]

    # ---------------------------------------------------------------- lookups
    def spec(self, symbol: str | None) -> SymbolSpec:
        """The instrument, -1102 when missing, -1121 when unknown."""
        if symbol is None:
            raise mandatory("symbol")
        spec = self.specs.get(symbol.upper())
        if spec is None:
            raise bad_symbol()
        return spec

    def find_order(
        self, api_key: str, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order | None:
        """An account's order by id or client id (open orders win for client ids)."""
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is not None and order.account == api_key and order.symbol == symbol:
                return order
            return None
        if client_id is None:
            return None
        oid = self.open_client_ids.get((api_key, symbol, client_id))
        if oid is not None:
            return self.orders[oid]
        for oid in reversed(self.account_orders.get(api_key, [])):
            order = self.orders[oid]
            if order.symbol == symbol and order.client_order_id == client_id:
                return order
        return None

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[Order]:
        """An account's working orders, oldest first (from an index, not the history)."""
        working = self.working.get(api_key, {})
        return [o for o in working.values() if symbol is None or o.symbol == symbol]

    def mark_price(self, symbol: str) -> Decimal:
        """The book mid (snapped to the tick), else the last price, else the initial mid."""
        spec = self.specs[symbol]
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return ((bid + ask) / 2 / spec.tick).to_integral_value() * spec.tick
        return self.last_price.get(symbol, spec.mid)

    # ---------------------------------------------------------------- bookkeeping
    def register(self, order: Order) -> None:
        """Records a new accepted order."""
        self.orders[order.order_id] = order
        self.account_orders.setdefault(order.account, []).append(order.order_id)
        if order.is_open:
            self.open_client_ids[(order.account, order.symbol, order.client_order_id)] = (
                order.order_id
            )
            self.working.setdefault(order.account, {})[order.order_id] = order

    def release_client_id(self, order: Order) -> None:
        """Frees an order's client id for reuse (it is no longer an open order's id)."""
        key = (order.account, order.symbol, order.client_order_id)
        if self.open_client_ids.get(key) == order.order_id:
            del self.open_client_ids[key]

    def closed(self, order: Order) -> None:
        """Forgets a finished order: its client id may be reused afterwards."""
        self.release_client_id(order)
        self.working.get(order.account, {}).pop(order.order_id, None)

    def touch(self, api_key: str, *assets: str) -> None:
        """Marks balances changed, to be reported by :meth:`settle`."""
        self._touched_assets.setdefault(api_key, set()).update(assets)

    def is_account(self, owner: str) -> bool:
        """Whether a book owner is a simulated account (not the maker or the admin)."""
        return owner not in (MM_OWNER, ADMIN_OWNER)

    # ---------------------------------------------------------------- market data
    def print_trade(
        self, symbol: str, price: Decimal, qty: Decimal, aggressor: Side, ts: int
    ) -> int:
        """Publishes one trade on the public streams and keeps it for REST."""
        trade_id = self.next_trade_id(symbol)
        buyer_is_maker = aggressor is Side.SELL
        self.public_trades[symbol].append(PublicTrade(trade_id, price, qty, ts, buyer_is_maker))
        self.last_price[symbol] = price
        stream = symbol.lower() + "@trade"
        if self.market.wanted(stream):
            self.market.publish(
                stream, self.trade_event(symbol, trade_id, price, qty, ts, aggressor)
            )
        return trade_id

    def print_agg_trade(
        self,
        symbol: str,
        price: Decimal,
        qty: Decimal,
        first: int,
        last: int,
        aggressor: Side,
        ts: int,
    ) -> None:
        """Publishes one aggregate trade (fills of one aggressor at one price)."""
        self._agg_ids[symbol] += 1
        stream = symbol.lower() + "@aggTrade"
        if self.market.wanted(stream):
            self.market.publish(
                stream,
                self.agg_trade_event(
                    symbol, self._agg_ids[symbol], price, qty, first, last, aggressor, ts
                ),
            )

    def publish_fills(self, symbol: str, fills: list[Fill], aggressor: Side, ts: int) -> list[int]:
        """Prints the trades of one aggressor's fills; returns their trade ids."""
        ids: list[int] = []
        group: list[tuple[Decimal, Decimal, int]] = []

        def flush() -> None:
            if group:
                total = sum((q for _, q, _ in group), ZERO)
                self.print_agg_trade(
                    symbol, group[0][0], total, group[0][2], group[-1][2], aggressor, ts
                )
                group.clear()

        for fill in fills:
            trade_id = self.print_trade(symbol, fill.price, fill.qty, aggressor, ts)
            ids.append(trade_id)
            if group and group[0][0] != fill.price:
                flush()
            group.append((fill.price, fill.qty, trade_id))
        flush()
        if fills:
            self._touched_symbols.add(symbol)
        return ids

    def trade_event(
        self, symbol: str, trade_id: int, price: Decimal, qty: Decimal, ts: int, aggressor: Side
    ) -> dict[str, Any]:
        """The ``@trade`` payload."""
        raise NotImplementedError

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
        """The ``@aggTrade`` payload."""
        raise NotImplementedError

    def px(self, symbol: str, value: Decimal) -> str:
        """A price as this product renders it."""
        raise NotImplementedError

    def qty(self, symbol: str, value: Decimal) -> str:
        """A quantity as this product renders it."""
        raise NotImplementedError

    def depth_snapshot(self, symbol: str, limit: int) -> dict[str, Any]:
        """The REST depth body."""
        book = self.books[symbol]
        return {
            "lastUpdateId": book.update_id,
            "bids": [
                [self.px(symbol, p), self.qty(symbol, q)] for p, q in book.levels(Side.BUY, limit)
            ],
            "asks": [
                [self.px(symbol, p), self.qty(symbol, q)] for p, q in book.levels(Side.SELL, limit)
            ],
        }

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
        """A ``depthUpdate`` payload."""
        raise NotImplementedError

    def book_ticker_event(self, symbol: str, ts: int) -> dict[str, Any]:
        """A ``bookTicker`` payload."""
        raise NotImplementedError

    def partial_depth_event(self, symbol: str, levels: int, ts: int) -> dict[str, Any]:
        """A partial book depth payload (``@depth5`` ...)."""
        raise NotImplementedError

    def flush_depth(self, tick: int) -> None:
        """Publishes the diff-depth events due at ``tick`` ms (called by a timer)."""
        ts = now_ms()
        for symbol, diffs in self.depth.items():
            low = symbol.lower()
            for suffix, U, u, pu, bids, asks in diffs.due(tick):
                stream = low + suffix
                if self.market.wanted(stream):
                    rendered_b = [[self.px(symbol, p), self.qty(symbol, q)] for p, q in bids]
                    rendered_a = [[self.px(symbol, p), self.qty(symbol, q)] for p, q in asks]
                    self.market.publish(
                        stream, self.depth_event(symbol, U, u, pu, rendered_b, rendered_a, ts)
                    )
            for levels in (5, 10, 20):
                for suffix, interval in self.partial_speeds().items():
                    if tick % interval:
                        continue
                    stream = f"{low}@depth{levels}{suffix}"
                    if self.market.wanted(stream):
                        self.market.publish(stream, self.partial_depth_event(symbol, levels, ts))

    def partial_speeds(self) -> dict[str, int]:
        """Suffixes and intervals of the partial depth streams."""
        raise NotImplementedError

    # ---------------------------------------------------------------- settle
    def settle(self) -> None:
        """Ends a mutating request: maker replenish, bookTicker, balance events."""
        touched = self._touched_symbols
        self._touched_symbols = set()
        ts = now_ms()
        for symbol in touched:
            book = self.books[symbol]
            # The state before the maker replenishes existed too: publish both.
            self._publish_ticker(symbol, ts)
            self.mm.replenish(book)
            self._publish_ticker(symbol, ts)
        assets = self._touched_assets
        self._touched_assets = {}
        for api_key, names in assets.items():
            self.balance_event(api_key, sorted(names), ts)

    def _publish_ticker(self, symbol: str, ts: int) -> None:
        book = self.books[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        best = (
            bid,
            book.level_qty(Side.BUY, bid) if bid is not None else None,
            ask,
            book.level_qty(Side.SELL, ask) if ask is not None else None,
        )
        if self._last_ticker.get(symbol) != best:
            self._last_ticker[symbol] = best
            stream = symbol.lower() + "@bookTicker"
            if self.market.wanted(stream):
                self.market.publish(stream, self.book_ticker_event(symbol, ts))

    def balance_event(self, api_key: str, assets: list[str], ts: int) -> None:
        """Publishes the account's balance change event (product-specific)."""
        raise NotImplementedError

    def touch_symbol(self, symbol: str) -> None:
        """Marks a book changed so that :meth:`settle` replenishes and republishes it."""
        self._touched_symbols.add(symbol)

    # ---------------------------------------------------------------- admin
    def admin_book(self, symbol: str, mid: Decimal | None, clear: bool) -> dict[str, Any]:
        """Recenters or clears the market maker of one symbol."""
        spec = self.spec(symbol)
        book = self.books[spec.symbol]
        if clear:
            self.mm.clear(book)
        elif mid is not None:
            self.mm.recenter(book, mid)
        else:
            self.mm.quoting[spec.symbol].enabled = True
            self.mm.replenish(book)
        self.touch_symbol(spec.symbol)
        self.settle()
        q = self.mm.quoting[spec.symbol]
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "symbol": spec.symbol,
            "mid": self.px(spec.symbol, q.mid),
            "quoting": q.enabled,
            "bestBid": self.px(spec.symbol, bid) if bid is not None else None,
            "bestAsk": self.px(spec.symbol, ask) if ask is not None else None,
        }

    def admin_trade(self, symbol: str, price: Decimal, qty: Decimal, side: Side) -> dict[str, Any]:
        """``POST /sim/trade``: a phantom aggressor takes the book up to ``price``."""
        spec = self.spec(symbol)
        # Off-grid amounts would leave orders with unprintable remainders (a float
        # 0.03 - 0.01 fills 0.019999999999999997 and reads back as "0.020").
        if qty % spec.step or price % spec.tick:
            raise BinanceError(
                -1013, f"trade price must be a multiple of {spec.tick}, qty of {spec.step}"
            )
        ts = now_ms()
        book = self.books[spec.symbol]
        fills = book.match(side, qty, price)
        ids = self.publish_fills(spec.symbol, fills, side, ts)
        out = []
        for fill, trade_id in zip(fills, ids, strict=True):
            self._maker_fill(fill, trade_id, ts)
            out.append(
                {
                    "tradeId": trade_id, "price": self.px(spec.symbol, fill.price),
                    "qty": self.qty(spec.symbol, fill.qty),
                    "orderId": fill.maker.order_id,
                    "owner": fill.maker.owner if self.is_account(fill.maker.owner) else "mm",
                }
            )  # fmt: skip
        rest = qty - sum((f.qty for f in fills), ZERO)
        if rest > ZERO:
            trade_id = self.print_trade(spec.symbol, price, rest, side, ts)
            self.print_agg_trade(spec.symbol, price, rest, trade_id, trade_id, side, ts)
            out.append(
                {
                    "tradeId": trade_id,
                    "price": self.px(spec.symbol, price),
                    "qty": self.qty(spec.symbol, rest),
                    "orderId": None,
                    "owner": None,
                }
            )
        self.touch_symbol(spec.symbol)
        self.settle()
        return {"symbol": spec.symbol, "side": side.value, "fills": out}

    def _maker_fill(self, fill: Fill, trade_id: int, ts: int) -> None:
        """Settles the resting side of a fill when it belongs to an account."""
        if self.is_account(fill.maker.owner):
            self.fill_order(
                self.orders[fill.maker.order_id], fill.price, fill.qty, True, trade_id, ts
            )

    def fill_order(
        self, order: Order, price: Decimal, qty: Decimal, is_maker: bool, trade_id: int, ts: int
    ) -> dict[str, Any]:
        """Settles one fill of an account's order and sends its user events."""
        raise NotImplementedError

    def admin_orders(self, api_key: str, symbol: str | None) -> list[dict[str, Any]]:
        """``GET /sim/orders``: the account's working orders in openOrders format."""
        raise NotImplementedError

    def admin_account(self, api_key: str) -> dict[str, Any]:
        """``GET /sim/account``: balances and positions in the venue's format."""
        raise NotImplementedError

    def drift(self) -> None:
        """Moves every quoted mid one seeded random step (the ``--mm-interval-ms`` timer)."""
        for symbol, book in self.books.items():
            self.mm.drift(book)
            self.touch_symbol(symbol)
        self.settle()

    # ---------------------------------------------------------------- listenKeys
    def listen_key_for(self, api_key: str) -> str:
        """The account's listenKey, created on first request (one per account)."""
        for listen_key, owner in self.listen_keys.items():
            if owner == api_key:
                return listen_key
        self._listen_seq += 1
        digest = hashlib.sha256(f"{self.product.value}:{api_key}:{self._listen_seq}".encode())
        listen_key = digest.hexdigest()
        self.listen_keys[listen_key] = api_key
        return listen_key

    def close_listen_key(self, listen_key: str) -> None:
        """Invalidates a listenKey; its streams get ``listenKeyExpired``."""
        api_key = self.listen_keys.pop(listen_key, None)
        if api_key is not None:
            for hook in list(self.listen_key_closed):
                hook(listen_key)

    # ---------------------------------------------------------------- tickers
    def ticker_price(self, p: Params) -> Any:
        """``ticker/price``: the last price (the mark before any trade)."""
        specs = [self.spec(p.get("symbol"))] if p.has("symbol") else list(self.specs.values())
        out = [
            {
                "symbol": s.symbol,
                "price": self.px(
                    s.symbol, self.last_price.get(s.symbol, self.mark_price(s.symbol))
                ),
                **({"time": now_ms()} if self.product.is_futures else {}),
            }
            for s in specs
        ]
        return out[0] if p.has("symbol") else out

    def book_ticker(self, p: Params) -> Any:
        """``ticker/bookTicker``: best bid and ask with their sizes."""
        specs = [self.spec(p.get("symbol"))] if p.has("symbol") else list(self.specs.values())
        out = []
        for s in specs:
            book = self.books[s.symbol]
            bid, ask = book.best_bid(), book.best_ask()
            row: dict[str, Any] = {
                "symbol": s.symbol,
                "bidPrice": self.px(s.symbol, bid or ZERO),
                "bidQty": self.qty(s.symbol, book.level_qty(Side.BUY, bid) if bid else ZERO),
                "askPrice": self.px(s.symbol, ask or ZERO),
                "askQty": self.qty(s.symbol, book.level_qty(Side.SELL, ask) if ask else ZERO),
            }
            if self.product.is_futures:
                row["time"] = now_ms()
                if self.product is Product.COINM:
                    row["pair"] = s.pair
            out.append(row)
        return out[0] if p.has("symbol") else out

    def ticker_24hr(self, p: Params) -> Any:
        """``ticker/24hr`` built from the trades the simulator printed (no history before)."""
        specs = [self.spec(p.get("symbol"))] if p.has("symbol") else list(self.specs.values())
        out = []
        now = now_ms()
        for s in specs:
            trades = [t for t in self.public_trades[s.symbol] if t.time >= now - 86_400_000]
            last = self.last_price.get(s.symbol, self.mark_price(s.symbol))
            first = trades[0].price if trades else last
            volume = sum((t.qty for t in trades), ZERO)
            quote_volume = sum((t.qty * t.price for t in trades), ZERO)
            high = max((t.price for t in trades), default=last)
            low = min((t.price for t in trades), default=last)
            book = self.books[s.symbol]
            bid, ask = book.best_bid() or ZERO, book.best_ask() or ZERO
            change = last - first
            out.append(
                {
                    "symbol": s.symbol,
                    "priceChange": self.px(s.symbol, change),
                    "priceChangePercent": format(
                        (change / first * 100).quantize(Decimal("0.001")), "f"
                    )
                    if first
                    else "0.000",
                    "weightedAvgPrice": self.px(
                        s.symbol, quote_volume / volume if volume else last
                    ),
                    "prevClosePrice": self.px(s.symbol, first),
                    "lastPrice": self.px(s.symbol, last),
                    "lastQty": self.qty(s.symbol, trades[-1].qty if trades else ZERO),
                    "bidPrice": self.px(s.symbol, bid),
                    "bidQty": self.qty(s.symbol, book.level_qty(Side.BUY, bid) if bid else ZERO),
                    "askPrice": self.px(s.symbol, ask),
                    "askQty": self.qty(s.symbol, book.level_qty(Side.SELL, ask) if ask else ZERO),
                    "openPrice": self.px(s.symbol, first),
                    "highPrice": self.px(s.symbol, high),
                    "lowPrice": self.px(s.symbol, low),
                    "volume": self.qty(s.symbol, volume),
                    "quoteVolume": self.px(s.symbol, quote_volume),
                    "openTime": now - 86_400_000,
                    "closeTime": now,
                    "firstId": trades[0].trade_id if trades else -1,
                    "lastId": trades[-1].trade_id if trades else -1,
                    "count": len(trades),
                }
            )
        return out[0] if p.has("symbol") else out
