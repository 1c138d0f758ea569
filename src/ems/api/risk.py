"""REST endpoints of pre-trade risk and the kill switch."""

from __future__ import annotations

from aiohttp import web

from ems._core import ASK, BID
from ems.api import parse
from ems.engine.engine import Engine
from ems.engine.risk import parse_limits
from ems.errors import ApiError

ENGINE: web.AppKey[Engine] = web.AppKey("risk_engine", Engine)


async def set_risk_limits(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data = parse.json_object(await request.read())
    session = engine.session(data.get("sessionId"))
    symbol = parse.text(data, "symbol", required=False)
    if symbol is not None and symbol not in session.venue.instruments:
        raise ApiError(f"unknown symbol {symbol!r} on {session.exchange}", "symbol")
    limits = parse_limits(data, other_fields=frozenset({"sessionId", "symbol"}))
    effective = engine.set_limits(session.session_id, symbol, limits)
    if symbol is not None and effective.priceBandPercent is not None:
        try:
            await engine.watch(session, symbol)
        except Exception as exc:
            raise ApiError(
                f"cannot follow {symbol}'s trades: {exc}", "priceBandPercent", 502
            ) from None
    return web.json_response(
        {"sessionId": session.session_id, "symbol": symbol, "limits": effective.as_json()}
    )


async def risk_limits(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    session = engine.session(request.query.get("sessionId"))
    return web.json_response(
        {
            "sessionId": session.session_id,
            "default": engine.risk.default.as_json(),
            "configured": engine.risk.configured(session.session_id),
            "killSwitch": engine.risk.kill_switch,
            "venueRateRules": engine.risk.venue_rules(session.session_id),
        }
    )


async def kill_switch(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    if request.method == "GET":
        return web.json_response({"active": engine.risk.kill_switch})
    body = await request.read()
    data = parse.json_object(body) if body.strip() else {}
    active = parse.boolean(data, "active", default=True)
    pulled = await engine.kill(active)
    return web.json_response({"active": active, "pulled": pulled})


async def watch_symbol(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    data = parse.json_object(await request.read())
    session = engine.session(data.get("sessionId"))
    symbol = parse.text(data, "symbol")
    if symbol not in session.venue.instruments:
        raise ApiError(f"unknown symbol {symbol!r} on {session.exchange}", "symbol")
    try:
        await engine.watch(session, symbol)
    except Exception as exc:
        raise ApiError(f"cannot follow {symbol}: {exc}", "symbol", 502) from None
    return web.json_response({"exchange": session.exchange, "symbol": symbol})


async def book(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    exchange = request.query.get("exchange", "")
    symbol = request.query.get("symbol", "")
    feed = engine.books.get((exchange, symbol))
    if feed is None:
        raise ApiError(
            f"no book is kept for {exchange} {symbol} (POST /watchSymbol)", "symbol", 404
        )
    depth_text = request.query.get("depth", "10")
    if not depth_text.isdigit() or not 1 <= int(depth_text) <= 1000:
        raise ApiError("depth must be a whole number from 1 to 1000", "depth")
    depth = int(depth_text)
    b, inst = feed.book, feed.instrument
    pg, qg = inst.price_grid, inst.qty_grid

    def side(code: int) -> list[list[float]]:
        return [[pg.value(p), qg.value(q)] for p, q in b.depth(code, depth)]

    return web.json_response(
        {
            "exchange": exchange,
            "symbol": symbol,
            "synced": b.synced,
            "lastUpdateId": b.last_update_id,
            "bids": side(BID) if b.synced else [],
            "asks": side(ASK) if b.synced else [],
        }
    )


def add_routes(app: web.Application, engine: Engine) -> None:
    app[ENGINE] = engine
    app.router.add_post("/setRiskLimits", set_risk_limits)
    app.router.add_get("/riskLimits", risk_limits)
    app.router.add_post("/killSwitch", kill_switch)
    app.router.add_get("/killSwitch", kill_switch)
    app.router.add_post("/watchSymbol", watch_symbol)
    app.router.add_get("/book", book)
