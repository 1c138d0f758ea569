"""The Binance user-data stream: order and account events for one account.

Spot listens through the WebSocket API (`userDataStream.subscribe.signature`, events
wrapped in `{"subscriptionId", "event"}`); USD-M and COIN-M through a listenKey stream.
The connection is kept up for as long as the session runs: every drop is followed by a
reconnect with back-off, and every reconnect by a reconciliation of working orders,
since events sent while we were away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ems._core import HmacSha256

log = logging.getLogger("ems.binance.stream")

BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
LISTEN_KEY_KEEPALIVE_S = 30 * 60


class _Frames(WSListener):
    def __init__(
        self, on_message: Callable[[Any], None], fast: Callable[[bytes], bool] | None
    ) -> None:
        self._on_message = on_message
        self._fast = fast

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            if self._fast is not None and self._fast(frame.get_payload_as_bytes()):
                return
            try:
                message = orjson.loads(frame.get_payload_as_memoryview())
            except orjson.JSONDecodeError:
                log.error("undecodable frame from venue: %r", frame.get_payload_as_bytes()[:200])
                return
            self._on_message(message)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class UserStream:
    """Keeps one user-data connection alive and hands every event to `on_event`."""

    def __init__(
        self,
        url_for_connection: Callable[[], Awaitable[str]],
        on_event: Callable[[dict[str, Any]], None],
        on_state: Callable[[bool, str], None],
        api_key: str | None = None,
        secret: str | None = None,
        keepalive: Callable[[], Awaitable[None]] | None = None,
        fast: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._url_for_connection = url_for_connection
        self._on_event = on_event
        self._on_state = on_state
        self._api_key = api_key
        self._signer = HmacSha256(secret.encode()) if secret else None
        self._keepalive = keepalive
        self._fast = fast
        """Handles the hot frames (order updates) from raw bytes; True if it did."""
        self._transport: WSTransport | None = None
        self._subscribed: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, timeout: float = 10.0) -> None:
        """Connects and returns once events flow; raises if that fails in `timeout`."""
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._run(first))
        await asyncio.wait_for(asyncio.shield(first), timeout)

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def drop(self) -> None:
        """Closes the current connection (the run loop reconnects)."""
        if self._transport is not None:
            self._transport.disconnect()

    async def _run(self, first: asyncio.Future[None]) -> None:
        attempt = 0
        keepalive_task: asyncio.Task[None] | None = None
        while not self._stopping:
            try:
                await self._connect_once()
                attempt = 0
                if not first.done():
                    first.set_result(None)
                else:
                    self._on_state(True, "reconnected")
                if self._keepalive is not None and keepalive_task is None:
                    keepalive_task = asyncio.get_running_loop().create_task(self._keepalive_loop())
                assert self._transport is not None
                await self._transport.wait_disconnected()
                if not self._stopping:
                    self._on_state(False, "connection closed")
            except asyncio.CancelledError:
                break
            except Exception as exc:
                if not first.done():
                    first.set_exception(exc)
                    return
                log.warning("user stream connect failed: %s", exc)
            if self._stopping:
                break
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1
        if keepalive_task is not None:
            keepalive_task.cancel()

    async def _connect_once(self) -> None:
        url = await self._url_for_connection()
        self._transport, _ = await ws_connect(
            lambda: _Frames(self._on_message, self._fast),
            url,
            enable_auto_ping=True,
            auto_ping_idle_timeout=30,
            auto_ping_reply_timeout=10,
        )
        if self._signer is None:
            return
        # Spot: subscribe on the WebSocket API with an HMAC-signed request.
        loop = asyncio.get_running_loop()
        self._subscribed = loop.create_future()
        params = {"apiKey": self._api_key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        request = {
            "id": "ems-user-stream",
            "method": "userDataStream.subscribe.signature",
            "params": {**params, "signature": self._signer.hex(payload.encode())},
        }
        self._transport.send(WSMsgType.TEXT, orjson.dumps(request))
        try:
            await asyncio.wait_for(self._subscribed, 10)
        except BaseException:
            self._transport.disconnect()
            raise

    def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        event = message.get("event")
        if isinstance(event, dict):
            self._on_event(event)
            return
        if "e" in message:
            self._on_event(message)
            return
        if message.get("id") == "ems-user-stream" and self._subscribed is not None:
            if self._subscribed.done():
                return
            if message.get("status") == 200:
                self._subscribed.set_result(None)
            else:
                error = message.get("error") or {}
                self._subscribed.set_exception(
                    ConnectionError(f"subscribe refused: {error.get('code')} {error.get('msg')}")
                )

    async def _keepalive_loop(self) -> None:
        assert self._keepalive is not None
        while not self._stopping:
            await asyncio.sleep(LISTEN_KEY_KEEPALIVE_S)
            try:
                await self._keepalive()
            except Exception as exc:
                log.warning("listenKey keepalive failed: %s", exc)
