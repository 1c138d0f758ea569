"""Bybit conformance: requests built vs requests expected, raw pushes vs normalised reports.

The cases are data (`requests.json`, `pushes.json`, written from the venue
documentation); this module only runs them through the adapter's own builders and
parsers. No connection is opened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from ems._core import BUY, TradeScanner
from ems.engine.orders import Order
from ems.errors import VenueError
from ems.model import OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport
from ems.venues.bybit import codec
from ems.venues.bybit.batching import split_reply
from ems.venues.bybit.products import PRODUCTS
from ems.venues.bybit.rest import BybitRest
from ems.venues.bybit.session import OPS, BybitSession
from ems.venues.bybit.trade import trade_message

HERE = Path(__file__).parent
INSTRUMENTS = json.loads((HERE / "instruments.json").read_text())
REQUESTS = json.loads((HERE / "requests.json").read_text())
PUSHES = json.loads((HERE / "pushes.json").read_text())


class _Listener:
    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []
        self.positions: dict[str, float] = {}

    def on_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)

    def on_venue_position(self, symbol: str, position: float) -> None:
        self.positions[symbol] = position

    def on_stream_state(self, connected: bool, reason: str) -> None: ...


def _session(category: str, listener: _Listener | None = None) -> BybitSession:
    session = BybitSession(
        PRODUCTS[f"bybit-{category}"],
        "key",
        "secret",
        "http://venue",
        "ws://venue",
        listener or _Listener(),
    )
    session.instruments = codec.instruments(category, INSTRUMENTS[category])
    return session


def _order(session: BybitSession, spec: dict[str, Any]) -> Order:
    inst = session.instruments[spec["symbol"]]
    order_type = OrderType(spec["orderType"])
    price = 0 if order_type == OrderType.MARKET else inst.price_grid.units(spec["price"])
    return Order(
        session_id="conformance",
        exchange=session.product.exchange.value,
        cl_order_id=spec["clientId"],
        venue_client_id=spec["clientId"],
        symbol=spec["symbol"],
        side=Side(spec["side"]),
        order_type=order_type,
        tif=TimeInForce(spec["tif"]),
        price=price,
        qty=inst.qty_grid.units(spec["qty"]),
        instrument=inst,
    )


def _drop(message: Any, paths: list[str]) -> Any:
    """A copy of `message` without the volatile (dotted) paths."""
    out = json.loads(json.dumps(message))
    for path in paths:
        *parents, last = path.split(".")
        node = out
        for key in parents:
            node = node.get(key, {})
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _amend_args(session: BybitSession, order: Order, change: dict[str, str]) -> dict[str, Any]:
    inst = order.instrument
    price = inst.price_grid.units(change["price"]) if "price" in change else order.price
    qty = inst.qty_grid.units(change["qty"]) if "qty" in change else order.qty
    return codec.amend_args(
        session.category,
        order.symbol,
        order.venue_client_id,
        inst.qty_grid.format(qty) if qty != order.qty else None,
        inst.price_grid.format(price) if price != order.price else None,
    )


def _built(case: dict[str, Any]) -> dict[str, Any]:
    session = _session(case["category"])
    call = case["call"]
    if call.endswith("-batch"):
        orders = [_order(session, spec) for spec in case["orders"]]
        if call == "create-batch":
            items = [session._create_args(o) for o in orders]
        elif call == "amend-batch":
            changes = zip(orders, case["updates"], strict=True)
            items = [_amend_args(session, o, change) for o, change in changes]
        else:
            cat = session.category
            items = [codec.cancel_args(cat, o.symbol, o.venue_client_id) for o in orders]
        args = codec.batch_args(session.category, items)
        op = OPS[call][0]
    else:
        order = _order(session, case["order"])
        if call == "insert":
            args, op = session._create_args(order), OPS["create"][0]
        elif call == "update":
            args, op = _amend_args(session, order, case["update"]), OPS["amend"][0]
        else:
            args = codec.cancel_args(session.category, order.symbol, order.venue_client_id)
            op = OPS["cancel"][0]
    return trade_message("req-1", op, args, 1711001595207)


ORDER_CALLS = ("insert", "update", "delete", "create-batch", "amend-batch", "cancel-batch")
ORDER_CASES = [c for c in REQUESTS if c["call"] in ORDER_CALLS]


@pytest.mark.parametrize("case", ORDER_CASES, ids=[c["name"] for c in ORDER_CASES])
def test_request_built_matches_the_documented_request(case: dict[str, Any]):
    built = _drop(_built(case), case["volatile"])
    expected = _drop(case["expected"], case["volatile"])
    for key, value in expected.items():
        assert built[key] == value, (key, built)


REST_CASES = [c for c in REQUESTS if c["call"] == "rest"]


@pytest.mark.parametrize("case", REST_CASES, ids=[c["name"] for c in REST_CASES])
def test_signed_rest_request_matches(case: dict[str, Any]):
    rest = BybitRest(None, case["key"], case["secret"])  # type: ignore[arg-type]
    target, headers, body = rest.build(case["method"], case["path"], case["params"], True)
    # The same call with the case's fixed timestamp.
    headers = {
        **headers,
        **rest.sign(target.partition("?")[2] or body.decode(), case["timestamp"]),
    }
    expected = case["expected"]
    assert target == expected["target"]
    assert body.decode() == expected["body"]
    sign = expected["headers"]["X-BAPI-SIGN"]
    if sign == "hmac":
        plain = f"{case['timestamp']}{case['key']}5000{expected['body']}"
        sign = hmac.new(case["secret"].encode(), plain.encode(), hashlib.sha256).hexdigest()
    assert headers == {**expected["headers"], "X-BAPI-SIGN": sign}


def test_websocket_auth_args_match():
    [case] = [c for c in REQUESTS if c["call"] == "ws_auth"]
    rest = BybitRest(None, case["key"], case["secret"])  # type: ignore[arg-type]
    key, expires, marker = case["expected"]
    text = marker.removeprefix("hmac:")
    sign = hmac.new(case["secret"].encode(), text.encode(), hashlib.sha256).hexdigest()
    assert rest.ws_auth_args(case["expires"]) == [key, expires, sign]


PRIVATE = [c for c in PUSHES if not c.get("public")]


def _run_push(case: dict[str, Any]) -> _Listener:
    listener = _Listener()

    async def feed() -> None:
        session = _session(case["category"], listener)
        session._on_push(orjson.dumps(case["raw"]))

    asyncio.run(feed())
    return listener


@pytest.mark.parametrize("case", PRIVATE, ids=[c["name"] for c in PRIVATE])
def test_raw_push_normalises_as_expected(case: dict[str, Any]):
    listener = _run_push(case)
    if "positions" in case:
        assert listener.positions == case["positions"]
        return
    reports = [dataclasses.asdict(r) for r in listener.reports]
    assert len(reports) == len(case["expected"])
    for got, want in zip(reports, case["expected"], strict=True):
        shown = {k: (v.value if hasattr(v, "value") else v) for k, v in got.items()}
        assert {k: shown[k] for k in want} == want


def test_order_push_reads_the_same_through_the_core_and_as_a_dict():
    """The session reads `order` pushes with the core scanner; the dict reader (used when
    the topic is not at the front of the frame) must agree with it."""
    for case in PRIVATE:
        if not case["raw"]["topic"].startswith("order"):
            continue
        scanned = [dataclasses.asdict(r) for r in _run_push(case).reports]
        as_dict = [
            dataclasses.asdict(codec.order_report(row, full=False)) for row in case["raw"]["data"]
        ]
        for a, b in zip(scanned, as_dict, strict=True):
            b["side"] = a["side"]  # the core gives no side text back to the report
            assert a == b, case["name"]


PUBLIC = [c for c in PUSHES if c.get("public")]


@pytest.mark.parametrize("case", PUBLIC, ids=[c["name"] for c in PUBLIC])
def test_public_trade_push_normalises_as_expected(case: dict[str, Any]):
    trades = TradeScanner(case["tick"], case["step"]).bybit_trades(orjson.dumps(case["raw"]))
    got = [
        {
            "price": t.price,
            "qty": t.qty,
            "aggressor": "buy" if t.aggressor_side == BUY else "sell",
            "time": t.time,
        }
        for t in trades
    ]
    assert got == case["trades"]


REPLY_CASES = [c for c in REQUESTS if c["call"] == "batch-reply"]


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c["name"] for c in REPLY_CASES])
def test_batch_reply_answers_each_order_on_its_own(case: dict[str, Any]):
    """A trade-WebSocket reply carries the items in `data`; the session hands them on
    as `result` (REST's name), as `_ws_reply` does."""
    raw = case["raw"]
    reply = {"result": raw.get("data", raw.get("result")), "retExtInfo": raw["retExtInfo"]}
    outcomes = split_reply(reply, len(case["expected"]), case["what"])
    for got, want in zip(outcomes, case["expected"], strict=True):
        if "error" in want:
            assert isinstance(got, VenueError) and str(got) == want["error"]
        else:
            assert not isinstance(got, BaseException)
            assert {k: got["result"][k] for k in want} == want
