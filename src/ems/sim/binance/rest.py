"""The HTTP front of one simulated Binance product, plus the simulator's admin API.

Admin API (not signed, JSON in and out, on every product's REST port):

``POST /sim/trade`` ``{"symbol": "BTCUSDT", "price": 30010, "qty": 0.5, "side": "buy"}``
    Prints a trade whose AGGRESSOR side is ``side``: it fills the resting orders it
    crosses (price-time priority, each at its own price) and prints whatever is left at
    ``price``.  Market-data and user streams see it.  Answer:
    ``{"symbol", "side", "fills": [{"tradeId", "price", "qty", "orderId", "owner"}]}``
    where ``owner`` is the account's API key, ``"mm"`` for the market maker, or null for
    the printed remainder.
``GET /sim/orders?apiKey=K[&symbol=S]``
    The account's working orders in this product's ``openOrders`` format.
``GET /sim/account?apiKey=K``
    Spot: the ``/api/v3/account`` object.  Futures: ``{"account": <account v2/v1>,
    "balances": <balance list>, "positions": <positionRisk list>}``.
``POST /sim/trade`` with ``"probe": true`` (and optionally ``"probeTimeoutS"``)
    also measures tick-to-trade: the answer gains ``"probe": {"latencyNs": N}``, the
    time from writing this trade's public frame to reading the next order request
    (``null`` if none came in time). See :mod:`ems.sim.probe`.
``POST /sim/book`` ``{"symbol": "BTCUSDT", "mid": 31000}`` or ``{"symbol": .., "clear": true}``
    Recenters (and resumes) or pulls and stops the market maker of a symbol; an empty
    body apart from ``symbol`` resumes quoting at the current mid.
``POST /sim/fault``
    ``{"path": "/api/v3/order", "method": "POST", "count": 1, "status": 503,
    "delayMs": 0, "apply": true, "code": -1000, "msg": "...", "retryAfter": 1,
    "apiKey": K}``: the next ``count`` matching requests (``path`` may end in ``*`` for a
    prefix; ``method`` optional; ``apiKey`` optional, the account's requests only) are
    delayed by ``delayMs`` and, if ``status`` is set, answered with that
    status and a Binance error body (429 and 418 get ``-1003`` and a ``Retry-After``
    header, 5xx get ``-1000``/``-1007`` unless ``code``/``msg`` say otherwise).  With
    ``apply`` true the request is processed before the error is returned (outcome
    unknown to the client); with false it is not processed.  ``"late": true`` with a
    delay and no status processes the request at once and holds its answer back.
    ``{"disconnect": "user"|"market"|"all", "apiKey": K}``: closes every WebSocket
    connection of that kind (``user`` = WS-API sessions and listenKey streams of the
    account, or of every account when ``apiKey`` is absent).
    ``{"userEvents": "drop"|"duplicate"|"reorder", "apiKey": K, "count": N}``: the
    account's next N user-data events (on every user stream) are lost, sent twice, or
    (reorder) each held back until the account's following event has been sent.
    ``{"clear": true}`` disarms all faults.  ``GET /sim/fault`` lists the armed HTTP ones.
``GET /sim/stats?apiKey=K``
    REST requests the account made on this product: ``{"requests": {"METHOD /path": n}}``
    (every request carrying the key in ``X-MBX-APIKEY`` counts, refused or faulted ones
    too; WebSocket traffic does not). ``POST /sim/stats`` with ``{"apiKey": K}`` zeroes
    them; ``/sim/reset`` does not. ``"clientIds": {id: n}`` counts the orders asked for
    under each client order id, refused ones included (REST or WebSocket; ``/sim/reset``
    clears them).
``POST /sim/reset``
    Restores the initial books, orders and balances (faults are cleared; connections and
    listenKeys stay; stream sequence numbers keep increasing).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ems.sim.binance.auth import (
    check_timestamp,
    now_ms,
    rest_signature_ok,
    signature_error,
)
from ems.sim.binance.errors import (
    BAD_KEY,
    TOO_MANY,
    UNKNOWN_ERROR,
    BinanceError,
    mandatory,
)
from ems.sim.binance.specs import Product
from ems.sim.binance.venue import BinanceVenue, Params
from ems.sim.faults import Fault, FaultPlan, answer_with_fault, parse_fault
from ems.sim.matching import Side
from ems.sim.probe import PROBE

log = logging.getLogger("ems.sim.binance")

NONE, API_KEY, SIGNED = "NONE", "API_KEY", "SIGNED"

Handler = Callable[[str | None, Params], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint: security type, request weight and whether it counts as an order."""

    method: str
    path: str
    handler: Handler
    security: str = NONE
    weight: int = 1
    counts_order: bool = False


class RateCounter:
    """Binance-style fixed-window counters, reported in headers (not enforced)."""

    def __init__(self) -> None:
        """Starts with empty windows."""
        self._weight: dict[str, tuple[int, int]] = {}
        self._orders: dict[tuple[str, str], tuple[int, int]] = {}

    @staticmethod
    def _bump(store: dict[Any, tuple[int, int]], key: Any, window_ms: int, amount: int) -> int:
        window = now_ms() // window_ms
        start, count = store.get(key, (window, 0))
        if start != window:
            count = 0
        count += amount
        store[key] = (window, count)
        return count

    def weight(self, ip: str, amount: int) -> int:
        """Adds request weight for an IP; returns the minute's total."""
        return self._bump(self._weight, ip, 60_000, amount)

    def orders(self, account: str, unit: str, window_ms: int) -> int:
        """Adds one order for an account; returns the window's total."""
        return self._bump(self._orders, (account, unit), window_ms, 1)


def _fault_body(status: int, code: int | None, msg: str | None) -> dict[str, Any]:
    if status in (429, 418):
        default = (-1003, TOO_MANY)
    elif status in (408, 504):
        default = (
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; "
            "execution status is unknown.",
        )
    else:
        default = (-1000, UNKNOWN_ERROR)
    return {"code": code if code is not None else default[0], "msg": msg or default[1]}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded by the simulator itself."""
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


class BinanceServer:
    """REST routes, authentication, rate headers, faults and admin for one product."""

    def __init__(self, venue: BinanceVenue) -> None:
        """Wraps a venue; :meth:`app` builds the aiohttp application."""
        self.venue = venue
        self.product = venue.product
        self.faults = FaultPlan()
        self.rates = RateCounter()
        self.requests: dict[str, collections.Counter[str]] = {}
        """REST requests per API key, as "METHOD /path" (see ``GET /sim/stats``)."""
        self.endpoints: list[Endpoint] = []
        # Set by the WebSocket layer: closes connections for the admin 'disconnect' fault.
        self.disconnect: Callable[[str, str | None], int] = lambda kind, key: 0
        self.routes_hooks: list[Callable[[web.Application], None]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    # ------------------------------------------------------------- plumbing
    def add(self, endpoint: Endpoint) -> None:
        """Registers one endpoint."""
        self.endpoints.append(endpoint)

    def app(self) -> web.Application:
        """The aiohttp application with every REST and admin route."""
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=1 << 20)
        for ep in self.endpoints:
            app.router.add_route(ep.method, ep.path, self._wrap(ep))
        app.router.add_post("/sim/trade", self._admin_trade)
        app.router.add_get("/sim/orders", self._admin_orders)
        app.router.add_get("/sim/account", self._admin_account)
        app.router.add_post("/sim/book", self._admin_book)
        app.router.add_post("/sim/fault", self._admin_fault)
        app.router.add_get("/sim/fault", self._admin_faults)
        app.router.add_post("/sim/reset", self._admin_reset)
        app.router.add_get("/sim/stats", self._admin_stats)
        app.router.add_post("/sim/stats", self._admin_stats)
        for hook in self.routes_hooks:
            hook(app)
        return app

    async def shutdown(self) -> None:
        """Closes what the server holds open (WebSocket connections)."""
        for hook in self.shutdown_hooks:
            await hook()

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            return await handler(request)
        key = request.headers.get("X-MBX-APIKEY", "")
        if key in self.venue.credentials:
            counts = self.requests.get(key)
            if counts is None:
                counts = self.requests[key] = collections.Counter()
            counts[f"{request.method} {request.path}"] += 1
        fault = self.faults.take(request.method, request.path, key)
        return await answer_with_fault(fault, request, handler, self._refusal)

    @staticmethod
    def _refusal(fault: Fault, status: int) -> web.Response:
        """Binance's error for an injected HTTP status."""
        headers = {}
        if status in (429, 418):
            headers["Retry-After"] = str(fault.retry_after)
        return json_response(_fault_body(status, fault.code, fault.msg), status, headers)

    def authenticate(
        self,
        request: web.Request,
        params: dict[str, str],
        raw_query: str,
        raw_body: str,
        security: str,
    ) -> str | None:
        """Applies Binance's API-key and HMAC rules; returns the API key."""
        if security == NONE:
            return None
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        credential = self.venue.credentials.get(key)
        if credential is None:
            raise BinanceError(-2015, BAD_KEY, 401)
        if security == SIGNED:
            present, valid = rest_signature_ok(credential.secret_key, raw_query, raw_body)
            if not present:
                raise mandatory("signature")
            check_timestamp(params.get("timestamp"), params.get("recvWindow"))
            if not valid:
                raise signature_error()
        return key

    def _rate_headers(
        self, ip: str, weight: int, account: str | None, order: bool
    ) -> dict[str, str]:
        used = self.rates.weight(ip, weight)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
        if order and account is not None:
            headers["X-MBX-ORDER-COUNT-10S"] = str(self.rates.orders(account, "10S", 10_000))
            if self.product is Product.SPOT:
                headers["X-MBX-ORDER-COUNT-1D"] = str(self.rates.orders(account, "1D", 86_400_000))
            else:
                headers["X-MBX-ORDER-COUNT-1M"] = str(self.rates.orders(account, "1M", 60_000))
        return headers

    def _wrap(self, ep: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            raw_query = request.raw_path.partition("?")[2]
            raw_bytes = await request.read() if request.can_read_body else b""
            raw_body = raw_bytes.decode("utf-8", "surrogateescape")
            params: dict[str, str] = {}
            # The form body first, so that the query string wins on duplicates.
            for source in (raw_body, raw_query):
                if source:
                    params.update(parse_qsl(source, keep_blank_values=True))
            ip = request.remote or "127.0.0.1"
            account: str | None = None
            try:
                account = self.authenticate(request, params, raw_query, raw_body, ep.security)
                result = ep.handler(account, Params(params))
                status = 200
                body = result
            except BinanceError as exc:
                status, body = exc.status, exc.body()
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                status, body = 500, {"code": -1000, "msg": UNKNOWN_ERROR}
            headers = self._rate_headers(ip, ep.weight, account, ep.counts_order and status < 500)
            return json_response(body, status, headers)

        return handle

    # ------------------------------------------------------------- admin
    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            return {}
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    @staticmethod
    def _bad(message: str) -> web.Response:
        return json_response({"error": message}, 400)

    async def _admin_trade(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            side = {"buy": Side.BUY, "sell": Side.SELL}[str(body["side"]).lower()]
            price = Decimal(str(body["price"]))
            qty = Decimal(str(body["qty"]))
            if price <= 0 or qty <= 0:
                raise ValueError("price and qty must be positive")
            if not body.get("probe"):
                return json_response(self.venue.admin_trade(str(body["symbol"]), price, qty, side))
            waiter = PROBE.arm()
            result = self.venue.admin_trade(str(body["symbol"]), price, qty, side)
            try:
                latency = await asyncio.wait_for(waiter, float(body.get("probeTimeoutS", 2.0)))
                result["probe"] = {"latencyNs": latency}
            except TimeoutError:
                PROBE.disarm()
                result["probe"] = None
            return json_response(result)
        except BinanceError as exc:
            return self._bad(exc.msg)
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad trade request: {exc!r}")

    def _admin_key(self, request: web.Request) -> str:
        key = request.query.get("apiKey", "")
        if key not in self.venue.credentials:
            raise KeyError("unknown apiKey")
        return key

    async def _admin_orders(self, request: web.Request) -> web.Response:
        try:
            key = self._admin_key(request)
            return json_response(self.venue.admin_orders(key, request.query.get("symbol")))
        except BinanceError as exc:
            return self._bad(exc.msg)
        except KeyError as exc:
            return self._bad(str(exc))

    async def _admin_account(self, request: web.Request) -> web.Response:
        try:
            return json_response(self.venue.admin_account(self._admin_key(request)))
        except KeyError as exc:
            return self._bad(str(exc))

    async def _admin_book(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            mid = Decimal(str(body["mid"])) if body.get("mid") is not None else None
            if mid is not None and mid <= 0:
                raise ValueError("mid must be positive")
            return json_response(
                self.venue.admin_book(str(body["symbol"]), mid, bool(body.get("clear", False)))
            )
        except BinanceError as exc:
            return self._bad(exc.msg)
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad book request: {exc!r}")

    async def _admin_fault(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("clear"):
                self.faults.clear()
                self.venue.users.clear_faults()
                return json_response({"armed": []})
            if "userEvents" in body:
                key = str(body.get("apiKey", ""))
                if key not in self.venue.credentials:
                    raise ValueError("userEvents needs a known apiKey")
                count = int(body.get("count", 1))
                self.venue.users.arm(key, str(body["userEvents"]), count)
                return json_response(
                    {"userEvents": body["userEvents"], "apiKey": key, "count": count}
                )
            if "disconnect" in body:
                kind = str(body["disconnect"])
                if kind not in ("user", "market", "all"):
                    raise ValueError("disconnect must be user, market or all")
                target = body.get("apiKey")
                closed = self.disconnect(kind, str(target) if target is not None else None)
                return json_response({"disconnected": closed})
            self.faults.arm(parse_fault(body))
            return json_response({"armed": self.faults.armed()})
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad fault request: {exc}")

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return json_response({"armed": self.faults.armed()})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        try:
            if request.method == "POST":
                key = str((await self._json(request)).get("apiKey", ""))
                if key not in self.venue.credentials:
                    raise KeyError("unknown apiKey")
                self.requests.pop(key, None)
            else:
                key = self._admin_key(request)
            uses = self.venue.client_id_uses.get(key, {})
            return json_response(
                {"requests": dict(self.requests.get(key, {})), "clientIds": dict(uses)}
            )
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            return self._bad(str(exc))

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.venue.users.clear_faults()
        self.venue.reset()
        return json_response({"reset": True, "time": int(time.time() * 1000)})


def spot_endpoints(server: BinanceServer) -> None:
    """Registers the ``/api/v3`` endpoints."""
    from ems.sim.binance.spot import SpotVenue

    venue = server.venue
    assert isinstance(venue, SpotVenue)

    def key(account: str | None) -> str:
        assert account is not None
        return account

    def depth(_: str | None, p: Params) -> Any:
        spec = venue.spec(p.get("symbol"))
        return venue.depth_snapshot(spec.symbol, min(p.integer("limit") or 100, 5000))

    def new_listen_key(account: str | None, p: Params) -> Any:
        return {"listenKey": server_listen_key(venue, key(account))}

    def keep_listen_key(account: str | None, p: Params) -> Any:
        check_listen_key(venue, key(account), p)
        return {}

    def close_listen_key(account: str | None, p: Params) -> Any:
        check_listen_key(venue, key(account), p)
        venue.close_listen_key(p.req("listenKey"))
        return {}

    base = "/api/v3"
    for ep in (
        Endpoint("GET", f"{base}/ping", lambda a, p: {}),
        Endpoint("GET", f"{base}/time", lambda a, p: {"serverTime": now_ms()}),
        Endpoint("GET", f"{base}/exchangeInfo", lambda a, p: venue.exchange_info(p), weight=20),
        Endpoint("GET", f"{base}/depth", depth, weight=5),
        Endpoint("GET", f"{base}/trades", lambda a, p: venue.recent_trades(p), weight=25),
        Endpoint("GET", f"{base}/ticker/price", lambda a, p: venue.ticker_price(p), weight=2),
        Endpoint("GET", f"{base}/ticker/bookTicker", lambda a, p: venue.book_ticker(p), weight=2),
        Endpoint("GET", f"{base}/ticker/24hr", lambda a, p: venue.ticker_24hr(p), weight=2),
        Endpoint("POST", f"{base}/order", lambda a, p: venue.new_order(key(a), p), SIGNED, 1, True),
        Endpoint(
            "POST", f"{base}/order/test", lambda a, p: venue.new_order(key(a), p, True), SIGNED
        ),
        Endpoint("GET", f"{base}/order", lambda a, p: venue.query_order(key(a), p), SIGNED, 4),
        Endpoint("DELETE", f"{base}/order", lambda a, p: venue.cancel_order(key(a), p), SIGNED),
        Endpoint(
            "GET", f"{base}/openOrders", lambda a, p: venue.open_orders_view(key(a), p), SIGNED, 6
        ),
        Endpoint("DELETE", f"{base}/openOrders", lambda a, p: venue.cancel_all(key(a), p), SIGNED),
        Endpoint("GET", f"{base}/allOrders", lambda a, p: venue.all_orders(key(a), p), SIGNED, 20),
        Endpoint("GET", f"{base}/myTrades", lambda a, p: venue.my_trades(key(a), p), SIGNED, 20),
        Endpoint(
            "PUT", f"{base}/order/amend/keepPriority",
            lambda a, p: venue.amend_keep_priority(key(a), p), SIGNED, 4, True,
        ),
        Endpoint(
            "POST", f"{base}/order/cancelReplace",
            lambda a, p: venue.cancel_replace(key(a), p), SIGNED, 1, True,
        ),
        Endpoint("GET", f"{base}/account", lambda a, p: venue.account(key(a), p), SIGNED, 20),
        # ccxt's load_markets asks for margin pairs; the simulator lists no margin markets.
        Endpoint("GET", "/sapi/v1/margin/allPairs", lambda a, p: [], SIGNED),
        Endpoint("GET", "/sapi/v1/margin/isolated/allPairs", lambda a, p: [], SIGNED),
        Endpoint("POST", f"{base}/userDataStream", new_listen_key, API_KEY, 2),
        Endpoint("PUT", f"{base}/userDataStream", keep_listen_key, API_KEY, 2),
        Endpoint("DELETE", f"{base}/userDataStream", close_listen_key, API_KEY, 2),
    ):  # fmt: skip
        server.add(ep)


def server_listen_key(venue: BinanceVenue, api_key: str) -> str:
    """The account's listenKey (one per account, like Binance; created on first use)."""
    return venue.listen_key_for(api_key)


def check_listen_key(venue: BinanceVenue, api_key: str, p: Params) -> None:
    """-1102 without a listenKey, -1125 when it is not this account's."""
    listen_key = p.req("listenKey")
    if venue.listen_keys.get(listen_key) != api_key:
        raise BinanceError(-1125, "This listenKey does not exist.")
