"""No input makes the core panic: every binding raises a ValueError subclass or returns.

A Rust panic would surface as pyo3's PanicException (a BaseException), which this test
would let through and fail on.
"""

import contextlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from ems import _core

CORPUS = Path(__file__).resolve().parents[2] / "native" / "fuzz" / "corpus"


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*/*"))]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(b) + 1)
        op = rng.randrange(5)
        if op == 0 and b:
            b[min(at, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del b[at:]
        elif op == 2:
            b[at:at] = rng.choice([b"9" * rng.randint(1, 30), b'"', b"\\", b"\x01", b"[", b"}"])
        elif op == 3 and b:
            del b[min(at, len(b) - 1)]
        else:
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


def bindings() -> list[Callable[[bytes], object]]:
    scanner = _core.TradeScanner("0.01", "0.00001")
    books = [
        _core.OrderBook(v, "0.01", "0.001")
        for v in ("binance_spot", "binance_futures", "okx", "bybit")
    ]
    for book in books:
        book.load_levels([(100, 1)], [(101, 1)], 1)

    def order_fields(data: bytes) -> None:
        for parse in (_core.okx_order_updates, _core.bybit_order_updates):
            for update in parse(data):
                read = (update.symbol, update.client_order_id, update.status, update.price)
                assert all(isinstance(v, str) for v in read)
        update = _core.binance_order_update(data)
        read = (update.symbol, update.fee_asset, update.orig_client_order_id)
        assert all(isinstance(v, str) for v in read)

    def fix(data: bytes) -> None:
        _core.fix_frame_length(data)
        msg = _core.fix_decode(data)
        msg.fields()
        msg.get_str(35)
        msg.group(146, [55, 167])

    return [
        scanner.binance_trade,
        scanner.okx_trades,
        scanner.bybit_trades,
        order_fields,
        fix,
        books[0].load_snapshot,
        *[book.apply for book in books],
    ]


def test_mutated_frames_raise_only_value_errors() -> None:
    rng = random.Random(11)
    corpus = seeds()
    assert len(corpus) >= 10
    calls = bindings()
    for round_ in range(4000):
        data = mutate(rng, corpus[round_ % len(corpus)])
        for call in calls:
            # DecodeError, OffGridError or a plain ValueError: all expected.
            with contextlib.suppress(ValueError):
                call(data)


@pytest.mark.parametrize("value", [b"", b"\x00" * 64, b"{" * 10_000, b"[" * 10_000, b"9" * 5_000])
def test_pathological_inputs(value: bytes) -> None:
    for call in bindings():
        with contextlib.suppress(ValueError):
            call(value)


def byte_parsers() -> list[Callable[[bytes], object]]:
    """Every exported call that parses caller-supplied bytes."""
    scanner = _core.TradeScanner("0.01", "0.00001")
    books = [
        _core.OrderBook(v, "0.01", "0.001")
        for v in ("binance_spot", "binance_futures", "okx", "bybit")
    ]
    for book in books:
        book.load_levels([(100, 1)], [(101, 1)], 1)
    return [
        scanner.binance_trade,
        scanner.okx_trades,
        scanner.bybit_trades,
        _core.binance_order_update,
        _core.okx_order_updates,
        _core.bybit_order_updates,
        _core.fix_decode,
        _core.fix_frame_length,
        books[0].load_snapshot,
        books[1].load_snapshot,
        *[book.apply for book in books],
    ]


@pytest.mark.parametrize("key", [b"data", b"event", b"stream", b"o", b"arg"])
def test_deeply_nested_envelopes_raise_value_error(key: bytes) -> None:
    # Up to 900 kB of `{"data":{"data":...`: followed recursively this would overflow the stack
    # and kill the process; it must be refused like any other malformed frame.
    depth = 100_000
    inner = b'{"e":"trade","E":1,"s":"X","t":1,"p":"1.00","q":"1","T":1,"m":true,"M":true}'
    frame = b'{"' + key + b'":' + (b'{"' + key + b'":') * (depth - 1) + inner + b"}" * depth
    assert len(frame) > 500_000
    for parse in byte_parsers():
        with pytest.raises(ValueError):
            parse(frame)


def test_binance_envelopes_beyond_the_documented_ones_are_refused() -> None:
    scanner = _core.TradeScanner("0.01", "0.00001")
    trade = b'{"e":"trade","E":1,"s":"X","t":1,"p":"1.00","q":"1","T":1,"m":true,"M":true}'
    combined = b'{"stream":"x@trade","data":' + trade + b"}"
    assert scanner.binance_trade(combined).price == 100
    with pytest.raises(_core.DecodeError) as caught:
        scanner.binance_trade(b'{"data":{"data":{"data":' + trade + b"}}}")
    assert getattr(caught.value, "offset", None) == len(b'{"data":{"data":{"data":')
    book = _core.OrderBook("binance_spot", "0.01", "0.001")
    book.load_levels([(100, 1)], [(101, 1)], 5)
    diff = b'{"e":"depthUpdate","E":1,"s":"X","U":6,"u":6,"b":[["0.99","2"]],"a":[]}'
    twice = b'{"stream":"x","data":{"data":' + diff + b"}}"
    with pytest.raises(_core.DecodeError):
        book.apply(twice)
    assert book.size_at(_core.BID, 99) == 0
    assert book.apply(b'{"stream":"x","data":' + diff + b"}") == _core.APPLIED
    assert book.size_at(_core.BID, 99) == 2000


def test_extreme_values_raise_instead_of_wrapping() -> None:
    # units * step past i128 and ask - bid past i64 are errors, never wrapped numbers.
    huge = _core.Grid("1" + "0" * 29)
    with pytest.raises(ValueError):
        huge.format(2**63 - 1)
    with pytest.raises(ValueError):
        huge.format(-(2**63))
    assert huge.format(1) == "1" + "0" * 29
    assert _core.Grid("0.01").format(-(2**63)) == "-92233720368547758.08"
    book = _core.OrderBook("bybit", "0.01", "0.001")
    book.update(_core.BID, -(2**63) + 1, 1)
    book.update(_core.ASK, 2**63 - 1, 1)
    with pytest.raises(ValueError):
        book.spread()
    book.update(_core.BID, 2**63 - 2, 1)
    assert book.spread() == 1
