"""Pre-trade risk: limits every order must pass before it is sent, and the kill switch.

Limits are set per session, optionally narrowed per symbol (a symbol's own value wins
over the session's, which wins over the server default from the config file). A denial
is a typed reason plus a sentence; the order it stops is reported on the update stream
as rejected with that reason, never dropped silently. The checks run in the compiled
core; a session without its own order rate is held to its venue's order-rate rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

from ems._core import RiskGate
from ems.errors import ApiError
from ems.model import Side
from ems.venues.base import Instrument
from ems.venues.limits import ORDER_RATE_RULES


class Denial(enum.StrEnum):
    """Why risk refused an order."""

    KILL_SWITCH = "KillSwitchActive"
    QUANTITY = "QuantityAboveMaximum"
    NOTIONAL = "NotionalAboveMaximum"
    PRICE_BAND = "PriceOutsideBand"
    NO_REFERENCE = "NoReferencePrice"
    WORKING_ORDERS = "TooManyWorkingOrders"
    POSITION = "PositionLimitExceeded"
    RATE = "RateLimitExceeded"


class RiskDenied(Exception):
    """An order refused by a risk limit."""

    def __init__(self, reason: Denial, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Limits:
    """Every limit is optional; None means not limited. Names are the API's."""

    maxOrderQty: float | None = None
    maxOrderNotional: float | None = None
    priceBandPercent: float | None = None
    maxWorkingOrders: int | None = None
    maxPosition: float | None = None
    maxOrdersPerSecond: float | None = None

    def merged_over(self, base: Limits) -> Limits:
        """These limits where set, `base` elsewhere."""
        return Limits(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(base, f.name)
                for f in fields(Limits)
            }
        )

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(Limits)}


LIMIT_NAMES = tuple(f.name for f in fields(Limits))


def parse_limits(
    data: dict[str, Any], where: str = "", other_fields: frozenset[str] = frozenset()
) -> Limits:
    """Limits from a JSON object or config table; every value must be a positive number.

    A name that is neither a limit nor one of `other_fields` is refused, so a misspelt
    limit is an error rather than no limit."""
    limits = Limits()
    for name, value in data.items():
        if name in other_fields:
            continue
        if name not in LIMIT_NAMES:
            raise ApiError(
                f"unknown risk limit {name!r}; the limits are {', '.join(LIMIT_NAMES)}",
                f"{where}{name}",
            )
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ApiError(f"{name} must be a positive number", f"{where}{name}")
        if name == "maxWorkingOrders":
            if int(value) != value:
                raise ApiError(f"{name} must be a whole number", f"{where}{name}")
            value = int(value)
        setattr(limits, name, float(value) if name != "maxWorkingOrders" else value)
    return limits


@dataclass(slots=True)
class RiskTable:
    """The config file's `[risk]` table: server defaults, and limits per session and per
    symbol of a session (the starting limits of those; `/setRiskLimits` replaces them)."""

    default: Limits
    sessions: dict[str, Limits]
    symbols: dict[tuple[str, str], Limits]


def parse_risk_table(table: dict[str, Any], where: str = "risk.") -> RiskTable:
    """Reads `[risk]`, `[risk.sessions.<id>]` and `[risk.sessions.<id>.symbols.<symbol>]`;
    raises `ApiError` whose field is the offending key's dotted path."""
    sessions: dict[str, Limits] = {}
    symbols: dict[tuple[str, str], Limits] = {}
    per_session = table.get("sessions", {})
    if not isinstance(per_session, dict):
        raise ApiError("must be a table of session ids", f"{where}sessions")
    for session_id, body in per_session.items():
        at = f"{where}sessions.{session_id}."
        if not isinstance(body, dict):
            raise ApiError("must be a table of limits", at.rstrip("."))
        per_symbol = body.get("symbols", {})
        if not isinstance(per_symbol, dict):
            raise ApiError("must be a table of symbols", f"{at}symbols")
        for symbol, limits in per_symbol.items():
            if not isinstance(limits, dict):
                raise ApiError("must be a table of limits", f"{at}symbols.{symbol}")
            symbols[(session_id, symbol)] = parse_limits(limits, f"{at}symbols.{symbol}.")
        sessions[session_id] = parse_limits(body, at, frozenset({"symbols"}))
    return RiskTable(parse_limits(table, where, frozenset({"sessions"})), sessions, symbols)


@dataclass(slots=True)
class Exposure:
    """What an order would add to, seen from its session."""

    side: Side
    price: float | None
    """None for market orders."""
    qty: float
    position: float
    """The session's current position in the symbol."""
    working_same_side: float
    """Unfilled quantity of the session's other working orders on the same side."""
    working_orders: int
    reference: float | None
    """Last trade price (or mid) of the symbol, if known."""
    contract_size: float | None


class RiskEngine:
    """Limits and the kill switch for a whole server.

    The checks and the exposure they read live in the compiled core (`RiskGate`): per
    (session, symbol) the effective limits, the working orders, their unfilled quantity
    per side and the position, kept up to date by the sessions as orders change, so a
    check costs the same however many orders a session has.
    """

    def __init__(self, default: Limits | None = None, table: RiskTable | None = None) -> None:
        self.default = table.default if table is not None else default or Limits()
        self.gate = RiskGate()
        self._limits: dict[tuple[str, str], Limits] = {}
        if table is not None:
            for session_id, limits in table.sessions.items():
                self._limits[(session_id, "*")] = limits
            self._limits.update(table.symbols)
        self._effective: dict[tuple[str, str], Limits] = {}
        self._sessions: dict[str, int] = {}
        self._keys: dict[tuple[str, str], int] = {}
        self._bound: set[int] = set()
        self._venue: dict[str, tuple[str, str]] = {}
        """Session -> (exchange, account) for sessions held to their venue's rate rules."""
        self._venue_rules: dict[tuple[str, str, str, int], int] = {}

    @property
    def kill_switch(self) -> bool:
        return self.gate.kill_switch

    @kill_switch.setter
    def kill_switch(self, active: bool) -> None:
        self.gate.kill_switch = active

    def open_session(self, session_id: str, exchange: str, account: str, venue_rules: bool) -> None:
        """Registers a session; with `venue_rules`, its new orders also need a token from
        its exchange's order-rate buckets (`ems.venues.limits`) unless it sets its own
        maxOrdersPerSecond. Buckets are shared by the sessions of one account."""
        self._session(session_id)
        if venue_rules and exchange in ORDER_RATE_RULES:
            self._venue[session_id] = (exchange, account)
        else:
            self._venue.pop(session_id, None)
        for (sid, symbol), key in self._keys.items():
            if sid == session_id:
                self.gate.set_venue_rules(key, self._venue_rules_for(session_id, symbol))

    def _session(self, session_id: str) -> int:
        found = self._sessions.get(session_id)
        if found is None:
            found = self._sessions[session_id] = self.gate.add_session()
        return found

    def _venue_rules_for(self, session_id: str, symbol: str) -> list[int]:
        venue = self._venue.get(session_id)
        if venue is None:
            return []
        exchange, account = venue
        found = []
        for i, rule in enumerate(ORDER_RATE_RULES[exchange]):
            scope = (exchange, account, symbol if rule.per_instrument else "*", i)
            index = self._venue_rules.get(scope)
            if index is None:
                index = self._venue_rules[scope] = self.gate.add_venue_rule(
                    rule.rate, rule.burst, f"{rule.rule}; ems holds orders to that rule"
                )
            found.append(index)
        return found

    def key(self, session_id: str, symbol: str, instrument: Instrument | None = None) -> int:
        """The gate's key for (session, symbol), created on first use; `instrument` gives
        it the grids that `check_order` needs."""
        key = self._keys.get((session_id, symbol))
        if key is None:
            key = self.gate.add_key(self._session(session_id), symbol)
            self._keys[(session_id, symbol)] = key
            self._push_limits(key, self.effective(session_id, symbol))
            self.gate.set_venue_rules(key, self._venue_rules_for(session_id, symbol))
        if instrument is not None and key not in self._bound:
            self.gate.set_instrument(
                key,
                instrument.price_grid.step,
                instrument.qty_grid.step,
                instrument.contract_size,
            )
            self._bound.add(key)
        return key

    def _push_limits(self, key: int, limits: Limits) -> None:
        self.gate.set_limits(
            key,
            limits.maxOrderQty,
            limits.maxOrderNotional,
            limits.priceBandPercent,
            limits.maxWorkingOrders,
            limits.maxPosition,
            limits.maxOrdersPerSecond,
        )

    def set(self, session_id: str, symbol: str | None, limits: Limits) -> Limits:
        """Replaces the limits of a session (symbol None) or of one of its symbols."""
        self._limits[(session_id, symbol or "*")] = limits
        self._effective.clear()
        for (sid, sym), key in self._keys.items():
            if sid == session_id:
                self._push_limits(key, self.effective(sid, sym))
        if symbol is None:
            self.gate.reset_session_rate(self._session(session_id))
        return self.effective(session_id, symbol)

    def effective(self, session_id: str, symbol: str | None) -> Limits:
        key = (session_id, symbol or "*")
        found = self._effective.get(key)
        if found is not None:
            return found
        session = self._limits.get((session_id, "*"), Limits()).merged_over(self.default)
        if symbol is not None:
            session = self._limits.get((session_id, symbol), Limits()).merged_over(session)
        self._effective[key] = session
        return session

    def applies(self, session_id: str, symbol: str) -> bool:
        """Whether any check can refuse an order here (a limit, a venue rule or the kill
        switch; if not, skip looking up the reference price)."""
        return self.gate.applies(self.key(session_id, symbol))

    def configured(self, session_id: str) -> dict[str, dict[str, Any]]:
        return {
            symbol: limits.as_json()
            for (sid, symbol), limits in self._limits.items()
            if sid == session_id
        }

    def venue_rules(self, session_id: str) -> list[dict[str, Any]]:
        """The venue order-rate rules the session is held to while it sets no rate."""
        venue = self._venue.get(session_id)
        if venue is None:
            return []
        return [
            {
                "rule": r.rule,
                "orders": r.orders,
                "seconds": r.seconds,
                "perInstrument": r.per_instrument,
            }
            for r in ORDER_RATE_RULES[venue[0]]
        ]

    def needs_reference(self, session_id: str, symbol: str) -> bool:
        return self.effective(session_id, symbol).priceBandPercent is not None

    def check(self, session_id: str, symbol: str, x: Exposure, new_order: bool) -> None:
        """Raises `RiskDenied` if an order with exposure `x` breaks a limit (the exposure
        given, not the one kept for the session)."""
        found = self.gate.check_exposure(
            self.key(session_id, symbol),
            1 if x.side == Side.BUY else -1,
            x.price,
            x.qty,
            x.position,
            x.working_same_side,
            x.working_orders,
            x.reference,
            x.contract_size,
            new_order,
        )
        if found is not None:
            raise RiskDenied(Denial(found[0]), found[1])

    def check_order(
        self,
        key: int,
        side: int,
        price: int | None,
        qty: int,
        reference: float | None,
        new_order: bool,
        booked_qty: int = 0,
        booked_working: bool = False,
    ) -> RiskDenied | None:
        """Checks an order in grid units against the exposure kept for its key: `price`
        in ticks (None for market orders), `qty` the unfilled steps it would have, and for
        an update what is booked for the order itself (left out of the exposure)."""
        found = self.gate.check(
            key, side, price, qty, reference, new_order, booked_qty, booked_working
        )
        return None if found is None else RiskDenied(Denial(found[0]), found[1])

    def book(self, key: int, side: int, orders: int, qty: int) -> None:
        """Adds (negative: removes) working orders and unfilled steps on one side."""
        self.gate.book(key, side, orders, qty)

    def set_position(self, key: int, position: float) -> None:
        self.gate.set_position(key, position)
