"""The simulated Deribit's HTTP port: admin API and the JSON-RPC WebSocket.

`ems sim` lists it as `restUrl` of `deribit` (the FIX `host:port` is `wsUrl`). Admin
API (JSON in and out, not signed; quantities are in contracts):

``POST /sim/trade`` ``{"symbol": "BTC-PERPETUAL", "price": 30010, "qty": 5, "side": "buy"}``
    A trade whose AGGRESSOR side is ``side``: it fills the resting orders it crosses
    (price-time priority, each at its own price) and prints whatever is left at
    ``price``. Answer ``{"symbol", "side", "fills": [{"tradeId", "price", "qty",
    "orderId", "owner"}]}`` (``owner``: the account's API key, ``"mm"``, or null).
``GET /sim/orders?apiKey=K[&symbol=S][&all=true]``
    The account's open orders (with ``all=true``: every order it sent, open or closed,
    oldest first): ``order_id``, ``cl_ord_id`` (the client's ClOrdID),
    ``instrument_name``, ``direction``, ``order_type``, ``time_in_force``, ``post_only``,
    ``price``, ``amount``/``filled_amount`` (USD), ``contracts``/``filled_contracts``,
    ``order_state``, ... (Deribit's JSON-RPC order fields plus the contract counts).
``GET /sim/clOrdIds?apiKey=K``
    ``{ClOrdID: n}``: how many NewOrderSingles the account sent with each ClOrdID,
    refused ones included.
``GET /sim/account?apiKey=K``
    ``{"balances": {"BTC": "10", ...}, "positions": [{"instrument_name", "direction",
    "size" (USD), "contracts", "average_price", "realized_profit_loss"}]}``.
``POST /sim/book`` ``{"symbol": .., "mid": 31000}`` or ``{"symbol": .., "clear": true}``
    Recenters or pulls the market maker; the answer has best bid/ask and 10 levels a side.
``GET /sim/book?symbol=S``
    The same view of the book, changing nothing.
FIX market data: see :mod:`ems.sim.deribit.fix` (trades, and the book as W then X).
``POST /sim/fault``
    ``{"fix": "drop", "apiKey": K}``: closes the account's FIX TCP connections (all
    accounts' without ``apiKey``) with no Logout, as a network failure would.
    ``{"fix": "loseOutbound", "apiKey": K, "count": N}``: the next N application messages
    to the account's FIX sessions get sequence numbers and are stored but never written,
    so the client sees a gap and must ask for a resend.
    ``{"fix": "loseInbound", "apiKey": K, "count": N}``: the next N application messages
    from the account's sessions are discarded unread, so the simulator sees a gap and
    asks the client for a resend.
    ``{"fix": "loseResendReply", "apiKey": K, "count": N}``: the answers to the account's
    next N ResendRequests are lost whole (nothing is written), so the client must ask
    again.
    ``{"fix": "loseBookUpdate", "apiKey": K, "count": N}``: the next N book updates (X)
    for the account's FIX sessions are never made (not sequenced, not stored), a gap in
    the book that no FIX resend repairs; the client sees it only as an update that does
    not fit its book.
    ``{"jsonrpc": "drop"}``: closes every JSON-RPC WebSocket.
    ``{"clear": true}``: disarms the lose faults. ``GET /sim/fault`` lists them.
``GET /sim/sessions``
    Every FIX session: ``senderCompId``, ``apiKey``, ``nextIn``, ``nextOut``,
    ``connected``, ``cancelOnDisconnect``.
``POST /sim/reset`` ``{}`` or ``{"sessions": true}``
    Restores books, orders and balances; with ``sessions`` also forgets every FIX
    session's sequence numbers and message store (a venue-side reset).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from ems.sim.deribit.fix import BOOK_INTERVAL_MS, FixAcceptor
from ems.sim.deribit.jsonrpc import JsonRpcServer
from ems.sim.deribit.venue import DeribitVenue, RejectError
from ems.sim.matching import Side


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _bad(message: str) -> web.Response:
    return _json({"error": message}, 400)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _decimal(data: dict[str, Any], name: str) -> Decimal:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number") from None
    if not out.is_finite() or out <= 0:
        raise ValueError(f"{name} must be positive")
    return out


def build_app(venue: DeribitVenue, acceptor: FixAcceptor, rpc: JsonRpcServer) -> web.Application:
    """The aiohttp application of the admin port."""

    async def trade(request: web.Request) -> web.Response:
        try:
            data = await _body(request)
            side = Side(data.get("side"))
            result = venue.admin_trade(
                str(data.get("symbol")), _decimal(data, "price"), _decimal(data, "qty"), side
            )
        except (ValueError, RejectError) as exc:
            return _bad(str(exc))
        return _json(result)

    async def orders(request: web.Request) -> web.Response:
        api_key = request.query.get("apiKey", "")
        if api_key not in venue.accounts:
            return _bad("unknown apiKey")
        symbol = request.query.get("symbol")
        if request.query.get("all") == "true":
            return _json([venue.admin_order(o) for o in venue.account_orders(api_key, symbol)])
        return _json([venue.admin_order(o) for o in venue.open_orders(api_key, symbol)])

    async def cl_ord_ids(request: web.Request) -> web.Response:
        api_key = request.query.get("apiKey", "")
        if api_key not in venue.accounts:
            return _bad("unknown apiKey")
        return _json(venue.cl_ord_id_uses.get(api_key, {}))

    async def account(request: web.Request) -> web.Response:
        try:
            return _json(venue.admin_account(request.query.get("apiKey", "")))
        except RejectError as exc:
            return _bad(exc.text)

    async def book(request: web.Request) -> web.Response:
        try:
            data = await _body(request)
            mid = _decimal(data, "mid") if data.get("mid") is not None else None
            result = venue.admin_book(str(data.get("symbol")), mid, bool(data.get("clear")))
        except (ValueError, RejectError) as exc:
            return _bad(str(exc))
        return _json(result)

    async def book_view(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        if symbol not in venue.specs:
            return _bad("unknown symbol")
        return _json(venue.book_view(symbol))

    async def fault(request: web.Request) -> web.Response:
        try:
            data = await _body(request)
        except ValueError as exc:
            return _bad(str(exc))
        if data.get("clear"):
            for state in acceptor.sessions.values():
                state.lose_in = state.lose_out = state.lose_resend = state.lose_book = 0
            return _json({"cleared": True})
        if data.get("jsonrpc") == "drop":
            return _json({"dropped": rpc.drop_all()})
        kind = data.get("fix")
        api_key = data.get("apiKey")
        if api_key is not None and api_key not in venue.accounts:
            return _bad("unknown apiKey")
        if kind == "drop":
            return _json({"dropped": acceptor.drop(api_key)})
        if kind in ("loseOutbound", "loseInbound", "loseResendReply", "loseBookUpdate"):
            count = data.get("count", 1)
            if not isinstance(count, int) or count < 1:
                return _bad("count must be a positive integer")
            states = acceptor.matching(api_key)
            for state in states:
                if kind == "loseOutbound":
                    state.lose_out += count
                elif kind == "loseResendReply":
                    state.lose_resend += count
                elif kind == "loseBookUpdate":
                    state.lose_book += count
                else:
                    state.lose_in += count
            return _json({"armed": len(states)})
        return _bad("unknown fault; see the admin API documentation")

    async def faults(request: web.Request) -> web.Response:
        return _json(
            [
                {
                    "senderCompId": s.sender,
                    "loseOutbound": s.lose_out,
                    "loseInbound": s.lose_in,
                    "loseResendReply": s.lose_resend,
                    "loseBookUpdate": s.lose_book,
                }
                for s in acceptor.sessions.values()
                if s.lose_in or s.lose_out or s.lose_resend or s.lose_book
            ]
        )

    async def sessions(request: web.Request) -> web.Response:
        return _json(acceptor.describe())

    async def reset(request: web.Request) -> web.Response:
        try:
            data = await _body(request)
        except ValueError as exc:
            return _bad(str(exc))
        venue.reset()
        if data.get("sessions"):
            acceptor.reset_sessions()
        return _json({"reset": True})

    app = web.Application()
    app.router.add_post("/sim/trade", trade)
    app.router.add_get("/sim/orders", orders)
    app.router.add_get("/sim/clOrdIds", cl_ord_ids)
    app.router.add_get("/sim/account", account)
    app.router.add_post("/sim/book", book)
    app.router.add_get("/sim/book", book_view)
    app.router.add_post("/sim/fault", fault)
    app.router.add_get("/sim/fault", faults)
    app.router.add_get("/sim/sessions", sessions)
    app.router.add_post("/sim/reset", reset)
    app.router.add_get("/ws/api/v2", rpc.handle)
    return app


class DeribitSims:
    """The Deribit simulator family for `ems sim`: FIX port plus admin/JSON-RPC port."""

    def __init__(self, credentials: list[tuple[str, str]], seed: int, market_maker: bool) -> None:
        self.venue = DeribitVenue(credentials, seed, market_maker)
        self.acceptor = FixAcceptor(self.venue)
        self.rpc = JsonRpcServer(self.venue)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port_for: Any) -> dict[str, dict[str, str]]:
        fix_port = await self.acceptor.start(host, port_for())
        self._runner = web.AppRunner(
            build_app(self.venue, self.acceptor, self.rpc), access_log=None, handle_signals=False
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port_for()).start()
        http_port = self._runner.addresses[0][1]
        return {"deribit": {"restUrl": f"http://{host}:{http_port}", "wsUrl": f"{host}:{fix_port}"}}

    def tick(self, elapsed_ms: int) -> None:
        """Publishes book changes every BOOK_INTERVAL_MS (trades go out as they happen)."""
        if elapsed_ms % BOOK_INTERVAL_MS == 0:
            self.acceptor.flush_books()

    def drift(self) -> None:
        self.venue.drift()

    async def stop(self) -> None:
        self.rpc.drop_all()
        await self.acceptor.stop()
        if self._runner is not None:
            await self._runner.cleanup()
