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
