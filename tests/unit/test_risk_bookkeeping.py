"""A session keeps the risk gate's exposure in step with its orders: after every insert,
ack, fill, amend, cancel-replace, cancel and reject, the gate's counts equal a scan of
the session's orders, and each check answers as the scan-based check did."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ems._core import Grid
from ems.engine.orders import Order
from ems.engine.risk import Exposure, Limits, RiskDenied, RiskEngine
from ems.engine.session import OrderSession, SendOrder
from ems.metrics import Metrics
from ems.model import OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ems.venues.base import Capabilities, ExecutionReport, Instrument
from ems.venues.limits import ORDER_RATE_RULES, venue_rules_apply

INST = Instrument("BTCUSDT", Grid("0.01"), Grid("0.001"))


async def _nothing() -> None:
    return None


class QuietVenue:
    """Accepts every request and answers nothing: the test plays the venue's reports."""

    def __init__(self) -> None:
        self.instruments = {INST.symbol: INST}
        self.capabilities = Capabilities(
            order_types=frozenset(OrderType), tifs=frozenset(TimeInForce)
        )

    def insert(self, order: Order) -> Any:
        return _nothing()

    def account(self, report: Any) -> None:
        """Counts nothing from reports (no spot position of its own)."""

    async def amend(self, order: Order, price: int, qty: int) -> None:
        return None

    def cancel(self, order: Order) -> Any:
        return _nothing()

    async def query(self, order: Order) -> None:
        return None

    async def stop(self) -> None:
        return None


def _session(risk: RiskEngine) -> OrderSession:
    return OrderSession(
        session_id="s1",
        exchange="binance-spot",
        venue=QuietVenue(),  # type: ignore[arg-type]
        metrics=Metrics(),
        client_id_prefix="emsx",
        account_key="acct",
        shares_symbol=lambda s, sym: False,
        risk=risk,
        reference_price=lambda exchange, symbol: 30_000.0,
    )


def _scan_check(s: OrderSession, limits: Limits, order: Order, price: int, qty: int, new: bool):
    """The check as it was: exposure from a walk over every order of the session."""
    same, working = 0, 0
    for other in s.orders.values():
        if other.working and other.symbol == order.symbol and other is not order:
            working += 1
            if other.side == order.side:
                same += other.remaining_qty
    ref = RiskEngine(limits)
    x = Exposure(
        side=order.side,
        price=None if order.order_type == OrderType.MARKET else INST.price_grid.value(price),
        qty=INST.qty_grid.value(qty - order.cum_qty),
        position=s.positions.get(order.symbol, 0.0),
        working_same_side=INST.qty_grid.value(same),
        working_orders=working,
        reference=30_000.0,
        contract_size=None,
    )
    try:
        ref.check("s1", order.symbol, x, new)
    except RiskDenied as denial:
        return denial.reason, denial.detail
    return None


def _assert_in_step(s: OrderSession, risk: RiskEngine) -> None:
    live = [o for o in s.orders.values() if o.working]
    want = (
        len(live),
        sum(o.remaining_qty for o in live if o.side == Side.BUY),
        sum(o.remaining_qty for o in live if o.side == Side.SELL),
        s.positions.get(INST.symbol, 0.0),
    )
    assert risk.gate.state(risk.key("s1", INST.symbol)) == want


def _report(order: Order, status: OrderStatus, **kw: Any) -> ExecutionReport:
    cum = kw.pop("cum", order.cum_qty)
    return ExecutionReport(
        order.venue_client_id,
        f"x{order.cl_order_id}",
        order.symbol,
        status,
        cum_qty=INST.qty_grid.format(cum),
        **kw,
    )


def test_gate_follows_every_order_change_and_checks_as_the_scan_did():
    async def run() -> None:
        rng = random.Random(3)
        outcomes: dict[object, int] = {}
        limits = Limits(maxPosition=0.05, maxWorkingOrders=12, maxOrderQty=0.02)
        risk = RiskEngine(limits)
        s = _session(risk)
        for step in range(3000):
            live = [o for o in s.orders.values() if o.working]
            action = rng.randrange(8)
            if action <= 2 or not live:
                side = rng.choice([Side.BUY, Side.SELL])
                price, qty = rng.randint(2_990_000, 3_010_000), rng.randint(1, 25)
                probe = Order(
                    "s1", "binance-spot", "probe", "v", INST.symbol, side, OrderType.LIMIT,
                    TimeInForce.GTC, price, qty, INST,
                )  # fmt: skip
                want = _scan_check(s, limits, probe, price, qty, True)
                frame = s.send(
                    SendOrder(
                        f"c{step}",
                        INST.symbol,
                        "s1",
                        TransactionType.INSERT,
                        price=INST.price_grid.value(price),
                        qty=INST.qty_grid.value(qty),
                        side=side,
                    )
                )
                got = s.orders[f"c{step}"]
                outcomes[want and want[0]] = outcomes.get(want and want[0], 0) + 1
                assert (got.risk_reason, got.message) == (
                    (None, None) if want is None else (want[0].value, f"risk {want[0]}: {want[1]}")
                ), step
                assert frame["orderStatus"] == ("pendingnew" if want is None else "rejected")
            else:
                order = rng.choice(live)
                if action == 3:  # ack
                    s.on_report(_report(order, OrderStatus.NEW))
                elif action == 4:  # fill part or all
                    cum = order.cum_qty + rng.randint(1, order.remaining_qty or 1)
                    status = (
                        OrderStatus.FILLED if cum >= order.qty else OrderStatus.PARTIALLY_FILLED
                    )
                    s.on_report(_report(order, status, cum=min(cum, order.qty), last_price="30000"))
                elif action == 5:  # cancel, reject or expire
                    s.on_report(
                        _report(
                            order,
                            rng.choice(
                                [OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED]
                            ),
                        )
                    )
                elif action == 6 and not order.pending:  # amend the size
                    qty = order.cum_qty + rng.randint(1, 25)
                    if qty != order.qty:
                        want = _scan_check(s, limits, order, order.price, qty, False)
                        got = s._risk(order, order.price, qty, new_order=False)
                        assert (None if got is None else (got.reason, got.detail)) == want
                        if got is None:
                            s.on_report(
                                _report(
                                    order,
                                    OrderStatus.NEW,
                                    amended=True,
                                    qty=INST.qty_grid.format(qty - order.cum_qty),
                                )
                            )
                else:  # a cancel-replace: the new leg takes over with a new size
                    new_leg = s.begin_replace(order)
                    order.pending_price, order.pending_qty = order.price, order.qty + 1
                    s.finish_replace(
                        order,
                        ExecutionReport(new_leg, "y", INST.symbol, OrderStatus.NEW, cum_qty="0"),
                    )
            _assert_in_step(s, risk)
        # Every kind of answer happened: accepted, and each limit's denial.
        assert set(outcomes) == {None, *(d for d in outcomes if d)} and len(outcomes) == 4, outcomes
        await asyncio.sleep(0)
        await s.close()

    asyncio.run(run())


def test_restored_orders_and_positions_are_booked():
    async def run() -> None:
        risk = RiskEngine()
        s = _session(risk)
        s.send(
            SendOrder("a", INST.symbol, "s1", TransactionType.INSERT, 30_000.0, 0.01, side=Side.BUY)
        )
        state = s.orders["a"]
        fresh_risk = RiskEngine()
        fresh = _session(fresh_risk)
        from ems.engine.orders import order_state

        fresh.restore([(order_state(state), True)], {INST.symbol: (5, 0.005)})
        assert fresh_risk.gate.state(fresh_risk.key("s1", INST.symbol)) == (1, 10, 0, 0.005)
        await asyncio.sleep(0)
        await s.close()
        await fresh.close()

    asyncio.run(run())


def test_venue_rule_denies_with_the_rule_named():
    async def run() -> None:
        risk = RiskEngine()
        risk.open_session("s1", "binance-spot", "acct", venue_rules=True)
        s = _session(risk)
        rule = ORDER_RATE_RULES["binance-spot"][0]
        frames = [
            s.send(
                SendOrder(
                    f"c{i}",
                    INST.symbol,
                    "s1",
                    TransactionType.INSERT,
                    30_000.0,
                    0.001,
                    side=Side.BUY,
                )
            )
            for i in range(rule.orders + 1)
        ]
        assert [f["orderStatus"] for f in frames[:-1]] == ["pendingnew"] * rule.orders
        assert frames[-1]["orderStatus"] == "rejected"
        assert frames[-1]["riskReason"] == "RateLimitExceeded"
        assert rule.rule in str(frames[-1]["message"])
        # The session's own rate replaces the venue rule.
        risk.set("s1", None, Limits(maxOrdersPerSecond=1000))
        ok = s.send(
            SendOrder(
                "own", INST.symbol, "s1", TransactionType.INSERT, 30_000.0, 0.001, side=Side.BUY
            )
        )
        assert ok["orderStatus"] == "pendingnew"
        await asyncio.sleep(0)
        await s.close()

    asyncio.run(run())


def test_venue_rules_apply_unless_the_session_talks_to_a_local_endpoint():
    assert venue_rules_apply(None, None, None)
    assert venue_rules_apply(None, "https://api.binance.com", None)
    assert not venue_rules_apply(None, "http://127.0.0.1:8000", "ws://127.0.0.1:8000")
    assert not venue_rules_apply(None, None, "127.0.0.1:9881")
    # A private network is how colocated desks reach venues: the venue's rules hold.
    assert venue_rules_apply(None, None, "10.1.2.3:9881")
    assert venue_rules_apply(None, "http://127.0.0.1:8000", "wss://stream.binance.com")
    assert venue_rules_apply(
        None, "http://127.0.0.1:8000", "ws://127.0.0.1:8000", "wss://ws-api.binance.com"
    )
    assert venue_rules_apply(True, "http://localhost:1", None)
    assert not venue_rules_apply(False, None, None)
    for exchange, rules in ORDER_RATE_RULES.items():
        assert rules and all(r.rate > 0 and r.burst >= 1 for r in rules), exchange
