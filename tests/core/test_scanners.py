"""Venue JSON scanners: trades and order updates, including malformed frames."""

import pytest
from core_frames import BINANCE_TRADE, BYBIT_ORDER, EXECUTION_REPORT, OKX_ORDER, ORDER_TRADE_UPDATE

from ems._core import (
    BUY,
    SELL,
    DecodeError,
    OffGridError,
    TradeScanner,
    binance_order_update,
    bybit_order_updates,
    okx_order_updates,
)


def test_binance_trade_gives_units_and_taker_side() -> None:
    trade = TradeScanner("0.00001", "0.01").binance_trade(BINANCE_TRADE)
    assert (trade.price, trade.qty, trade.trade_id) == (100, 10000, 12345)
    assert trade.time == 1672515782136
    # m=true: the buyer was the maker, so the seller was the aggressor.
    assert trade.aggressor_side == SELL


def test_okx_and_bybit_trades() -> None:
    okx = TradeScanner("0.1", "0.00000001").okx_trades(
        b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
        b'"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",'
        b'"ts":"1630048897897","count":"3"}]}'
    )
    assert [(t.price, t.qty, t.aggressor_side) for t in okx] == [(422199, 12060306, BUY)]
    bybit = TradeScanner("0.5", "0.001").bybit_trades(
        b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1672304486865,'
        b'"s":"BTCUSDT","S":"Sell","v":"0.001","p":"16578.50","i":"2290000000061666327",'
        b'"BT":false}]}'
    )
    assert [(t.price, t.aggressor_side, t.trade_id) for t in bybit] == [
        (33157, SELL, 2290000000061666327)
    ]


def test_binance_execution_report_fields() -> None:
    u = binance_order_update(EXECUTION_REPORT)
    assert u.venue == "binance_spot"
    assert (u.symbol, u.order_id) == ("ETHBTC", "4293153")
    assert u.client_order_id == "mUvoqJxFIILMdfAW5iGSOW"
    assert (u.status, u.exec_type, u.side) == ("PARTIALLY_FILLED", "TRADE", BUY)
    assert (u.last_qty, u.last_price, u.cum_quote, u.fee_asset) == (
        "0.50000000",
        "0.10264410",
        "0.05132205",
        "BNB",
    )
    assert u.trade_time == 1499405658657


def test_binance_futures_order_trade_update() -> None:
    u = binance_order_update(ORDER_TRADE_UPDATE)
    assert u.venue == "binance_futures"
    assert (u.status, u.avg_price, u.side, u.is_maker, u.reduce_only) == (
        "FILLED",
        "7100.5",
        SELL,
        True,
        True,
    )


def test_okx_orders_push() -> None:
    [u] = okx_order_updates(OKX_ORDER)
    assert (u.symbol, u.client_order_id) == ("BTC-USDT", "ems0042")
    assert u.order_id == "452197707845865472"
    assert (u.status, u.last_qty, u.avg_price) == ("filled", "0.001", "31527.1")
    assert (u.side, u.is_maker) == (SELL, True)
    assert (u.exch_time, u.trade_time) == (1654084353264, 1654084353263)


def test_bybit_order_push() -> None:
    [u] = bybit_order_updates(BYBIT_ORDER)
    assert (u.symbol, u.client_order_id, u.status, u.leaves_qty, u.side) == (
        "BTCUSDT",
        "ems-7",
        "New",
        "0.010",
        BUY,
    )


def test_escaped_text_is_decoded() -> None:
    frame = EXECUTION_REPORT.replace(b'"c":"mUvoqJxFIILMdfAW5iGSOW"', b'"c":"a\\u00e9\\"b"')
    assert binance_order_update(frame).client_order_id == 'a\u00e9"b'


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"{",
        BINANCE_TRADE[:-1],
        BINANCE_TRADE + b"x",
        BINANCE_TRADE.replace(b'"m":true', b'"m":1'),
        BINANCE_TRADE.replace(b'"T":1672515782136,', b""),
    ],
)
def test_malformed_trades_raise_decode_error_with_offset(frame: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        TradeScanner("0.00001", "0.01").binance_trade(frame)
    assert isinstance(getattr(info.value, "offset", None), int)


def test_off_grid_trade_price() -> None:
    with pytest.raises(OffGridError):
        frame = BINANCE_TRADE.replace(b"0.00100000", b"0.00150000")
        TradeScanner("0.001", "0.01").binance_trade(frame)


def test_order_update_refuses_other_events() -> None:
    with pytest.raises(DecodeError):
        binance_order_update(BINANCE_TRADE)
    with pytest.raises(DecodeError):
        okx_order_updates(b'{"arg":{},"data":[{"instId":"X"}]}')


def test_grid_decode_errors_carry_the_offset() -> None:
    from ems._core import Grid

    with pytest.raises(DecodeError) as info:
        Grid("0.01").units("12x4")
    assert info.value.offset == 2
