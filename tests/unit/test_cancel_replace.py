"""A spot cancel-replace whose cancel half the stream shows before the venue's answer.

Binance answers `order/cancelReplace` after its user stream has often already sent the
old leg's CANCELED event; the session moves the order to the new leg at that event, so
that the new leg's own events apply. When the venue then says the new half was refused,
the order that ended is the old one: its price, size and venue id come back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.unit.test_risk_bookkeeping import INST, _session

from ems.engine.orders import order_from_state, order_state
from ems.engine.risk import RiskEngine
from ems.engine.session import OrderSession, SendOrder
from ems.model import OrderStatus, Side, TransactionType
from ems.venues.base import ExecutionReport


def _working_then_replacing(s: OrderSession) -> tuple[str, str]:
    """A working buy at 30,000 being moved to 30,100; returns (old leg, new leg)."""
    s.send(SendOrder("a", INST.symbol, "s1", TransactionType.INSERT, 30_000.0, 0.01, side=Side.BUY))
    order = s.orders["a"]
    old = order.venue_client_id
    s.on_report(ExecutionReport(old, "7", INST.symbol, OrderStatus.NEW, cum_qty="0"))
    s.send(SendOrder("a", INST.symbol, "s1", TransactionType.UPDATE, 30_100.0, 0.01))
    new = s.begin_replace(order)
    # The stream: the old leg is cancelled (the cancel half).
    s.on_report(ExecutionReport(old, "7", INST.symbol, OrderStatus.CANCELLED, cum_qty="0"))
    assert order.venue_client_id == new and order.price == INST.price_grid.units("30100")
    return old, new


def _on_replacing(check: Callable[[OrderSession, str, str], None]) -> None:
    """Runs `check(session, old leg, new leg)` on a session whose order "a" is being
    moved (see `_working_then_replacing`), then closes the session."""

    async def run() -> None:
        s = _session(RiskEngine())
        old, new = _working_then_replacing(s)
        check(s, old, new)
        await asyncio.sleep(0)
        await s.close()

    asyncio.run(run())


def test_a_refused_new_half_after_the_cancel_event_ends_the_old_order():
    def check(s: OrderSession, old: str, new: str) -> None:
        order = s.orders["a"]
        s.fail_replace(order, True, "-2021 Order cancel-replace partially failed.")
        assert order.status == OrderStatus.CANCELLED
        assert order.venue_client_id == old
        assert order.price == INST.price_grid.units("30000")
        assert order.qty == INST.qty_grid.units("0.01")
        assert new not in order.leg_cum and order.replaced_leg is None
        assert "replaced order rejected" in (order.message or "")

    _on_replacing(check)


def test_a_confirmed_replace_after_the_cancel_event_keeps_the_new_leg():
    def check(s: OrderSession, old: str, new: str) -> None:
        order = s.orders["a"]
        s.finish_replace(order, ExecutionReport(new, "8", INST.symbol, OrderStatus.NEW, "0"))
        assert order.venue_client_id == new and order.replaced_leg is None
        assert order.price == INST.price_grid.units("30100")
        assert order.visible_status == OrderStatus.NEW and order.exch_order_id == "8"

    _on_replacing(check)


def test_the_old_leg_survives_a_restart_in_the_journal_state():
    def check(s: OrderSession, old: str, new: str) -> None:
        back = order_from_state(order_state(s.orders["a"]), "s1", "binance-spot", INST)
        assert back.replaced_leg == (
            old,
            INST.price_grid.units("30000"),
            INST.qty_grid.units("0.01"),
        )

    _on_replacing(check)
