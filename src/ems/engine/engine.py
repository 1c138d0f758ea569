"""The engine: every order session, created and looked up by name."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

from ems._core import Trade
from ems.engine.journal import Journal, StoredSession
from ems.engine.orders import Pending
from ems.engine.risk import Limits, RiskEngine
from ems.engine.session import OrderSession, _base36
from ems.errors import ApiError, EndpointUnreachable, VenueError, VenueUnknownOutcome
from ems.metrics import Metrics
from ems.model import Side
from ems.venues.base import BookFeed
from ems.venues.feed import Feed
from ems.venues.limits import venue_rules_apply
from ems.venues.registry import VenueParams, create_venue

log = logging.getLogger("ems.engine")

RECOVERY_LOOKBACK_MS = 120_000
"""How far before the journal's last record to look for orders sent just before a crash."""
REFERENCE_WAIT_S = 5.0
"""How long the first order on a symbol under a price band waits for a reference price
(the symbol's book or a trade) before it is refused with NoReferencePrice."""
RECOVERY_SETTINGS = frozenset({"restUrl", "wsUrl", "localAddress", "testnet", "useMargin"})


def mask(secret: str) -> str:
    """First and last four characters of a credential, for logs."""
    if len(secret) <= 8:
        return "****"
    return f"{secret[:4]}…{secret[-4:]}"


class Engine:
    """Owns the order sessions of one server."""

    def __init__(
        self,
        metrics: Metrics,
        testnet: bool = False,
        risk: RiskEngine | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.metrics = metrics
        self.testnet = testnet
        self.sessions: dict[str, OrderSession] = {}
        self._starting: set[str] = set()
        self.risk = risk or RiskEngine()
        self.journal = journal
        self.last_price: dict[tuple[str, str], float] = {}
        """Last public trade price by (exchange, symbol): the risk band's reference."""
        self._watched: dict[tuple[str, str], Feed] = {}
        self.books: dict[tuple[str, str], BookFeed] = {}
        self._watching: dict[tuple[str, str], asyncio.Task[None]] = {}
        """Feeds being started for a price band's first order on a symbol."""
        self._recovering: set[asyncio.Task[None]] = set()
        self.warmers: list[Callable[[], bool]] = []
        """Hot-path rehearsals: each runs the trade-to-order path short of sending and
        says whether it had anything armed to rehearse. A busy-polling loop (--spin) runs
        them between frames; a sleeping one on a timer (`rehearse_every_s`)."""
        self.rehearse_every_s = 0.0
        """The sleeping loop's rehearsal period while something is armed (0: none)."""
        self._rehearsal: asyncio.TimerHandle | None = None
        self.on_restoring: list[Callable[[OrderSession], None]] = []
        """Called with each recovering session after its journal is read and before it is
        reconciled (strategies name the orders they may have sent here)."""
        self.on_recovered: list[Callable[[OrderSession], Awaitable[None]]] = []
        """Called with each session recovered from the journal (strategies restore here)."""

    def rehearse_soon(self) -> None:
        """Starts the rehearsal timer unless it runs already or is off; it keeps running
        for as long as a warmer says it has something armed.

        A loop that sleeps between trades can find its hot path gone from the CPU's
        caches when a trade wakes it: what ran since (the last order's replies and
        events, the API) may have pushed it out, and reloading it cost up to 41 µs in the
        benchmark. Rehearsing it every millisecond or so keeps it loaded, at the price of
        that many short wake-ups while a trigger is armed.
        """
        if self.rehearse_every_s <= 0 or self._rehearsal is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): nothing to keep warm yet
        self._rehearsal = loop.call_later(self.rehearse_every_s, self._rehearse)

    def run_warmers(self) -> bool:
        """Runs every rehearsal once; True if any had something armed. One that raises is
        logged and dropped: rehearsals run hundreds of times a second, and a broken one
        would otherwise fill the log while costing only its own manager's warmth."""
        armed = False
        for warm in tuple(self.warmers):
            try:
                armed = warm() or armed
            except Exception:
                log.exception("hot-path rehearsal failed; it will not run again")
                self.warmers.remove(warm)
        return armed

    def _rehearse(self) -> None:
        self._rehearsal = None
        if self.run_warmers():
            self.metrics.rehearsals.inc()
            self.rehearse_soon()

    def session(self, session_id: object, field: str = "sessionId") -> OrderSession:
        """The running session named `session_id`, or a 404 naming the field."""
        if not isinstance(session_id, str) or not session_id:
            raise ApiError("sessionId is required", field)
        found = self.sessions.get(session_id)
        if found is None:
            raise ApiError(f"unknown sessionId {session_id!r}", field, 404)
        return found

    async def start_session(
        self,
        session_id: str,
        params: VenueParams,
        known_prefixes: tuple[str, ...] = (),
        prepare: Callable[[OrderSession], None] | None = None,
    ) -> OrderSession:
        """Connects a new named session; refuses a name already used.

        `prepare` runs once the venue is connected and before anything else can reach
        the session (a recovered session gets its journaled orders and positions back
        there). The session is listed, and open to requests, only when its journal
        record is committed.
        """
        if session_id in self.sessions or session_id in self._starting:
            raise ApiError(f"sessionId {session_id!r} is already in use", "sessionId", 409)
        self._starting.add(session_id)
        try:
            account = hashlib.sha256(f"{params.exchange}:{params.api_key}".encode()).hexdigest()[
                :16
            ]
            self.risk.open_session(
                session_id,
                params.exchange,
                account,
                venue_rules_apply(
                    params.extra.get("venueRateLimit"),
                    params.rest_url,
                    params.ws_url,
                    params.extra.get("wsApiUrl"),
                ),
            )
            session = OrderSession(
                session_id=session_id,
                exchange=params.exchange,
                venue=None,  # type: ignore[arg-type]  # bound just below
                metrics=self.metrics,
                client_id_prefix=_client_prefix(session_id, known_prefixes),
                account_key=account,
                shares_symbol=self._shares_symbol,
                risk=self.risk,
                reference_price=self.reference_price,
                journal=self.journal,
                known_prefixes=known_prefixes,
                band_reference=self.band_reference,
                await_reference=self.await_reference,
            )
            venue = create_venue(params, session)
            session.venue = venue
            log.info(
                "starting session %s on %s with key %s",
                session_id,
                params.exchange,
                mask(params.api_key),
            )
            try:
                await venue.start()
            except VenueError as exc:
                raise ApiError(f"venue refused the session: {exc}", "exchangeKey", 400) from None
            except EndpointUnreachable as exc:
                raise ApiError(f"cannot reach the venue: {exc}", exc.field, 502) from None
            except (TimeoutError, VenueUnknownOutcome, OSError) as exc:
                raise ApiError(
                    f"cannot reach the venue: {type(exc).__name__}: {exc}", "restUrl", 502
                ) from None
            for symbol in self.risk.configured(session_id):
                if symbol != "*" and symbol not in venue.instruments:
                    log.error(
                        "risk limits configured for %s on session %s: no such symbol on %s",
                        symbol,
                        session_id,
                        params.exchange,
                    )
            if prepare is not None:
                prepare(session)
            if self.journal is not None:
                self.journal.session(
                    StoredSession(
                        session_id=session_id,
                        exchange=params.exchange,
                        secrets={
                            "apiKey": params.api_key,
                            "secretKey": params.secret,
                            "passphrase": params.passphrase,
                        },
                        settings={
                            "restUrl": params.rest_url,
                            "wsUrl": params.ws_url,
                            "localAddress": params.local_address,
                            "testnet": params.testnet,
                            "useMargin": params.use_margin,
                            **params.extra,
                        },
                        prefixes=list(session.prefixes),
                    )
                )
                # The answer says the session exists; it should then survive a crash.
                if not await self.journal.durable():
                    log.error("session %s: its journal record is not committed yet", session_id)
            self.sessions[session_id] = session
            self.metrics.sessions.set(len(self.sessions))
            return session
        finally:
            self._starting.discard(session_id)

    def set_limits(self, session_id: str, symbol: str | None, limits: Limits) -> Limits:
        """Sets risk limits and journals them (they survive a restart)."""
        effective = self.risk.set(session_id, symbol, limits)
        if self.journal is not None:
            self.journal.strategy("risk", f"{session_id}|{symbol or '*'}", limits.as_json())
        return effective

    def _restore_limits(self, session_id: str) -> list[str]:
        """Re-applies a recovered session's limits; returns the symbols with a price band."""
        banded: list[str] = []
        if self.journal is None:
            return banded
        for key, body in self.journal.strategies("risk"):
            sid, _, symbol = key.partition("|")
            if sid == session_id:
                limits = Limits(**body)
                self.risk.set(sid, None if symbol == "*" else symbol, limits)
                if symbol != "*" and limits.priceBandPercent is not None:
                    banded.append(symbol)
        return banded

    async def recover(self) -> None:
        """Restarts every journaled session and reconciles it with its venue."""
        if self.journal is None:
            return
        for _, body in self.journal.strategies("killswitch"):
            self.risk.kill_switch = bool(body.get("active"))
        since_ms = self.journal.last_event_ms() - RECOVERY_LOOKBACK_MS
        for stored in self.journal.sessions():
            self._recovering.add(
                asyncio.get_running_loop().create_task(self._recover_one(stored, since_ms))
            )

    async def _recover_one(self, stored: StoredSession, since_ms: int) -> None:
        assert self.journal is not None
        settings = stored.settings
        params = VenueParams(
            exchange=stored.exchange,
            api_key=stored.secrets["apiKey"],
            secret=stored.secrets["secretKey"],
            passphrase=stored.secrets.get("passphrase", ""),
            rest_url=settings.get("restUrl"),
            ws_url=settings.get("wsUrl"),
            local_address=settings.get("localAddress"),
            testnet=bool(settings.get("testnet")),
            use_margin=bool(settings.get("useMargin")),
            extra={k: v for k, v in settings.items() if k not in RECOVERY_SETTINGS},
        )
        delay = 1.0
        while True:
            try:
                session = await self.start_session(
                    stored.session_id,
                    params,
                    tuple(stored.prefixes),
                    prepare=lambda s: self._restore_journaled(s, stored),
                )
                break
            except ApiError as exc:
                log.error(
                    "recovering session %s: %s; retrying in %.0fs",
                    stored.session_id,
                    exc.message,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        try:
            await self._reconcile_recovered(session, since_ms)
        finally:
            session.end_recovery()

    def _restore_journaled(self, session: OrderSession, stored: StoredSession) -> None:
        """Gives a recovering session its journaled orders and positions, in the venue
        module too (pull messages, spot position counts), before it can trade: a fill of
        an order sent earlier would be counted from nothing and then overwritten."""
        assert self.journal is not None
        reported = dict(session.positions)
        # Everything sent on the update stream from here to the end of the strategies'
        # restore is kept for the clients that subscribe later.
        session.begin_recovery()
        session.restore(
            list(self.journal.orders(stored.session_id)), self.journal.positions(stored.session_id)
        )
        if session.venue.capabilities.positions_from_venue:
            # What the venue reported as the session started is newer than the journal,
            # and whole: a journaled position it lists but did not report was closed
            # meanwhile. Each correction reaches the risk gate, the journal and the stream.
            for symbol in session.positions.keys() | reported.keys():
                if symbol in reported:
                    session.on_venue_position(symbol, reported[symbol])
                elif session.venue.lists_position(symbol):
                    session.on_venue_position(symbol, 0.0)
        for symbol, position in session.positions.items():
            session.venue.restore_position(symbol, position)
        for order in list(session.orders.values()):
            session.venue.restore_order(order)
        for expect in self.on_restoring:
            try:
                expect(session)
            except Exception:
                log.exception("naming the strategy orders of %s", session.session_id)

    async def _reconcile_recovered(self, session: OrderSession, since_ms: int) -> None:
        counts = await session.reconcile(since_ms)
        log.warning("session %s recovered: %s", session.session_id, counts)
        for symbol in self._restore_limits(session.session_id):
            try:
                await self.watch(session, symbol)
            except Exception as exc:
                log.error("cannot follow %s for the risk band: %s", symbol, exc)
        for hook in self.on_recovered:
            try:
                await hook(session)
            except Exception:
                log.exception("restoring the strategies of %s", session.session_id)

    def reference_price(self, exchange: str, symbol: str) -> float | None:
        """Last public trade price, else the book's mid, else None."""
        price = self.last_price.get((exchange, symbol))
        if price is not None:
            return price
        feed = self.books.get((exchange, symbol))
        return feed.book.mid() if feed is not None and feed.book.synced else None

    def band_reference(self, exchange: str, symbol: str, side: Side) -> float | None:
        """The price band's reference for an order on `side`: the best price it would
        take (best ask for a buy, best bid for a sell) while the book is synced, else the
        last public trade price, else None."""
        feed = self.books.get((exchange, symbol))
        if feed is not None and feed.book.synced:
            book = feed.book
            best = book.best_ask_price() if side == Side.BUY else book.best_bid_price()
            if best is not None:
                return feed.instrument.price_grid.value(best)
        return self.last_price.get((exchange, symbol))

    async def await_reference(self, session: OrderSession, symbol: str) -> None:
        """Follows `symbol` (trades and book) if ems does not yet, then waits until the
        band has a reference on either side, at most REFERENCE_WAIT_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REFERENCE_WAIT_S
        key = (session.exchange, symbol)
        starting = self._watching.get(key)
        if starting is None:
            starting = self._watching[key] = loop.create_task(self.watch(session, symbol))
            starting.add_done_callback(lambda _: self._watching.pop(key, None))
        try:
            await asyncio.wait_for(asyncio.shield(starting), REFERENCE_WAIT_S)
        except TimeoutError:
            return
        while loop.time() < deadline:
            if any(self.band_reference(*key, side) is not None for side in (Side.BUY, Side.SELL)):
                return
            await asyncio.sleep(0.02)

    async def watch(self, session: OrderSession, symbol: str) -> None:
        """Follows `symbol`'s public trades and, where the venue module keeps one, its
        book: the risk band's reference and `GET /book`."""
        key = (session.exchange, symbol)
        if key not in self._watched:
            grid = session.venue.instruments[symbol].price_grid

            def on_trade(trade: Trade) -> None:
                self.last_price[key] = grid.value(trade.price)

            feed = session.venue.trade_feed(symbol, on_trade)
            self._watched[key] = feed
            try:
                await feed.start()
            except Exception:
                del self._watched[key]
                raise
        if key not in self.books:
            try:
                book = session.venue.book(symbol)
            except NotImplementedError:
                return
            self.books[key] = book
            try:
                await book.start()
            except Exception:
                del self.books[key]
                raise

    async def kill(self, active: bool) -> int:
        """Turns the kill switch on (pulling every working order everywhere) or off."""
        self.risk.kill_switch = active
        if self.journal is not None:
            self.journal.strategy("killswitch", "", {"active": active})
        if not active:
            log.warning("kill switch released")
            return 0
        pulled = 0
        for session in self.sessions.values():
            pulled += len(session.kill())
        log.warning("kill switch on: pulling %d working orders", pulled)
        return pulled

    def _shares_symbol(self, session: OrderSession, symbol: str) -> bool:
        """Whether another session on the same account has working orders on `symbol`."""
        for other in self.sessions.values():
            if other is session or other.account_key != session.account_key:
                continue
            for order in other.orders.values():
                if order.symbol == symbol and order.working and order.pending != Pending.CANCEL:
                    return True
        return False

    async def close(self) -> None:
        if self._rehearsal is not None:
            self._rehearsal.cancel()
            self._rehearsal = None
        for task in self._recovering:
            task.cancel()
        for feed in self._watched.values():
            await feed.stop()
        self._watched.clear()
        for book in self.books.values():
            await book.stop()
        self.books.clear()
        for session in list(self.sessions.values()):
            try:
                await session.close()
            except Exception:
                log.exception("closing session %s", session.session_id)
        self.sessions.clear()
        self.metrics.sessions.set(0)


def _client_prefix(session_id: str, taken: tuple[str, ...] = ()) -> str:
    """A venue client-id prefix that names ems, the session and this start.

    Venues accept a client id again once the order that had it is closed, so each start
    gets a prefix of its own (millisecond clock, never one the session used before); the
    whole id stays within Binance's 36 characters.
    """
    digest = int(hashlib.sha256(session_id.encode()).hexdigest()[:8], 16)
    stamp = time.time_ns() // 1_000_000
    while True:
        prefix = f"ems{_base36(digest)[:4]}{_base36(stamp % 36**8):0>8}x"
        if prefix not in taken:
            return prefix
        stamp += 1
