"""Binance error codes and messages as the real venue sends them."""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    """A request failure rendered as Binance's ``{"code": .., "msg": ..}`` body."""

    def __init__(
        self, code: int, msg: str, status: int = 400, data: dict[str, Any] | None = None
    ) -> None:
        """``status`` is the HTTP status; ``data`` is the cancelReplace extra payload."""
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data

    def body(self) -> dict[str, Any]:
        """The JSON error object."""
        out: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            out["data"] = self.data
        return out


def mandatory(name: str) -> BinanceError:
    """-1102: a required parameter is missing or malformed."""
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> BinanceError:
    """-1106: a parameter was sent that this order type does not take."""
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def bad_symbol() -> BinanceError:
    """-1121: unknown symbol."""
    return BinanceError(-1121, "Invalid symbol.")


def filter_failure(name: str) -> BinanceError:
    """-1013: one of exchangeInfo's filters rejected the order."""
    return BinanceError(-1013, f"Filter failure: {name}")


def rejected(msg: str) -> BinanceError:
    """-2010: the matching engine refused the new order."""
    return BinanceError(-2010, msg)


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
WOULD_TAKE = "Order would immediately match and take."
DUPLICATE_ORDER = "Duplicate order sent."
UNKNOWN_ORDER = "Unknown order sent."
NO_SUCH_ORDER = "Order does not exist."
BAD_KEY = "Invalid API-key, IP, or permissions for action."
RECV_WINDOW = "Timestamp for this request is outside of the recvWindow."
AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
BAD_SIGNATURE = "Signature for this request is not valid."
TOO_MANY = (
    "Too many requests; current limit of IP is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
UNKNOWN_ERROR = "An unknown error occurred while processing the request."
GTX_REJECT = (
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history"
)
FOK_REJECT = (
    "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history"
)
