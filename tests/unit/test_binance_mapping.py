"""Outbound Binance mapping: the parameters ems sends for new orders, amends and
cancel-replaces, as exact decimal text."""

from __future__ import annotations

from typing import Any

import pytest

from ems._core import Grid
from ems.engine.orders import Order
from ems.model import OrderType, Side, TimeInForce
from ems.venues.base import Instrument
from ems.venues.binance.products import COINM, SPOT, USDM, Product
from ems.venues.binance.session import BinanceSession

SPOT_INST = Instrument("BTCUSDT", Grid("0.01000000"), Grid("0.00001000"))
USDM_INST = Instrument("BTCUSDT", Grid("0.10"), Grid("0.001"))
COINM_INST = Instrument("BTCUSD_PERP", Grid("0.1"), Grid("1"), contract_size=100.0)
INSTRUMENTS = {SPOT.api: SPOT_INST, USDM.api: USDM_INST, COINM.api: COINM_INST}


def _session(product: Product) -> BinanceSession:
    # Never started: only the request mapping is exercised.
    listener: Any = None
    return BinanceSession(
        product, "key", "secret", "http://127.0.0.1:9", "ws://127.0.0.1:9", listener
    )


def _order(
    product: Product,
    price: str = "0",
    qty: str = "1",
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.LIMIT,
    tif: TimeInForce = TimeInForce.GTC,
) -> Order:
    inst = INSTRUMENTS[product.api]
    return Order(
        session_id="s",
        exchange=product.exchange.value,
        cl_order_id="cl",
        venue_client_id="emsab1",
        symbol=inst.symbol,
        side=side,
        order_type=order_type,
        tif=tif,
        price=inst.price_grid.units(price) if price != "0" else 0,
        qty=inst.qty_grid.units(qty),
        instrument=inst,
    )


def _new(product: Product, order: Order) -> dict[str, object]:
    return _session(product)._order_params(order, order.qty, order.venue_client_id)


@pytest.mark.parametrize(
    ("tif", "expected"),
    [(TimeInForce.GTC, "GTC"), (TimeInForce.IOC, "IOC"), (TimeInForce.FOK, "FOK")],
)
def test_spot_limit_order_is_sent_as_exact_decimal_text(tif: TimeInForce, expected: str):
    order = _order(SPOT, "29999.99", "0.00003", tif=tif)
    assert _new(SPOT, order) == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": expected,
        "quantity": "0.00003",
        "price": "29999.99",
        "newClientOrderId": "emsab1",
        "newOrderRespType": "RESULT",
    }


def test_small_and_large_amounts_are_plain_decimals_never_exponents():
    # str(0.00001) is "1e-05" and str(1e16) "1e+16": neither is a Binance DECIMAL.
    order = _order(SPOT, "0.01")
    order.qty = SPOT_INST.qty_grid.units(0.00001)
    order.price = SPOT_INST.price_grid.units(0.01)
    params = _new(SPOT, order)
    assert (params["quantity"], params["price"]) == ("0.00001", "0.01")
    order.qty = SPOT_INST.qty_grid.units("12345678.9")
    assert _new(SPOT, order)["quantity"] == "12345678.9"


def test_postonly_is_limit_maker_on_spot_without_a_tif():
    params = _new(
        SPOT, _order(SPOT, "30000", "0.001", side=Side.SELL, order_type=OrderType.POSTONLY)
    )
    assert params["type"] == "LIMIT_MAKER" and params["side"] == "SELL"
    assert "timeInForce" not in params
    assert params["price"] == "30000" and params["quantity"] == "0.001"


@pytest.mark.parametrize("product", [USDM, COINM])
def test_postonly_is_gtx_on_futures(product: Product):
    order = _order(
        product, "30000.5", "2" if product is COINM else "0.002", order_type=OrderType.POSTONLY
    )
    params = _new(product, order)
    assert (params["type"], params["timeInForce"]) == ("LIMIT", "GTX")
    assert params["price"] == "30000.5"


@pytest.mark.parametrize("product", [SPOT, USDM, COINM])
def test_market_order_has_neither_price_nor_tif(product: Product):
    order = _order(
        product,
        qty="3" if product is COINM else "0.003",
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
    )
    params = _new(product, order)
    assert params["type"] == "MARKET"
    assert "timeInForce" not in params and "price" not in params
    assert params["quantity"] == ("3" if product is COINM else "0.003")


def test_futures_amend_sends_the_new_absolute_price_and_qty():
    order = _order(USDM, "30000.0", "0.010", side=Side.SELL)
    price = USDM_INST.price_grid.units("29999.9")
    qty = USDM_INST.qty_grid.units("0.025")
    assert BinanceSession.amend_params(order, price, qty) == {
        "symbol": "BTCUSDT",
        "origClientOrderId": "emsab1",
        "side": "SELL",
        "quantity": "0.025",
        "price": "29999.9",
    }


def test_spot_size_reduction_keeps_priority_under_the_same_id():
    order = _order(SPOT, "30000", "0.005")
    assert BinanceSession.keep_priority_params(order, SPOT_INST.qty_grid.units("0.002")) == {
        "symbol": "BTCUSDT",
        "origClientOrderId": "emsab1",
        "newClientOrderId": "emsab1",
        "newQty": "0.002",
    }


def test_spot_cancel_replace_places_only_what_is_left_at_the_new_price():
    order = _order(SPOT, "30000", "0.005", order_type=OrderType.POSTONLY)
    order.cum_qty = SPOT_INST.qty_grid.units("0.002")
    # What the engine sets when it begins a replace.
    order.replacing_to = "emsab2"
    order.pending_price = SPOT_INST.price_grid.units("29990.5")
    params = _session(SPOT).cancel_replace_params(
        order, SPOT_INST.qty_grid.units("0.006"), "emsab2"
    )
    assert params == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT_MAKER",
        "quantity": "0.004",
        "price": "29990.5",
        "newClientOrderId": "emsab2",
        "newOrderRespType": "RESULT",
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": "emsab1",
    }
