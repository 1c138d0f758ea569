"""Fuzz the Python venue decoders with mutated venue messages.

Each test starts from a real message shape (written from the venues' documentation, as
in tests/conformance and tests/core/core_frames.py) and lets hypothesis replace, drop and
add fields with values of any JSON type, or flip, cut and splice the raw bytes. A
decoder must either return a normal result (an ExecutionReport whose every field has
its declared type) or raise ValueError, the decoders' documented refusal of a malformed
message (the stream handlers catch it, log the frame and go on). Anything else would
escape into the event loop's callbacks and lose the rest of the frame's updates.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.core.core_frames import BYBIT_ORDER, EXECUTION_REPORT, OKX_ORDER, ORDER_TRADE_UPDATE

from ems._core import FixSession, binance_order_update, bybit_order_updates, fix_decode
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport
from ems.venues.binance import codec as binance
from ems.venues.bybit import codec as bybit
from ems.venues.deribit import codec as deribit
from ems.venues.okx import codec as okx

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# ------------------------------------------------------------------ strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "-1", "1e400", "NaN", "0.0001", "FILLED", "\u00e9", "1.2.3"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
"""Any JSON value, weighted towards the text venues send and numbers beyond i64."""


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with some fields (nested ones too) replaced, dropped or added."""
    out = copy.deepcopy(base)

    def mutate(obj: dict[str, Any]) -> None:
        keys = sorted(obj)
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)) if keys else []:
            if isinstance(obj[key], dict) and draw(st.booleans()):
                mutate(obj[key])
            elif isinstance(obj[key], list) and obj[key] and isinstance(obj[key][0], dict):
                mutate(obj[key][0])
            elif draw(st.booleans()):
                obj[key] = draw(json_values)
            else:
                del obj[key]
        for key, value in draw(
            st.dictionaries(st.text(max_size=3), json_values, max_size=2)
        ).items():
            obj[key] = value

    mutate(out)
    return out


@st.composite
def mangled(draw: st.DrawFn, frame: bytes) -> bytes:
    """`frame` with bytes flipped, cut, duplicated or spliced in."""
    data = bytearray(frame)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "dup", "insert", "truncate"]))
        if how == "flip":
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif how == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
        elif how == "insert":
            data[at:at] = draw(
                st.sampled_from([b'"', b"\\", b"{", b"[", b"]", b"}", b",", b":", b"\\u00"])
                | st.binary(max_size=8)
            )
        else:
            del data[at:]
    return bytes(data)


def _dumps(value: Any) -> bytes:
    # The standard library writes integers beyond 64 bits (orjson refuses them).
    return json.dumps(value, separators=(",", ":")).encode()


def frames(base: bytes) -> st.SearchStrategy[bytes]:
    """Frames near `base`: its fields mutated and re-serialised, its bytes mangled, or
    both."""
    shaped = mutated(orjson.loads(base)).map(_dumps)
    return shaped | mangled(base) | shaped.flatmap(mangled)


# ------------------------------------------------------------------ the contract

_TEXT = ("venue_client_id", "exch_order_id", "symbol", "cum_qty")
_OPTIONAL_TEXT = ("price", "qty", "last_qty", "last_price", "trade_id", "message")
_ENUMS = {"liquidity": Liquidity, "side": Side, "order_type": OrderType, "tif": TimeInForce}


def assert_normal(report: object) -> None:
    """A decoder's result has the types the engine relies on."""
    assert isinstance(report, ExecutionReport), type(report)
    for name in _TEXT:
        assert isinstance(getattr(report, name), str), (name, getattr(report, name))
    for name in _OPTIONAL_TEXT:
        value = getattr(report, name)
        assert value is None or isinstance(value, str), (name, value)
    assert isinstance(report.status, OrderStatus)
    for name, enum in _ENUMS.items():
        value = getattr(report, name)
        assert value is None or isinstance(value, enum), (name, value)
    assert type(report.exch_time) is int
    assert type(report.amended) is bool


def decode_or_refuse(decode: Any, *args: Any) -> Any:
    """`decode(*args)`, or None when it refuses with ValueError."""
    try:
        return decode(*args)
    except ValueError:
        return None


def check_reports(out: object) -> None:
    if out is None:
        return
    for report in out if isinstance(out, list) else [out]:
        assert_normal(report)


# ------------------------------------------------------------------ Binance

SPOT_EVENT = orjson.loads(EXECUTION_REPORT)
FUTURES_EVENT = orjson.loads(ORDER_TRADE_UPDATE)
SPOT_QUERY = {
    "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "ems1x2",
    "price": "30000.01", "origQty": "0.002", "executedQty": "0.001",
    "cummulativeQuoteQty": "30.00001", "status": "PARTIALLY_FILLED", "timeInForce": "GTC",
    "type": "LIMIT", "side": "BUY", "time": 1700000000000, "updateTime": 1700000000100,
    "workingTime": 1700000000000,
}  # fmt: skip
FUTURES_QUERY = {
    "symbol": "BTCUSDT", "orderId": 22542179, "clientOrderId": "ems1x3", "price": "0",
    "origQty": "0.010", "executedQty": "0.010", "avgPrice": "29999.5", "cumQuote": "299.995",
    "status": "FILLED", "timeInForce": "IOC", "type": "MARKET", "side": "SELL",
    "updateTime": 1700000000200,
}  # fmt: skip


@FUZZ
@given(mutated(SPOT_EVENT))
def test_binance_execution_report_decodes_or_refuses(event: dict[str, Any]) -> None:
    check_reports(decode_or_refuse(binance.execution_report, event))


@FUZZ
@given(mutated(FUTURES_EVENT))
def test_binance_order_trade_update_decodes_or_refuses(event: dict[str, Any]) -> None:
    check_reports(decode_or_refuse(binance.order_trade_update, event))


@FUZZ
@given(mutated(SPOT_QUERY) | mutated(FUTURES_QUERY))
def test_binance_query_and_reply_decode_or_refuse(data: dict[str, Any]) -> None:
    check_reports(decode_or_refuse(binance.query_report, data))
    check_reports(decode_or_refuse(binance.reply_report, data))
    check_reports(decode_or_refuse(binance.reply_report, data, "ems1x9"))


@FUZZ
@given(frames(EXECUTION_REPORT) | frames(ORDER_TRADE_UPDATE))
def test_binance_order_frames_scan_or_refuse(frame: bytes) -> None:
    # As the session reads them: the update's text is checked as UTF-8 when read.
    check_reports(decode_or_refuse(lambda f: binance.update_report(binance_order_update(f)), frame))


# ------------------------------------------------------------------ OKX

OKX_QUERY = orjson.loads(OKX_ORDER)["data"][0]


@FUZZ
@given(frames(OKX_ORDER))
def test_okx_order_pushes_decode_or_refuse(frame: bytes) -> None:
    check_reports(decode_or_refuse(okx.push_reports, frame))


@FUZZ
@given(frames(OKX_ORDER.replace(b'"amendResult":""', b'"amendResult":"0"')))
def test_okx_amend_pushes_decode_or_refuse(frame: bytes) -> None:
    check_reports(decode_or_refuse(okx.push_reports, frame))


@FUZZ
@given(mutated(OKX_QUERY))
def test_okx_order_query_decodes_or_refuses(data: dict[str, Any]) -> None:
    check_reports(decode_or_refuse(okx.query_report, data))


# ------------------------------------------------------------------ Bybit

BYBIT_ROW = orjson.loads(BYBIT_ORDER)["data"][0]
BYBIT_EXECUTION = {
    "category": "linear", "symbol": "BTCUSDT", "execFee": "0.005061", "execId":
    "7e2ae69c-4edf-5800-a352-893d52b446aa", "execPrice": "25500.5", "execQty": "0.010",
    "execType": "Trade", "execValue": "255.005", "isMaker": False, "feeRate": "0.0006",
    "tradeIv": "", "markIv": "", "blockTradeId": "", "markPrice": "25500.5", "indexPrice": "",
    "underlyingPrice": "", "leavesQty": "0", "orderId": "f6e324ff-99c2-4e89-9739-3086e47f9381",
    "orderLinkId": "ems-8", "orderPrice": "25500.5", "orderQty": "0.010", "orderType": "Limit",
    "stopOrderType": "UNKNOWN", "side": "Buy", "execTime": "1672364174443", "isLeverage": "0",
    "closedSize": "", "seq": 4688002127,
}  # fmt: skip
BYBIT_POSITION = {
    "positionIdx": 0, "tradeMode": 0, "riskId": 1, "riskLimitValue": "2000000",
    "symbol": "BTCUSDT", "side": "Sell", "size": "0.010", "entryPrice": "25500.5",
    "leverage": "10", "positionValue": "255.005", "markPrice": "25500.5",
    "updatedTime": "1672364174449", "category": "linear",
}  # fmt: skip


@FUZZ
@given(frames(BYBIT_ORDER))
def test_bybit_order_pushes_scan_or_refuse(frame: bytes) -> None:
    check_reports(
        decode_or_refuse(lambda f: [bybit.update_report(u) for u in bybit_order_updates(f)], frame)
    )


@FUZZ
@given(mutated(BYBIT_ROW), st.booleans())
def test_bybit_order_rows_decode_or_refuse(row: dict[str, Any], full: bool) -> None:
    check_reports(decode_or_refuse(bybit.order_report, row, full))


@FUZZ
@given(mutated(BYBIT_EXECUTION))
def test_bybit_executions_decode_or_refuse(item: dict[str, Any]) -> None:
    check_reports(decode_or_refuse(bybit.execution_report, item))


@FUZZ
@given(mutated(BYBIT_POSITION))
def test_bybit_positions_decode_or_refuse(item: dict[str, Any]) -> None:
    amount = decode_or_refuse(bybit.position_amount, item)
    assert amount is None or type(amount) is float


# ------------------------------------------------------------------ Deribit (FIX)

_SERVER = FixSession("DERIBITSERVER", "ems")
DERIBIT_FILL = _SERVER.encode(
    "8", 12,
    [(37, "7"), (11, "srv-7"), (41, "ems-9"), (150, "F"), (39, "1"), (55, "BTC-PERPETUAL"),
     (54, "1"), (38, "30"), (44, "30000.5"), (14, "10"), (151, "20"), (31, "30000.5"),
     (32, "10"), (851, "1"), (59, "1"), (40, "2"), (60, "20260101-00:00:01.250"),
     (6, "30000.5"), (527, "9912")],
)  # fmt: skip
DERIBIT_POSITIONS = _SERVER.encode(
    "AP", 13,
    [(702, "2"), (703, "TQ"), (704, "10"), (705, "0"), (55, "BTC-PERPETUAL"),
     (703, "TQ"), (704, "0"), (705, "2.5"), (55, "ETH-PERPETUAL")],
)  # fmt: skip


def fix_fields(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` re-encoded with some field values replaced by arbitrary bytes."""
    msg = fix_decode(raw)
    fields = [(t, v) for t, v in msg.fields() if t not in (8, 9, 10, 35, 34, 49, 56, 52)]
    out = []
    for tag, value in fields:
        if draw(st.integers(0, 4)) == 0:
            value = draw(
                st.binary(max_size=12).filter(lambda b: b"\x01" not in b)
                | st.sampled_from([b"", b"-1", b"99999999999999999999", b"\xff\xfe", b"1e9"])
            )
        if value:
            out.append((tag, value))
    return _SERVER.encode(msg.msg_type, 20, out)


@st.composite
def fix_frames(draw: st.DrawFn, raw: bytes) -> bytes:
    reencoded = fix_fields(draw, raw)
    return draw(st.just(reencoded) | mangled(reencoded) | mangled(raw))


@FUZZ
@given(fix_frames(DERIBIT_FILL))
def test_deribit_execution_reports_decode_or_refuse(frame: bytes) -> None:
    msg = decode_or_refuse(fix_decode, frame)
    if msg is not None:
        check_reports(decode_or_refuse(deribit.execution_report, msg))


@FUZZ
@given(fix_frames(DERIBIT_POSITIONS))
def test_deribit_position_reports_decode_or_refuse(frame: bytes) -> None:
    msg = decode_or_refuse(fix_decode, frame)
    if msg is None:
        return
    out = decode_or_refuse(deribit.positions, msg)
    if out is not None:
        assert all(type(k) is str and type(v) is float for k, v in out.items())


@FUZZ
@given(st.binary(max_size=30) | st.sampled_from([b"20260101-00:00:01.250", b"99999999-99:99:99"]))
def test_deribit_fix_times_never_raise(text: bytes) -> None:
    assert type(deribit.fix_time_ns(text)) is int


def test_the_seed_messages_decode_to_normal_reports() -> None:
    """The shapes the fuzzing starts from are valid, so mutations explore near them."""
    assert_normal(binance.execution_report(SPOT_EVENT))
    assert_normal(binance.order_trade_update(FUTURES_EVENT))
    assert_normal(binance.update_report(binance_order_update(EXECUTION_REPORT)))
    assert_normal(binance.query_report(SPOT_QUERY))
    assert [r.status for r in okx.push_reports(OKX_ORDER)] == [OrderStatus.FILLED]
    assert_normal(okx.query_report(OKX_QUERY))
    updates = bybit_order_updates(BYBIT_ORDER)
    assert [bybit.update_report(u).venue_client_id for u in updates] == ["ems-7"]
    report = bybit.execution_report(BYBIT_EXECUTION)
    assert report is not None and report.status == OrderStatus.FILLED
    assert bybit.position_amount(BYBIT_POSITION) == -0.01
    fill = deribit.execution_report(fix_decode(DERIBIT_FILL))
    assert fill.last_qty == "10" and fill.trade_id == "9912" and fill.venue_client_id == "ems-9"
    assert deribit.positions(fix_decode(DERIBIT_POSITIONS)) == {
        "BTC-PERPETUAL": 10.0,
        "ETH-PERPETUAL": -2.5,
    }
