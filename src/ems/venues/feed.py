"""A reconnecting public WebSocket feed whose frames go straight to a parser.

The frame callback runs inside the socket's read callback, so a trade that fires a
trigger is turned into an order request before control returns to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

log = logging.getLogger("ems.feed")

BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class _Listener(WSListener):
    def __init__(self, feed: Feed, on_frame: Callable[[Any], None]) -> None:
        self._feed = feed
        self._on_frame = on_frame

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            feed = self._feed
            feed.frame_ns = time.perf_counter_ns()
            payload = feed.last_frame = frame.get_payload_as_bytes()
            try:
                self._on_frame(payload)
            except Exception:
                log.exception("market data frame handler failed")
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class _ParsingListener(_Listener):
    """Hands the handler what `parse` makes of each frame; frames it refuses are skipped.

    The parser (a core scanner) is called here rather than in a wrapper around the
    handler: on the trigger path every Python frame is paid for in latency."""

    def __init__(
        self, feed: Feed, on_item: Callable[[Any], None], parse: Callable[[bytes], Any]
    ) -> None:
        super().__init__(feed, on_item)
        self._parse = parse

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            feed = self._feed
            feed.frame_ns = time.perf_counter_ns()
            payload = feed.last_frame = frame.get_payload_as_bytes()
            try:
                item = self._parse(payload)
            except ValueError:
                return  # not for the handler (a subscription reply, another event)
            try:
                self._on_frame(item)
            except Exception:
                log.exception("market data frame handler failed")
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class Feed:
    """One public stream URL, kept connected until `stop`."""

    def __init__(
        self,
        url: str,
        on_frame: Callable[[Any], None],
        on_connect: Callable[[], None] | None = None,
        name: str = "feed",
        parse: Callable[[bytes], Any] | None = None,
    ) -> None:
        """`on_frame` gets each text frame's bytes, or, with `parse`, what `parse`
        returns for it (frames on which `parse` raises ValueError are skipped)."""
        self.url = url
        self.name = name
        self._on_frame = on_frame
        self._parse = parse
        self._on_connect = on_connect
        self._transport: WSTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connects = 0
        self.on_disconnect: Callable[[], None] | None = None
        """Called when the connection drops, before any reconnect (a book marks itself
        not synced here, so nothing reads stale levels while the stream is down)."""
        self.frame_ns = 0
        self.last_frame = b""
        """The latest frame (replayed by warm-ups through the parser, not the handler)."""
        """perf_counter_ns() when the frame being handled arrived (for latency metrics)."""

    async def start(self, timeout: float = 10.0) -> None:
        """Connects once (raising if that fails), then keeps reconnecting in the background."""
        await asyncio.wait_for(self._connect(), timeout)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _connect(self) -> None:
        parse = self._parse
        self._transport, _ = await ws_connect(
            lambda: (
                _Listener(self, self._on_frame)
                if parse is None
                else _ParsingListener(self, self._on_frame, parse)
            ),
            self.url,
            enable_auto_ping=True,
            auto_ping_idle_timeout=30,
            auto_ping_reply_timeout=10,
        )
        self.connects += 1
        if self._on_connect is not None:
            self._on_connect()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            if self._transport is not None:
                await self._transport.wait_disconnected()
                if self._stopping:
                    return
                log.warning("%s disconnected; reconnecting", self.name)
                if self.on_disconnect is not None:
                    try:
                        self.on_disconnect()
                    except Exception:
                        log.exception("%s: disconnect handler failed", self.name)
                self._transport = None
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            try:
                await asyncio.wait_for(self._connect(), 10)
                attempt = 0
                log.info("%s reconnected", self.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("%s reconnect failed: %s", self.name, exc)

    def drop(self) -> None:
        """Closes the current connection; the run loop reconnects (and resubscribes)."""
        if self._transport is not None:
            self._transport.disconnect()

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
