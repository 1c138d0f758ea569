"""A seeded synthetic market maker that keeps a few levels of liquidity in a book.

Its orders are ordinary :class:`~ems.sim.matching.RestingOrder` objects owned by
:data:`MM_OWNER`: they are matched like anyone's.  After every request that may have
consumed them the venue calls :meth:`MarketMaker.replenish`, which tops each wanted level
back up to its size (the top-up joins the back of the queue) and never places a quote
that would cross someone else's resting order: the maker is always passive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ems.sim.matching import ZERO, Book, RestingOrder, Side

MM_OWNER = "__market_maker__"


@dataclass(slots=True)
class Quoting:
    """How the maker quotes one book: ``levels`` each side, ``step`` apart around ``mid``."""

    mid: Decimal
    step: Decimal
    size: Decimal
    levels: int
    tick: Decimal
    enabled: bool = True


class MarketMaker:
    """Keeps quotes in a set of books; drifts the mids on demand with a seeded RNG."""

    def __init__(self, seed: int, next_order_id: Callable[[], int]) -> None:
        """``next_order_id`` hands out ids unique among all orders of the venue."""
        self._rng = random.Random(seed)
        self._next_order_id = next_order_id
        self.quoting: dict[str, Quoting] = {}

    def configure(self, symbol: str, quoting: Quoting) -> None:
        """Sets (or replaces) how a symbol is quoted."""
        self.quoting[symbol] = quoting

    def wanted(self, symbol: str) -> list[tuple[Side, Decimal]]:
        """The prices the maker wants to quote for a symbol, innermost first."""
        q = self.quoting[symbol]
        if not q.enabled:
            return []
        out: list[tuple[Side, Decimal]] = []
        for i in range(1, q.levels + 1):
            out.append((Side.BUY, q.mid - q.step * i))
            out.append((Side.SELL, q.mid + q.step * i))
        return [(side, price) for side, price in out if price > ZERO]

    def replenish(self, book: Book) -> None:
        """Brings the book's maker quotes back to the wanted levels and sizes."""
        q = self.quoting.get(book.symbol)
        if q is None:
            return
        wanted = self.wanted(book.symbol)
        wanted_set = set(wanted)
        mine = book.owner_orders(MM_OWNER)
        held: dict[tuple[Side, Decimal], Decimal] = {}
        for order in mine:
            key = (order.side, order.price)
            if key not in wanted_set:
                book.remove(order.order_id)
                continue
            held[key] = held.get(key, ZERO) + order.leaves
        # Someone else's best prices bound where a passive quote may go.
        best_other_bid, best_other_ask = self._best_other(book)
        for side, price in wanted:
            if side is Side.BUY and best_other_ask is not None and price >= best_other_ask:
                continue
            if side is Side.SELL and best_other_bid is not None and price <= best_other_bid:
                continue
            missing = q.size - held.get((side, price), ZERO)
            if missing > ZERO:
                book.add(
                    RestingOrder(
                        order_id=self._next_order_id(),
                        owner=MM_OWNER,
                        side=side,
                        price=price,
                        leaves=missing,
                    )
                )

    def clear(self, book: Book) -> None:
        """Pulls every maker quote from a book and stops quoting it."""
        if book.symbol in self.quoting:
            self.quoting[book.symbol].enabled = False
        for order in book.owner_orders(MM_OWNER):
            book.remove(order.order_id)

    def recenter(self, book: Book, mid: Decimal) -> None:
        """Moves the mid (snapped to the tick), resumes quoting and requotes."""
        q = self.quoting[book.symbol]
        q.mid = (mid / q.tick).to_integral_value() * q.tick
        q.enabled = True
        self.replenish(book)

    def drift(self, book: Book) -> None:
        """Moves the mid by -1, 0 or +1 quoting steps (seeded) and requotes."""
        q = self.quoting.get(book.symbol)
        if q is None or not q.enabled:
            return
        move = self._rng.choice((-1, 0, 1))
        if move:
            q.mid = max(q.step * (q.levels + 1), q.mid + q.step * move)
            self.replenish(book)

    @staticmethod
    def _best_other(book: Book) -> tuple[Decimal | None, Decimal | None]:
        bid = ask = None
        for price, _ in book.levels(Side.BUY):
            if any(o.owner != MM_OWNER for o in book.orders_at(Side.BUY, price)):
                bid = price
                break
        for price, _ in book.levels(Side.SELL):
            if any(o.owner != MM_OWNER for o in book.orders_at(Side.SELL, price)):
                ask = price
                break
        return bid, ask
