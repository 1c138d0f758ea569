"""The compiled risk gate: each denial, bad input, and equality with the Python checks
it replaced (same reasons, same sentences) on random orders."""

from __future__ import annotations

import random

import pytest

from ems._core import BUY, SELL, DecodeError, RiskGate


def _gate(price_step: str = "0.01", qty_step: str = "0.001") -> tuple[RiskGate, int]:
    gate = RiskGate()
    key = gate.add_key(gate.add_session(), "BTCUSDT")
    gate.set_instrument(key, price_step, qty_step)
    return gate, key


def test_no_limits_no_denial_and_applies_follows_the_limits():
    gate, key = _gate()
    assert not gate.applies(key)
    assert gate.check(key, BUY, 3_000_000, 3, None, True) is None
    gate.set_limits(key, max_order_qty=1.0)
    assert gate.applies(key)
    gate.set_limits(key)
    assert not gate.applies(key)
    gate.kill_switch = True
    assert gate.applies(key) and gate.kill_switch


def test_each_denial_has_its_reason_and_sentence():
    gate, key = _gate()
    order = (key, BUY, 3_000_000, 3)  # 30000.00 x 0.003
    gate.set_limits(key, max_order_qty=0.002)
    assert gate.check(*order, None, True) == (
        "QuantityAboveMaximum",
        "qty 0.003 exceeds 0.002",
    )
    gate.set_limits(key, max_order_notional=10)
    assert gate.check(*order, None, True) == ("NotionalAboveMaximum", "notional 90 exceeds 10")
    gate.set_limits(key, price_band_percent=1)
    assert gate.check(*order, None, True) == (
        "NoReferencePrice",
        "no reference price for BTCUSDT yet",
    )
    assert gate.check(*order, 31_000.0, True) == (
        "PriceOutsideBand",
        "price 30000 is more than 1% from the reference 31000",
    )
    gate.set_limits(key, max_working_orders=1)
    gate.book(key, BUY, 1, 5)
    assert gate.check(*order, None, True) == (
        "TooManyWorkingOrders",
        "1 working orders already (limit 1)",
    )
    gate.set_limits(key, max_position=0.0075)
    assert gate.check(*order, None, True) == (
        "PositionLimitExceeded",
        "position could reach 0.008 (limit 0.0075)",
    )
    # An update leaves the order's own booked quantity out of its side.
    assert gate.check(*order, None, False, booked_qty=5, booked_working=True) is None
    gate.set_limits(key, max_orders_per_second=2)
    assert [gate.check(*order, None, True, now=5.0) for _ in range(3)][-1] == (
        "RateLimitExceeded",
        "more than 2 orders per second",
    )
    gate.kill_switch = True
    assert gate.check(*order, None, True) == (
        "KillSwitchActive",
        "the kill switch is on; new orders are blocked",
    )
    assert gate.check(*order, None, False) is None


def test_venue_rules_need_a_token_each_and_yield_to_an_own_rate():
    gate, key = _gate()
    ten_s = gate.add_venue_rule(10.0, 100.0, "100 per 10 s", now=0.0)
    minute = gate.add_venue_rule(20.0, 1200.0, "1200 per minute", now=0.0)
    gate.set_venue_rules(key, [ten_s, minute])
    assert gate.applies(key)
    results = [gate.check(key, BUY, 1, 1, None, True, now=0.5) for _ in range(101)]
    assert results[:100] == [None] * 100
    assert results[100] == ("RateLimitExceeded", "100 per 10 s")
    # Another key (another session of the same account) shares the bucket.
    other = gate.add_key(gate.add_session(), "ETHUSDT")
    gate.set_instrument(other, "0.01", "0.001")
    gate.set_venue_rules(other, [ten_s])
    assert gate.check(other, BUY, 1, 1, None, True, now=0.5) == (
        "RateLimitExceeded",
        "100 per 10 s",
    )
    gate.set_limits(key, max_orders_per_second=1000.0)
    assert gate.check(key, BUY, 1, 1, None, True, now=0.5) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda g, k: g.check(k + 5, BUY, 1, 1, None, True),
        lambda g, k: g.check(-1, BUY, 1, 1, None, True),
        lambda g, k: g.check(k, 0, 1, 1, None, True),
        lambda g, k: g.check(k, BUY, 1, -1, None, True),
        lambda g, k: g.check(k, BUY, 1, 1, float("nan"), True),
        lambda g, k: g.check(k, BUY, 1, 1, None, True, now=float("inf")),
        lambda g, k: g.book(k, SELL, 0, -1),
        lambda g, k: g.book(k, BUY, -2, 0),
        lambda g, k: g.book(k, 2, 1, 0),
        lambda g, k: g.set_position(k, float("nan")),
        lambda g, k: g.set_limits(k, max_order_qty=float("nan")),
        lambda g, k: g.set_instrument(k, "0", "0.001"),
        lambda g, k: g.set_instrument(k, "0.01", "abc"),
        lambda g, k: g.add_key(99, "X"),
        lambda g, k: g.add_venue_rule(0.0, 10.0, "x"),
        lambda g, k: g.add_venue_rule(1.0, 0.5, "x"),
        lambda g, k: g.set_venue_rules(k, [3]),
        lambda g, k: g.reset_session_rate(7),
        lambda g, k: g.check_exposure(k, BUY, None, float("inf"), 0, 0, 0, None, None, True),
    ],
)
def test_malformed_input_raises_value_error_and_changes_nothing(call):
    gate, key = _gate()
    gate.book(key, BUY, 1, 7)
    with pytest.raises(ValueError):
        call(gate, key)
    assert gate.state(key) == (1, 7, 0, 0.0)


def test_a_bad_step_is_a_decode_error():
    gate = RiskGate()
    key = gate.add_key(gate.add_session(), "X")
    with pytest.raises(DecodeError):
        gate.set_instrument(key, "1.2.3", "1")
    bare = gate.add_key(gate.add_session(), "Y")
    gate.set_limits(bare, max_order_qty=1.0)
    with pytest.raises(ValueError, match="grids"):
        gate.check(bare, BUY, 1, 1, None, True)


def _python_check(limits: dict, symbol: str, x: dict, new_order: bool) -> tuple[str, str] | None:
    """The checks as the Python risk engine ran them before the core took over."""
    if limits["maxOrderQty"] is not None and x["qty"] > limits["maxOrderQty"]:
        return "QuantityAboveMaximum", f"qty {x['qty']:g} exceeds {limits['maxOrderQty']:g}"
    price = x["price"] if x["price"] is not None else x["reference"]
    if limits["maxOrderNotional"] is not None and price is not None:
        notional = x["qty"] * (x["contract_size"] if x["contract_size"] else price)
        if notional > limits["maxOrderNotional"]:
            return (
                "NotionalAboveMaximum",
                f"notional {notional:.8g} exceeds {limits['maxOrderNotional']:g}",
            )
    if limits["priceBandPercent"] is not None and x["price"] is not None:
        if x["reference"] is None:
            return "NoReferencePrice", f"no reference price for {symbol} yet"
        band = x["reference"] * limits["priceBandPercent"] / 100
        if abs(x["price"] - x["reference"]) > band:
            return (
                "PriceOutsideBand",
                f"price {x['price']:g} is more than {limits['priceBandPercent']:g}% from the "
                f"reference {x['reference']:g}",
            )
    if (
        new_order
        and limits["maxWorkingOrders"] is not None
        and x["working_orders"] >= limits["maxWorkingOrders"]
    ):
        return (
            "TooManyWorkingOrders",
            f"{x['working_orders']} working orders already (limit {limits['maxWorkingOrders']})",
        )
    if limits["maxPosition"] is not None:
        sign = 1.0 if x["side"] == BUY else -1.0
        worst = x["position"] + sign * (x["working_same_side"] + x["qty"])
        if abs(worst) > limits["maxPosition"] and abs(worst) > abs(x["position"]):
            return (
                "PositionLimitExceeded",
                f"position could reach {worst:g} (limit {limits['maxPosition']:g})",
            )
    return None


def _maybe(rng: random.Random, value: float) -> float | None:
    return None if rng.random() < 0.4 else value


def test_same_results_as_the_python_checks_on_random_orders():
    rng = random.Random(7)
    for step in range(20_000):
        limits = {
            "maxOrderQty": _maybe(rng, rng.choice([0.001, 0.5, 3, 12.5, rng.uniform(0, 20)])),
            "maxOrderNotional": _maybe(rng, rng.uniform(1, 5e5)),
            "priceBandPercent": _maybe(rng, rng.choice([0.1, 1, 5, rng.uniform(0, 30)])),
            "maxWorkingOrders": None if rng.random() < 0.4 else rng.randint(1, 10),
            "maxPosition": _maybe(rng, rng.uniform(0, 30)),
        }
        x = {
            "side": rng.choice([BUY, SELL]),
            "price": None if rng.random() < 0.2 else round(rng.uniform(1, 60_000), 2),
            "qty": round(rng.uniform(0.001, 20), 3),
            "position": rng.choice([0.0, round(rng.uniform(-25, 25), 3)]),
            "working_same_side": rng.choice([0.0, round(rng.uniform(0, 15), 3)]),
            "working_orders": rng.randint(0, 12),
            "reference": None if rng.random() < 0.2 else rng.uniform(1, 60_000),
            "contract_size": rng.choice([None, None, 10.0, 100.0]),
        }
        new_order = rng.random() < 0.7
        gate = RiskGate()
        key = gate.add_key(gate.add_session(), "SYM")
        gate.set_limits(
            key,
            limits["maxOrderQty"],
            limits["maxOrderNotional"],
            limits["priceBandPercent"],
            limits["maxWorkingOrders"],
            limits["maxPosition"],
        )
        got = gate.check_exposure(
            key,
            x["side"],
            x["price"],
            x["qty"],
            x["position"],
            x["working_same_side"],
            x["working_orders"],
            x["reference"],
            x["contract_size"],
            new_order,
        )
        assert got == _python_check(limits, "SYM", x, new_order), (step, limits, x)
