"""Pre-trade risk: limits every order must pass before it is sent, and the kill switch.

Limits are set per session, optionally narrowed per symbol (a symbol's own value wins
over the session's, which wins over the server default from the config file). A denial
is a typed reason plus a sentence; the order it stops is reported on the update stream
as rejected with that reason, never dropped silently.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, fields
from typing import Any

from ems.errors import ApiError
from ems.model import Side


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


def parse_limits(data: dict[str, Any], where: str = "") -> Limits:
    """Limits from a JSON object or config table; every value must be a positive number."""
    limits = Limits()
    for name, value in data.items():
        if name not in LIMIT_NAMES:
            continue
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


class TokenBucket:
    """`rate` orders per second with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


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
    """Limits and the kill switch for a whole server."""

    def __init__(self, default: Limits | None = None) -> None:
        self.default = default or Limits()
        self.kill_switch = False
        self._limits: dict[tuple[str, str], Limits] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._effective: dict[tuple[str, str], Limits] = {}
        self._applies: dict[tuple[str, str], bool] = {}

    def set(self, session_id: str, symbol: str | None, limits: Limits) -> Limits:
        """Replaces the limits of a session (symbol None) or of one of its symbols."""
        key = (session_id, symbol or "*")
        self._limits[key] = limits
        self._effective.clear()
        self._applies.clear()
        if symbol is None:
            self._buckets.pop(session_id, None)
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
        """Whether any check can refuse an order here (if not, skip building the exposure).

        Called for every order, so the answer is cached until limits change."""
        if self.kill_switch:
            return True
        key = (session_id, symbol)
        found = self._applies.get(key)
        if found is None:
            limits = self.effective(session_id, symbol)
            found = self._applies[key] = any(
                getattr(limits, name) is not None for name in LIMIT_NAMES
            )
        return found

    def configured(self, session_id: str) -> dict[str, dict[str, Any]]:
        return {
            symbol: limits.as_json()
            for (sid, symbol), limits in self._limits.items()
            if sid == session_id
        }

    def needs_reference(self, session_id: str, symbol: str) -> bool:
        return self.effective(session_id, symbol).priceBandPercent is not None

    def check(self, session_id: str, symbol: str, x: Exposure, new_order: bool) -> None:
        """Raises `RiskDenied` if the order breaks a limit."""
        if self.kill_switch and new_order:
            raise RiskDenied(Denial.KILL_SWITCH, "the kill switch is on; new orders are blocked")
        limits = self.effective(session_id, symbol)
        if limits.maxOrderQty is not None and x.qty > limits.maxOrderQty:
            raise RiskDenied(Denial.QUANTITY, f"qty {x.qty:g} exceeds {limits.maxOrderQty:g}")
        price = x.price if x.price is not None else x.reference
        if limits.maxOrderNotional is not None and price is not None:
            notional = x.qty * (x.contract_size if x.contract_size else price)
            if notional > limits.maxOrderNotional:
                raise RiskDenied(
                    Denial.NOTIONAL,
                    f"notional {notional:.8g} exceeds {limits.maxOrderNotional:g}",
                )
        if limits.priceBandPercent is not None and x.price is not None:
            if x.reference is None:
                raise RiskDenied(Denial.NO_REFERENCE, f"no reference price for {symbol} yet")
            band = x.reference * limits.priceBandPercent / 100
            if abs(x.price - x.reference) > band:
                raise RiskDenied(
                    Denial.PRICE_BAND,
                    f"price {x.price:g} is more than {limits.priceBandPercent:g}% from the "
                    f"reference {x.reference:g}",
                )
        if (
            new_order
            and limits.maxWorkingOrders is not None
            and x.working_orders >= limits.maxWorkingOrders
        ):
            raise RiskDenied(
                Denial.WORKING_ORDERS,
                f"{x.working_orders} working orders already (limit {limits.maxWorkingOrders})",
            )
        if limits.maxPosition is not None:
            sign = 1.0 if x.side == Side.BUY else -1.0
            worst = x.position + sign * (x.working_same_side + x.qty)
            if abs(worst) > limits.maxPosition and abs(worst) > abs(x.position):
                raise RiskDenied(
                    Denial.POSITION,
                    f"position could reach {worst:g} (limit {limits.maxPosition:g})",
                )
        if new_order and limits.maxOrdersPerSecond is not None:
            bucket = self._buckets.get(session_id)
            if bucket is None or bucket.rate != limits.maxOrdersPerSecond:
                bucket = self._buckets[session_id] = TokenBucket(limits.maxOrdersPerSecond)
            if not bucket.take():
                raise RiskDenied(
                    Denial.RATE, f"more than {limits.maxOrdersPerSecond:g} orders per second"
                )
