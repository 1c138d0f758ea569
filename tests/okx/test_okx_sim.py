"""The OKX simulator on its own: signatures over raw bytes, logins, error codes, batch
limits, push formats and book sequence numbers (checked with the core's OKX book)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import orjson
import pytest
import requests
from tests.okx.conftest import iso_now
from websockets.sync.client import ClientConnection, connect

from ems._core import APPLIED, OrderBook

ACCOUNT = 2


def _sign(secret: str, payload: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


class Client:
    """A minimal OKX client written for these tests."""

    def __init__(self, sim: dict[str, Any], account: int = ACCOUNT) -> None:
        self.base = sim["okx"]["restUrl"]
        self.ws_base = sim["okx"]["wsUrl"]
        self.acc = sim["accounts"][account]

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        sign_body: bytes | None = None,
        passphrase: str | None = None,
        stamp: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        stamp = stamp or iso_now()
        signed = sign_body if sign_body is not None else body
        headers = {
            "OK-ACCESS-KEY": self.acc["apiKey"],
            "OK-ACCESS-SIGN": _sign(
                self.acc["secretKey"], stamp.encode() + method.encode() + path.encode() + signed
            ),
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-PASSPHRASE": passphrase or self.acc["passphrase"],
            "Content-Type": "application/json",
        }
        r = requests.request(method, self.base + path, data=body, headers=headers, timeout=10)
        return r.status_code, r.json()

    def ws(self, path: str) -> ClientConnection:
        return connect(self.ws_base + path, open_timeout=10)

    def login(self, conn: ClientConnection, stamp: object = None, sign: str | None = None) -> Any:
        ts = stamp if stamp is not None else str(int(time.time()))
        arg = {
            "apiKey": self.acc["apiKey"],
            "passphrase": self.acc["passphrase"],
            "timestamp": ts,
            "sign": sign or _sign(self.acc["secretKey"], f"{ts}GET/users/self/verify".encode()),
        }
        conn.send(orjson.dumps({"op": "login", "args": [arg]}).decode())
        return orjson.loads(conn.recv(timeout=5))


def _recv_until(conn: ClientConnection, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = orjson.loads(conn.recv(timeout=max(0.01, deadline - time.monotonic())))
        if pred(msg):
            return dict(msg)


@pytest.fixture
def client(sim: dict[str, Any]) -> Client:
    return Client(sim)


def test_rest_sign_covers_the_raw_body_as_sent(client: Client):
    spaced = json.dumps({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                         "ordType": "limit", "px": "1000", "sz": "0.001"}).encode()  # fmt: skip
    compact = orjson.dumps(json.loads(spaced))
    for body in (spaced, compact):
        status, reply = client.request("POST", "/api/v5/trade/order", body)
        assert status == 200 and reply["code"] == "0", reply
        assert reply["data"][0]["sCode"] == "0"
    # The same JSON signed with other spacing is refused.
    status, reply = client.request("POST", "/api/v5/trade/order", spaced, sign_body=compact)
    assert status == 401 and reply["code"] == "50113"
    client.request("POST", "/api/v5/trade/cancel-batch-orders", orjson.dumps(
        [{"instId": "BTC-USDT", "ordId": o["ordId"]}
         for o in client.request("GET", "/api/v5/trade/orders-pending?instId=BTC-USDT")[1]["data"]]
    ))  # fmt: skip


def test_rest_auth_errors_have_okx_codes(client: Client):
    path = "/api/v5/account/balance?ccy=BTC"
    assert client.request("GET", path, passphrase="wrong")[1]["code"] == "50105"
    assert client.request("GET", path, stamp="2020-12-08T09:08:57.715Z")[1]["code"] == "50102"
    status, reply = client.request("GET", path)
    assert status == 200 and reply["data"][0]["details"][0]["ccy"] == "BTC"
    r = requests.get(client.base + path, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "50103"


def test_order_errors_carry_scode_and_smsg(client: Client):
    cases = [
        ({"instId": "NOPE-USDT", "px": "1000", "sz": "0.001"}, "51001"),
        ({"instId": "BTC-USDT", "px": "1000", "sz": "0.000000001"}, "51121"),
        ({"instId": "BTC-USDT", "px": "1000", "sz": "0.000001"}, "51020"),
        ({"instId": "BTC-USDT", "px": "1000.05", "sz": "0.001"}, "51000"),
        ({"instId": "BTC-USDT", "px": "1000", "sz": "90000"}, "51008"),
        ({"instId": "BTC-USDT-SWAP", "px": "1000", "sz": "1", "tdMode": "cash"}, "51000"),
        # Spot cross margin in "Spot and futures mode" names its margin currency.
        ({"instId": "BTC-USDT", "px": "1000", "sz": "0.001", "tdMode": "cross"}, "50014"),
        (
            {"instId": "BTC-USDT", "px": "1000", "sz": "0.001", "tdMode": "cross", "ccy": "ETH"},
            "51000",
        ),
    ]
    for args, code in cases:
        body = {"tdMode": "cash", "side": "buy", "ordType": "limit", **args}
        _, reply = client.request("POST", "/api/v5/trade/order", orjson.dumps(body))
        assert reply["code"] == "1", reply
        assert reply["data"][0]["sCode"] == code and reply["data"][0]["sMsg"], (args, reply)
    _, reply = client.request(
        "POST", "/api/v5/trade/cancel-order", b'{"instId":"BTC-USDT","clOrdId":"nosuch"}'
    )
    assert reply["data"][0]["sCode"] == "51400"
    _, reply = client.request("GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=nosuch")
    assert reply["code"] == "51603"


def test_duplicate_client_id_and_batch_limit(client: Client):
    order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
             "px": "1000", "sz": "0.001", "clOrdId": "dup1"}  # fmt: skip
    _, first = client.request("POST", "/api/v5/trade/order", orjson.dumps(order))
    _, second = client.request("POST", "/api/v5/trade/order", orjson.dumps(order))
    assert first["code"] == "0" and second["data"][0]["sCode"] == "51016"
    batch = [{**order, "clOrdId": f"b{i}"} for i in range(21)]
    _, reply = client.request("POST", "/api/v5/trade/batch-orders", orjson.dumps(batch))
    assert reply["code"] != "0" and reply["data"] == []
    mixed = [{**order, "clOrdId": "ok2"}, {**order, "clOrdId": "bad-id"}]
    _, reply = client.request("POST", "/api/v5/trade/batch-orders", orjson.dumps(mixed))
    assert reply["code"] == "2" and [d["sCode"] for d in reply["data"]] == ["0", "51000"]
    cancel = [{"instId": "BTC-USDT", "clOrdId": c} for c in ("dup1", "ok2")]
    _, reply = client.request("POST", "/api/v5/trade/cancel-batch-orders", orjson.dumps(cancel))
    assert reply["code"] == "0"


def test_ws_login_and_order_operations(client: Client):
    conn = client.ws("/ws/v5/private")
    conn.send('{"id":"a1","op":"order","args":[]}')
    assert orjson.loads(conn.recv(timeout=5))["code"] == "60011"
    bad = client.login(conn, sign="AAAA")
    assert bad["event"] == "error" and bad["code"] == "60007"
    # python-okx sends the timestamp as a JSON number.
    good = client.login(conn, stamp=int(time.time()))
    assert good == {"event": "login", "code": "0", "msg": "", "connId": good["connId"]}
    conn.send('{"op":"subscribe","args":[{"channel":"orders","instType":"ANY"}]}')
    assert _recv_until(conn, lambda m: m.get("event") == "subscribe")["arg"]["channel"] == "orders"
    args = {"instIdCode": 10001, "tdMode": "cash", "side": "buy", "ordType": "limit",
            "px": "1000", "sz": "0.001", "clOrdId": "ws1"}  # fmt: skip
    conn.send(orjson.dumps({"id": "r1", "op": "order", "args": [args]}).decode())
    push = _recv_until(conn, lambda m: "data" in m and m.get("arg", {}).get("channel") == "orders")
    assert push["data"][0]["state"] == "live" and push["data"][0]["instId"] == "BTC-USDT"
    reply = _recv_until(conn, lambda m: m.get("id") == "r1")
    assert reply["op"] == "order" and reply["code"] == "0" and reply["data"][0]["sCode"] == "0"
    assert int(reply["outTime"]) >= int(reply["inTime"])
    too_many = [{"instId": "BTC-USDT", "clOrdId": f"x{i}"} for i in range(21)]
    conn.send(orjson.dumps({"id": "r2", "op": "batch-cancel-orders", "args": too_many}).decode())
    assert _recv_until(conn, lambda m: m.get("id") == "r2")["code"] == "60012"
    cancel = [{"instId": "BTC-USDT", "clOrdId": "ws1"}, {"instId": "BTC-USDT", "clOrdId": "no"}]
    conn.send(orjson.dumps({"id": "r3", "op": "batch-cancel-orders", "args": cancel}).decode())
    reply = _recv_until(conn, lambda m: m.get("id") == "r3")
    assert reply["code"] == "2" and [d["sCode"] for d in reply["data"]] == ["0", "51400"]
    conn.send("ping")
    deadline = time.monotonic() + 5
    while conn.recv(timeout=max(0.01, deadline - time.monotonic())) != "pong":
        pass
    conn.close()


def test_post_only_that_would_take_is_cancelled_with_source_31(client: Client, sim):  # type: ignore[no-untyped-def]
    conn = client.ws("/ws/v5/private")
    client.login(conn)
    conn.send('{"op":"subscribe","args":[{"channel":"orders","instType":"SPOT"}]}')
    _recv_until(conn, lambda m: m.get("event") == "subscribe")
    book = requests.get(client.base + "/api/v5/market/books?instId=BTC-USDT&sz=1", timeout=5)
    ask = book.json()["data"][0]["asks"][0][0]
    args = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "post_only",
            "px": ask, "sz": "0.001", "clOrdId": "po1"}  # fmt: skip
    conn.send(orjson.dumps({"id": "p1", "op": "order", "args": [args]}).decode())
    push = _recv_until(conn, lambda m: "data" in m)
    assert push["data"][0]["state"] == "canceled" and push["data"][0]["cancelSource"] == "31"
    assert _recv_until(conn, lambda m: m.get("id") == "p1")["data"][0]["sCode"] == "0"
    conn.close()


def test_books_channel_sequence_and_checksum_hold_in_the_core_book(client: Client, sim):  # type: ignore[no-untyped-def]
    conn = client.ws("/ws/v5/public")
    conn.send('{"op":"subscribe","args":[{"channel":"books","instId":"ETH-USDT"}]}')
    assert orjson.loads(conn.recv(timeout=5))["event"] == "subscribe"
    snapshot = conn.recv(timeout=5)
    assert orjson.loads(snapshot)["action"] == "snapshot"
    book = OrderBook("okx", "0.01", "0.000001")
    assert book.apply(snapshot.encode() if isinstance(snapshot, str) else snapshot) == APPLIED
    # Move the book: a trade through two levels, then the maker replenishes.
    requests.post(client.base + "/sim/trade", timeout=5,
                  json={"instId": "ETH-USDT", "px": 2000.10, "sz": 7, "side": "buy"})  # fmt: skip
    prev = orjson.loads(snapshot)["data"][0]["seqId"]
    update = orjson.loads(_raw_until(conn, lambda m: m.get("action") == "update"))
    assert update["data"][0]["prevSeqId"] == prev and update["data"][0]["seqId"] > prev
    assert book.apply(orjson.dumps(update)) == APPLIED
    assert book.okx_checksum() == update["data"][0]["checksum"]
    conn.close()


def _raw_until(conn: ClientConnection, pred: Any) -> bytes:
    deadline = time.monotonic() + 5
    while True:
        raw = conn.recv(timeout=max(0.01, deadline - time.monotonic()))
        data = raw.encode() if isinstance(raw, str) else raw
        if pred(orjson.loads(data)):
            return data


def test_trades_channel_reports_the_aggressor_side(client: Client):
    conn = client.ws("/ws/v5/public")
    conn.send('{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT-SWAP"}]}')
    assert orjson.loads(conn.recv(timeout=5))["event"] == "subscribe"
    trade = {"instId": "BTC-USDT-SWAP", "px": 29000, "sz": 3, "side": "sell"}
    requests.post(client.base + "/sim/trade", timeout=5, json=trade)
    push = orjson.loads(conn.recv(timeout=5))
    assert push["arg"] == {"channel": "trades", "instId": "BTC-USDT-SWAP"}
    printed = push["data"][0]
    assert printed["side"] == "sell" and set(printed) >= {"tradeId", "px", "sz", "ts", "count"}
    conn.send('{"op":"subscribe","args":[{"channel":"trades","instId":"NOPE"}]}')
    assert orjson.loads(conn.recv(timeout=5))["code"] == "60018"
    conn.close()


def test_instruments_expose_inst_id_code(client: Client):
    r = requests.get(client.base + "/api/v5/public/instruments?instType=SWAP", timeout=5).json()
    swap = {i["instId"]: i for i in r["data"]}["BTC-USDT-SWAP"]
    assert swap["instIdCode"] == 10459 and swap["ctVal"] == "0.01" and swap["ctType"] == "linear"


def test_business_path_serves_trades_all_one_trade_per_message(client: Client):
    conn = client.ws("/ws/v5/business")
    conn.send('{"op":"subscribe","args":[{"channel":"trades-all","instId":"ETH-USDT"}]}')
    assert orjson.loads(conn.recv(timeout=5))["event"] == "subscribe"
    trade = {"instId": "ETH-USDT", "px": 2000.5, "sz": 12, "side": "buy"}
    fills = requests.post(client.base + "/sim/trade", timeout=5, json=trade).json()["fills"]
    for _ in fills:
        push = orjson.loads(conn.recv(timeout=5))
        assert push["arg"]["channel"] == "trades-all" and len(push["data"]) == 1
    conn.send('{"op":"subscribe","args":[{"channel":"orders","instType":"ANY"}]}')
    assert orjson.loads(conn.recv(timeout=5))["code"] == "60018"
    conn.close()


def test_orders_pending_pages_newest_first(client: Client):
    order = {"instId": "ETH-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
             "px": "100", "sz": "0.01"}  # fmt: skip
    ids = []
    for n in range(3):
        _, reply = client.request(
            "POST", "/api/v5/trade/order", orjson.dumps({**order, "clOrdId": f"pg{n}"})
        )
        ids.append(reply["data"][0]["ordId"])
    _, first = client.request("GET", "/api/v5/trade/orders-pending?instId=ETH-USDT&limit=2")
    assert [o["ordId"] for o in first["data"]] == [ids[2], ids[1]]
    _, rest = client.request(
        "GET", f"/api/v5/trade/orders-pending?instId=ETH-USDT&limit=2&after={ids[1]}"
    )
    assert [o["ordId"] for o in rest["data"]] == [ids[0]]
    cancel = [{"instId": "ETH-USDT", "ordId": i} for i in ids]
    _, reply = client.request("POST", "/api/v5/trade/cancel-batch-orders", orjson.dumps(cancel))
    assert reply["code"] == "0"
