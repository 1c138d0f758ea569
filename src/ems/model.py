"""The order model shared by the API, the engine and the venue adapters.

Names and enum values are those of the order-manager API: `transactionType`,
`orderType`, `tif`, `side`, `orderStatus`, `tradeLiquidity`. Times are integer
nanoseconds since the epoch.
"""

from __future__ import annotations

import enum
import time


class Exchange(enum.StrEnum):
    """Every exchange value of the API; the venue module that serves it decides support."""

    BINANCE_SPOT = "binance-spot"
    BINANCE_USDM = "binance-usdm-future"
    BINANCE_COINM = "binance-coinm-future"
    BYBIT_SPOT = "bybit-spot"
    BYBIT_LINEAR = "bybit-linear"
    BYBIT_INVERSE = "bybit-inverse"
    BYBIT_OPTION = "bybit-option"
    OKX = "okx"
    DERIBIT = "deribit"


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    POSTONLY = "postonly"


class TimeInForce(enum.StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    DAY = "day"
    FOK = "fok"


class TransactionType(enum.StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    PULL = "pull"


class OrderStatus(enum.StrEnum):
    """Lifecycle of an order as ems sees it.

    `pending*` states mean a request is on its way to the venue and the venue has not
    answered yet; they end only when the venue settles the request (by reply, stream
    event or reconciliation), never by a local timeout.
    """

    PENDING_NEW = "pendingnew"
    NEW = "new"
    PARTIALLY_FILLED = "partiallyfilled"
    FILLED = "filled"
    PENDING_UPDATE = "pendingupdate"
    PENDING_CANCEL = "pendingcancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Liquidity(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


now_ns = time.time_ns
"""Wall-clock time in integer nanoseconds since the epoch (the C function itself: the
order path calls it, and a Python wrapper would add a frame there)."""
