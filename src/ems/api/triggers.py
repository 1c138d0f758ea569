"""REST endpoints of the trigger manager."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ems.api import parse
from ems.engine.triggers import Direction, TriggerManagers, TriggerOrder
from ems.errors import ApiError
from ems.model import Side, TransactionType

TRIGGERS: web.AppKey[TriggerManagers] = web.AppKey("triggers", TriggerManagers)


def _json(body: object) -> web.Response:
    return web.json_response(body)


async def _body(request: web.Request) -> dict[str, Any]:
    return parse.json_object(await request.read())


def _key(data: dict[str, Any]) -> tuple[str, str]:
    exchange = parse.text(data, "exchange")
    symbol = parse.text(data, "symbol")
    assert exchange and symbol
    return exchange, symbol


async def start_trigger_manager(request: web.Request) -> web.Response:
    data = await _body(request)
    exchange, symbol = _key(data)
    session_id = parse.ident(data, "sessionId")
    assert session_id
    await request.app[TRIGGERS].start(session_id, exchange, symbol)
    return _json({"exchange": exchange, "symbol": symbol, "sessionId": session_id})


async def stop_trigger_manager(request: web.Request) -> web.Response:
    data = await _body(request)
    exchange, symbol = _key(data)
    session_id = parse.ident(data, "sessionId", required=False)
    cleared = await request.app[TRIGGERS].stop(exchange, symbol, session_id)
    return _json({"exchange": exchange, "symbol": symbol, "cleared": cleared})


def _orders(
    managers: TriggerManagers, exchange: str, trigger_id: str, raw: object
) -> list[TriggerOrder]:
    if not isinstance(raw, list) or not raw:
        raise ApiError("orders must be a non-empty array of sendorder objects", "orders")
    out: list[TriggerOrder] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(raw):
        where = f"orders[{i}]"
        try:
            if not isinstance(item, dict):
                raise ApiError("must be a sendorder object", None)
            req = parse.send_order(item)
            session = managers.engine.session(req.session_id)
            if session.exchange != exchange:
                raise ApiError(
                    f"session {req.session_id} trades {session.exchange}, not {exchange}",
                    "sessionId",
                )
            req.trigger_id = trigger_id
            if req.transaction_type == TransactionType.INSERT:
                item = TriggerOrder(session, req, session.prepare(req))
            else:
                session.check(req)
                item = TriggerOrder(session, req)
        except ApiError as exc:
            field = f"{where}.{exc.field}" if exc.field else where
            raise ApiError(exc.message, field, exc.status) from None
        if req.cl_order_id and req.transaction_type.value == "insert":
            key = (req.session_id, req.cl_order_id)
            if key in seen:
                raise ApiError(
                    f"clOrderId {req.cl_order_id!r} appears twice", f"{where}.clOrderId", 409
                )
            seen.add(key)
        out.append(item)
    return out


async def _priced(managers: TriggerManagers, orders: list[TriggerOrder]) -> None:
    """Makes ems follow, before the trigger is set, every symbol one of its inserts
    trades under a price band that has no reference yet: a fired order is refused
    (NoReferencePrice) rather than held, so its reference must be there when it fires."""
    engine = managers.engine
    for item in orders:
        if item.request.transaction_type != TransactionType.INSERT:
            continue
        session, symbol = item.session, item.request.symbol
        if symbol is None or not engine.risk.needs_reference(session.session_id, symbol):
            continue
        if all(engine.band_reference(session.exchange, symbol, side) is None for side in Side):
            await engine.await_reference(session, symbol)


async def set_trigger(request: web.Request) -> web.Response:
    managers = request.app[TRIGGERS]
    data = await _body(request)
    trigger_id = parse.ident(data, "id")
    price = parse.number(data, "price")
    direction = parse.choice(data, "direction", Direction, required=True)
    exchange, symbol = _key(data)
    assert trigger_id and direction
    if price is None:
        raise ApiError("price is required", "price")
    managers.get(exchange, symbol)  # refuse a missing manager before anything else
    orders = _orders(managers, exchange, trigger_id, data.get("orders"))
    await _priced(managers, orders)
    # Looked up again: the manager may have been stopped while the prices were awaited.
    manager = managers.get(exchange, symbol)
    manager.set(trigger_id, price, direction, orders, data.get("orders"))
    return _json(
        {
            "id": trigger_id,
            "exchange": exchange,
            "symbol": symbol,
            "direction": direction.value,
            "price": price,
            "orders": len(orders),
        }
    )


async def clear_trigger(request: web.Request) -> web.Response:
    data = await _body(request)
    exchange, symbol = _key(data)
    trigger_id = parse.ident(data, "id")
    assert trigger_id
    request.app[TRIGGERS].get(exchange, symbol).clear(trigger_id)
    return _json({"id": trigger_id, "cleared": True})


async def clear_triggers(request: web.Request) -> web.Response:
    managers = request.app[TRIGGERS]
    data = await _body(request)
    if parse.boolean(data, "clearAll"):
        cleared = sum(m.clear_all() for m in managers.managers.values())
    else:
        exchange, symbol = _key(data)
        cleared = managers.get(exchange, symbol).clear_all()
    return _json({"cleared": cleared})


def add_routes(app: web.Application, managers: TriggerManagers) -> None:
    app[TRIGGERS] = managers
    managers.build_orders = lambda exchange, trigger_id, raw: _orders(
        managers, exchange, trigger_id, raw
    )
    app.router.add_post("/startTriggerManager", start_trigger_manager)
    app.router.add_post("/stopTriggerManager", stop_trigger_manager)
    app.router.add_post("/setTrigger", set_trigger)
    app.router.add_post("/clearTrigger", clear_trigger)
    app.router.add_post("/clearTriggers", clear_triggers)
