"""The venues' documented order-rate rules, as the default order-rate limit of a session.

A session without its own `maxOrdersPerSecond` gets, from this table, a token bucket per
rule of its exchange: `orders` tokens at once (the rule's whole window), refilled at
`orders / seconds` per second, shared by every session on the same venue account (and,
where the venue counts per instrument, per symbol). Every bucket of the exchange must
have a token for a new order to go out. A flow that keeps within the rule is never
refused; beyond it ems refuses the order itself (`RateLimitExceeded`, naming the rule)
rather than letting the venue count it against the account.

The numbers are the venues' defaults for an ordinary account; higher tiers have more.
An account with higher limits sets `maxOrdersPerSecond`, which replaces the table.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class OrderRateRule:
    """At most `orders` new orders per `seconds`, counted per account (and instrument)."""

    orders: int
    seconds: float
    per_instrument: bool
    rule: str
    """The venue's rule in words; denials quote it."""

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.orders / self.seconds

    @property
    def burst(self) -> float:
        return float(self.orders)


ORDER_RATE_RULES: dict[str, tuple[OrderRateRule, ...]] = {
    # Binance spot: exchangeInfo rateLimits, ORDERS 100 per 10 SECOND and 200,000 per
    # DAY per account (X-MBX-ORDER-COUNT-10S / -1D).
    "binance-spot": (
        OrderRateRule(100, 10, False, "Binance spot allows 100 new orders per 10 s per account"),
        OrderRateRule(
            200_000, 86_400, False, "Binance spot allows 200,000 new orders per day per account"
        ),
    ),
    # Binance USD-M futures: exchangeInfo rateLimits, ORDERS 300 per 10 SECOND and 1,200
    # per MINUTE per account (X-MBX-ORDER-COUNT-10S / -1M).
    "binance-usdm-future": (
        OrderRateRule(300, 10, False, "Binance USD-M allows 300 orders per 10 s per account"),
        OrderRateRule(1200, 60, False, "Binance USD-M allows 1,200 orders per minute per account"),
    ),
    # Binance COIN-M futures: the same ORDERS rules as USD-M in exchangeInfo.
    "binance-coinm-future": (
        OrderRateRule(300, 10, False, "Binance COIN-M allows 300 orders per 10 s per account"),
        OrderRateRule(1200, 60, False, "Binance COIN-M allows 1,200 orders per minute per account"),
    ),
    # OKX: POST /api/v5/trade/order, 60 requests per 2 s per instrument (per account).
    "okx": (OrderRateRule(60, 2, True, "OKX allows 60 orders per 2 s per instrument per account"),),
    # Bybit v5 order/create: default per-UID limits over a rolling one-second window,
    # 20/s on spot and 10/s on futures and options.
    "bybit-spot": (OrderRateRule(20, 1, False, "Bybit spot allows 20 orders per second per UID"),),
    "bybit-linear": (
        OrderRateRule(10, 1, False, "Bybit linear allows 10 orders per second per UID"),
    ),
    "bybit-inverse": (
        OrderRateRule(10, 1, False, "Bybit inverse allows 10 orders per second per UID"),
    ),
    "bybit-option": (
        OrderRateRule(10, 1, False, "Bybit options allow 10 orders per second per UID"),
    ),
    # Deribit: matching-engine requests draw credits from a pool refilled continuously;
    # the default tier is 5 requests per second with a burst of 20 per sub-account.
    "deribit": (
        OrderRateRule(
            20, 4, False, "Deribit allows 5 matching-engine requests per second (burst 20)"
        ),
    ),
}


def venue_rules_apply(explicit: bool | None, *urls: str | None) -> bool:
    """Whether a session's orders are held to its venue's order-rate rules.

    `explicit` (the session's `venueRateLimit`) decides when given. Otherwise the rules
    apply unless every URL the session overrides points at this machine (loopback):
    that is a simulator, whose rules are not the venue's. A venue reached over a private
    network (a cross-connect, a private link) is still the venue, so its rules apply; a
    venue reached through a relay on this machine needs `venueRateLimit: true`.
    """
    if explicit is not None:
        return explicit
    given = [u for u in urls if u]
    if not given:
        return True
    return not all(_is_local(u) for u in given)


def _is_local(url: str) -> bool:
    host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback
