"""Order entry over Bybit's trade WebSocket (`/v5/trade`, protocols.md C.4).

Each request is written to the socket in the call that builds it and answered by a
reply carrying the same `reqId`.  When the connection drops, every request still
waiting for its reply fails with `TradeDropped`: the venue may or may not have acted
on it, and the caller decides how to settle it (resend idempotently, or ask the venue).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

import orjson

from ems.errors import VenueUnknownOutcome
from ems.venues.bybit.connection import AuthedSocket
from ems.venues.bybit.rest import RECV_WINDOW_MS

log = logging.getLogger("ems.bybit.trade")


def trade_message(req_id: str, op: str, args: dict[str, Any], timestamp_ms: int) -> dict[str, Any]:
    """One trade-WebSocket request: `reqId`, the header with timestamp and receive
    window, the op and its single argument object."""
    return {
        "reqId": req_id,
        "header": {
            "X-BAPI-TIMESTAMP": str(timestamp_ms),
            "X-BAPI-RECV-WINDOW": str(RECV_WINDOW_MS),
        },
        "op": op,
        "args": [args],
    }


class TradeDropped(VenueUnknownOutcome):
    """The trade connection went (or stayed silent) before the request was answered."""


class TradeSocket(AuthedSocket):
    """The order-entry connection of one account."""

    name = "Bybit trade WebSocket"

    def __init__(
        self,
        url: str,
        auth_args: Callable[[int], list[object]],
        clock_ms: Callable[[], int],
        local_address: str | None = None,
    ) -> None:
        super().__init__(url, auth_args, clock_ms, local_address)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # reqIds must be unique on a connection; a per-process prefix keeps them unique
        # across reconnects and sessions too.
        self._prefix = f"e{os.getpid() % 100000:05d}{id(self) % 10000:04d}-"
        self._ids = itertools.count(1)

    def request(self, op: str, args: dict[str, Any]) -> asyncio.Future[dict[str, Any]] | None:
        """Writes one request now; the future gets the venue's reply object.

        None when the connection is not ready (the caller uses REST instead).
        """
        if not self.ready:
            return None
        req_id = f"{self._prefix}{next(self._ids)}"
        message = trade_message(req_id, op, args, self._clock_ms())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        if not self.send(orjson.dumps(message)):
            del self._pending[req_id]
            return None
        return future

    def on_message(self, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.error("undecodable trade frame: %r", payload[:200])
            return
        if not isinstance(message, dict):
            return
        future = self._pending.pop(str(message.get("reqId", "")), None)
        if future is None:
            if message.get("retCode") not in (0, None):
                log.warning("trade WebSocket: unmatched error %s", payload[:300])
            return
        if not future.done():
            future.set_result(message)

    def on_disconnected(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(TradeDropped("trade connection dropped before the reply"))

    def forget(self, future: asyncio.Future[dict[str, Any]]) -> None:
        """Stops waiting for a request whose reply is overdue."""
        for req_id, pending in list(self._pending.items()):
            if pending is future:
                del self._pending[req_id]
