"""Trigger index: firing rules, order, removal and a brute-force comparison."""

import hashlib
import hmac
import random
import time

import pytest

from ems._core import BUY, DOWN, SELL, UP, ArmedOrder, TriggerIndex


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


SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def _binance_template(clock_offset_ms: int = 0) -> ArmedOrder:
    head = b"POST /api/v3/order?symbol=LTCBTC&quantity=1&timestamp="
    return ArmedOrder.binance(
        head, b" HTTP/1.1\r\n\r\n", head.index(b"?") + 1, SECRET, clock_offset_ms
    )


def test_armed_binance_order_renders_the_documented_signature() -> None:
    head = (
        b"POST /api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1"
        b"&price=0.1&recvWindow=5000&timestamp="
    )
    armed = ArmedOrder.binance(head, b" HTTP/1.1\r\n", head.index(b"?") + 1, SECRET)
    assert armed.render(1499827319559) == (
        head + b"1499827319559&signature="
        b"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71 HTTP/1.1\r\n"
    )
    assert "Nhq" not in repr(armed)


def test_armed_order_signature_follows_the_clock_offset() -> None:
    query = b"symbol=LTCBTC&quantity=1&timestamp=1000"
    signature = hmac.new(SECRET, query, hashlib.sha256).hexdigest().encode()
    assert _binance_template(clock_offset_ms=-500).render(1500) == (
        b"POST /api/v3/order?" + query + b"&signature=" + signature + b" HTTP/1.1\r\n\r\n"
    )


def test_armed_trigger_sends_its_orders_rendered_with_the_trade_moment() -> None:
    index = TriggerIndex()
    sent: list[bytes] = []
    index.arm(
        1, UP, 100, [(_binance_template(), sent.append), (ArmedOrder.fixed(b"x"), sent.append)]
    )
    index.add(2, UP, 101, b"plain")
    before = int(time.time() * 1000)
    fired = index.on_trade(101, BUY)
    after = int(time.time() * 1000)
    assert fired == [(1, [True, True]), (2, b"plain")]
    binance, fixed = sent
    assert fixed == b"x"
    ts = int(binance.split(b"timestamp=")[1].split(b"&")[0])
    assert before <= ts <= after
    query = b"symbol=LTCBTC&quantity=1&timestamp=%d" % ts
    assert hmac.new(SECRET, query, hashlib.sha256).hexdigest().encode() in binance


def test_orders_after_an_unarmed_one_are_handed_back_so_their_sequence_holds() -> None:
    index = TriggerIndex()
    sent: list[bytes] = []
    stamped = ArmedOrder.millis(b'{"ts":', b"}")
    index.arm(1, DOWN, 100, [(stamped, sent.append), None, (stamped, sent.append)])
    fired = index.on_trade(99, SELL)
    assert fired is not None
    ((number, (first, unarmed, third)),) = fired
    assert number == 1 and first is True and unarmed is None
    assert len(sent) == 1 and isinstance(third, bytes) and third.startswith(b'{"ts":')


def test_a_sender_that_raises_is_reported_and_the_rest_still_go() -> None:
    index = TriggerIndex()
    sent: list[bytes] = []

    def refuse(data: bytes) -> None:
        raise LookupError("clOrderId used meanwhile")

    index.arm(1, UP, 10, [(ArmedOrder.fixed(b"a"), refuse), (ArmedOrder.fixed(b"b"), sent.append)])
    fired = index.on_trade(10, BUY)
    assert fired is not None
    ((_, (refused, ok)),) = fired
    assert isinstance(refused, LookupError) and ok is True and sent == [b"b"]


def test_a_sender_may_set_and_clear_triggers_of_the_same_index() -> None:
    index = TriggerIndex()

    def rearm(data: bytes) -> None:
        index.add(7, UP, 500, data)
        index.remove(3)

    index.add(3, DOWN, 1, b"far")
    index.arm(1, UP, 10, [(ArmedOrder.fixed(b"again"), rearm)])
    assert index.on_trade(10, BUY) == [(1, [True])]
    assert 7 in index and 3 not in index
    assert index.on_trade(500, BUY) == [(7, b"again")]


def test_armed_trigger_removal_returns_its_orders_and_bad_templates_are_refused() -> None:
    index = TriggerIndex()
    order = ArmedOrder.fixed(b"raw")
    index.arm(5, DOWN, 50, [(order, print)])
    removed = index.remove(5)
    assert isinstance(removed, list) and removed[0] is not None and removed[0][0] is order
    assert index.on_trade(1, SELL) is None
    with pytest.raises(ValueError, match="signed_from"):
        ArmedOrder.binance(b"abc", b"", 4, b"k")
    with pytest.raises(TypeError):
        index.arm(6, UP, 1, [b"not a template"])  # type: ignore[list-item]
