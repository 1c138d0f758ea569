"""The Bybit private stream (`/v5/private`): order, execution and position pushes.

Every reconnect is reported to the listener (`on_stream_state(True, ...)`) so that the
engine re-queries working orders: pushes sent while we were away are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from ems.venues.bybit.connection import LOGIN_TIMEOUT_S, AuthedSocket

log = logging.getLogger("ems.bybit.stream")


class PrivateStream(AuthedSocket):
    """One account's private pushes for one category."""

    name = "Bybit private stream"

    def __init__(
        self,
        url: str,
        auth_args: Callable[[int], list[object]],
        clock_ms: Callable[[], int],
        topics: list[str],
        on_push: Callable[[bytes], None],
        on_state: Callable[[bool, str], None],
        local_address: str | None = None,
    ) -> None:
        super().__init__(url, auth_args, clock_ms, local_address)
        self.topics = topics
        self._on_push = on_push
        self._on_state = on_state
        self._subscribed: asyncio.Future[None] | None = None

    async def after_login(self) -> None:
        self._subscribed = asyncio.get_running_loop().create_future()
        request = {"req_id": "ems-subscribe", "op": "subscribe", "args": self.topics}
        self.send(orjson.dumps(request))
        await asyncio.wait_for(self._subscribed, LOGIN_TIMEOUT_S)

    def on_connected(self, reconnect: bool) -> None:
        if reconnect:
            self._on_state(True, "reconnected")

    def on_disconnected(self) -> None:
        self._on_state(False, "connection closed")

    def on_message(self, payload: bytes) -> None:
        if b'"topic"' in payload:
            self._on_push(payload)
            return
        waiting = self._subscribed
        if waiting is None or waiting.done() or b'"subscribe"' not in payload:
            return
        message = orjson.loads(payload)
        if isinstance(message, dict) and message.get("success") is True:
            waiting.set_result(None)
        else:
            waiting.set_exception(ConnectionError(f"subscribe refused: {payload[:200]!r}"))
