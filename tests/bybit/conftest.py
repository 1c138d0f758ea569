"""Fixtures for the Bybit tests: the simulated venue (raw, signed access) and ems
sessions on it, one per exchange value."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
import requests
from tests.harness import Api, Stream

MARKETS: dict[str, dict[str, Any]] = {
    "bybit-spot": {"category": "spot", "symbol": "BTCUSDT", "qty": 0.001},
    "bybit-linear": {"category": "linear", "symbol": "BTCUSDT", "qty": 0.01},
    "bybit-inverse": {"category": "inverse", "symbol": "BTCUSD", "qty": 100},
    "bybit-option": {"category": "option", "symbol": "BTC-26DEC36-30000-C", "qty": 0.1},
}
"""One symbol per exchange value; `qty` is a small order in the venue's own unit
(spot and linear: BTC; inverse: USD contracts; option: BTC)."""

_ids = itertools.count()


@dataclass
class Venue:
    """Raw access to the simulated Bybit with one account's keys (any client would do this)."""

    rest_url: str
    ws_url: str
    key: str
    secret: str

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.rest_url + path, timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def signed(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """A signed v5 request; returns the whole reply envelope."""
        params = params or {}
        ts = str(int(time.time() * 1000))
        if method == "GET":
            payload = urlencode(params)
            url, body = f"{self.rest_url}{path}?{payload}", None
        else:
            payload = orjson.dumps(params).decode()
            url, body = f"{self.rest_url}{path}", payload
        sign = hmac.new(
            self.secret.encode(), f"{ts}{self.key}5000{payload}".encode(), hashlib.sha256
        ).hexdigest()
        headers = {
            "X-BAPI-API-KEY": self.key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sign,
            "Content-Type": "application/json",
        }
        r = requests.request(method, url, data=body, headers=headers, timeout=10)
        return r.json()

    def fault(self, **spec: Any) -> Any:
        return self.admin("POST", "/sim/fault", json=spec)

    def counts(self) -> dict[str, int]:
        return dict(self.admin("GET", "/sim/counts", params={"apiKey": self.key}))


@dataclass
class Market:
    """One ems session on one Bybit exchange value, with the venue's own view."""

    exchange: str
    category: str
    symbol: str
    qty: float
    venue: Venue
    api: Api
    session_id: str
    tick: Decimal
    step: Decimal

    def cl(self) -> str:
        return f"cl-{next(_ids)}-{uuid.uuid4().hex[:6]}"

    def best(self) -> tuple[Decimal, Decimal]:
        r = requests.get(
            f"{self.venue.rest_url}/v5/market/orderbook",
            params={"category": self.category, "symbol": self.symbol, "limit": 5},
            timeout=10,
        ).json()["result"]
        return Decimal(r["b"][0][0]), Decimal(r["a"][0][0])

    def price(self, value: Decimal) -> float:
        """`value` rounded down to the tick, as the double a client would send."""
        return float((value / self.tick).to_integral_value(rounding=ROUND_FLOOR) * self.tick)

    def resting_buy(self, ticks_below: int = 20) -> float:
        bid, _ = self.best()
        return self.price(bid - ticks_below * self.tick)

    def venue_orders(self) -> list[dict[str, Any]]:
        return list(
            self.venue.admin(
                "GET",
                "/sim/orders",
                params={"apiKey": self.venue.key, "category": self.category, "symbol": self.symbol},
            )
        )

    def venue_position(self) -> float:
        account = self.venue.admin("GET", "/sim/account", params={"apiKey": self.venue.key})
        for p in account["positions"]:
            if p["category"] == self.category and p["symbol"] == self.symbol:
                size = float(p["size"])
                return -size if p["side"] == "Sell" else size
        return 0.0

    def trade(self, side: str, price: float, qty: float) -> Any:
        body = {
            "category": self.category,
            "symbol": self.symbol,
            "price": price,
            "qty": qty,
            "side": side,
        }
        return self.venue.admin("POST", "/sim/trade", json=body)

    def send(self, **fields: Any) -> tuple[int, Any]:
        body = {"sessionId": self.session_id, "symbol": self.symbol, **fields}
        return self.api.post("/sendOrder", body)

    def stream(self) -> Stream:
        ws = self.api.ws()
        ws.subscribe(self.session_id)
        return ws


def venue_for(sim: dict[str, Any], exchange: str, account: int) -> Venue:
    acct = sim["accounts"][account]
    urls = sim[exchange]
    return Venue(urls["restUrl"], urls["wsUrl"], acct["apiKey"], acct["secretKey"])


def start_session(
    api: Api, sim: dict[str, Any], exchange: str, session_id: str, account: int = 1
) -> Market:
    spec = MARKETS[exchange]
    venue = venue_for(sim, exchange, account)
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {"apiKey": venue.key, "secretKey": venue.secret, "exchange": exchange},
            "sessionId": session_id,
            "restUrl": venue.rest_url,
            "wsUrl": venue.ws_url,
        },
    )
    assert status == 200, body
    info = requests.get(
        f"{venue.rest_url}/v5/market/instruments-info",
        params={"category": spec["category"], "symbol": spec["symbol"]},
        timeout=10,
    ).json()["result"]["list"][0]
    lot = info["lotSizeFilter"]
    return Market(
        exchange=exchange,
        category=spec["category"],
        symbol=spec["symbol"],
        qty=spec["qty"],
        venue=venue,
        api=api,
        session_id=session_id,
        tick=Decimal(info["priceFilter"]["tickSize"]),
        step=Decimal(lot.get("qtyStep") or lot["basePrecision"]),
    )


def assert_matches_venue(m: Market, timeout: float = 5.0) -> None:
    """ems's working orders (and derivatives position) equal the venue's own state."""
    deadline = time.monotonic() + timeout
    while True:
        _, working = m.api.get("/orders", sessionId=m.session_id)
        ours = {
            o["exchOrderId"]: (o["price"], round(o["qty"] - o["cumulativeFilledQty"], 9))
            for o in working
        }
        venue = {
            o["orderId"]: (float(o["price"]), round(float(o["leavesQty"]), 9))
            for o in m.venue_orders()
        }
        _, pos = m.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        venue_pos = m.venue_position() if m.category != "spot" else None
        if ours == venue and (venue_pos is None or pos["position"] == pytest.approx(venue_pos)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ems {ours} / {pos} differs from venue {venue} / {venue_pos}")
        time.sleep(0.05)


@pytest.fixture(params=list(MARKETS))
def market(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Iterator[Market]:
    """A fresh session on each Bybit exchange value (the test runs once per value)."""
    m = start_session(api, sim, request.param, f"{request.param}-{uuid.uuid4().hex[:8]}")
    yield m
    assert_matches_venue(m)
    m.send(transactionType="pull")
