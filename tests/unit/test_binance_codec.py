"""The core's scan of Binance order events gives the same report as the dict path."""

import orjson
import pytest

from ems._core import binance_order_update
from ems.model import Liquidity, OrderStatus
from ems.venues.binance import codec

SPOT_FILL = (
    b'{"e":"executionReport","E":1700000000001,"s":"BTCUSDT","c":"emsab12x1","S":"BUY",'
    b'"o":"LIMIT","f":"GTC","q":"1.00000000","p":"100.00000000","P":"0.00000000",'
    b'"F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":42,'
    b'"l":"0.50000000","z":"0.50000000","L":"100.00000000","n":"0","N":null,'
    b'"T":1700000000000,"t":7,"I":1,"w":true,"m":true,"M":true,"O":1,"Z":"50","Y":"50",'
    b'"Q":"0","W":1,"V":"NONE"}'
)
SPOT_CANCEL = (
    SPOT_FILL.replace(b'"x":"TRADE"', b'"x":"CANCELED"')
    .replace(b'"X":"PARTIALLY_FILLED"', b'"X":"CANCELED"')
    .replace(b'"c":"emsab12x1"', b'"c":"cancel-1"')
    .replace(b'"C":""', b'"C":"emsab12x1"')
)
FUTURES_AMEND = (
    b'{"e":"ORDER_TRADE_UPDATE","E":1700000000001,"T":1700000000002,"o":{"s":"BTCUSDT",'
    b'"c":"emsab12x2","S":"SELL","o":"LIMIT","f":"GTX","q":"0.010","p":"30000.0","ap":"0",'
    b'"sp":"0","x":"AMENDMENT","X":"NEW","i":9,"l":"0","z":"0","L":"0","N":"USDT","n":"0",'
    b'"T":1700000000003,"t":0,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE",'
    b'"ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE",'
    b'"pm":"NONE","gtd":0}}'
)


@pytest.mark.parametrize("frame", [SPOT_FILL, SPOT_CANCEL])
def test_spot_scan_matches_dict_path(frame: bytes):
    fast = codec.update_report(binance_order_update(frame))
    slow = codec.execution_report(orjson.loads(frame))
    assert fast == slow


def test_wrapped_spot_event_scans_like_the_bare_one():
    wrapped = b'{"subscriptionId":0,"event":' + SPOT_FILL + b"}"
    assert codec.update_report(binance_order_update(wrapped)) == codec.update_report(
        binance_order_update(SPOT_FILL)
    )


def test_fill_fields():
    r = codec.update_report(binance_order_update(SPOT_FILL))
    assert (r.status, r.cum_qty, r.last_qty, r.trade_id, r.liquidity) == (
        OrderStatus.PARTIALLY_FILLED,
        "0.50000000",
        "0.50000000",
        "7",
        Liquidity.ADD,
    )


def test_cancel_is_keyed_by_the_original_client_id():
    assert codec.update_report(binance_order_update(SPOT_CANCEL)).venue_client_id == "emsab12x1"


def test_futures_amendment_scan_matches_dict_path():
    fast = codec.update_report(binance_order_update(FUTURES_AMEND))
    slow = codec.order_trade_update(orjson.loads(FUTURES_AMEND))
    assert fast == slow and fast.amended


def test_malformed_event_raises_value_error():
    with pytest.raises(ValueError):
        binance_order_update(SPOT_FILL[:50])


def _symbol(*filters: dict[str, object]) -> dict[str, object]:
    return {
        "symbol": "BTCUSDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": "0.01", "minPrice": "0.01"},
            {"filterType": "LOT_SIZE", "stepSize": "0.00001", "minQty": "0.00001"},
            *filters,
        ],
    }


@pytest.mark.parametrize(
    ("notional_filter", "on_market"),
    [
        ({"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True}, True),
        ({"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": False}, False),
        ({"filterType": "MIN_NOTIONAL", "minNotional": "5", "applyToMarket": False}, False),
        ({"filterType": "MIN_NOTIONAL", "notional": "5"}, True),  # futures: no flag
    ],
)
def test_min_notional_applies_to_market_orders_as_the_filter_says(notional_filter, on_market):
    inst = codec.instruments({"symbols": [_symbol(notional_filter)]})["BTCUSDT"]
    assert inst.min_notional == 5.0 and inst.min_notional_on_market is on_market
