"""Request bodies to typed values, with errors that name the offending field."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import orjson

from ems.engine.session import SendOrder
from ems.errors import ApiError
from ems.model import OrderType, Side, TimeInForce, TransactionType

E = TypeVar("E", bound=enum.Enum)

MAX_ID_LENGTH = 64


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object."""
    if not body:
        raise ApiError("request body is empty; a JSON object is required", "body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"request body is not valid JSON: {exc}", "body") from None
    if not isinstance(value, dict):
        raise ApiError("request body must be a JSON object", "body")
    return value


def text(data: dict[str, Any], name: str, required: bool = True, path: str = "") -> str | None:
    """A string field; ids are limited in length and to printable characters."""
    field = f"{path}{name}"
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(f"{field} is required", field)
        return None
    if not isinstance(value, str):
        raise ApiError(f"{field} must be a string", field)
    if required and not value:
        raise ApiError(f"{field} must not be empty", field)
    return value


def ident(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    """An identifier: 1..64 printable ASCII characters without spaces."""
    value = text(data, name, required)
    if value is None:
        return None
    if len(value) > MAX_ID_LENGTH or not value.isascii() or not value.isprintable() or " " in value:
        raise ApiError(
            f"{name} must be 1 to {MAX_ID_LENGTH} printable ASCII characters without spaces", name
        )
    return value


def number(data: dict[str, Any], name: str) -> float | None:
    """An optional JSON number (not a string, not a boolean)."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(f"{name} must be a number", name)
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(f"{name} must be finite", name)
    return float(value)


def boolean(data: dict[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(f"{name} must be true or false", name)
    return value


def choice(data: dict[str, Any], name: str, kind: type[E], required: bool = False) -> E | None:
    """One of an enum's values."""
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(f"{name} is required", name)
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise ApiError(f"{name} must be one of: {allowed}", name) from None


def send_order(data: dict[str, Any]) -> SendOrder:
    """A sendOrder body."""
    tx = choice(data, "transactionType", TransactionType, required=True)
    assert tx is not None
    session_id = ident(data, "sessionId")
    assert session_id is not None
    return SendOrder(
        cl_order_id=ident(data, "clOrderId", required=tx != TransactionType.PULL),
        symbol=text(data, "symbol", required=tx in (TransactionType.INSERT, TransactionType.PULL)),
        session_id=session_id,
        transaction_type=tx,
        price=number(data, "price"),
        qty=number(data, "qty"),
        order_type=choice(data, "orderType", OrderType),
        tif=choice(data, "tif", TimeInForce),
        side=choice(data, "side", Side),
    )
