"""The order state machine: replays, out-of-order reports, cancel-replace legs."""

from ems._core import Grid
from ems.engine.orders import Order, Pending, apply_report
from ems.model import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport, Instrument

INST = Instrument("BTCUSDT", Grid("0.01"), Grid("0.001"))


def _order(qty="1", price="100") -> Order:
    order = Order(
        session_id="s",
        exchange="binance-spot",
        cl_order_id="c1",
        venue_client_id="v1",
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        tif=TimeInForce.GTC,
        price=INST.price_grid.units(price),
        qty=INST.qty_grid.units(qty),
        instrument=INST,
    )
    order.leg_cum["v1"] = 0
    return order


def _report(status, cum="0", vid="v1", **kw) -> ExecutionReport:
    return ExecutionReport(vid, "42", "BTCUSDT", status, cum_qty=cum, **kw)


def test_ack_clears_pending_new():
    order = _order()
    assert order.visible_status == OrderStatus.PENDING_NEW
    assert apply_report(order, _report(OrderStatus.NEW)) is None
    assert order.visible_status == OrderStatus.NEW and order.exch_order_id == "42"


def test_partial_fill_yields_the_increment_only():
    order = _order()
    fill = apply_report(
        order,
        _report(
            OrderStatus.PARTIALLY_FILLED,
            "0.4",
            last_price="99.5",
            trade_id="7",
            liquidity=Liquidity.ADD,
        ),
    )
    assert fill is not None and fill.qty == 400 and fill.price == 9950
    assert order.visible_status == OrderStatus.PARTIALLY_FILLED
    assert order.remaining_qty == 600


def test_replayed_report_changes_nothing():
    order = _order()
    apply_report(order, _report(OrderStatus.PARTIALLY_FILLED, "0.4"))
    assert apply_report(order, _report(OrderStatus.PARTIALLY_FILLED, "0.4")) is None
    assert order.cum_qty == 400


def test_stale_report_after_terminal_state_keeps_terminal():
    order = _order()
    apply_report(order, _report(OrderStatus.FILLED, "1"))
    apply_report(order, _report(OrderStatus.NEW, "0"))
    assert order.status == OrderStatus.FILLED and order.cum_qty == 1000


def test_late_fill_after_cancel_is_still_counted():
    order = _order()
    apply_report(order, _report(OrderStatus.CANCELLED, "0"))
    fill = apply_report(order, _report(OrderStatus.CANCELLED, "0.2"))
    assert fill is not None and fill.qty == 200
    assert order.status == OrderStatus.CANCELLED


def test_new_after_fill_reads_as_partially_filled():
    order = _order()
    apply_report(order, _report(OrderStatus.PARTIALLY_FILLED, "0.3"))
    apply_report(order, _report(OrderStatus.NEW, ""))
    assert order.status == OrderStatus.PARTIALLY_FILLED


def test_fills_of_a_retired_leg_count_but_its_status_does_not():
    order = _order()
    apply_report(order, _report(OrderStatus.PARTIALLY_FILLED, "0.3"))
    # cancel-replace: the order continues as leg v2 for the remaining 0.7
    order.leg_cum["v2"] = 0
    order.venue_client_id = "v2"
    order.pending = Pending.NONE
    fill = apply_report(order, _report(OrderStatus.CANCELLED, "0.35", vid="v1"))
    assert fill is not None and fill.qty == 50
    assert order.working
    apply_report(order, _report(OrderStatus.PARTIALLY_FILLED, "0.1", vid="v2"))
    assert order.cum_qty == 450


def test_amend_report_sets_price_and_quantity():
    order = _order()
    apply_report(order, _report(OrderStatus.NEW))
    order.pending = Pending.UPDATE
    apply_report(order, _report(OrderStatus.NEW, "", price="101.5", qty="0.5", amended=True))
    assert order.price == 10150 and order.qty == 500
    assert order.visible_status == OrderStatus.NEW
