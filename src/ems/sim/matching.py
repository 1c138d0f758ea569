"""A venue-neutral price-time-priority order book for the simulators.

The book knows nothing about any venue's wire format: it holds resting orders (owner,
side, price, leaves quantity), matches an aggressor against them and reports every change
of an aggregated price level to its listeners, each change numbered by a strictly
increasing ``update_id`` so that venue layers can build diff-depth streams with
contiguous sequence numbers.

Semantics the venue layers rely on:

* Price-time priority: better price first, then the order that reached the level first.
* Every fill happens at the resting (maker) order's price.
* Reducing a resting order's quantity keeps its place in the queue; anything else that
  changes an order (its price) is a cancel plus a new order, which goes to the back.
* Self-trade is allowed: the book matches an owner's aggressor against the same owner's
  resting orders like anyone else's.  (Documented simplification: Binance's default STP
  mode would expire the maker; the simulator advertises ``NONE``.)
* All quantities and prices are :class:`decimal.Decimal`; nothing here is a float.
"""

from __future__ import annotations

import bisect
import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal(0)


class Side(enum.Enum):
    """The side of an order or of an aggressor."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        """The other side of the book."""
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(slots=True)
class RestingOrder:
    """An order sitting in the book.  ``leaves`` is what is still open."""

    order_id: int
    owner: str
    side: Side
    price: Decimal
    leaves: Decimal
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    """One match of an aggressor against one resting order, at the resting price."""

    maker: RestingOrder
    price: Decimal
    qty: Decimal
    maker_done: bool


LevelListener = Callable[[Side, Decimal, Decimal, int], None]
"""Called as ``(side, price, new aggregated qty, update_id)``; qty 0 means the level went."""


class _Ladder:
    """One side of the book: sorted prices, a FIFO queue and an aggregate per price."""

    __slots__ = ("prices", "queues", "totals")

    def __init__(self) -> None:
        self.prices: list[Decimal] = []  # ascending for both sides
        self.queues: dict[Decimal, deque[RestingOrder]] = {}
        self.totals: dict[Decimal, Decimal] = {}


class Book:
    """A price-time-priority limit order book for one instrument."""

    def __init__(self, symbol: str, update_id: int = 0) -> None:
        """Creates an empty book; ``update_id`` lets a rebuilt book continue a sequence."""
        self.symbol = symbol
        self.update_id = update_id
        self._bids = _Ladder()
        self._asks = _Ladder()
        self._orders: dict[int, RestingOrder] = {}
        self._by_owner: dict[str, set[int]] = {}
        self._priority = 0
        self._listeners: list[LevelListener] = []

    # ----------------------------------------------------------------- observation
    def add_listener(self, listener: LevelListener) -> None:
        """Registers a callback for every aggregated level change."""
        self._listeners.append(listener)

    def get(self, order_id: int) -> RestingOrder | None:
        """The resting order with that id, if it is in the book."""
        return self._orders.get(order_id)

    def owner_orders(self, owner: str) -> list[RestingOrder]:
        """Every resting order of one owner, in priority order."""
        ids = self._by_owner.get(owner, set())
        return sorted((self._orders[i] for i in ids), key=lambda o: o.priority)

    def orders_at(self, side: Side, price: Decimal) -> list[RestingOrder]:
        """The queue at one price, front first (a copy)."""
        return list(self._ladder(side).queues.get(price, ()))

    def best_bid(self) -> Decimal | None:
        """The highest bid price, or None when there are no bids."""
        return self._bids.prices[-1] if self._bids.prices else None

    def best_ask(self) -> Decimal | None:
        """The lowest ask price, or None when there are no asks."""
        return self._asks.prices[0] if self._asks.prices else None

    def level_qty(self, side: Side, price: Decimal) -> Decimal:
        """The aggregated quantity resting at one price."""
        return self._ladder(side).totals.get(price, ZERO)

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """Aggregated levels from the best price outwards."""
        ladder = self._ladder(side)
        prices = reversed(ladder.prices) if side is Side.BUY else iter(ladder.prices)
        out: list[tuple[Decimal, Decimal]] = []
        for price in prices:
            if depth is not None and len(out) >= depth:
                break
            out.append((price, ladder.totals[price]))
        return out

    def crosses(self, side: Side, limit: Decimal | None) -> bool:
        """Whether an aggressor on ``side`` with that limit would match anything now."""
        if side is Side.BUY:
            best = self.best_ask()
            return best is not None and (limit is None or best <= limit)
        best = self.best_bid()
        return best is not None and (limit is None or best >= limit)

    # ----------------------------------------------------------------- mutation
    def add(self, order: RestingOrder) -> None:
        """Puts an order at the back of its price level's queue."""
        if order.order_id in self._orders:
            raise ValueError(f"order {order.order_id} already rests in {self.symbol}")
        self._priority += 1
        order.priority = self._priority
        ladder = self._ladder(order.side)
        queue = ladder.queues.get(order.price)
        if queue is None:
            queue = ladder.queues[order.price] = deque()
            ladder.totals[order.price] = ZERO
            bisect.insort(ladder.prices, order.price)
        queue.append(order)
        self._orders[order.order_id] = order
        self._by_owner.setdefault(order.owner, set()).add(order.order_id)
        self._change_level(order.side, order.price, order.leaves)

    def remove(self, order_id: int) -> RestingOrder | None:
        """Takes an order out of the book (cancel); returns it, or None if absent."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        self._forget_owner(order)
        ladder = self._ladder(order.side)
        queue = ladder.queues[order.price]
        queue.remove(order)
        self._change_level(order.side, order.price, -order.leaves)
        return order

    def reduce(self, order_id: int, new_leaves: Decimal) -> RestingOrder:
        """Lowers a resting order's open quantity without losing its queue position."""
        order = self._orders[order_id]
        if new_leaves <= ZERO or new_leaves > order.leaves:
            raise ValueError("reduce needs 0 < new_leaves <= leaves")
        delta = new_leaves - order.leaves
        order.leaves = new_leaves
        self._change_level(order.side, order.price, delta)
        return order

    def plan(
        self,
        side: Side,
        qty: Decimal | None,
        limit: Decimal | None = None,
        quote_budget: Decimal | None = None,
        step: Decimal | None = None,
    ) -> list[tuple[RestingOrder, Decimal]]:
        """What an aggressor would take, without changing the book.

        ``qty`` caps the base quantity; ``quote_budget`` (with ``step``, the lot step the
        taken quantity is rounded down to) caps the notional instead; ``limit`` is the
        worst price the aggressor accepts (None for a market order).
        """
        left = qty
        budget = quote_budget
        out: list[tuple[RestingOrder, Decimal]] = []
        for maker in self._walk(side.opposite, limit):
            take = maker.leaves if left is None else min(maker.leaves, left)
            if budget is not None:
                affordable = budget / maker.price
                if step is not None and step > ZERO:
                    affordable = (affordable / step).to_integral_value(ROUND_DOWN) * step
                take = min(take, affordable)
            if take <= ZERO:
                break
            out.append((maker, take))
            if left is not None:
                left -= take
                if left <= ZERO:
                    break
            if budget is not None:
                budget -= take * maker.price
                if budget <= ZERO:
                    break
        return out

    def execute(self, plan: list[tuple[RestingOrder, Decimal]]) -> list[Fill]:
        """Applies a plan made by :meth:`plan` (with no book change in between)."""
        fills: list[Fill] = []
        for maker, take in plan:
            maker.leaves -= take
            done = maker.leaves <= ZERO
            ladder = self._ladder(maker.side)
            if done:
                ladder.queues[maker.price].remove(maker)
                del self._orders[maker.order_id]
                self._forget_owner(maker)
            self._change_level(maker.side, maker.price, -take)
            fills.append(Fill(maker=maker, price=maker.price, qty=take, maker_done=done))
        return fills

    def match(
        self,
        side: Side,
        qty: Decimal | None,
        limit: Decimal | None = None,
        quote_budget: Decimal | None = None,
        step: Decimal | None = None,
    ) -> list[Fill]:
        """Matches an aggressor against the book and returns the fills, best price first."""
        return self.execute(self.plan(side, qty, limit, quote_budget, step))

    # ----------------------------------------------------------------- internals
    def _ladder(self, side: Side) -> _Ladder:
        return self._bids if side is Side.BUY else self._asks

    def _walk(self, side: Side, limit: Decimal | None) -> Iterator[RestingOrder]:
        """Resting orders of ``side`` from the best price, stopping beyond ``limit``."""
        ladder = self._ladder(side)
        # A snapshot of the prices: callers of plan() never mutate while walking.
        prices = list(reversed(ladder.prices)) if side is Side.BUY else list(ladder.prices)
        for price in prices:
            if limit is not None:
                if side is Side.SELL and price > limit:
                    return
                if side is Side.BUY and price < limit:
                    return
            yield from ladder.queues[price]

    def _forget_owner(self, order: RestingOrder) -> None:
        ids = self._by_owner.get(order.owner)
        if ids is not None:
            ids.discard(order.order_id)
            if not ids:
                del self._by_owner[order.owner]

    def _change_level(self, side: Side, price: Decimal, delta: Decimal) -> None:
        ladder = self._ladder(side)
        total = ladder.totals[price] + delta
        if total <= ZERO and not ladder.queues[price]:
            del ladder.totals[price]
            del ladder.queues[price]
            ladder.prices.pop(bisect.bisect_left(ladder.prices, price))
            total = ZERO
        else:
            ladder.totals[price] = total
        self.update_id += 1
        for listener in self._listeners:
            listener(side, price, total, self.update_id)
