"""OKX conformance: requests built vs requests expected, raw pushes vs normalised reports.

The cases are data (`requests.json`, `pushes.json`, written from the venue
documentation); this module only runs them through the adapter's own builders and
parsers. No connection is opened: the builders are pure.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from ems._core import BUY, OkxBatchCancel, TradeScanner
from ems.engine.orders import Order
from ems.model import OrderType, Side, TimeInForce
from ems.venues.okx import codec
from ems.venues.okx.products import hosts
from ems.venues.okx.rest import OkxRest, query_string
from ems.venues.okx.session import OkxSession
from ems.venues.okx.stream import PrivateSocket

HERE = Path(__file__).parent
INSTRUMENTS = json.loads((HERE / "instruments.json").read_text())
REQUESTS = json.loads((HERE / "requests.json").read_text())
PUSHES = json.loads((HERE / "pushes.json").read_text())


class _Listener:
    def on_report(self, report: object) -> None: ...

    def on_venue_position(self, symbol: str, position: float) -> None: ...

    def on_stream_state(self, connected: bool, reason: str) -> None: ...

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def _session(use_margin: bool = False) -> OkxSession:
    session = OkxSession(
        "key", "secret", "pass", hosts("http://venue", "ws://venue", False), _Listener(),
        use_margin=use_margin,
    )  # fmt: skip
    session.load_instruments(INSTRUMENTS)
    return session


def _order(session: OkxSession, spec: dict[str, Any]) -> Order:
    inst = session.instruments[spec["symbol"]]
    order_type = OrderType(spec["orderType"])
    return Order(
        session_id="s",
        exchange="okx",
        cl_order_id=spec["clientId"],
        venue_client_id=spec["clientId"],
        symbol=spec["symbol"],
        side=Side(spec["side"]),
        order_type=order_type,
        tif=TimeInForce(spec["tif"]),
        price=inst.price_grid.units(spec["price"]) if "price" in spec else 0,
        qty=inst.qty_grid.units(spec["qty"]),
        instrument=inst,
    )


def _strip(message: Any, volatile: list[str]) -> Any:
    if isinstance(message, dict):
        return {k: _strip(v, volatile) for k, v in message.items() if k not in volatile}
    if isinstance(message, list):
        return [_strip(v, volatile) for v in message]
    return message


def _expand(expected: dict[str, Any]) -> dict[str, Any]:
    """`{"repeat": n, "from": k, "item": {...{n}...}}` args stand for n numbered items."""
    args = expected.get("args")
    if isinstance(args, dict) and "repeat" in args:
        template = json.dumps(args["item"])
        expected = {
            **expected,
            "args": [
                json.loads(template.replace("{n}", str(n)))
                for n in range(args["from"], args["from"] + args["repeat"])
            ],
        }
    return expected


def _built(case: dict[str, Any]) -> Any:
    call = case["call"]
    if call == "login":
        key = case["key"]
        socket = PrivateSocket(
            "ws://venue", key["apiKey"], key["secretKey"], key["passphrase"], [],
            lambda frame: None, lambda up, why: None, lambda: 0,
        )  # fmt: skip
        return socket.login_request(case["timestamp"])
    if call == "rest_sign":
        key = case["key"]
        rest = OkxRest(None, key["apiKey"], key["secretKey"], key["passphrase"], False)  # type: ignore[arg-type]
        target = case["path"] + query_string(case["params"])
        return {"target": target, "sign": rest.sign(case["timestamp"], case["method"], target)}
    session = _session(case.get("useMargin", False))
    if call == "pull":
        for n in range(1, case["count"] + 1):
            spec = {"symbol": case["symbol"], "side": "buy", "orderType": "limit",
                    "tif": "gtc", "price": "1000", "qty": "1",
                    "clientId": f"{case['clientPrefix']}{n}"}  # fmt: skip
            session.track_insert(_order(session, spec))
        return [orjson.loads(frame) for frame in session.pull_messages_for(case["symbol"])]
    order = _order(session, case["order"])
    if call == "insert":
        op, args = "order", session.order_args(order)
    elif call == "update":
        inst = order.instrument
        change = case["update"]
        price = inst.price_grid.units(change["price"]) if "price" in change else order.price
        qty = inst.qty_grid.units(change["qty"]) if "qty" in change else order.qty
        op, args = "amend-order", session.amend_args(order, price, qty)
    elif call == "delete":
        op, args = "cancel-order", session.cancel_args(order)
    else:
        raise AssertionError(f"unknown call {call}")
    return orjson.loads(PrivateSocket.encode("o1", op, [args]))


@pytest.mark.parametrize("case", REQUESTS, ids=[c["name"] for c in REQUESTS])
def test_request_built_matches_the_documented_request(case: dict[str, Any]):
    built = _built(case)
    expected = case["expected"]
    expected = [_expand(e) for e in expected] if isinstance(expected, list) else _expand(expected)
    assert _strip(built, case["volatile"]) == _strip(expected, case["volatile"])


def _report_fields(report: Any) -> dict[str, Any]:
    out = {}
    for name in report.__slots__:
        value = getattr(report, name)
        out[name] = value.value if hasattr(value, "value") else value
    return out


@pytest.mark.parametrize("case", PUSHES, ids=[c["name"] for c in PUSHES])
def test_raw_push_normalises_to_the_expected_update(case: dict[str, Any]):
    raw = orjson.dumps(case["raw"])
    if case.get("kind") == "trades":
        trades = TradeScanner(case["tick"], case["step"]).okx_trades(raw)
        got = [
            {"price": t.price, "qty": t.qty, "aggressor": "buy" if t.aggressor_side == BUY
             else "sell", "time": t.time, "trade_id": t.trade_id}
            for t in trades
        ]  # fmt: skip
        assert got == case["expected"]
        return
    reports = [_report_fields(r) for r in codec.push_reports(raw)]
    assert len(reports) == len(case["expected"])
    for report, expected in zip(reports, case["expected"], strict=True):
        assert {k: report[k] for k in expected} == expected


def test_batch_cancel_messages_follow_inserts_and_removals():
    """The ready messages always name exactly the working orders, 20 per message."""
    builder = OkxBatchCancel(inst_id_code=10459, by="clOrdId", request_prefix="c0x")
    for n in range(45):
        builder.insert(f"o{n}")
    for n in range(0, 45, 3):
        builder.remove(f"o{n}")
    named = []
    for frame in builder.pull():
        message = orjson.loads(frame)
        assert message["op"] == "batch-cancel-orders" and len(message["args"]) <= 20
        named += [a["clOrdId"] for a in message["args"]]
    assert sorted(named) == sorted(f"o{n}" for n in range(45) if n % 3)
    assert len(builder.pull()) == 2


def test_testnet_means_demo_trading_hosts_and_header():
    demo = hosts(None, None, True)
    assert demo.ws_url == "wss://wspap.okx.com:8443" and demo.rest_url == "https://www.okx.com"
    live = hosts(None, None, False)
    assert live.ws_url == "wss://ws.okx.com:8443" and not live.demo
    own = hosts("https://aws.okx.com/", "wss://wsaws.okx.com:8443", False)
    assert (own.rest_url, own.ws_url) == ("https://aws.okx.com", "wss://wsaws.okx.com:8443")
    rest = OkxRest(None, "k", "s", "p", True)  # type: ignore[arg-type]
    headers = rest.headers("GET", "/api/v5/account/balance")
    assert headers["x-simulated-trading"] == "1"
    assert set(headers) >= {"OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP",
                            "OK-ACCESS-PASSPHRASE"}  # fmt: skip
    assert "x-simulated-trading" not in OkxRest(None, "k", "s", "p", False).headers("GET", "/")  # type: ignore[arg-type]


class _RecordingListener(_Listener):
    """Keeps the reports and positions the venue module hands over."""

    def __init__(self) -> None:
        self.reports: list[Any] = []
        self.positions: list[tuple[str, float]] = []

    def on_report(self, report: object) -> None:
        self.reports.append(report)

    def on_venue_position(self, symbol: str, position: float) -> None:
        self.positions.append((symbol, position))


def test_a_spot_fill_moves_the_position_when_the_session_accounts_it_and_only_once():
    listener = _RecordingListener()
    session = OkxSession(
        "key", "secret", "pass", hosts("http://venue", "ws://venue", False), listener
    )  # fmt: skip
    session.load_instruments(INSTRUMENTS)
    fill = next(c for c in PUSHES if c["name"] == "partial fill as maker")["raw"]
    spec = {"symbol": "BTC-USDT", "side": "buy", "orderType": "limit", "tif": "gtc",
            "price": "1000", "qty": "0.01", "clientId": fill["data"][0]["clOrdId"]}  # fmt: skip
    session.track_insert(_order(session, spec))
    session._on_push(orjson.dumps(fill))
    # The push is handed over as it is; the session accounts it inside the journal
    # transaction that moves the order (see tests/unit/test_session_account.py).
    [report] = listener.reports
    assert listener.positions == []
    session.account(report)
    assert listener.positions == [("BTC-USDT", float(fill["data"][0]["accFillSz"]))]
    session.account(report)  # the same report again (a query after the push)
    assert len(listener.positions) == 1
