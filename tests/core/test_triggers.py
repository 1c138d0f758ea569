"""Trigger index: firing rules, order, removal and a brute-force comparison."""

import random

import pytest

from ems._core import BUY, DOWN, SELL, UP, TriggerIndex


def test_up_triggers_fire_on_buys_at_or_above_level_in_price_order() -> None:
    index = TriggerIndex()
    index.add(1, UP, 105, b"order-1")
    index.add(2, UP, 101, b"order-2")
    index.add(3, DOWN, 99, b"order-3")
    assert index.on_trade(200, SELL) is None
    assert index.on_trade(100, BUY) is None
    assert index.on_trade(105, BUY) == [(2, b"order-2"), (1, b"order-1")]
    assert len(index) == 1
    assert index.next_levels() == (None, 99)


def test_down_triggers_fire_on_sells_at_or_below_level() -> None:
    index = TriggerIndex()
    index.add(7, DOWN, 95, b"a")
    index.add(8, DOWN, 99, b"b")
    assert index.on_trade(99, SELL) == [(8, b"b")]
    assert index.on_trade(10, SELL) == [(7, b"a")]
    assert index.on_trade(10, SELL) is None


def test_remove_returns_payload_and_duplicates_are_refused() -> None:
    index = TriggerIndex()
    index.add(1, UP, 10, b"x")
    with pytest.raises(ValueError):
        index.add(1, DOWN, 5, b"y")
    with pytest.raises(ValueError):
        index.add(2, 0, 5, b"y")
    assert 1 in index
    assert index.remove(1) == b"x"
    assert index.remove(1) is None
    assert not index.would_fire(10**9, BUY)


def test_matches_brute_force_scan_on_random_input() -> None:
    rng = random.Random(5)
    index = TriggerIndex()
    model: dict[int, tuple[int, int, int]] = {}
    seq = 0
    for _ in range(5000):
        op = rng.random()
        if op < 0.5:
            tid, direction, level = rng.randrange(300), rng.choice((UP, DOWN)), rng.randrange(100)
            if tid in model:
                continue
            seq += 1
            index.add(tid, direction, level, str(tid).encode())
            model[tid] = (direction, level, seq)
        elif op < 0.6:
            tid = rng.randrange(300)
            assert (index.remove(tid) is not None) == (model.pop(tid, None) is not None)
        else:
            price, side = rng.randrange(-5, 105), rng.choice((BUY, SELL))
            hits = [
                (tid, d, lvl, s)
                for tid, (d, lvl, s) in model.items()
                if d == side and (price >= lvl if side == BUY else price <= lvl)
            ]
            hits.sort(key=lambda h: (h[2] if side == BUY else -h[2], h[3]))
            for h in hits:
                del model[h[0]]
            want = [(h[0], str(h[0]).encode()) for h in hits] or None
            assert index.on_trade(price, side) == want
        assert len(index) == len(model)


def test_aggressor_side_must_be_buy_or_sell() -> None:
    with pytest.raises(ValueError):
        TriggerIndex().on_trade(100, 0)
