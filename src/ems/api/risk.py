"""REST endpoints of pre-trade risk and the kill switch."""

from __future__ import annotations

from aiohttp import web

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
    limits = parse_limits(data)
    effective = engine.risk.set(session.session_id, symbol, limits)
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


def add_routes(app: web.Application, engine: Engine) -> None:
    app[ENGINE] = engine
    app.router.add_post("/setRiskLimits", set_risk_limits)
    app.router.add_get("/riskLimits", risk_limits)
    app.router.add_post("/killSwitch", kill_switch)
    app.router.add_get("/killSwitch", kill_switch)
