"""The HTTP front of the simulated Bybit v5, plus the simulator's admin API.

Every category shares one server (Bybit has one REST host).  REST answers use the
venue's envelope ``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` with HTTP 200
for business errors, and private endpoints carry ``X-Bapi-Limit``,
``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp`` (counted per account and
path in one-second windows, reported but not enforced).

Admin API (not signed, JSON in and out):

``POST /sim/trade``
    ``{"category": "linear", "symbol": "BTCUSDT", "price": 30010, "qty": 0.5, "side": "buy"}``:
    A trade whose AGGRESSOR side is ``side``: it fills the resting orders it crosses
    (price-time priority, each at its own price) and prints the rest at ``price``.
    Answer ``{"category", "symbol", "side", "fills": [{"price", "qty", "orderId", "owner"}]}``
    (``owner`` is the account's API key, ``"mm"`` for the market maker, null for the
    printed remainder).
``GET /sim/orders?apiKey=K[&category=C][&symbol=S]``
    The account's working orders in ``order/realtime`` format (each with ``category``).
``GET /sim/account?apiKey=K``
    ``{"wallet": <wallet-balance list item>, "positions": [<position/list row + category>]}``
    (every derivative position that is not flat).
``GET /sim/counts?apiKey=K``
    Requests the account made, per REST path and per trade-WebSocket op.
``GET /sim/linkIds?apiKey=K``
    ``{orderLinkId: n}``: how many order creations the account asked for with each
    link id, refused ones included.
``POST /sim/book``
    ``{"category", "symbol", "mid": 31000}`` or ``{"category", "symbol", "clear": true}``:
    Recenters (and resumes) or pulls and stops the market maker of one book.
``POST /sim/fault``
    * ``{"path": "/v5/order/create", "method": "POST", "count": 1, "status": 503,
      "delayMs": 0, "apply": true, "code": 10016, "msg": "..."}``: the next ``count``
      matching REST requests (``path`` may end in ``*``) are delayed and/or answered with
      ``status`` and the Bybit envelope (``retCode`` ``code``, default 10006 for 429 and
      10016 otherwise; status 200 with a ``code`` gives a business error).  ``apply``
      true processes the request first.  ``"late": true`` with a delay and no status
      processes the request at once and holds its answer back; ``apiKey`` limits the
      fault to one account's requests.
    * ``{"disconnect": "public"|"private"|"trade"|"all", "apiKey": K}``: closes those
      WebSocket connections (of one account, for private and trade, when given).
    * ``{"userEvents": "drop"|"duplicate"|"reorder", "apiKey": K, "count": N}``: the
      account's next N private pushes are lost, sent twice, or held back one place.
    * ``{"tradeDrop": {"op": "order.create", "skip": 2, "apply": true}, "apiKey": K}``:
      on the trade WebSocket, after ``skip`` more matching requests of the account
      (``op`` null: any order op), the next one is processed when ``apply`` and then its
      connection is closed without an answer; requests behind it are not processed.
    * ``{"clear": true}`` disarms everything.  ``GET /sim/fault`` lists armed HTTP faults.
``POST /sim/reset``
    Restores books, orders and wallets (faults are cleared; connections stay; sequence
    numbers keep increasing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ems.sim.bybit.auth import check_rest, now_ms
from ems.sim.bybit.errors import BybitError, param
from ems.sim.bybit.specs import Category
from ems.sim.bybit.venue import BybitVenue, Order, fmt, text
from ems.sim.faults import Fault, FaultPlan, answer_with_fault, parse_fault
from ems.sim.matching import Side

log = logging.getLogger("ems.sim.bybit")

Handler = Callable[[str | None, dict[str, Any]], Any]
ORDER_LIMIT = 20
"""Requests per second per account and order path (reported in X-Bapi-Limit)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint."""

    method: str
    path: str
    handler: Handler
    signed: bool = False


def envelope(result: Any, code: int = 0, msg: str = "OK", ext: Any = None) -> dict[str, Any]:
    """The Bybit reply object."""
    return {
        "retCode": code,
        "retMsg": msg,
        "result": result if result is not None else {},
        "retExtInfo": ext if ext is not None else {},
        "time": now_ms(),
    }


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded by the simulator itself."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def page(items: list[Any], p: dict[str, Any], default: int, cap: int) -> tuple[list[Any], str]:
    """One page of ``items`` for ``limit`` and ``cursor``; returns it and the next cursor."""
    try:
        limit = int(text(p.get("limit")) or default)
        start = int(text(p.get("cursor")) or 0)
    except ValueError:
        raise param("params error: limit or cursor invalid") from None
    if limit < 1 or limit > cap or start < 0:
        raise param("params error: limit or cursor invalid")
    chunk = items[start : start + limit]
    nxt = str(start + limit) if start + limit < len(items) else ""
    return chunk, nxt


class BybitServer:
    """REST routes, authentication, rate headers, faults and admin."""

    def __init__(self, venue: BybitVenue, secrets: dict[str, str]) -> None:
        """``secrets`` maps each API key to its secret."""
        self.venue = venue
        self.secrets = secrets
        self.faults = FaultPlan()
        self.endpoints: list[Endpoint] = []
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}
        self.routes_hooks: list[Callable[[web.Application], None]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        # Set by the WebSocket layer.
        self.disconnect: Callable[[str, str | None], int] = lambda kind, key: 0
        self.arm_trade_drop: Callable[[str | None, dict[str, Any]], None] = lambda key, spec: None
        self.clear_trade_drops: Callable[[], None] = lambda: None
        self._register()

    # ------------------------------------------------------------- plumbing
    def app(self) -> web.Application:
        """The aiohttp application with every REST, admin and WebSocket route."""
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=1 << 20)
        for ep in self.endpoints:
            app.router.add_route(ep.method, ep.path, self._wrap(ep))
        app.router.add_post("/sim/trade", self._admin_trade)
        app.router.add_get("/sim/orders", self._admin_orders)
        app.router.add_get("/sim/account", self._admin_account)
        app.router.add_get("/sim/counts", self._admin_counts)
        app.router.add_get("/sim/linkIds", self._admin_link_ids)
        app.router.add_post("/sim/book", self._admin_book)
        app.router.add_post("/sim/fault", self._admin_fault)
        app.router.add_get("/sim/fault", self._admin_faults)
        app.router.add_post("/sim/reset", self._admin_reset)
        for hook in self.routes_hooks:
            hook(app)
        return app

    async def shutdown(self) -> None:
        """Closes the WebSocket connections."""
        for hook in self.shutdown_hooks:
            await hook()

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if (
            request.path.startswith("/sim/")
            or request.path in ("/v5/private", "/v5/trade")
            or (request.path.startswith("/v5/public/"))
        ):
            return await handler(request)
        fault = self.faults.take(
            request.method, request.path, request.headers.get("X-BAPI-API-KEY", "")
        )
        return await answer_with_fault(fault, request, handler, self._refusal)

    @staticmethod
    def _refusal(fault: Fault, status: int) -> web.Response:
        """Bybit's error envelope for an injected HTTP status."""
        headers: dict[str, str] = {}
        if status == 429 or fault.code == 10006:
            code, msg = fault.code or 10006, fault.msg or "Too many visits!"
            headers["X-Bapi-Limit-Reset-Timestamp"] = str(now_ms() + 1000 * fault.retry_after)
        else:
            code, msg = fault.code or 10016, fault.msg or "Server error."
        return json_response(envelope({}, code, msg), status, headers)

    def _limit_headers(self, account: str, path: str) -> dict[str, str]:
        window = now_ms() // 1000
        start, used = self._windows.get((account, path), (window, 0))
        if start != window:
            used = 0
        used += 1
        self._windows[(account, path)] = (window, used)
        return {
            "X-Bapi-Limit": str(ORDER_LIMIT),
            "X-Bapi-Limit-Status": str(max(ORDER_LIMIT - used, 0)),
            "X-Bapi-Limit-Reset-Timestamp": str((window + 1) * 1000),
        }

    def _wrap(self, ep: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            raw_query = request.raw_path.partition("?")[2]
            raw_body = await request.read() if request.can_read_body else b""
            headers: dict[str, str] = {}
            account: str | None = None
            try:
                if ep.method == "GET":
                    params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
                else:
                    try:
                        parsed = orjson.loads(raw_body) if raw_body else {}
                    except orjson.JSONDecodeError:
                        raise param("params error: the body is not valid JSON") from None
                    if not isinstance(parsed, dict):
                        raise param("params error: the body must be a JSON object")
                    params = parsed
                if ep.signed:
                    payload = raw_query.encode() if ep.method == "GET" else raw_body
                    account = check_rest(request.headers, self.secrets, payload)
                    self.venue.count(account, ep.path)
                    headers = self._limit_headers(account, ep.path)
                result = ep.handler(account, params)
                body = (
                    result if isinstance(result, dict) and "retCode" in result else envelope(result)
                )
                status = 200
            except BybitError as exc:
                body, status = envelope({}, exc.code, exc.msg), exc.status
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                body, status = envelope({}, 10016, "Server error."), 200
            return json_response(body, status, headers)

        return handle

    # ------------------------------------------------------------- endpoints
    def _register(self) -> None:
        v = self.venue

        def key(account: str | None) -> str:
            assert account is not None
            return account

        def cat(p: dict[str, Any]) -> Category:
            return v.category(p.get("category"))

        def server_time(_: str | None, p: dict[str, Any]) -> Any:
            ns = time.time_ns()
            return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}

        def instruments(_: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            symbol, base = text(p.get("symbol")), text(p.get("baseCoin"))
            listed = [
                i for i in v.instruments.values()
                if i.category is category and (not symbol or i.symbol == symbol)
                and (not base or i.base == base)
            ]  # fmt: skip
            chunk, nxt = page(listed, p, 500, 1000)
            return {
                "category": category.value,
                "list": [v.instrument_view(i) for i in chunk],
                "nextPageCursor": nxt,
            }

        def orderbook(_: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            inst = v.instrument(category, p.get("symbol"))
            caps = {Category.SPOT: (1, 200), Category.OPTION: (1, 25)}
            default, cap = caps.get(category, (25, 500))
            try:
                limit = int(text(p.get("limit")) or default)
            except ValueError:
                raise param("params error: limit invalid") from None
            limit = max(1, min(limit, cap))
            book = v.books[inst.key]
            ts = now_ms()

            def side(s: Side) -> list[list[str]]:
                return [
                    [fmt(px, inst.tick), fmt(q, inst.qty_step)] for px, q in book.levels(s, limit)
                ]

            return {
                "s": inst.symbol,
                "b": side(Side.BUY),
                "a": side(Side.SELL),
                "ts": ts,
                "u": book.update_id,
                "seq": book.update_id,
                "cts": v.last_match_ms.get(inst.key, ts),
            }

        def tickers(_: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            symbol = text(p.get("symbol"))
            listed = [
                i for i in v.instruments.values()
                if i.category is category and (not symbol or i.symbol == symbol)
            ]  # fmt: skip
            if symbol and not listed:
                v.instrument(category, symbol)
            return {"category": category.value, "list": [v.ticker_view(i) for i in listed]}

        def recent_trades(_: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            inst = v.instrument(category, p.get("symbol"))
            limit = int(text(p.get("limit")) or 60)
            rows = [
                {
                    "execId": t["i"], "symbol": t["s"], "price": t["p"], "size": t["v"],
                    "side": t["S"], "time": str(t["T"]), "isBlockTrade": False, "isRPITrade": False,
                }
                for t in reversed(v.trades[inst.key])
            ][:limit]  # fmt: skip
            return {"category": category.value, "list": rows}

        def create(a: str | None, p: dict[str, Any]) -> Any:
            return v.create(key(a), cat(p), p)

        def amend(a: str | None, p: dict[str, Any]) -> Any:
            return v.amend(key(a), cat(p), p)

        def cancel(a: str | None, p: dict[str, Any]) -> Any:
            return v.cancel(key(a), cat(p), p)

        def cancel_all(a: str | None, p: dict[str, Any]) -> Any:
            return v.cancel_all(key(a), cat(p), p)

        def batch(kind: str) -> Handler:
            def run(a: str | None, p: dict[str, Any]) -> Any:
                result, ext = v.batch(key(a), kind, p)
                return envelope(result, ext=ext)

            return run

        def realtime(a: str | None, p: dict[str, Any]) -> Any:
            return self.realtime(key(a), p)

        def history(a: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            symbol, order_id, link_id = (
                text(p.get("symbol")),
                text(p.get("orderId")),
                text(p.get("orderLinkId")),
            )
            try:
                start = int(text(p.get("startTime")) or 0)
                end = int(text(p.get("endTime")) or 0)
            except ValueError:
                raise param("params error: startTime or endTime invalid") from None
            rows = [
                o for o in reversed(v.history.get(key(a), []))
                if o.inst.category is category and (not symbol or o.inst.symbol == symbol)
                and (not order_id or o.order_id == order_id)
                and (not link_id or o.link_id == link_id)
                and o.updated >= start and (not end or o.updated <= end)
            ]  # fmt: skip
            chunk, nxt = page(rows, p, 20, 50)
            return {
                "category": category.value,
                "list": [v.order_view(o) for o in chunk],
                "nextPageCursor": nxt,
            }

        def executions(a: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            symbol, order_id, link_id = (
                text(p.get("symbol")),
                text(p.get("orderId")),
                text(p.get("orderLinkId")),
            )
            rows = [
                {k: e[k] for k in e if k != "category"}
                for e in reversed(v.executions.get(key(a), ()))
                if e["category"] == category.value and (not symbol or e["symbol"] == symbol)
                and (not order_id or e["orderId"] == order_id)
                and (not link_id or e["orderLinkId"] == link_id)
            ]  # fmt: skip
            chunk, nxt = page(rows, p, 50, 100)
            return {"category": category.value, "list": chunk, "nextPageCursor": nxt}

        def positions(a: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            rows = v.positions(
                key(a), category, text(p.get("symbol")), text(p.get("settleCoin")),
                text(p.get("baseCoin")),
            )  # fmt: skip
            chunk, nxt = page(rows, p, 20, 200)
            return {"category": category.value, "list": chunk, "nextPageCursor": nxt}

        def wallet(a: str | None, p: dict[str, Any]) -> Any:
            account_type = text(p.get("accountType"))
            if account_type != "UNIFIED":
                raise param("accountType only support UNIFIED")
            coins = [c for c in text(p.get("coin")).split(",") if c]
            return {"list": [v.wallet_view(key(a), coins or None)]}

        def account_info(a: str | None, p: dict[str, Any]) -> Any:
            return {
                "unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
                "spotHedgingStatus": "OFF", "updatedTime": str(now_ms()), "dcpStatus": "OFF",
                "timeWindow": 10, "smpGroup": 0,
            }  # fmt: skip

        def query_api(a: str | None, p: dict[str, Any]) -> Any:
            return {
                "id": "1", "note": "ems sim", "apiKey": key(a), "readOnly": 0, "secret": "",
                "permissions": {
                    "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
                    "Wallet": ["AccountTransfer"], "Options": ["OptionsTrade"],
                    "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [],
                    "NFT": [],
                },
                "ips": ["*"], "type": 1, "deadlineDay": 90, "expiredAt": "", "createdAt": "",
                "unified": 0, "uta": 1, "userID": 1, "inviterID": 0, "vipLevel": "No VIP",
                "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True,
                "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
            }  # fmt: skip

        def fee_rate(a: str | None, p: dict[str, Any]) -> Any:
            category = cat(p)
            symbol = text(p.get("symbol"))
            rows = [
                {"symbol": i.symbol, "baseCoin": i.base if category is Category.OPTION else "",
                 "takerFeeRate": "0.00055" if category is not Category.SPOT else "0.001",
                 "makerFeeRate": "0.0002" if category is not Category.SPOT else "0.001"}
                for i in v.instruments.values()
                if i.category is category and (not symbol or i.symbol == symbol)
            ]  # fmt: skip
            return {"list": rows}

        def coin_info(a: str | None, p: dict[str, Any]) -> Any:
            wanted = text(p.get("coin"))
            chains = {"USDT": "ETH", "USDC": "ETH", "BTC": "BTC", "ETH": "ETH"}
            rows = [
                {
                    "name": coin,
                    "coin": coin,
                    "remainAmount": "1000000",
                    "chains": [
                        {
                            "chainType": chain,
                            "confirmation": "12",
                            "withdrawFee": "0",
                            "depositMin": "0",
                            "withdrawMin": "0",
                            "chain": chain,
                            "chainDeposit": "1",
                            "chainWithdraw": "1",
                            "minAccuracy": "8",
                            "withdrawPercentageFee": "0",
                            "contractAddress": "",
                        }
                    ],
                }
                for coin, chain in chains.items()
                if not wanted or coin == wanted
            ]
            return {"rows": rows}

        for ep in (
            Endpoint("GET", "/v5/market/time", server_time),
            Endpoint("GET", "/v5/market/instruments-info", instruments),
            Endpoint("GET", "/v5/market/orderbook", orderbook),
            Endpoint("GET", "/v5/market/tickers", tickers),
            Endpoint("GET", "/v5/market/recent-trade", recent_trades),
            Endpoint("POST", "/v5/order/create", create, True),
            Endpoint("POST", "/v5/order/amend", amend, True),
            Endpoint("POST", "/v5/order/cancel", cancel, True),
            Endpoint("POST", "/v5/order/cancel-all", cancel_all, True),
            Endpoint("POST", "/v5/order/create-batch", batch("create"), True),
            Endpoint("POST", "/v5/order/amend-batch", batch("amend"), True),
            Endpoint("POST", "/v5/order/cancel-batch", batch("cancel"), True),
            Endpoint("GET", "/v5/order/realtime", realtime, True),
            Endpoint("GET", "/v5/order/history", history, True),
            Endpoint("GET", "/v5/execution/list", executions, True),
            Endpoint("GET", "/v5/position/list", positions, True),
            Endpoint("GET", "/v5/account/wallet-balance", wallet, True),
            Endpoint("GET", "/v5/account/info", account_info, True),
            Endpoint("GET", "/v5/account/fee-rate", fee_rate, True),
            Endpoint("GET", "/v5/user/query-api", query_api, True),
            Endpoint("GET", "/v5/asset/coin/query-info", coin_info, True),
        ):
            self.endpoints.append(ep)

    def realtime(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        """``order/realtime``: open orders, or up to 500 recent closed with openOnly=1;
        an orderId / orderLinkId finds the order whatever its state."""
        v = self.venue
        category = v.category(p.get("category"))
        symbol, base, settle = (
            text(p.get("symbol")),
            text(p.get("baseCoin")),
            text(p.get("settleCoin")),
        )
        order_id, link_id = text(p.get("orderId")), text(p.get("orderLinkId"))
        rows: list[Order]
        if order_id or link_id:
            found = v.find(account, category, symbol or None, order_id, link_id)
            rows = [found] if found is not None else []
        else:
            if category is Category.LINEAR and not (symbol or base or settle):
                raise param("params error: symbol, baseCoin or settleCoin is required")
            if text(p.get("openOnly")) == "1":
                closed = [o for o in v.history.get(account, []) if not o.is_open]
                rows = list(reversed(closed))[:500]
            else:
                rows = list(reversed(v.open_orders(account)))
            rows = [
                o for o in rows
                if o.inst.category is category and (not symbol or o.inst.symbol == symbol)
                and (not base or o.inst.base == base) and (not settle or o.inst.settle == settle)
            ]  # fmt: skip
        chunk, nxt = page(rows, p, 20, 50)
        return {
            "category": category.value,
            "list": [v.order_view(o) for o in chunk],
            "nextPageCursor": nxt,
        }

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

    def _admin_key(self, request: web.Request) -> str:
        key = request.query.get("apiKey", "")
        if key not in self.secrets:
            raise KeyError("unknown apiKey")
        return key

    async def _admin_trade(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            side = {"buy": Side.BUY, "sell": Side.SELL}[str(body["side"]).lower()]
            price = Decimal(str(body["price"]))
            qty = Decimal(str(body["qty"]))
            if price <= 0 or qty <= 0:
                raise ValueError("price and qty must be positive")
            category = self.venue.category(body.get("category"))
            return json_response(
                self.venue.admin_trade(category, str(body["symbol"]), price, qty, side)
            )
        except BybitError as exc:
            return self._bad(exc.msg)
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad trade request: {exc!r}")

    async def _admin_orders(self, request: web.Request) -> web.Response:
        try:
            key = self._admin_key(request)
            category = request.query.get("category")
            symbol = request.query.get("symbol")
            cat = self.venue.category(category) if category else None
            rows = []
            for order in self.venue.open_orders(key, cat):
                if symbol and order.inst.symbol != symbol:
                    continue
                rows.append({"category": order.inst.category.value, **self.venue.order_view(order)})
            return json_response(rows)
        except BybitError as exc:
            return self._bad(exc.msg)
        except KeyError as exc:
            return self._bad(str(exc))

    async def _admin_account(self, request: web.Request) -> web.Response:
        try:
            key = self._admin_key(request)
        except KeyError as exc:
            return self._bad(str(exc))
        v = self.venue
        positions = []
        for inst_key, pos in v.accounts[key].positions.items():
            if pos.amt:
                inst = v.instruments[inst_key]
                positions.append({"category": inst.category.value, **v.position_view(key, inst)})
        return json_response({"wallet": v.wallet_view(key), "positions": positions})

    async def _admin_counts(self, request: web.Request) -> web.Response:
        return self._per_account(request, self.venue.counts)

    async def _admin_link_ids(self, request: web.Request) -> web.Response:
        return self._per_account(request, self.venue.link_id_uses)

    def _per_account(self, request: web.Request, table: dict[str, dict[str, int]]) -> web.Response:
        """The `apiKey` account's entry of a per-account count (empty if none yet)."""
        try:
            key = self._admin_key(request)
        except KeyError as exc:
            return self._bad(str(exc))
        return json_response(table.get(key, {}))

    async def _admin_book(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            mid = Decimal(str(body["mid"])) if body.get("mid") is not None else None
            if mid is not None and mid <= 0:
                raise ValueError("mid must be positive")
            category = self.venue.category(body.get("category"))
            return json_response(
                self.venue.admin_book(
                    category, str(body["symbol"]), mid, bool(body.get("clear", False))
                )
            )
        except BybitError as exc:
            return self._bad(exc.msg)
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad book request: {exc!r}")

    async def _admin_fault(self, request: web.Request) -> web.Response:
        try:
            body = await self._json(request)
            if body.get("clear"):
                self.faults.clear()
                self.venue.private.clear_faults()
                self.clear_trade_drops()
                return json_response({"armed": []})
            target = body.get("apiKey")
            if target is not None and target not in self.secrets:
                raise ValueError("unknown apiKey")
            if "userEvents" in body:
                if target is None:
                    raise ValueError("userEvents needs an apiKey")
                count = int(body.get("count", 1))
                self.venue.private.arm(str(target), str(body["userEvents"]), count)
                return json_response(
                    {"userEvents": body["userEvents"], "apiKey": target, "count": count}
                )
            if "disconnect" in body:
                kind = str(body["disconnect"])
                if kind not in ("public", "private", "trade", "all"):
                    raise ValueError("disconnect must be public, private, trade or all")
                closed = self.disconnect(kind, str(target) if target is not None else None)
                return json_response({"disconnected": closed})
            if "tradeDrop" in body:
                spec = body["tradeDrop"]
                if not isinstance(spec, dict):
                    raise ValueError("tradeDrop must be an object")
                self.arm_trade_drop(str(target) if target is not None else None, spec)
                return json_response({"tradeDrop": spec, "apiKey": target})
            self.faults.arm(parse_fault(body))
            return json_response({"armed": self.faults.armed()})
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            return self._bad(f"bad fault request: {exc}")

    async def _admin_faults(self, request: web.Request) -> web.Response:
        return json_response({"armed": self.faults.armed()})

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.venue.private.clear_faults()
        self.clear_trade_drops()
        self.venue.reset()
        return json_response({"reset": True, "time": now_ms()})
