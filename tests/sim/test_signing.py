"""Binance request authentication: HMAC over the raw bytes, recvWindow, API keys."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from tests.sim.conftest import TIMEOUT, Sim

from ems.sim.binance.auth import hmac_hex, rest_signature_ok, ws_signature_ok

V1_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
V1_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
V1_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_documented_rest_vector_v1_is_reproduced_by_the_verifier():
    assert hmac_hex(V1_SECRET, V1_PAYLOAD.encode()) == V1_SIGNATURE
    sig = V1_SIGNATURE
    assert rest_signature_ok(V1_SECRET, f"{V1_PAYLOAD}&signature={sig}", "") == (True, True)
    assert rest_signature_ok(V1_SECRET, "", f"{V1_PAYLOAD}&signature={sig.upper()}") == (True, True)
    assert rest_signature_ok(V1_SECRET, V1_PAYLOAD, "") == (False, False)
    # Split between query and body, the payload is their concatenation WITHOUT a '&', so
    # the documented signature (which has that '&') no longer matches...
    query, body = V1_PAYLOAD.split("&timeInForce")
    body = "timeInForce" + body
    assert rest_signature_ok(V1_SECRET, query, f"{body}&signature={sig}") == (True, False)
    # ...while one computed over query ++ body does, wherever the signature is.
    joined = hmac_hex(V1_SECRET, (query + body).encode())
    assert rest_signature_ok(V1_SECRET, query, f"{body}&signature={joined}") == (True, True)
    assert rest_signature_ok(V1_SECRET, f"signature={joined}&{query}", body) == (True, True)


def test_documented_ws_api_vector_v3_is_reproduced_by_the_verifier():
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "signature": "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
    }
    assert ws_signature_ok(V1_SECRET, params)
    assert not ws_signature_ok(V1_SECRET, {**params, "price": "52000.01"})


def _raw(sim: Sim, method: str, path: str, query: str = "", body: str = "", key: str | None = None):
    venue = sim.spot
    url = venue.base + path + (f"?{query}" if query else "")
    headers = {"X-MBX-APIKEY": key if key is not None else venue.key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return venue.http.request(method, url, data=body or None, headers=headers, timeout=TIMEOUT)


def _order_params() -> str:
    return urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.00100",
            "price": "25000.00",
            "recvWindow": 5000,
            "timestamp": int(time.time() * 1000),
        }
    )


def test_signature_in_the_query_is_accepted(sim: Sim):
    payload = _order_params()
    r = _raw(sim, "POST", "/api/v3/order", query=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "NEW"


def test_signature_in_the_body_is_accepted(sim: Sim):
    payload = _order_params()
    r = _raw(sim, "POST", "/api/v3/order", body=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.status_code == 200, r.text


def test_signature_over_query_then_body_without_separator(sim: Sim):
    payload = _order_params()
    query, body = payload.split("&type=")
    body = "type=" + body
    signature = sim.spot.sign(query + body)
    r = _raw(sim, "POST", "/api/v3/order", query=query, body=f"{body}&signature={signature}")
    assert r.status_code == 200, r.text
    # Signing with a '&' between the two parts is wrong, as on Binance.
    bad = sim.spot.sign(query + "&" + body)
    r = _raw(sim, "POST", "/api/v3/order", query=query, body=f"{body}&signature={bad}")
    assert r.status_code == 400
    assert r.json() == {"code": -1022, "msg": "Signature for this request is not valid."}


def test_upper_case_hex_signature_is_accepted(sim: Sim):
    payload = urlencode({"timestamp": int(time.time() * 1000)})
    r = _raw(
        sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(payload).upper()}"
    )
    assert r.status_code == 200, r.text
    assert "balances" in r.json()


def test_bad_signature_is_rejected_with_1022(sim: Sim):
    payload = urlencode({"timestamp": int(time.time() * 1000)})
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={'0' * 64}")
    assert r.status_code == 400
    assert r.json()["code"] == -1022


def test_params_must_be_signed_in_the_order_sent(sim: Sim):
    now = int(time.time() * 1000)
    payload = f"timestamp={now}&omitZeroBalances=true"
    reordered = f"omitZeroBalances=true&timestamp={now}"
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(reordered)}")
    assert r.json()["code"] == -1022


def test_missing_signature_is_a_mandatory_parameter_error(sim: Sim):
    r = _raw(sim, "GET", "/api/v3/account", query=f"timestamp={int(time.time() * 1000)}")
    assert r.status_code == 400
    assert r.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_stale_timestamp_is_outside_the_recv_window(sim: Sim):
    old = int(time.time() * 1000) - 10_000
    payload = urlencode({"timestamp": old, "recvWindow": 5000})
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.status_code == 400
    assert r.json() == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    # The same age inside a larger window is fine.
    payload = urlencode({"timestamp": old, "recvWindow": 20000})
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.status_code == 200


def test_timestamp_from_the_future_is_rejected(sim: Sim):
    payload = urlencode({"timestamp": int(time.time() * 1000) + 5000})
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.json()["code"] == -1021


def test_microsecond_timestamps_are_understood(sim: Sim):
    payload = urlencode({"timestamp": int(time.time() * 1_000_000)})
    r = _raw(sim, "GET", "/api/v3/account", query=f"{payload}&signature={sim.spot.sign(payload)}")
    assert r.status_code == 200, r.text


def test_unknown_api_key_is_401_with_2015(sim: Sim):
    payload = urlencode({"timestamp": int(time.time() * 1000)})
    r = _raw(
        sim,
        "GET",
        "/api/v3/account",
        query=f"{payload}&signature={sim.spot.sign(payload)}",
        key="nope",
    )
    assert r.status_code == 401
    assert r.json() == {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}


def test_every_product_checks_signatures(sim: Sim):
    for venue, path in ((sim.usdm, "/fapi/v2/balance"), (sim.coinm, "/dapi/v1/balance")):
        status, body, _ = venue.signed("GET", path)
        assert status == 200 and isinstance(body, list)
        query = f"timestamp={int(time.time() * 1000)}&signature={'a' * 64}"
        r = venue.http.get(
            f"{venue.base}{path}?{query}", headers={"X-MBX-APIKEY": venue.key}, timeout=TIMEOUT
        )
        assert r.json()["code"] == -1022
