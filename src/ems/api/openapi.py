"""The OpenAPI 3.1 description of the API, built from the model's enums."""

from __future__ import annotations

from functools import cache
from typing import Any

from ems import __version__
from ems.model import (
    Exchange,
    Liquidity,
    LogLevel,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TransactionType,
)


def _enum(kind: Any, description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [m.value for m in kind], "description": description}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _ok(_ref("error"), "Invalid request; `field` names the offending field"),
    "401": _ok(_ref("error"), "Missing or wrong API key"),
    "404": _ok(_ref("error"), "Unknown session or order"),
    "409": _ok(_ref("error"), "Conflict with current state (reused id, request in flight)"),
}

_NANOS = {"type": "integer", "format": "int64", "description": "Nanoseconds since the epoch"}
_NUMBER = {"type": "number", "format": "double"}


def _schemas() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    nullable_num = {"type": ["number", "null"], "format": "double"}
    return {
        "error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        },
        "exchange": _enum(Exchange, "Venue and market"),
        "exchangekey": {
            "type": "object",
            "required": ["apiKey", "secretKey", "exchange"],
            "properties": {
                "apiKey": {"type": "string"},
                "secretKey": {"type": "string", "writeOnly": True},
                "passphrase": {"type": "string", "writeOnly": True},
                "exchange": _ref("exchange"),
            },
        },
        "startorderhandler": {
            "type": "object",
            "required": ["exchangeKey", "sessionId"],
            "properties": {
                "exchangeKey": _ref("exchangekey"),
                "sessionId": {"type": "string", "maxLength": 64},
                "restUrl": {"type": "string", "description": "REST base URL, no trailing slash"},
                "wsUrl": {"type": "string", "description": "WebSocket (or FIX) base URL"},
                "wsApiUrl": {
                    "type": "string",
                    "description": "Binance: base URL of the WebSocket that carries orders "
                    "and the user stream, when it is not the wsUrl host",
                },
                "interface": {"type": "string", "description": "Local interface, e.g. eth0:1"},
                "useMargin": {"type": "boolean"},
                "cancelOnDisconnect": {
                    "type": "boolean",
                    "description": "Deribit: cancel this session's orders when its FIX "
                    "connection ends (absent: the account's setting)",
                },
                "venueRateLimit": {
                    "type": "boolean",
                    "description": "Hold new orders to the venue's documented order-rate "
                    "rules when the session sets no maxOrdersPerSecond (absent: yes, unless "
                    "every URL given is on this machine, i.e. a simulator)",
                },
            },
        },
        "session": {
            "type": "object",
            "properties": {
                "sessionId": {"type": "string"},
                "exchange": _ref("exchange"),
                "symbols": {"type": "integer"},
            },
        },
        "loglevel": {
            "type": "object",
            "properties": {"logLevel": {**_enum(LogLevel, "Severity"), "default": "info"}},
        },
        "sendorder": {
            "type": "object",
            "required": ["sessionId", "transactionType"],
            "properties": {
                "clOrderId": {
                    "type": "string",
                    "maxLength": 64,
                    "description": "Required except for pull",
                },
                "symbol": {"type": "string"},
                "sessionId": {"type": "string"},
                "price": _NUMBER,
                "qty": _NUMBER,
                "orderType": {**_enum(OrderType, "Order type"), "default": "limit"},
                "transactionType": _enum(TransactionType, "What to do"),
                "tif": {**_enum(TimeInForce, "Time in force"), "default": "gtc"},
                "side": _enum(Side, "Side"),
            },
        },
        "ordertransaction": {
            "type": "object",
            "properties": {
                "exchOrderId": nullable_str,
                "message": nullable_str,
                "clOrderId": nullable_str,
                "exchange": nullable_str,
                "symbol": nullable_str,
                "sessionId": nullable_str,
                "tradeId": nullable_str,
                "localTime": _NANOS,
                "exchTime": {**_NANOS, "type": ["integer", "null"]},
                "sendTime": {**_NANOS, "type": ["integer", "null"]},
                "price": nullable_num,
                "qty": nullable_num,
                "cumulativeFilledQty": nullable_num,
                "executedQty": nullable_num,
                "remainingQty": nullable_num,
                "orderType": nullable_str,
                "orderStatus": _enum(OrderStatus, "Order status"),
                "transactionType": nullable_str,
                "tif": nullable_str,
                "side": nullable_str,
                "tradeLiquidity": {
                    "type": ["string", "null"],
                    "enum": [*[m.value for m in Liquidity], None],
                },
                "triggerId": nullable_str,
            },
        },
        "pullresult": {
            "type": "object",
            "properties": {
                "sessionId": {"type": "string"},
                "symbol": {"type": "string"},
                "transactionType": {"type": "string"},
                "orders": {"type": "array", "items": {"type": "string"}},
            },
        },
        "refresh": {
            "type": "object",
            "required": ["sessionId", "transactions"],
            "properties": {
                "sessionId": {"type": "string"},
                "transactions": {"type": "array", "items": _ref("ordertransaction")},
            },
        },
        "getposition": {
            "type": "object",
            "required": ["sessionId", "symbol"],
            "properties": {
                "sessionId": {"type": "string"},
                "symbol": {"type": "string"},
                "exchange": _ref("exchange"),
            },
        },
        "position": {"type": "object", "properties": {"position": _NUMBER}},
        "risklimits": {
            "type": "object",
            "required": ["sessionId"],
            "properties": {
                "sessionId": {"type": "string"},
                "symbol": {"type": "string", "description": "Omit for session-wide limits"},
                "maxOrderQty": _NUMBER,
                "maxOrderNotional": _NUMBER,
                "priceBandPercent": {
                    **_NUMBER,
                    "description": "Max distance from the last trade price, in percent",
                },
                "maxWorkingOrders": {"type": "integer"},
                "maxPosition": _NUMBER,
                "maxOrdersPerSecond": {
                    **_NUMBER,
                    "description": "Replaces the venue's order-rate rules the session is "
                    "held to (GET /riskLimits lists them as venueRateRules)",
                },
            },
        },
        "killswitch": {
            "type": "object",
            "properties": {"active": {"type": "boolean", "default": True}},
        },
        "triggermanager": {
            "type": "object",
            "required": ["symbol", "exchange", "sessionId"],
            "properties": {
                "symbol": {"type": "string"},
                "exchange": _ref("exchange"),
                "sessionId": {
                    "type": "string",
                    "description": "Session whose connection carries the symbol's public trades",
                },
            },
        },
        "settrigger": {
            "type": "object",
            "required": ["id", "price", "symbol", "direction", "exchange", "orders"],
            "properties": {
                "id": {"type": "string", "maxLength": 64},
                "price": _NUMBER,
                "symbol": {"type": "string"},
                "direction": {
                    "type": "string",
                    "enum": ["up", "down"],
                    "description": "up: fires on a buy-aggressor trade at price >= level; "
                    "down: on a sell-aggressor trade at price <= level",
                },
                "exchange": _ref("exchange"),
                "orders": {"type": "array", "minItems": 1, "items": _ref("sendorder")},
            },
        },
        "cleartrigger": {
            "type": "object",
            "required": ["symbol", "exchange", "id"],
            "properties": {
                "symbol": {"type": "string"},
                "exchange": _ref("exchange"),
                "id": {"type": "string"},
            },
        },
        "cleartriggers": {
            "type": "object",
            "properties": {
                "symbol": {"type": "string"},
                "exchange": _ref("exchange"),
                "clearAll": {"type": "boolean", "default": False},
            },
        },
        "positions": {
            "type": "object",
            "properties": {
                "sessionId": {"type": "string"},
                "positions": {"type": "object", "additionalProperties": _NUMBER},
            },
        },
    }


def _post(op: str, summary: str, body: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": op,
            "summary": summary,
            "requestBody": _json_body(body),
            "responses": {"200": _ok(result), **_ERRORS},
        }
    }


def _websocket(op: str, summary: str, frames: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op,
            "summary": summary,
            "description": (
                'WebSocket upgrade. After connecting send {"sessionId": ...}; the server '
                f"answers with an acknowledgement and then streams `{frames}` frames."
            ),
            "responses": {
                "101": {"description": "Switching protocols"},
                "401": _ERRORS["401"],
            },
        }
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    position_params = [
        {"name": n, "in": "query", "required": r, "schema": {"type": "string"}}
        for n, r in (("sessionId", True), ("symbol", True), ("exchange", False))
    ]
    get_position = _post(
        "getPosition", "Position of a session in a symbol", "getposition", _ref("position")
    )
    get_position["get"] = {
        "operationId": "getPositionQuery",
        "summary": "Position of a session in a symbol (query parameters)",
        "parameters": position_params,
        "responses": {"200": _ok(_ref("position")), **_ERRORS},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ems order manager",
            "version": __version__,
            "description": "Order sessions, order entry and streams for crypto venues.",
        },
        "servers": [{"url": "http://127.0.0.1:35027"}],
        "security": [{"header": []}, {"query": []}],
        "paths": {
            "/startOrderHandler": _post(
                "startOrderHandler",
                "Start a named order session",
                "startorderhandler",
                _ref("session"),
            ),
            "/setLogLevel": _post("setLogLevel", "Set the log level", "loglevel", _ref("loglevel")),
            "/sendOrder": _post(
                "sendOrder",
                "Insert, update, delete or pull",
                "sendorder",
                {"oneOf": [_ref("ordertransaction"), _ref("pullresult")]},
            ),
            "/refresh": _post(
                "refresh", "Re-query orders from the venue", "refresh", {"type": "object"}
            ),
            "/getPosition": get_position,
            "/sessions": {
                "get": {
                    "operationId": "sessions",
                    "summary": "Running sessions, their client-id prefixes and working orders",
                    "responses": {
                        "200": _ok({"type": "array", "items": {"type": "object"}}),
                        "401": _ERRORS["401"],
                    },
                }
            },
            "/orders": {
                "get": {
                    "operationId": "orders",
                    "summary": "Working orders of a session (all=true: every order)",
                    "parameters": [
                        {
                            "name": "sessionId",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "all",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "boolean", "default": False},
                        },
                    ],
                    "responses": {
                        "200": _ok({"type": "array", "items": _ref("ordertransaction")}),
                        **_ERRORS,
                    },
                }
            },
            "/startTriggerManager": _post(
                "startTriggerManager",
                "Start a trigger manager",
                "triggermanager",
                {"type": "object"},
            ),
            "/stopTriggerManager": _post(
                "stopTriggerManager",
                "Stop a trigger manager and clear its triggers",
                "triggermanager",
                {"type": "object"},
            ),
            "/setTrigger": _post("setTrigger", "Set a trigger", "settrigger", {"type": "object"}),
            "/clearTrigger": _post(
                "clearTrigger", "Clear one trigger", "cleartrigger", {"type": "object"}
            ),
            "/clearTriggers": _post(
                "clearTriggers",
                "Clear the triggers of a symbol or all",
                "cleartriggers",
                {"type": "object"},
            ),
            "/setRiskLimits": _post(
                "setRiskLimits",
                "Set risk limits of a session or symbol",
                "risklimits",
                {"type": "object"},
            ),
            "/riskLimits": {
                "get": {
                    "operationId": "riskLimits",
                    "summary": "Risk limits of a session",
                    "parameters": [
                        {
                            "name": "sessionId",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _ok({"type": "object"}), **_ERRORS},
                }
            },
            "/killSwitch": {
                **_post(
                    "killSwitch",
                    "Pull every working order and block new ones (or release)",
                    "killswitch",
                    {"type": "object"},
                ),
                "get": {
                    "operationId": "killSwitchState",
                    "summary": "Whether the kill switch is on",
                    "responses": {"200": _ok(_ref("killswitch")), "401": _ERRORS["401"]},
                },
            },
            "/watchSymbol": _post(
                "watchSymbol",
                "Follow a symbol's trades and book",
                "getposition",
                {"type": "object"},
            ),
            "/book": {
                "get": {
                    "operationId": "book",
                    "summary": "Top levels of a followed symbol's book",
                    "parameters": [
                        {"name": n, "in": "query", "required": r, "schema": {"type": t}}
                        for n, r, t in (
                            ("exchange", True, "string"),
                            ("symbol", True, "string"),
                            ("depth", False, "integer"),
                        )
                    ],
                    "responses": {"200": _ok({"type": "object"}), **_ERRORS},
                }
            },
            "/subscribeUpdates": _websocket(
                "subscribeUpdates",
                "Order update stream; also accepts sendOrder messages",
                "ordertransaction",
            ),
            "/subscribePositions": _websocket("subscribePositions", "Position stream", "positions"),
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "header": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "query": {"type": "apiKey", "in": "query", "name": "key"},
            },
        },
    }
