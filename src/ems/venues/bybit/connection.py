"""An authenticated Bybit WebSocket kept up for the life of a session (protocols.md C.4).

Both the private stream (`/v5/private`) and order entry (`/v5/trade`) log in with the
`auth` op, whose signature is HMAC over `GET/realtime` + an expiry in the future, and
want an application-level `{"op":"ping"}` every 20 s.  A dropped connection is
reconnected with back-off and logged in again; subclasses say what happens after the
login (subscribe) and when the connection goes (fail requests in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

log = logging.getLogger("ems.bybit.ws")

BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
PING_INTERVAL_S = 20.0
AUTH_EXPIRY_MS = 10_000
LOGIN_TIMEOUT_S = 10.0


class _Frames(WSListener):
    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        self._on_frame = on_frame

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            try:
                self._on_frame(frame.get_payload_as_bytes())
            except Exception:
                log.exception("Bybit frame handler failed")
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class AuthedSocket:
    """Connect, log in, run `after_login`, then hand every frame to `on_frame`."""

    name = "ws"

    def __init__(
        self,
        url: str,
        auth_args: Callable[[int], list[object]],
        clock_ms: Callable[[], int],
        local_address: str | None = None,
    ) -> None:
        self.url = url
        self._auth_args = auth_args
        self._clock_ms = clock_ms
        self._local_address = local_address
        self.transport: WSTransport | None = None
        self.logged_in = False
        self._login: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._stopping = False
        self.connects = 0

    @property
    def ready(self) -> bool:
        """Connected and logged in: requests written now will be read by the venue."""
        return self.logged_in and self.transport is not None

    async def start(self, timeout: float = 10.0) -> None:
        """Connects and logs in (raising if that fails), then stays connected."""
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._run(first))
        await asyncio.wait_for(asyncio.shield(first), timeout)

    async def stop(self) -> None:
        """Closes the connection for good."""
        self._stopping = True
        if self.transport is not None:
            self.transport.disconnect()
        for task in (self._task, self._pinger):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def drop(self) -> None:
        """Closes the current connection (the run loop reconnects)."""
        if self.transport is not None:
            self.transport.disconnect()

    def send(self, message: bytes) -> bool:
        """Writes one text frame now; False when there is no connection."""
        if self.transport is None:
            return False
        self.transport.send(WSMsgType.TEXT, message)
        return True

    # ------------------------------------------------------------- hooks
    async def after_login(self) -> None:
        """Runs once per connection after a successful login."""

    def on_connected(self, reconnect: bool) -> None:
        """Called when a connection is ready for use."""

    def on_disconnected(self) -> None:
        """Called when a ready connection has gone."""

    def on_message(self, payload: bytes) -> None:
        """Every frame that is not a login or pong reply."""

    # ------------------------------------------------------------- internals
    def _on_frame(self, payload: bytes) -> None:
        if self._login is not None and not self._login.done() and b'"auth"' in payload[:200]:
            self._login_reply(orjson.loads(payload))
            return
        if b'"pong"' in payload[:120] and b'"op"' in payload[:120]:
            return
        self.on_message(payload)

    def _login_reply(self, message: Any) -> None:
        assert self._login is not None
        if not isinstance(message, dict):
            return
        if message.get("success") is True or message.get("retCode") == 0:
            self._login.set_result(None)
            return
        reason = message.get("retMsg") or message.get("ret_msg") or "refused"
        code = message.get("retCode", "")
        self._login.set_exception(PermissionError(f"{self.name} login refused: {code} {reason}"))

    async def _connect_once(self) -> None:
        # picows hands extra keywords to loop.create_connection (interface binding).
        extra: dict[str, Any] = {}
        if self._local_address:
            extra["local_addr"] = (self._local_address, 0)
        self.transport, _ = await ws_connect(
            lambda: _Frames(self._on_frame),
            self.url,
            enable_auto_ping=True,
            auto_ping_idle_timeout=30,
            auto_ping_reply_timeout=10,
            **extra,
        )
        loop = asyncio.get_running_loop()
        self._login = loop.create_future()
        expires = self._clock_ms() + AUTH_EXPIRY_MS
        request = {"req_id": "ems-auth", "op": "auth", "args": self._auth_args(expires)}
        self.transport.send(WSMsgType.TEXT, orjson.dumps(request))
        try:
            await asyncio.wait_for(self._login, LOGIN_TIMEOUT_S)
            await self.after_login()
        except BaseException:
            self.transport.disconnect()
            self.transport = None
            raise
        self.logged_in = True

    async def _run(self, first: asyncio.Future[None]) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._connect_once()
                self.connects += 1
                attempt = 0
                if not first.done():
                    first.set_result(None)
                self.on_connected(self.connects > 1)
                if self._pinger is None:
                    self._pinger = asyncio.get_running_loop().create_task(self._ping_loop())
                transport = self.transport
                assert transport is not None
                await transport.wait_disconnected()
                self.logged_in = False
                self.transport = None
                if not self._stopping:
                    log.warning("%s connection closed; reconnecting", self.name)
                    self.on_disconnected()
            except asyncio.CancelledError:
                break
            except Exception as exc:
                self.logged_in = False
                self.transport = None
                if not first.done():
                    first.set_exception(exc)
                    return
                log.warning("%s connect failed: %s", self.name, exc)
            if self._stopping:
                break
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _ping_loop(self) -> None:
        ping = b'{"op":"ping"}'
        while not self._stopping:
            await asyncio.sleep(PING_INTERVAL_S)
            if self.transport is not None:
                with contextlib.suppress(Exception):
                    self.transport.send(WSMsgType.TEXT, ping)
