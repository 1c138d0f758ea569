"""Signature vectors from the venues' documentation (protocols.md section 0)."""

from ems._core import HmacSha256, sha256_base64
from ems.venues.binance.rest import encode_query

SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_binance_documented_rest_vector_reproduces():
    params = {
        "symbol": "LTCBTC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "1",
        "price": "0.1",
        "recvWindow": 5000,
        "timestamp": 1499827319559,
    }
    query = encode_query(params)
    assert query == (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
    )
    assert HmacSha256(SECRET).hex(query.encode()) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_binance_ws_api_vector_reproduces():
    payload = (
        "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00"
        "&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC"
        "&timestamp=1645423376532&type=LIMIT"
    )
    assert HmacSha256(SECRET).hex(payload.encode()) == (
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    )


def test_deribit_logon_password_is_base64_of_raw_digest():
    raw = b"1700000000000.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    assert sha256_base64(raw + b"AMANDASECRECT") == "gFa38qQaYNi8BWIvgrA5R39tFina/KjMpu491QhgRBU="


def test_query_encoding_escapes_json_lists():
    assert encode_query({"ids": '["a","b"]'}) == "ids=%5B%22a%22%2C%22b%22%5D"
