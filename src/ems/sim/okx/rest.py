"""The HTTP front of the simulated OKX (``/api/v5``) and its admin API.

REST follows protocols.md B.2/B.3: signed requests carry ``OK-ACCESS-KEY``,
``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP`` (ISO-8601 with milliseconds) and
``OK-ACCESS-PASSPHRASE``; the sign is checked over the request path with its query and
the body exactly as received.  Answers are ``{"code", "msg", "data"}``; order calls put
``sCode``/``sMsg`` in each item and a top-level ``code`` of 1 (all failed) or 2 (some
failed).  ``x-simulated-trading`` (demo) is accepted with ``0`` or ``1``: the simulator is
one environment, so demo and live keys are the same accounts.

Admin API (not signed, JSON in and out, on the same port):

``POST /sim/trade`` ``{"instId": "BTC-USDT", "px": 30010, "sz": 0.5, "side": "buy"}``
    A trade whose AGGRESSOR side is ``side``: it fills the resting orders it crosses
    (price-time priority, each at its own price) and prints the rest at ``px``.  Answer
    ``{"instId", "side", "fills": [{"tradeId", "px", "sz", "ordId", "owner"}]}`` (owner:
    the API key, ``"mm"`` for the market maker, null for the printed remainder).
``GET /sim/orders?apiKey=K[&instId=I]``
    The account's working orders in ``orders-pending`` format.
``GET /sim/account?apiKey=K``
    ``{"balance": <account/balance item>, "positions": <account/positions list>}``.
``POST /sim/book`` ``{"instId": .., "mid": 31000}`` or ``{"instId": .., "clear": true}``
    Recenters (and resumes) or pulls and stops the market maker of an instrument.
``GET /sim/stats?apiKey=K``
    WebSocket requests the account sent: ``{"ops": {"order": n, "batch-cancel-orders": n,
    ...}, "items": {op: orders carried}, "logins": n}``; ``POST /sim/stats`` with
    ``{"apiKey": K}`` zeroes them. ``"clientIds": {clOrdId: n}`` counts the orders asked
    for under each clOrdId, refused ones included (REST or WebSocket; ``/sim/reset``
    clears them).
``POST /sim/fault``
    HTTP: ``{"path": "/api/v5/trade/order", "method": "POST", "count": 1, "status": 503,
    "delayMs": 0, "apply": true, "code": "50001", "msg": "..."}`` as in the Binance
    simulator (429 gets code 50011 and ``Retry-After``; ``late`` holds an answer back;
    ``apiKey`` limits the fault to one account).
    WebSocket: ``{"disconnect": "private"|"public"|"business"|"all", "apiKey": K,
    "refuseMs": 0}`` drops those connections (private ones of that account, or of all
    accounts) and, with ``refuseMs``, answers new connections on those paths with HTTP
    503 for that long;
    ``{"dropPrivate": {"apiKey": K, "afterItems": N}}`` closes the account's private
    connection right after the N-th order item of its following order operations has
    been processed (the rest of that batch is not processed and nothing is answered);
    ``{"userEvents": "drop"|"duplicate"|"reorder", "apiKey": K, "count": N}`` acts on the
    account's next N private pushes.
    ``{"books": "gap"|"checksum", "instId": I, "count": N}``: the next N ``books``
    updates of the instrument are lost on the wire (their seqIds are used up, so the
    following update's prevSeqId shows the gap) or carry a wrong checksum.
    ``{"clear": true}`` disarms everything.
``POST /sim/reset``
    Restores the initial books, orders and balances (faults cleared).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ems.sim.faults import Fault, FaultPlan, answer_with_fault, parse_fault
from ems.sim.matching import Side
from ems.sim.okx.auth import now_ms, rest_stamp_ok, signature_ok
from ems.sim.okx.venue import BATCH_MAX, ItemError, OkxVenue, RequestError

log = logging.getLogger("ems.sim.okx")

API = "/api/v5"

Handler = Callable[[str | None, dict[str, str], Any], Any]


def ok(data: list[Any]) -> dict[str, Any]:
    """A successful envelope."""
    return {"code": "0", "msg": "", "data": data}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded by the simulator itself."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def run_items(
    fn: Callable[[dict[str, Any]], dict[str, Any]], items: list[Any], s_msg_keys: dict[str, str]
) -> dict[str, Any]:
    """Applies one order operation to each item; the OKX envelope with per-item results."""
    data = []
    failed = 0
    for item in items:
        try:
            data.append(fn(item))
        except ItemError as exc:
            failed += 1
            entry = {k: (item.get(k, "") if isinstance(item, dict) else "") for k in s_msg_keys}
            entry.update({"ts": str(now_ms()), "sCode": exc.s_code, "sMsg": exc.s_msg})
            data.append(entry)
    if failed == 0:
        return ok(data)
    if failed == len(items):
        return {"code": "1", "msg": "All operations failed", "data": data}
    return {"code": "2", "msg": "Bulk operation partially succeeded.", "data": data}


class OkxServer:
    """REST routes, authentication, faults and admin of the OKX simulator."""

    def __init__(self, venue: OkxVenue) -> None:
        """Wraps a venue; :meth:`app` builds the aiohttp application."""
        self.venue = venue
        self.faults = FaultPlan()
        self.routes: list[tuple[str, str, Handler, bool]] = []
        self.ws_fault: Callable[[dict[str, Any]], Any] = lambda spec: None
        self.stats: Callable[[str, bool], dict[str, Any]] = lambda key, reset: {}
        self.routes_hooks: list[Callable[[web.Application], None]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        self._register()

    def app(self) -> web.Application:
        """The aiohttp application with every REST, admin and WebSocket route."""
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=1 << 20)
        for method, path, handler, signed in self.routes:
            app.router.add_route(method, path, self._wrap(handler, signed))
        app.router.add_post("/sim/trade", self._admin_trade)
        app.router.add_get("/sim/orders", self._admin_orders)
        app.router.add_get("/sim/account", self._admin_account)
        app.router.add_post("/sim/book", self._admin_book)
        app.router.add_get("/sim/stats", self._admin_stats)
        app.router.add_post("/sim/stats", self._admin_stats)
        app.router.add_post("/sim/fault", self._admin_fault)
        app.router.add_get("/sim/fault", self._admin_faults)
        app.router.add_post("/sim/reset", self._admin_reset)
        for hook in self.routes_hooks:
            hook(app)
        return app

    async def shutdown(self) -> None:
        """Closes WebSocket connections."""
        for hook in self.shutdown_hooks:
            await hook()

    # ------------------------------------------------------------------ plumbing
    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/sim/") or request.path.startswith("/ws/"):
            return await handler(request)
        fault = self.faults.take(
            request.method, request.path, request.headers.get("OK-ACCESS-KEY", "")
        )
        return await answer_with_fault(fault, request, handler, self._refusal)

    @staticmethod
    def _refusal(fault: Fault, status: int) -> web.Response:
        """OKX's error body for an injected HTTP status."""
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            default = ("50011", "Too Many Requests")
        else:
            default = ("50001", "Service temporarily unavailable. Please try again later.")
        code = str(fault.code) if fault.code is not None else default[0]
        body = {"code": code, "msg": fault.msg or default[1], "data": []}
        return json_response(body, status, headers)

    def authenticate(self, request: web.Request, body: bytes) -> str:
        """Applies OKX's header and signature rules; returns the API key."""
        h = request.headers
        key = h.get("OK-ACCESS-KEY", "")
        sign = h.get("OK-ACCESS-SIGN", "")
        stamp = h.get("OK-ACCESS-TIMESTAMP", "")
        passphrase = h.get("OK-ACCESS-PASSPHRASE", "")
        if not key:
            raise RequestError("50103", "Request header OK-ACCESS-KEY cannot be empty.", 401)
        if not passphrase:
            raise RequestError("50104", "Request header OK-ACCESS-PASSPHRASE cannot be empty.", 401)
        if not sign:
            raise RequestError("50106", "Request header OK-ACCESS-SIGN cannot be empty.", 401)
        if not stamp:
            raise RequestError("50107", "Request header OK-ACCESS-TIMESTAMP cannot be empty.", 401)
        demo = h.get("x-simulated-trading", "0")
        if demo not in ("0", "1"):
            raise RequestError("50038", "This feature is unavailable in demo trading", 400)
        credential = self.venue.credentials.get(key)
        if credential is None:
            raise RequestError("50111", "Invalid OK-ACCESS-KEY.", 401)
        if passphrase != credential.passphrase:
            raise RequestError("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.", 401)
        if not rest_stamp_ok(stamp):
            raise RequestError("50102", "Timestamp request expired.", 401)
        payload = stamp.encode() + request.method.upper().encode() + request.raw_path.encode()
        if not signature_ok(credential.secret_key, payload + body, sign):
            raise RequestError("50113", "Invalid signature.", 401)
        return key

    def _wrap(
        self, handler: Handler, signed: bool
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read() if request.can_read_body else b""
            query = dict(parse_qsl(request.raw_path.partition("?")[2], keep_blank_values=True))
            try:
                key = self.authenticate(request, raw) if signed else None
                body: Any = None
                if request.method == "POST":
                    try:
                        body = orjson.loads(raw) if raw else {}
                    except orjson.JSONDecodeError:
                        raise RequestError("50002", "JSON syntax error", 400) from None
                result = handler(key, {k: v for k, v in query.items() if v != ""}, body)
                return json_response(result)
            except RequestError as exc:
                return json_response({"code": exc.code, "msg": exc.msg, "data": []}, exc.status)
            except ItemError as exc:
                return json_response({"code": exc.s_code, "msg": exc.s_msg, "data": []})
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                return json_response({"code": "50000", "msg": "System error", "data": []}, 500)

        return handle

    def _add(self, method: str, path: str, handler: Handler, signed: bool = False) -> None:
        self.routes.append((method, API + path, handler, signed))

    # ------------------------------------------------------------------ endpoints
    def _register(self) -> None:
        v = self.venue

        def account(key: str | None) -> str:
            assert key is not None
            return key

        def items(body: Any, limit: int = BATCH_MAX) -> list[Any]:
            if not isinstance(body, list):
                raise RequestError("50014", "Parameter request body can not be empty.", 400)
            if not body or len(body) > limit:
                raise RequestError(
                    "51000", f"Parameter batch size error: 1 to {limit} orders per request"
                )
            return body

        def single(body: Any) -> list[Any]:
            if not isinstance(body, dict):
                raise RequestError("50014", "Parameter request body can not be empty.", 400)
            return [body]

        place_keys = {"ordId": "", "clOrdId": "", "tag": ""}
        cancel_keys = {"ordId": "", "clOrdId": ""}

        def inst_type(q: dict[str, str]) -> str:
            kind = q.get("instType", "")
            if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
                raise RequestError("51000", "Parameter instType error")
            return kind

        def instruments(_: str | None, q: dict[str, str], b: Any) -> Any:
            return ok(v.instruments(inst_type(q), q.get("instId")))

        def books(_: str | None, q: dict[str, str], b: Any) -> Any:
            spec = v.spec_of(q)
            return ok([v.books_snapshot(spec.inst_id, min(int(q.get("sz", "1")), 400))])

        def trades(_: str | None, q: dict[str, str], b: Any) -> Any:
            spec = v.spec_of(q)
            return ok(v.market_trades(spec.inst_id, min(int(q.get("limit", "100")), 500)))

        def ticker(_: str | None, q: dict[str, str], b: Any) -> Any:
            return ok([v.ticker(v.spec_of(q).inst_id)])

        def tickers(_: str | None, q: dict[str, str], b: Any) -> Any:
            kind = inst_type(q)
            return ok([v.ticker(s) for s, spec in v.specs.items() if spec.inst_type == kind])

        def get_order(key: str | None, q: dict[str, str], b: Any) -> Any:
            spec = v.spec_of(q)
            order = v.find(account(key), spec, q)
            if order is None:
                raise RequestError("51603", "Order does not exist")
            return ok([v.order_view(order)])

        def balance(key: str | None, q: dict[str, str], b: Any) -> Any:
            ccys = set(q["ccy"].split(",")) if q.get("ccy") else None
            return ok([v.balance_view(account(key), ccys)])

        def config(key: str | None, q: dict[str, str], b: Any) -> Any:
            k = account(key)
            return ok(
                [
                    {
                        "uid": str(abs(hash(k)) % 10**15), "mainUid": "", "acctLv": "2",
                        "posMode": "net_mode", "autoLoan": False, "greeksType": "PA",
                        "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic",
                        "mgnIsoMode": "automatic", "label": "sim", "roleType": "0",
                        "spotRoleType": "0", "opAuth": "1", "kycLv": "2", "ip": "",
                        "perm": "read_only,trade", "liquidationGear": "-1",
                        "enableSpotBorrow": False, "spotBorrowAutoRepay": False,
                    }
                ]
            )  # fmt: skip

        def fee_rates(key: str | None, q: dict[str, str], b: Any) -> Any:
            kind = inst_type(q)
            maker, taker = ("-0.0008", "-0.001") if kind == "SPOT" else ("-0.0002", "-0.0005")
            return ok(
                [{"category": "1", "delivery": "", "exercise": "", "instType": kind,
                  "level": "Lv1", "maker": maker, "taker": taker, "makerU": maker,
                  "takerU": taker, "ts": str(now_ms())}]
            )  # fmt: skip

        def currencies(key: str | None, q: dict[str, str], b: Any) -> Any:
            names = sorted({c for s in v.specs.values() for c in (s.base, s.quote)} - {"USD"})
            return ok(
                [
                    {"ccy": c, "chain": f"{c}-{c}", "name": c, "canDep": True, "canWd": True,
                     "canInternal": True, "minWd": "0.0001", "maxWd": "1000000", "wdTickSz": "8",
                     "minFee": "0", "maxFee": "0", "mainNet": True, "logoLink": ""}
                    for c in names
                ]
            )  # fmt: skip

        self._add("GET", "/public/time", lambda k, q, b: ok([{"ts": str(now_ms())}]))
        self._add("GET", "/public/instruments", instruments)
        self._add("GET", "/market/books", books)
        self._add("GET", "/market/trades", trades)
        self._add("GET", "/market/ticker", ticker)
        self._add("GET", "/market/tickers", tickers)
        self._add(
            "POST",
            "/trade/order",
            lambda k, q, b: run_items(lambda a: v.place(account(k), a), single(b), place_keys),
            True,
        )
        self._add(
            "POST",
            "/trade/batch-orders",
            lambda k, q, b: run_items(lambda a: v.place(account(k), a), items(b), place_keys),
            True,
        )
        self._add(
            "POST",
            "/trade/cancel-order",
            lambda k, q, b: run_items(lambda a: v.cancel(account(k), a), single(b), cancel_keys),
            True,
        )
        self._add(
            "POST",
            "/trade/cancel-batch-orders",
            lambda k, q, b: run_items(lambda a: v.cancel(account(k), a), items(b), cancel_keys),
            True,
        )
        self._add(
            "POST",
            "/trade/amend-order",
            lambda k, q, b: run_items(lambda a: v.amend(account(k), a), single(b), cancel_keys),
            True,
        )
        self._add(
            "POST",
            "/trade/amend-batch-orders",
            lambda k, q, b: run_items(lambda a: v.amend(account(k), a), items(b), cancel_keys),
            True,
        )
        self._add("GET", "/trade/order", get_order, True)
        self._add(
            "GET", "/trade/orders-pending", lambda k, q, b: ok(v.pending(account(k), q)), True
        )
        self._add(
            "GET", "/trade/orders-history", lambda k, q, b: ok(v.history_view(account(k), q)), True
        )
        self._add(
            "GET",
            "/trade/fills",
            lambda k, q, b: ok(
                [
                    f
                    for f in reversed(v.fills[account(k)])
                    if not q.get("instId") or f["instId"] == q["instId"]
                ][:100]
            ),
            True,
        )
        self._add("GET", "/account/balance", balance, True)
        self._add(
            "GET", "/account/positions", lambda k, q, b: ok(v.positions_list(account(k), q)), True
        )
        self._add("GET", "/account/config", config, True)
        self._add("GET", "/asset/currencies", currencies, True)
        self._add("GET", "/account/trade-fee", fee_rates, True)

    # ------------------------------------------------------------------ admin
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

    def _key(self, value: object) -> str:
        key = str(value or "")
        if key not in self.venue.credentials:
            raise KeyError("unknown apiKey")
        return key

    async def _admin_trade(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            side = {"buy": Side.BUY, "sell": Side.SELL}[str(body["side"]).lower()]
            px = Decimal(str(body["px"]))
            sz = Decimal(str(body["sz"]))
            if px <= 0 or sz <= 0:
                raise ValueError("px and sz must be positive")
            return json_response(self.venue.admin_trade(str(body["instId"]), px, sz, side))
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad trade request: {exc!r}")

    async def _admin_orders(self, request: web.Request) -> web.Response:
        try:
            key = self._key(request.query.get("apiKey"))
        except KeyError as exc:
            return self._bad(str(exc))
        query = {"instId": request.query.get("instId", "")}
        return json_response(self.venue.pending(key, query, page=False))

    async def _admin_account(self, request: web.Request) -> web.Response:
        try:
            key = self._key(request.query.get("apiKey"))
        except KeyError as exc:
            return self._bad(str(exc))
        return json_response(
            {
                "balance": self.venue.balance_view(key),
                "positions": self.venue.positions_list(key, {}),
            }
        )

    async def _admin_book(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            mid = Decimal(str(body["mid"])) if body.get("mid") is not None else None
            if mid is not None and mid <= 0:
                raise ValueError("mid must be positive")
            return json_response(
                self.venue.admin_book(str(body["instId"]), mid, bool(body.get("clear", False)))
            )
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad book request: {exc!r}")

    async def _admin_stats(self, request: web.Request) -> web.Response:
        try:
            if request.method == "POST":
                key = self._key((await self._json(request)).get("apiKey"))
                out = self.stats(key, True)
            else:
                key = self._key(request.query.get("apiKey"))
                out = self.stats(key, False)
            uses = self.venue.cl_ord_id_uses.get(key, {})
            return json_response({**out, "clientIds": dict(uses)})
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            return self._bad(str(exc))

    async def _admin_fault(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("clear"):
                self.faults.clear()
                self.ws_fault(body)
                return json_response({"armed": []})
            if any(k in body for k in ("disconnect", "dropPrivate", "userEvents", "books")):
                return json_response(self.ws_fault(body))
            self.faults.arm(parse_fault(body))
            return json_response({"armed": self.faults.armed()})
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad fault request: {exc}")

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return json_response({"armed": self.faults.armed()})

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.ws_fault({"clear": True})
        self.venue.reset()
        return json_response({"reset": True, "time": now_ms()})
