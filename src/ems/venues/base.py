"""What every venue module provides to the engine.

A venue session turns ems orders into the venue's requests and the venue's replies and
stream events into `ExecutionReport`s, which it hands to its listener (the engine's
order session). Prices and quantities cross this boundary as integer grid units going
out and as the venue's own decimal text coming back, so nothing is rounded twice.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ems._core import ArmedOrder, Grid, OrderBook, Trade
from ems.errors import EndpointUnreachable
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from ems.engine.orders import Order
    from ems.venues.feed import Feed


@dataclass(slots=True)
class Instrument:
    """Trading rules of one symbol, read from the venue."""

    symbol: str
    price_grid: Grid
    qty_grid: Grid
    min_price: int = 0
    """In price units; 0 disables the check."""
    max_price: int = 0
    min_qty: int = 0
    """In quantity units."""
    max_qty: int = 0
    market_min_qty: int = 0
    market_max_qty: int = 0
    min_notional: float = 0.0
    """Minimum price*qty in quote currency (0: none)."""
    min_notional_on_market: bool = True
    """Whether market orders must meet `min_notional` too (Binance's applyMinToMarket /
    applyToMarket); they are checked at the last price ems knows."""
    contract_size: float | None = None
    """Set where the venue sizes orders in contracts (COIN-M: USD per contract)."""
    base_asset: str = ""
    quote_asset: str = ""
    trading: bool = True


@dataclass(slots=True)
class ExecutionReport:
    """One venue statement about one order, normalised."""

    venue_client_id: str
    exch_order_id: str
    symbol: str
    status: OrderStatus
    """The venue's status of the order: new, partiallyfilled, filled, cancelled, rejected
    or expired."""
    cum_qty: str = "0"
    price: str | None = None
    qty: str | None = None
    last_qty: str | None = None
    last_price: str | None = None
    trade_id: str | None = None
    liquidity: Liquidity | None = None
    exch_time: int = 0
    message: str | None = None
    side: Side | None = None
    order_type: OrderType | None = None
    tif: TimeInForce | None = None
    amended: bool = False
    """The venue changed price or quantity of a working order (amend)."""


@dataclass(slots=True)
class Capabilities:
    """Order types and times in force a venue accepts."""

    order_types: frozenset[OrderType]
    tifs: frozenset[TimeInForce]
    market_tifs: frozenset[TimeInForce] = field(
        default_factory=lambda: frozenset({TimeInForce.GTC, TimeInForce.IOC})
    )
    postonly_tifs: frozenset[TimeInForce] = field(
        default_factory=lambda: frozenset({TimeInForce.GTC})
    )
    positions_from_venue: bool = False
    """True where the venue reports a position per symbol (futures); otherwise the
    position is the net quantity this session traded."""


ArmedInsert = tuple[
    ArmedOrder,
    Callable[[bytes], Awaitable["ExecutionReport | None"] | None],
    Callable[[bytes], Awaitable["ExecutionReport | None"]],
]
"""An insert as a core template, the function that writes a rendered copy only if it can
go out at once (None if not), and the one that sends it otherwise (waiting for a
connection, or refusing during a rate-limit wait, as any insert would)."""


class VenueListener(Protocol):
    """What a venue session reports to."""

    def on_report(self, report: ExecutionReport) -> None: ...

    def on_venue_position(self, symbol: str, position: float) -> None: ...

    def on_stream_state(self, connected: bool, reason: str) -> None: ...

    def atomic(self) -> AbstractContextManager[None]:
        """What the listener records inside `with listener.atomic():` is journaled as
        one transaction (a report together with the position it moves)."""
        ...


class VenueSession(abc.ABC):
    """One authenticated connection set to one venue account."""

    capabilities: Capabilities
    instruments: dict[str, Instrument]

    @abc.abstractmethod
    async def start(self) -> None:
        """Loads instruments, checks credentials and opens the order-update stream.

        Raises `VenueError` when the venue refuses the credentials."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Closes every connection."""

    @abc.abstractmethod
    def insert(self, order: Order) -> Awaitable[ExecutionReport | None]:
        """Sends a new order: the request is on the wire when this returns, if a
        connection was free; the awaitable gives the venue's reply as a report.

        The awaitable raises `VenueError` (refused), `VenueRateLimited` or
        `VenueUnknownOutcome`."""

    @abc.abstractmethod
    async def amend(self, order: Order, price: int, qty: int) -> ExecutionReport | None:
        """Changes price and/or quantity of a working order (units of the grids)."""

    def prepare_insert(self, order: Order) -> Callable[[], Awaitable[ExecutionReport | None]]:
        """An insert built ahead of time; calling the result sends it like `insert`.

        Venues override this to do all encoding up front, leaving only what must be
        fresh (timestamps, signatures) for the moment a trigger fires. Not used for a
        venue that implements `arm_insert`."""
        return lambda: self.insert(order)

    def arm_insert(self, order: Order) -> ArmedInsert | None:
        """The insert as a core template plus the functions that send a rendered copy
        (see `ArmedInsert`).

        The trigger index renders the template (timestamp, signature) in the same call
        that matches the trade, so a firing trigger costs Python one write per order.
        None where the venue has no template form (its orders go through
        `prepare_insert`)."""
        return None

    @abc.abstractmethod
    def cancel(self, order: Order) -> Awaitable[ExecutionReport | None]:
        """Cancels one order; written at once like `insert`."""

    @abc.abstractmethod
    async def cancel_all(self, symbol: str, orders: list[Order], whole_symbol: bool) -> int:
        """Cancels `orders` (all working on `symbol`) in as few venue calls as it can.

        `whole_symbol` says that no other ems session trades this symbol on the same
        account, so a venue-wide cancel-by-symbol is safe. Returns the calls made."""

    @abc.abstractmethod
    async def query(self, order: Order) -> ExecutionReport | None:
        """The venue's current view of an order; None when the venue has no such order."""

    @abc.abstractmethod
    async def positions(self) -> dict[str, float]:
        """Current venue positions by symbol (futures); empty where not applicable."""

    @abc.abstractmethod
    def trade_feed(self, symbol: str, on_trade: Callable[[Trade], None]) -> Feed:
        """A not-yet-started feed of `symbol`'s public trades, each parsed onto its grids."""

    async def recent_orders(self, symbols: set[str], since_ms: int) -> list[ExecutionReport]:
        """The account's open orders on every symbol, and its orders on `symbols`
        updated since `since_ms` (for adopting orders sent just before a crash). Venues
        without a way to list them return only what they can."""
        return []

    def account(self, report: ExecutionReport) -> None:  # noqa: B027
        """Called by the session with every report it is about to apply, inside the same
        journal transaction, whatever brought it (stream, reply, query, adoption): venue
        modules that count state from reports (spot positions, pull messages) do it here,
        so the count and the order move together. Must take the same report twice
        without counting it twice; a no-op by default."""

    def adopt(self, order: Order, report: ExecutionReport) -> None:  # noqa: B027
        """An order found on the venue under the session's prefix that ems never recorded
        (`report` is what the venue said of it) is now the session's: venue modules that
        keep state per order they placed take it on as if they had placed it; a no-op by
        default."""

    def restore_order(self, order: Order) -> None:  # noqa: B027
        """An order the journal had, given after a restart before reconciliation (its
        fills so far are in the restored position). Venue modules that keep state per
        order they placed take it on again, so that a push for it before its
        reconciliation query counts; a no-op by default."""

    def restore_position(self, symbol: str, position: float) -> None:  # noqa: B027
        """The session's position in `symbol` as the journal had it, given after a restart
        before reconciliation. Venues that count a position themselves from the session's
        fills go on from it; a no-op by default."""

    def lists_position(self, symbol: str) -> bool:
        """Whether the venue's own position list covers `symbol`, so that a position it
        does not list is flat (holdings counted from the session's fills are not)."""
        return self.capabilities.positions_from_venue

    def warm(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Runs the order path's encoding and signing on a dummy request, sending
        nothing, so that a busy-polling process keeps that code in the CPU's caches."""

    def book(self, symbol: str) -> BookFeed:
        """A not-yet-started L2 book of `symbol` kept in sync with the venue."""
        raise NotImplementedError(f"{type(self).__name__} keeps no order book yet")


class BookFeed(Protocol):
    """An order book and the feed that keeps it current."""

    book: OrderBook
    instrument: Instrument

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def reaching(field: str, connect: Awaitable[None]) -> None:
    """Awaits a connection being opened; a network failure is raised as
    `EndpointUnreachable(field)`, so that the client is told which setting to check."""
    try:
        await connect
    except EndpointUnreachable:
        raise
    except (OSError, TimeoutError) as exc:
        raise EndpointUnreachable(field, exc) from exc
