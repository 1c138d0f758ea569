import pytest

from ems.api import parse
from ems.errors import ApiError
from ems.model import OrderType, TransactionType


def _field(call):
    with pytest.raises(ApiError) as info:
        call()
    return info.value.field


def test_send_order_reads_the_seed_example():
    req = parse.send_order(
        {
            "clOrderId": "cl-abcd",
            "symbol": "BTCUSDT",
            "sessionId": "binance-spot-account",
            "price": 124.2,
            "qty": 1,
            "orderType": "postonly",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
    )
    assert req.order_type == OrderType.POSTONLY
    assert req.transaction_type == TransactionType.INSERT
    assert req.price == 124.2 and req.qty == 1.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sessionId": "s", "clOrderId": "c", "symbol": "X"}, "transactionType"),
        ({"sessionId": "s", "transactionType": "insert", "symbol": "X"}, "clOrderId"),
        ({"sessionId": "s", "transactionType": "insert", "clOrderId": "c"}, "symbol"),
        ({"sessionId": "s", "transactionType": "jump", "clOrderId": "c"}, "transactionType"),
        (
            {
                "sessionId": "s",
                "transactionType": "insert",
                "clOrderId": "c",
                "symbol": "X",
                "price": "1.0",
            },
            "price",
        ),
        (
            {
                "sessionId": "s",
                "transactionType": "insert",
                "clOrderId": "c",
                "symbol": "X",
                "qty": True,
            },
            "qty",
        ),
        (
            {
                "sessionId": "s",
                "transactionType": "insert",
                "clOrderId": "c",
                "symbol": "X",
                "tif": "gtd",
            },
            "tif",
        ),
        (
            {
                "sessionId": "s",
                "transactionType": "insert",
                "clOrderId": "c",
                "symbol": "X",
                "side": "long",
            },
            "side",
        ),
        (
            {"sessionId": "s", "transactionType": "insert", "clOrderId": "a b", "symbol": "X"},
            "clOrderId",
        ),
        (
            {"sessionId": 7, "transactionType": "insert", "clOrderId": "c", "symbol": "X"},
            "sessionId",
        ),
    ],
)
def test_bad_fields_are_named(body, field):
    assert _field(lambda: parse.send_order(body)) == field


def test_pull_needs_no_client_order_id():
    req = parse.send_order({"sessionId": "s", "transactionType": "pull", "symbol": "BTCUSDT"})
    assert req.cl_order_id is None


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b"\xff"])
def test_malformed_bodies_name_the_body(body):
    assert _field(lambda: parse.json_object(body)) == "body"
