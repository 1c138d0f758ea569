"""User data: spot WS-API subscription, legacy listenKey streams, futures listenKey streams."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from tests.sim.conftest import Sim, Venue, WsClient

EXECUTION_REPORT_FIELDS = {
    "e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i",
    "l", "z", "L", "n", "N", "T", "t", "I", "w", "m", "M", "O", "Z", "Y", "Q", "W", "V",
}  # fmt: skip
ORDER_TRADE_UPDATE_FIELDS = {
    "s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "N", "n",
    "T", "t", "b", "a", "m", "R", "wt", "ot", "ps", "cp", "AP", "cr", "pP", "si", "ss", "rp",
    "V", "pm", "gtd", "er",
}  # fmt: skip


def _ws_api_subscribe(venue: Venue) -> WsClient:
    """Opens /ws-api/v3 and subscribes with userDataStream.subscribe.signature."""
    ws = venue.ws("/ws-api/v3")
    params: dict[str, Any] = {"apiKey": venue.key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(
        venue.secret.encode(), payload.encode(), hashlib.sha256
    ).hexdigest()
    ws.send({"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params})
    reply = ws.wait(lambda m: m.get("id") == "sub-1")
    assert reply["status"] == 200, reply
    assert reply["result"] == {"subscriptionId": 0}
    assert reply["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
    return ws


def _events(
    ws: WsClient, wrapped: bool, count_until: Any, timeout: float = 5.0
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not count_until(out):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out with {out}"
        msg = ws.recv(left)
        if wrapped:
            assert set(msg) == {"subscriptionId", "event"}, msg
            msg = msg["event"]
        out.append(msg)
    return out


def test_ws_api_subscription_delivers_wrapped_execution_reports(sim: Sim):
    venue = sim.spot
    venue.clear_book("BTCUSDT")
    ws = _ws_api_subscribe(venue)
    placed = venue.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.01000", "price": "30000.00", "newClientOrderId": "ws-api-1"},
    )  # fmt: skip
    venue.trade("BTCUSDT", "sell", "29990", "0.004")
    events = _events(
        ws, True, lambda evs: sum(e["e"] == "executionReport" for e in evs) >= 2 and
        sum(e["e"] == "outboundAccountPosition" for e in evs) >= 2,
    )  # fmt: skip
    reports = [e for e in events if e["e"] == "executionReport"]
    new, trade = reports[0], reports[1]
    assert set(new) >= EXECUTION_REPORT_FIELDS and set(trade) >= EXECUTION_REPORT_FIELDS
    assert (new["x"], new["X"], new["c"], new["i"]) == ("NEW", "NEW", "ws-api-1", placed["orderId"])
    assert (new["t"], new["l"], new["z"], new["w"]) == (-1, "0.00000000", "0.00000000", True)
    assert (trade["x"], trade["X"]) == ("TRADE", "PARTIALLY_FILLED")
    assert (trade["l"], trade["z"], trade["L"]) == ("0.00400000", "0.00400000", "30000.00000000")
    assert trade["m"] is True  # our resting order was the maker
    assert trade["t"] > 0 and trade["N"] == "BTC" and trade["n"] == "0.00000400"
    assert (trade["Z"], trade["Y"]) == ("120.00000000", "120.00000000")
    assert trade["O"] == new["O"] and trade["W"] == new["W"] and trade["w"] is True
    position = [e for e in events if e["e"] == "outboundAccountPosition"][-1]
    assert {b["a"] for b in position["B"]} == {"BTC", "USDT"}
    ws.close()


def test_ws_api_order_place_and_cancel_with_sorted_param_signature(sim: Sim):
    venue = sim.spot
    ws = _ws_api_subscribe(venue)

    def signed(params: dict[str, Any]) -> dict[str, Any]:
        params = {**params, "apiKey": venue.key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        return {**params, "signature": venue.sign(payload)}

    ws.send(
        {"id": 7, "method": "order.place", "params": signed(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "0.001", "price": "25000.00", "newClientOrderId": "wsapi-place"})}
    )  # fmt: skip
    reply = ws.wait(lambda m: m.get("id") == 7)
    assert reply["status"] == 200 and reply["result"]["status"] == "NEW"
    assert {r["rateLimitType"] for r in reply["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    ws.send(
        {"id": 8, "method": "order.cancel",
         "params": signed({"symbol": "BTCUSDT", "origClientOrderId": "wsapi-place"})}
    )  # fmt: skip
    reply = ws.wait(lambda m: m.get("id") == 8)
    assert reply["result"]["status"] == "CANCELED"
    ws.send({"id": 9, "method": "order.status", "params": {**signed({"symbol": "BTCUSDT",
             "orderId": 1}), "signature": "0" * 64}})  # fmt: skip
    reply = ws.wait(lambda m: m.get("id") == 9)
    assert reply["status"] == 400 and reply["error"]["code"] == -1022
    ws.send({"id": 10, "method": "ping"})
    assert ws.wait(lambda m: m.get("id") == 10)["result"] == {}
    ws.send({"id": 11, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}})
    assert ws.wait(lambda m: m.get("id") == 11)["status"] == 200
    ws.close()


def test_legacy_listen_key_stream_gets_unwrapped_events(sim: Sim):
    venue = sim.spot
    listen_key = venue.http.post(
        venue.base + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": venue.key}, timeout=5
    ).json()["listenKey"]
    ws = venue.ws(f"/ws/{listen_key}")
    time.sleep(0.1)  # the subscription is made when the handshake completes
    venue.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.00100"},
    )
    events = _events(ws, False, lambda evs: any(e["e"] == "outboundAccountPosition" for e in evs))
    kinds = [(e["e"], e.get("x")) for e in events]
    assert kinds[:2] == [("executionReport", "NEW"), ("executionReport", "TRADE")]
    assert events[1]["X"] == "FILLED" and events[1]["m"] is False
    keep = venue.http.put(
        venue.base + "/api/v3/userDataStream",
        params={"listenKey": listen_key},
        headers={"X-MBX-APIKEY": venue.key},
        timeout=5,
    )
    assert keep.status_code == 200 and keep.json() == {}
    ws.close()


def test_cancel_reports_carry_the_cancel_client_id_and_the_original(sim: Sim):
    venue = sim.spot
    ws = _ws_api_subscribe(venue)
    venue.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.001", "price": "35000.00", "newClientOrderId": "orig-1"},
    )  # fmt: skip
    venue.ok(
        "DELETE",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "origClientOrderId": "orig-1", "newClientOrderId": "cxl-1"},
    )
    events = _events(ws, True, lambda evs: any(e.get("x") == "CANCELED" for e in evs))
    cancel = events[-1]
    assert (cancel["c"], cancel["C"], cancel["X"], cancel["w"]) == (
        "cxl-1",
        "orig-1",
        "CANCELED",
        False,
    )
    ws.close()


def _futures_listen_key(venue: Venue, prefix: str) -> str:
    r = venue.http.post(
        f"{venue.base}{prefix}/v1/listenKey", headers={"X-MBX-APIKEY": venue.key}, timeout=5
    )
    assert r.status_code == 200
    return str(r.json()["listenKey"])


def test_usdm_private_ws_gets_order_trade_update_and_account_update(sim: Sim):
    venue = sim.usdm
    listen_key = _futures_listen_key(venue, "/fapi")
    ws = venue.ws(f"/private/ws/0?listenKey={listen_key}")
    time.sleep(0.1)
    venue.ok(
        "POST",
        "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010",
         "newClientOrderId": "fut-1"},
    )  # fmt: skip
    events = _events(ws, False, lambda evs: any(e["e"] == "ACCOUNT_UPDATE" for e in evs))
    updates = [e for e in events if e["e"] == "ORDER_TRADE_UPDATE"]
    assert [u["o"]["x"] for u in updates] == ["NEW", "TRADE"]
    fill = updates[1]["o"]
    assert set(fill) >= ORDER_TRADE_UPDATE_FIELDS
    assert (fill["c"], fill["X"], fill["l"], fill["z"], fill["L"]) == (
        "fut-1", "FILLED", "0.010", "0.010", "29999.50",
    )  # fmt: skip
    assert fill["ap"] == "29999.50000000" and fill["N"] == "USDT" and fill["m"] is False
    assert fill["n"] == "0.14999750"  # 0.05 % taker fee on 299.995 USDT
    account = next(e for e in events if e["e"] == "ACCOUNT_UPDATE")["a"]
    assert account["m"] == "ORDER"
    assert account["P"][0]["s"] == "BTCUSDT" and account["P"][0]["pa"] == "-0.010"
    assert account["P"][0]["ep"] == "29999.50000000"
    assert account["B"][0]["a"] == "USDT" and account["B"][0]["wb"] == "999999.85000250"
    ws.close()


def test_coinm_listen_key_stream_reports_contracts(sim: Sim):
    venue = sim.coinm
    venue.clear_book("BTCUSD_PERP")
    listen_key = _futures_listen_key(venue, "/dapi")
    ws = venue.ws(f"/ws/{listen_key}")
    time.sleep(0.1)
    venue.ok(
        "POST",
        "/dapi/v1/order",
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "2", "price": "29990.0"},
    )  # fmt: skip
    venue.trade("BTCUSD_PERP", "sell", "29000", "5")
    events = _events(ws, False, lambda evs: any(e["e"] == "ACCOUNT_UPDATE" for e in evs))
    fill = [e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE"][-1]
    assert (fill["x"], fill["X"], fill["q"], fill["l"], fill["m"]) == (
        "TRADE",
        "FILLED",
        "2",
        "2",
        True,
    )
    position = next(e for e in events if e["e"] == "ACCOUNT_UPDATE")["a"]["P"][0]
    assert (position["s"], position["pa"]) == ("BTCUSD_PERP", "2")
    ws.close()


def test_closed_listen_key_expires_its_stream(sim: Sim):
    venue = sim.usdm
    listen_key = _futures_listen_key(venue, "/fapi")
    ws = venue.ws(f"/ws/{listen_key}")
    time.sleep(0.1)
    venue.http.delete(
        venue.base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": venue.key}, timeout=5
    )
    event = ws.recv(5)
    assert event["e"] == "listenKeyExpired" and event["listenKey"] == listen_key
    ws.close()


def test_usdm_ws_api_places_modifies_and_cancels(sim: Sim):
    venue = sim.usdm
    ws = venue.ws("/ws-fapi/v1")

    def call(req_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        params = {**params, "apiKey": venue.key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        ws.send({"id": req_id, "method": method,
                 "params": {**params, "signature": venue.sign(payload)}})  # fmt: skip
        return dict(ws.wait(lambda m: m.get("id") == req_id))

    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX"}
    placed = call(1, "order.place", {**limit, "quantity": "0.010", "price": "29000.0"})
    assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
    order_id = placed["result"]["orderId"]
    crossing = call(2, "order.modify", {"symbol": "BTCUSDT", "side": "BUY", "orderId": order_id,
                                        "quantity": "0.010", "price": "30005.0"})  # fmt: skip
    assert crossing["status"] == 400 and crossing["error"]["code"] == -5022
    status = call(3, "order.status", {"symbol": "BTCUSDT", "orderId": order_id})
    assert (status["result"]["status"], status["result"]["price"]) == ("NEW", "29000.00")
    cancelled = call(4, "order.cancel", {"symbol": "BTCUSDT", "orderId": order_id})
    assert cancelled["result"]["status"] == "CANCELED"
    ws.close()
