"""REST and WebSocket on one port (the order-manager API).

aiohttp serves both: REST needs request bodies, which picows's server does not read, and
one library for both keeps a single port. The WebSocket path is the latency-sensitive
one; its frames are written straight from the engine's callback through a per-client
queue so that a slow client cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import struct
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ems.api import parse
from ems.api.openapi import openapi_document
from ems.api.risk import add_routes as add_risk_routes
from ems.api.triggers import add_routes as add_trigger_routes
from ems.engine.engine import Engine
from ems.engine.session import OrderSession
from ems.engine.triggers import TriggerManagers
from ems.errors import ApiError
from ems.model import LogLevel, OrderStatus, now_ns
from ems.venues.net import interface_address
from ems.venues.registry import VenueParams

log = logging.getLogger("ems.api")

MAX_BODY = 256 * 1024
SUBSCRIBER_QUEUE = 50_000
"""Frames a WebSocket client may fall behind by before it is disconnected."""

LOG_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
API_KEY: web.AppKey[str] = web.AppKey("api_key", str)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    return _json(exc.body(), exc.status)


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuses requests without the key; turns every refusal into JSON."""
    expected = request.app[API_KEY]
    given = request.headers.get("X-API-Key") or request.query.get("key") or ""
    # Constant-time comparison: the key must not be guessable by timing.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _json({"error": "missing or invalid API key", "field": "key"}, 401)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return _error(exc)
    except web.HTTPRequestEntityTooLarge:
        return _json({"error": f"request body exceeds {MAX_BODY} bytes", "field": "body"}, 413)
    except web.HTTPException as exc:
        return _json({"error": exc.reason, "field": None}, exc.status)


async def _body(request: web.Request) -> dict[str, Any]:
    return parse.json_object(await request.read())


async def start_order_handler(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data = await _body(request)
    session_id = parse.ident(data, "sessionId")
    key = data.get("exchangeKey")
    if not isinstance(key, dict):
        raise ApiError("exchangeKey is required and must be an object", "exchangeKey")
    exchange = parse.text(key, "exchange", path="exchangeKey.")
    api_key = parse.text(key, "apiKey", path="exchangeKey.")
    secret = parse.text(key, "secretKey", path="exchangeKey.")
    passphrase = parse.text(key, "passphrase", required=False, path="exchangeKey.") or ""
    rest_url = _url(data, "restUrl", ("http://", "https://"))
    ws_url = _url(data, "wsUrl", ("ws://", "wss://", "tcp://", "ssl://", ""))
    interface = parse.text(data, "interface", required=False)
    local = interface_address(interface) if interface else None
    assert session_id and exchange and api_key and secret
    params = VenueParams(
        exchange=exchange,
        api_key=api_key,
        secret=secret,
        passphrase=passphrase,
        rest_url=rest_url,
        ws_url=ws_url,
        local_address=local,
        testnet=engine.testnet,
        use_margin=parse.boolean(data, "useMargin"),
        cancel_on_disconnect=(
            None
            if data.get("cancelOnDisconnect") is None
            else parse.boolean(data, "cancelOnDisconnect")
        ),
        session_id=session_id,
    )
    if data.get("venueRateLimit") is not None:
        params.extra["venueRateLimit"] = parse.boolean(data, "venueRateLimit")
    ws_api_url = _url(data, "wsApiUrl", ("ws://", "wss://"))
    if ws_api_url is not None:
        if not exchange.startswith("binance"):
            raise ApiError("wsApiUrl applies to Binance sessions only", "wsApiUrl")
        params.extra["wsApiUrl"] = ws_api_url
    session = await engine.start_session(session_id, params)
    return _json(
        {
            "sessionId": session.session_id,
            "exchange": session.exchange,
            "symbols": len(session.venue.instruments),
        }
    )


def _url(data: dict[str, Any], name: str, schemes: tuple[str, ...]) -> str | None:
    value = parse.text(data, name, required=False)
    if not value:
        return None
    if not value.startswith(schemes) or value.endswith("/"):
        raise ApiError(
            f"{name} must be a {'/'.join(s for s in schemes if s)} URL without a trailing slash",
            name,
        )
    return value


async def set_log_level(request: web.Request) -> web.Response:
    data = await _body(request)
    level = parse.choice(data, "logLevel", LogLevel) or LogLevel.INFO
    logging.getLogger("ems").setLevel(LOG_LEVELS[level])
    return _json({"logLevel": level.value})


async def send_order(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data: dict[str, Any] = {}
    try:
        data = await _body(request)
        req = parse.send_order(data)
        return _json(engine.session(req.session_id).send(req))
    except ApiError as exc:
        _count_refusal(engine, data.get("sessionId"), exc)
        raise


def _count_refusal(engine: Engine, session_id: object, exc: ApiError) -> None:
    """Counts a sendOrder ems refused itself (a REST 4xx or a rejected stream frame)."""
    session = engine.sessions.get(session_id) if isinstance(session_id, str) else None
    engine.metrics.reject(session.exchange if session else "unknown", exc.reason)


async def refresh(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data = await _body(request)
    session = engine.session(data.get("sessionId"))
    transactions = data.get("transactions", [])
    if not isinstance(transactions, list):
        raise ApiError("transactions must be an array of ordertransactions", "transactions")
    ids = []
    for item in transactions:
        if not isinstance(item, dict) or not isinstance(item.get("clOrderId"), str):
            raise ApiError("each transaction needs a clOrderId string", "transactions")
        ids.append(item["clOrderId"])
    return _json({"sessionId": session.session_id, "refreshing": session.refresh(ids)})


async def get_position(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data: dict[str, Any] = dict(request.query) if request.method == "GET" else await _body(request)
    session = engine.session(data.get("sessionId"))
    symbol = parse.text(data, "symbol")
    exchange = parse.text(data, "exchange", required=False)
    if exchange and exchange != session.exchange:
        raise ApiError(f"session {session.session_id} trades {session.exchange}", "exchange")
    if symbol not in session.venue.instruments:
        raise ApiError(f"unknown symbol {symbol!r} on {session.exchange}", "symbol")
    return _json({"position": session.positions.get(symbol or "", 0.0)})


async def orders(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    session = engine.session(request.query.get("sessionId"))
    every = request.query.get("all", "false").lower()
    if every not in ("true", "false"):
        raise ApiError("all must be true or false", "all")
    if every == "true":
        return _json([session.transaction(o) for o in session.orders.values()])
    return _json(session.working_orders())


async def sessions(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return _json(
        [
            {
                "sessionId": s.session_id,
                "exchange": s.exchange,
                "clientIdPrefixes": list(s.prefixes),
                "workingOrders": sum(1 for o in s.orders.values() if o.working),
            }
            for s in engine.sessions.values()
        ]
    )


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


class _Client:
    """One WebSocket client: a bounded queue drained by a writer task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None = None,
        positions: bool = False,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.positions = positions
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.sessions: set[OrderSession] = set()
        self.overflowed = False
        self.writer_task: asyncio.Task[None] | None = None

    def push(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            if not self.overflowed:
                self.overflowed = True
                log.warning(
                    "WebSocket client fell %d frames behind; disconnecting", SUBSCRIBER_QUEUE
                )
                asyncio.get_running_loop().create_task(self.drop())

    async def drop(self) -> None:
        """Disconnects a client that stopped reading. Its writer is stuck behind a full
        socket, and so would a close frame be: one second for a clean close, then the
        connection is cut."""
        for session in self.sessions:
            (session.position_subscribers if self.positions else session.subscribers).discard(self)
        if self.writer_task is not None:
            self.writer_task.cancel()
        # Not wait_for: it would wait for the close to give up, which it may not.
        closing = asyncio.get_running_loop().create_task(
            self.ws.close(code=1008, message=b"consumer too slow")
        )
        await asyncio.wait((closing,), timeout=1.0)
        # Cut the connection in any case. Closed normally, the socket would keep the
        # unread frames (megabytes) until the client read them, which it does not; with
        # a zero linger time the kernel drops them and resets the connection.
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
        if not closing.done():
            closing.cancel()
        closing.add_done_callback(_ignore_result)

    async def writer(self) -> None:
        while True:
            frame = await self.queue.get()
            await self.ws.send_frame(frame, WSMsgType.TEXT)


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _socket(request: web.Request, positions: bool) -> web.WebSocketResponse:
    engine = request.app[ENGINE]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_BODY, decode_text=False)
    await ws.prepare(request)
    client = _Client(ws, request.transport, positions)
    writer = client.writer_task = asyncio.get_running_loop().create_task(client.writer())
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            raw = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            _on_client_message(engine, client, raw, positions)
    finally:
        for session in client.sessions:
            (session.position_subscribers if positions else session.subscribers).discard(client)
        writer.cancel()
    return ws


def _subscribe(client: _Client, session: OrderSession, positions: bool) -> None:
    if session in client.sessions:
        return
    client.sessions.add(session)
    if positions:
        session.position_subscribers.add(client)
        client.push(session.positions_frame())
    else:
        session.subscribers.add(client)
        client.push(
            orjson.dumps(
                {
                    "event": "subscribed",
                    "sessionId": session.session_id,
                    # How many of the frames that follow are the last recovery's, replayed.
                    "corrections": len(session.corrections),
                }
            )
        )
        # What the last restart corrected was sent while nobody could be subscribed.
        for frame in session.corrections:
            client.push(frame)


def _on_client_message(engine: Engine, client: _Client, raw: bytes, positions: bool) -> None:
    try:
        data = parse.json_object(raw)
        if not positions and "transactionType" in data:
            req = parse.send_order(data)
            session = engine.session(req.session_id)
            _subscribe(client, session, positions)
            session.send(req)
            return
        _subscribe(client, engine.session(data.get("sessionId")), positions)
    except ApiError as exc:
        if positions or "transactionType" not in raw.decode(errors="replace"):
            client.push(orjson.dumps(exc.body()))
            return
        frame = _rejected_frame(raw, exc)
        _count_refusal(engine, frame.get("sessionId"), exc)
        client.push(orjson.dumps(frame))


def _rejected_frame(raw: bytes, exc: ApiError) -> dict[str, object]:
    """The update a refused stream order gets: status rejected, the reason in message."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    keep = (
        "clOrderId",
        "symbol",
        "sessionId",
        "price",
        "qty",
        "orderType",
        "transactionType",
        "tif",
        "side",
    )
    frame: dict[str, object] = {k: data.get(k) for k in keep}
    now = now_ns()
    frame.update(
        orderStatus=OrderStatus.REJECTED.value,
        message=f"{exc.field}: {exc.message}" if exc.field else exc.message,
        localTime=now,
        sendTime=None,
        exchTime=None,
        field=exc.field,
    )
    return frame


async def subscribe_updates(request: web.Request) -> web.WebSocketResponse:
    return await _socket(request, positions=False)


async def subscribe_positions(request: web.Request) -> web.WebSocketResponse:
    return await _socket(request, positions=True)


def build_app(
    engine: Engine, api_key: str, triggers: TriggerManagers | None = None
) -> web.Application:
    """The aiohttp application serving the whole API."""
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)
    add_trigger_routes(app, triggers or TriggerManagers(engine))
    add_risk_routes(app, engine)
    app[ENGINE] = engine
    app[API_KEY] = api_key
    app.router.add_post("/startOrderHandler", start_order_handler)
    app.router.add_post("/setLogLevel", set_log_level)
    app.router.add_post("/sendOrder", send_order)
    app.router.add_post("/refresh", refresh)
    app.router.add_post("/getPosition", get_position)
    app.router.add_get("/getPosition", get_position)
    app.router.add_get("/orders", orders)
    app.router.add_get("/sessions", sessions)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/subscribeUpdates", subscribe_updates)
    app.router.add_get("/subscribePositions", subscribe_positions)
    return app
