"""The OKX private WebSocket: one connection for order entry and order updates.

The connection logs in once (protocols.md B.4: sign = base64 HMAC-SHA256 over
`timestamp + "GET" + "/users/self/verify"`, timestamp in seconds), subscribes to the
private channels, and then carries order operations (`{"id", "op", "args"}`) whose
replies are matched by `id`. Requests are written in the call that makes them while the
connection is up; while it is down they wait (at most `QUEUE_MAX_S`) and go out as soon as
the next connection has logged in, consecutive single orders merged into `batch-orders`
messages of 20. A reply that can no longer come (the connection dropped with the request
on it) fails with `VenueUnknownOutcome`: the caller reconciles. Every reconnect after the
first is reported to `on_state`, so that the engine re-queries working orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ems._core import HmacSha256
from ems.errors import VenueError, VenueUnknownOutcome

log = logging.getLogger("ems.okx.stream")

BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
QUEUE_MAX_S = 5.0
"""How long a request waits for a connection before it is refused unsent."""
PING_IDLE_S = 20.0
"""Send the text `ping` after this long without a frame (OKX closes after 30 s)."""
HANDSHAKE_S = 10.0
BATCH_MAX = 20


class ConnectionLost(VenueUnknownOutcome):
    """The connection dropped while a request was on it: its outcome is unknown."""


@dataclass(slots=True)
class _Queued:
    op: str
    args: list[dict[str, Any]]
    future: asyncio.Future[dict[str, Any]]
    raw: bytes | None = None
    req_id: str = ""
    expiry: asyncio.TimerHandle | None = field(default=None)


class _Frames(WSListener):
    def __init__(self, socket: PrivateSocket) -> None:
        self._socket = socket

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self._socket._on_frame(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._socket._on_disconnected(transport)


class PrivateSocket:
    """Keeps the private connection logged in and subscribed; sends order operations."""

    def __init__(
        self,
        url: str,
        api_key: str,
        secret: str,
        passphrase: str,
        subscriptions: list[dict[str, str]],
        on_push: Callable[[bytes], None],
        on_state: Callable[[bool, str], None],
        clock_ms: Callable[[], int],
    ) -> None:
        self._url = url
        self._api_key = api_key
        self._passphrase = passphrase
        self._signer = HmacSha256(secret.encode())
        self._subscriptions = subscriptions
        self._on_push = on_push
        self._on_state = on_state
        self._clock_ms = clock_ms
        self._transport: WSTransport | None = None
        self._ready = False
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._queue: list[_Queued] = []
        self._handshake: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_frame = time.monotonic()
        self._up = asyncio.Event()
        self._acks_wanted = 0
        self.connects = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connects, logs in and subscribes; raises `VenueError` if the venue refuses."""
        await self._connect()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._ping_task = loop.create_task(self._keepalive())

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._ping_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._transport is not None:
            self._transport.disconnect()
        self._fail_all(ConnectionLost("session stopped"))

    def drop(self) -> None:
        """Closes the current connection (the run loop reconnects; used by tests)."""
        if self._transport is not None:
            self._transport.disconnect()

    @property
    def ready(self) -> bool:
        """Logged in and subscribed: requests are written at once."""
        return self._ready

    async def wait_ready(self, timeout: float) -> bool:
        """Waits until the connection is usable again; False on timeout."""
        if self._ready:
            return True
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return self._ready

    async def _connect(self) -> None:
        self._transport, _ = await asyncio.wait_for(
            ws_connect(
                lambda: _Frames(self),
                self._url,
                enable_auto_ping=True,
                auto_ping_idle_timeout=25,
                auto_ping_reply_timeout=10,
            ),
            HANDSHAKE_S,
        )
        self._last_frame = time.monotonic()
        transport = self._transport
        assert transport is not None
        try:
            await self._login()
            await self._subscribe()
        except BaseException:
            transport.disconnect()
            raise
        self.connects += 1
        self._ready = True
        self._up.set()
        self._flush_queue()

    def login_request(self, stamp: str) -> dict[str, Any]:
        """The login message for a unix-seconds timestamp (sign as in vector V9)."""
        sign = self._signer.base64(f"{stamp}GET/users/self/verify".encode())
        return {
            "op": "login",
            "args": [
                {
                    "apiKey": self._api_key,
                    "passphrase": self._passphrase,
                    "timestamp": stamp,
                    "sign": sign,
                }
            ],
        }

    async def _login(self) -> None:
        request = self.login_request(str(self._clock_ms() // 1000))
        reply = await self._handshake_request("login", request)
        if reply.get("event") != "login" or str(reply.get("code")) != "0":
            raise VenueError(
                f"login refused: {reply.get('code')} {reply.get('msg')}",
                _int(reply.get("code")),
            )

    async def _subscribe(self) -> None:
        # One request carries every channel; the venue acknowledges each one.
        self._acks_wanted = len(self._subscriptions)
        request = {"op": "subscribe", "args": self._subscriptions}
        reply = await self._handshake_request("subscribe", request)
        if reply.get("event") != "subscribe":
            raise VenueError(
                f"subscribe refused: {reply.get('code')} {reply.get('msg')}",
                _int(reply.get("code")),
            )

    async def _handshake_request(self, event: str, request: dict[str, Any]) -> dict[str, Any]:
        assert self._transport is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._handshake[event] = future
        self._transport.send(WSMsgType.TEXT, orjson.dumps(request))
        try:
            return await asyncio.wait_for(future, HANDSHAKE_S)
        finally:
            self._handshake.pop(event, None)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            transport = self._transport
            if transport is not None:
                await transport.wait_disconnected()
            if self._stopping:
                return
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                self._transport = None
                log.warning("private WebSocket reconnect failed: %s", exc)
                continue
            attempt = 0
            log.info("private WebSocket reconnected")
            self._on_state(True, "reconnected")

    async def _keepalive(self) -> None:
        while not self._stopping:
            await asyncio.sleep(PING_IDLE_S / 4)
            transport = self._transport
            if transport is not None and time.monotonic() - self._last_frame > PING_IDLE_S:
                with contextlib.suppress(Exception):
                    transport.send(WSMsgType.TEXT, b"ping")
                self._last_frame = time.monotonic()

    # ------------------------------------------------------------------ requests
    def next_id(self) -> str:
        """A request id (alphanumeric, at most 32 characters)."""
        return f"o{next(self._ids)}"

    @staticmethod
    def encode(req_id: str, op: str, args: list[dict[str, Any]]) -> bytes:
        """One order operation message."""
        return orjson.dumps({"id": req_id, "op": op, "args": args})

    def request(self, op: str, args: list[dict[str, Any]]) -> asyncio.Future[dict[str, Any]]:
        """Writes `{"id", "op", "args"}` now if the connection is up, else queues it."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._ready and self._transport is not None:
            req_id = self.next_id()
            self._pending[req_id] = future
            self._transport.send(WSMsgType.TEXT, self.encode(req_id, op, args))
        else:
            self._enqueue(_Queued(op, args, future))
        return future

    def send_raw(self, frame: bytes, req_id: str) -> asyncio.Future[dict[str, Any]]:
        """Writes a message built elsewhere (its `id` is `req_id`), or queues it."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._ready and self._transport is not None:
            self._pending[req_id] = future
            self._transport.send(WSMsgType.TEXT, frame)
        else:
            self._enqueue(_Queued("", [], future, frame, req_id))
        return future

    def _enqueue(self, item: _Queued) -> None:
        loop = asyncio.get_running_loop()

        def expire() -> None:
            if item in self._queue:
                self._queue.remove(item)
                if not item.future.done():
                    item.future.set_exception(
                        VenueError(f"not sent: private WebSocket down for {QUEUE_MAX_S:g}s")
                    )

        item.expiry = loop.call_later(QUEUE_MAX_S, expire)
        self._queue.append(item)

    def _flush_queue(self) -> None:
        """Sends what waited for the connection, merging runs of single orders."""
        queue, self._queue = self._queue, []
        run: list[_Queued] = []
        for item in queue:
            if item.expiry is not None:
                item.expiry.cancel()
            if item.op == "order":
                run.append(item)
                if len(run) == BATCH_MAX:
                    self._send_batch(run)
                    run = []
                continue
            if run:
                self._send_batch(run)
                run = []
            self._send_item(item)
        if run:
            self._send_batch(run)

    def _send_item(self, item: _Queued) -> None:
        assert self._transport is not None
        if item.raw is not None:
            self._pending[item.req_id] = item.future
            self._transport.send(WSMsgType.TEXT, item.raw)
            return
        req_id = self.next_id()
        self._pending[req_id] = item.future
        self._transport.send(WSMsgType.TEXT, self.encode(req_id, item.op, item.args))

    def _send_batch(self, run: list[_Queued]) -> None:
        if len(run) == 1:
            self._send_item(run[0])
            return
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        combined: asyncio.Future[dict[str, Any]] = loop.create_future()
        req_id = self.next_id()
        self._pending[req_id] = combined
        args = [arg for item in run for arg in item.args]
        self._transport.send(WSMsgType.TEXT, self.encode(req_id, "batch-orders", args))
        by_client: dict[str, asyncio.Future[dict[str, Any]]] = {
            str(item.args[0].get("clOrdId", "")): item.future for item in run
        }

        def split(done: asyncio.Future[dict[str, Any]]) -> None:
            exc = done.exception()
            if exc is not None:
                for future in by_client.values():
                    if not future.done():
                        future.set_exception(exc)
                return
            reply = done.result()
            for data in reply.get("data") or []:
                waiter = by_client.pop(str(data.get("clOrdId", "")), None)
                if waiter is not None and not waiter.done():
                    code = "0" if str(data.get("sCode")) == "0" else "1"
                    waiter.set_result({**reply, "code": code, "data": [data]})
            for future in by_client.values():
                if not future.done():
                    future.set_exception(
                        VenueError(
                            f"{reply.get('code')} {reply.get('msg')}", _int(reply.get("code"))
                        )
                    )

        combined.add_done_callback(split)

    # ------------------------------------------------------------------ frames
    def _on_frame(self, frame: bytes) -> None:
        self._last_frame = time.monotonic()
        if frame.startswith(b'{"arg"'):
            self._on_push(frame)
            return
        if frame == b"pong":
            return
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            log.error("undecodable frame from venue: %r", frame[:200])
            return
        if not isinstance(message, dict):
            return
        req_id = message.get("id")
        if "op" in message and isinstance(req_id, str):
            future = self._pending.pop(req_id, None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("event")
        if event in ("login", "subscribe", "error"):
            if event == "subscribe":
                self._acks_wanted -= 1
                if self._acks_wanted > 0:
                    return
            target = "login" if "login" in self._handshake else "subscribe"
            waiter = self._handshake.get(target)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            elif event == "error":
                log.warning("venue error event: %s %s", message.get("code"), message.get("msg"))
            return
        if "arg" in message and "data" in message:
            self._on_push(frame)
            return
        if event == "notice":
            log.warning("venue notice: %s %s", message.get("code"), message.get("msg"))

    def _on_disconnected(self, transport: WSTransport) -> None:
        if transport is not self._transport:
            return
        was_ready = self._ready
        self._ready = False
        self._up.clear()
        self._fail_all(ConnectionLost("private WebSocket dropped with the request on it"))
        for waiter in self._handshake.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection closed during handshake"))
        if was_ready and not self._stopping:
            log.warning("private WebSocket dropped")
            self._on_state(False, "private WebSocket dropped")

    def _fail_all(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
