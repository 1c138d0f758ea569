"""WebSocket routes of a simulated Binance product.

* Market streams: ``/ws/<stream>[/<stream>...]`` (raw payloads), ``/stream?streams=a/b``
  (combined: ``{"stream": name, "data": payload}``), and on futures also
  ``/public/ws``, ``/market/ws``, ``/private/ws`` and their ``/stream`` forms; every path
  takes an optional trailing ``/<n>`` index (ccxt appends one).  ``SUBSCRIBE``,
  ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` and ``GET_PROPERTY`` messages
  are answered like Binance does.
* User data through a listenKey: ``/ws/<listenKey>`` (unwrapped events),
  ``/stream?streams=<listenKey>`` (wrapped), ``/private/ws?listenKey=<key>``.
* WebSocket API: spot ``/ws-api/v3`` (user events after
  ``userDataStream.subscribe.signature`` arrive as ``{"subscriptionId": n, "event": ..}``)
  and futures ``/ws-fapi/v1`` / ``/ws-dapi/v1``.

The server pings every 20 s (aiohttp heartbeat) and answers the client's pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ems.sim.binance.auth import (
    check_timestamp,
    now_ms,
    signature_error,
    ws_param_text,
    ws_signature_ok,
)
from ems.sim.binance.errors import BAD_KEY, UNKNOWN_ERROR, BinanceError, mandatory
from ems.sim.binance.futures import FuturesVenue
from ems.sim.binance.rest import BinanceServer
from ems.sim.binance.specs import Product
from ems.sim.binance.spot import SpotVenue
from ems.sim.binance.venue import Params
from ems.sim.probe import PROBE, StampingTransport
from ems.venues.net import write_at_once

log = logging.getLogger("ems.sim.binance.ws")

HEARTBEAT_S = 20.0


class Connection:
    """One accepted WebSocket with an ordered, non-blocking send queue."""

    def __init__(self, ws: web.WebSocketResponse, kind: str) -> None:
        """``kind`` is ``market`` (streams, maybe listenKeys) or ``wsapi``."""
        self.ws = ws
        self.kind = kind
        self.accounts: set[str] = set()
        self.market_streams: dict[str, Callable[[str, bytes], None]] = {}
        self.listen_keys: set[str] = set()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        # The latency probe stamps a trade frame as its bytes reach the socket, after
        # aiohttp has framed it (see ems.sim.probe).
        frames = getattr(ws, "_writer", None)
        self._stamping: StampingTransport | None = None
        if frames is not None and getattr(frames, "transport", None) is not None:
            self._stamping = frames.transport = StampingTransport(frames.transport)
        self._writer = asyncio.create_task(self._write())
        self.cleanups: list[Callable[[], None]] = []

    async def _write(self) -> None:
        while True:
            data = await self._queue.get()
            if data is None or self.ws.closed:
                return
            try:
                if PROBE.claims(data):
                    if self._stamping is not None:
                        self._stamping.stamp_next = True
                    else:
                        PROBE.written()
                await self.ws.send_frame(data, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                return

    def send(self, data: bytes) -> None:
        """Queues one text frame (events keep their order)."""
        self._queue.put_nowait(data)

    def send_json(self, obj: Any) -> None:
        """Queues one JSON object."""
        self.send(orjson.dumps(obj))

    async def close(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Closes the socket (used by the disconnect fault and shutdown)."""
        self._queue.put_nowait(None)
        # Let queued frames (e.g. listenKeyExpired) go out before the close frame.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    async def finish(self) -> None:
        """Unsubscribes everything and stops the writer after the socket ended."""
        for cleanup in self.cleanups:
            cleanup()
        self.cleanups.clear()
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._writer, 1.0)


def _normalise_stream(name: str) -> str:
    """Stream names carry the symbol in lower case; the event part keeps its case."""
    symbol, sep, rest = name.partition("@")
    return symbol.lower() + sep + rest if sep else name


def _combined(stream: str, data: bytes) -> bytes:
    return b'{"stream":' + orjson.dumps(stream) + b',"data":' + data + b"}"


class WebSocketLayer:
    """Routes and connection registry for one product's server."""

    def __init__(self, server: BinanceServer) -> None:
        """Hooks into the server's routes, disconnect fault and shutdown."""
        self.server = server
        self.venue = server.venue
        self.connections: set[Connection] = set()
        self._tasks: set[asyncio.Future[None]] = set()
        server.routes_hooks.append(self._routes)
        server.shutdown_hooks.append(self.shutdown)
        server.disconnect = self.disconnect
        self.venue.listen_key_closed.append(self._listen_key_closed)

    def _routes(self, app: web.Application) -> None:
        bases = ["ws", "stream"]
        if self.venue.product.is_futures:
            for group in ("public", "market", "private"):
                bases += [f"{group}/ws", f"{group}/stream"]
        for base in bases:
            app.router.add_get(f"/{base}", self._stream_handler)
            app.router.add_get(f"/{base}/{{tail:.*}}", self._stream_handler)
        if self.venue.product is Product.SPOT:
            app.router.add_get("/ws-api/v3", self._wsapi_handler)
        elif self.venue.product is Product.USDM:
            app.router.add_get("/ws-fapi/v1", self._wsapi_handler)
        else:
            app.router.add_get("/ws-dapi/v1", self._wsapi_handler)

    # ------------------------------------------------------------- registry
    def disconnect(self, kind: str, api_key: str | None) -> int:
        """Closes market, user or all connections (user: of one account, or of all)."""
        victims = []
        for conn in list(self.connections):
            is_user = bool(conn.accounts) and (api_key is None or api_key in conn.accounts)
            is_market = conn.kind == "market" and not conn.accounts
            if kind == "all" or (kind == "user" and is_user) or (kind == "market" and is_market):
                victims.append(conn)
        for conn in victims:
            self._spawn(conn.close())
        return len(victims)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Closes every connection."""
        await asyncio.gather(*(c.close(WSCloseCode.GOING_AWAY) for c in list(self.connections)))

    def _listen_key_closed(self, listen_key: str) -> None:
        for conn in list(self.connections):
            if listen_key in conn.listen_keys:
                conn.send_json({"e": "listenKeyExpired", "E": now_ms(), "listenKey": listen_key})
                self._spawn(conn.close())

    async def _accept(
        self, request: web.Request, kind: str
    ) -> tuple[web.WebSocketResponse, Connection]:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, autoping=True, compress=False)
        await ws.prepare(request)
        if request.transport is not None:
            # Frames leave when written, as from a venue's gateway, not at the end of
            # the simulator's loop turn (the latency probe stamps just before writing).
            write_at_once(request.transport)
        conn = Connection(ws, kind)
        self.connections.add(conn)
        return ws, conn

    # ------------------------------------------------------------- streams
    def _subscribe_market(self, conn: Connection, stream: str, combined: bool) -> None:
        if stream in conn.market_streams:
            return
        if combined:

            def sink(name: str, data: bytes) -> None:
                conn.send(_combined(name, data))

        else:

            def sink(name: str, data: bytes) -> None:
                conn.send(data)

        self.venue.market.subscribe(stream, sink)
        conn.market_streams[stream] = sink
        conn.cleanups.append(lambda: self.venue.market.unsubscribe(stream, sink))

    def _unsubscribe_market(self, conn: Connection, stream: str) -> None:
        sink = conn.market_streams.pop(stream, None)
        if sink is not None:
            self.venue.market.unsubscribe(stream, sink)

    def _subscribe_listen_key(self, conn: Connection, listen_key: str, combined: bool) -> bool:
        api_key = self.venue.listen_keys.get(listen_key)
        if api_key is None:
            return False
        if combined:

            def sink(event: dict[str, Any]) -> None:
                conn.send(_combined(listen_key, orjson.dumps(event)))

        else:

            def sink(event: dict[str, Any]) -> None:
                conn.send(orjson.dumps(event))

        self.venue.users.subscribe(api_key, sink)
        conn.accounts.add(api_key)
        conn.listen_keys.add(listen_key)
        conn.cleanups.append(lambda: self.venue.users.unsubscribe(api_key, sink))
        return True

    def _add_name(self, conn: Connection, name: str, combined: bool) -> None:
        if not name or name.isdigit():
            return  # ccxt's trailing stream index
        if name in self.venue.listen_keys:
            self._subscribe_listen_key(conn, name, combined)
        else:
            self._subscribe_market(conn, _normalise_stream(name), combined)

    async def _stream_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path.strip("/")
        parts = path.split("/")
        # /ws/..., /stream/..., /public/ws/... : the base ends at the first ws|stream part.
        base_index = next(i for i, part in enumerate(parts) if part in ("ws", "stream"))
        combined = parts[base_index] == "stream"
        names = parts[base_index + 1 :]
        if "streams" in request.query:
            names += request.query["streams"].split("/")
        listen_key = request.query.get("listenKey")
        if listen_key is not None and listen_key not in self.venue.listen_keys:
            raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}')
        ws, conn = await self._accept(request, "market")
        try:
            for name in names:
                self._add_name(conn, name, combined)
            if listen_key is not None:
                self._subscribe_listen_key(conn, listen_key, combined)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._stream_request(conn, msg.data, combined)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            await conn.finish()
        return ws

    def _stream_request(self, conn: Connection, text: str, combined: bool) -> None:
        try:
            req = orjson.loads(text)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (orjson.JSONDecodeError, ValueError):
            conn.send_json({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
            return
        req_id = req.get("id")
        method = req.get("method")
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(s, str) for s in params):
                conn.send_json(
                    {
                        "error": {"code": 2, "msg": "Invalid request: params must be a list"},
                        "id": req_id,
                    }
                )
                return
            for name in params:
                if method == "SUBSCRIBE":
                    self._add_name(conn, name, combined)
                else:
                    self._unsubscribe_market(conn, _normalise_stream(name))
            conn.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send_json({"result": sorted(conn.market_streams), "id": req_id})
        elif method == "SET_PROPERTY":
            conn.send_json({"result": None, "id": req_id})
        elif method == "GET_PROPERTY":
            conn.send_json({"result": combined, "id": req_id})
        else:
            conn.send_json(
                {
                    "error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                    "id": req_id,
                }
            )

    # ------------------------------------------------------------- WebSocket API
    async def _wsapi_handler(self, request: web.Request) -> web.StreamResponse:
        ws, conn = await self._accept(request, "wsapi")
        session = _WsApiSession(self, conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    session.handle(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            await conn.finish()
        return ws


class _WsApiSession:
    """One WebSocket API connection: request dispatch and user-data subscriptions."""

    def __init__(self, layer: WebSocketLayer, conn: Connection) -> None:
        self.layer = layer
        self.venue = layer.venue
        self.conn = conn
        self.subscriptions: dict[int, tuple[str, Callable[[dict[str, Any]], None]]] = {}
        self._next_sub = 0
        conn.cleanups.append(self._drop_all)

    def _drop_all(self) -> None:
        for api_key, sink in self.subscriptions.values():
            self.venue.users.unsubscribe(api_key, sink)
        self.subscriptions.clear()

    def _rate_limits(self, weight: int, order: bool, api_key: str | None) -> list[dict[str, Any]]:
        used = self.layer.server.rates.weight("ws", weight)
        out = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000 if self.venue.product is Product.SPOT else 2400, "count": used}
        ]  # fmt: skip
        if order and api_key is not None:
            count = self.layer.server.rates.orders(api_key, "10S", 10_000)
            out.append(
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100 if self.venue.product is Product.SPOT else 300, "count": count}
            )  # fmt: skip
        return out

    def _auth(self, params: dict[str, Any], signed: bool) -> str:
        api_key = params.get("apiKey")
        if not isinstance(api_key, str) or not api_key:
            raise mandatory("apiKey")
        credential = self.venue.credentials.get(api_key)
        if credential is None:
            raise BinanceError(-2015, BAD_KEY, 401)
        if signed:
            if not params.get("signature"):
                raise mandatory("signature")
            ts = params.get("timestamp")
            window = params.get("recvWindow")
            check_timestamp(
                None if ts is None else ws_param_text(ts),
                None if window is None else ws_param_text(window),
            )
            if not ws_signature_ok(credential.secret_key, params):
                raise signature_error()
        return api_key

    def handle(self, text: str) -> None:
        """Answers one request frame."""
        req_id: Any = None
        try:
            req = orjson.loads(text)
            if not isinstance(req, dict):
                raise ValueError
        except (orjson.JSONDecodeError, ValueError):
            self.conn.send_json(
                {"id": None, "status": 400,
                 "error": {"code": -1100, "msg": "Illegal characters found in a parameter."}}
            )  # fmt: skip
            return
        req_id = req.get("id")
        method = str(req.get("method") or "")
        if "/" in method:
            method = method.split("/", 1)[1]  # "v3/order.place" style version prefix
        params = req.get("params") or {}
        api_key: str | None = None
        weight, order = 1, method in ("order.place", "order.cancelReplace", "order.modify")
        try:
            if not isinstance(params, dict):
                raise BinanceError(-1100, "Illegal characters found in a parameter.")
            result, api_key = self._dispatch(method, params)
            self.conn.send_json(
                {"id": req_id, "status": 200, "result": result,
                 "rateLimits": self._rate_limits(weight, order, api_key)}
            )  # fmt: skip
        except BinanceError as exc:
            self.conn.send_json(
                {"id": req_id, "status": exc.status, "error": exc.body(),
                 "rateLimits": self._rate_limits(weight, False, api_key)}
            )  # fmt: skip
        except Exception:
            log.exception("WS-API %s failed", method)
            self.conn.send_json(
                {"id": req_id, "status": 500, "error": {"code": -1000, "msg": UNKNOWN_ERROR}}
            )

    def _subscribe(self, api_key: str) -> int:
        sub_id = self._next_sub
        self._next_sub += 1
        conn = self.conn

        def sink(event: dict[str, Any]) -> None:
            conn.send(
                b'{"subscriptionId":'
                + str(sub_id).encode()
                + b',"event":'
                + orjson.dumps(event)
                + b"}"
            )

        self.venue.users.subscribe(api_key, sink)
        self.subscriptions[sub_id] = (api_key, sink)
        conn.accounts.add(api_key)
        return sub_id

    def _dispatch(self, method: str, raw: dict[str, Any]) -> tuple[Any, str | None]:
        venue = self.venue
        p = Params({k: ws_param_text(v) for k, v in raw.items() if v is not None})
        if method == "ping":
            return {}, None
        if method == "time":
            return {"serverTime": now_ms()}, None
        if method == "exchangeInfo":
            assert isinstance(venue, (SpotVenue, FuturesVenue))
            return venue.exchange_info(p), None
        if method == "depth":
            spec = venue.spec(p.get("symbol"))
            return venue.depth_snapshot(spec.symbol, min(p.integer("limit") or 100, 5000)), None
        if method == "userDataStream.start":
            api_key = self._auth(raw, signed=False)
            return {"listenKey": venue.listen_key_for(api_key)}, api_key
        if method == "userDataStream.ping":
            api_key = self._auth(raw, signed=False)
            return {
                "listenKey": venue.listen_key_for(api_key)
            } if venue.product.is_futures else {}, api_key
        if method == "userDataStream.stop":
            api_key = self._auth(raw, signed=False)
            venue.close_listen_key(venue.listen_key_for(api_key))
            return {}, api_key
        if method == "userDataStream.subscribe.signature" and venue.product is Product.SPOT:
            api_key = self._auth(raw, signed=True)
            return {"subscriptionId": self._subscribe(api_key)}, api_key
        if method == "userDataStream.unsubscribe" and venue.product is Product.SPOT:
            sub = p.integer("subscriptionId")
            if sub is None:
                self._drop_all()
            else:
                entry = self.subscriptions.pop(sub, None)
                if entry is None:
                    raise BinanceError(-2, "Invalid subscriptionId.")  # observed code family
                venue.users.unsubscribe(*entry)
            return {}, None
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sorted(self.subscriptions)], None
        if isinstance(venue, SpotVenue):
            spot_calls: dict[str, Callable[[str, Params], Any]] = {
                "order.place": venue.new_order,
                "order.test": lambda k, q: venue.new_order(k, q, True),
                "order.cancel": venue.cancel_order,
                "order.status": venue.query_order,
                "openOrders.status": venue.open_orders_view,
                "openOrders.cancelAll": venue.cancel_all,
                "order.cancelReplace": venue.cancel_replace,
                "order.amend.keepPriority": venue.amend_keep_priority,
                "allOrders": venue.all_orders,
                "myTrades": venue.my_trades,
                "account.status": venue.account,
            }
            call = spot_calls.get(method)
        else:
            assert isinstance(venue, FuturesVenue)
            version = 1 if venue.inverse else 2
            futures_calls: dict[str, Callable[[str, Params], Any]] = {
                "order.place": venue.new_order,
                "order.cancel": venue.cancel_order,
                "order.modify": venue.modify_order,
                "order.status": venue.query_order,
                "account.position": lambda k, q: venue.position_risk(k, q, version),
                "account.balance": lambda k, q: venue.balance(k, q, version),
                "account.status": lambda k, q: venue.account(k, q, version),
            }
            call = futures_calls.get(method)
        if call is None:
            raise BinanceError(-1000, f"Unknown method '{method}'.")
        api_key = self._auth(raw, signed=True)
        return call(api_key, p), api_key


def attach_websockets(server: BinanceServer) -> WebSocketLayer:
    """Adds the WebSocket routes to a product server."""
    return WebSocketLayer(server)
