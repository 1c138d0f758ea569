"""Fixtures for the end-to-end tests: one ems session per Binance market."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tests.harness import Api, Process, Stream

MARKETS = {
    "binance-spot": {"symbol": "BTCUSDT", "api": "/api/v3", "qty": 0.001, "account": 0},
    "binance-usdm-future": {"symbol": "BTCUSDT", "api": "/fapi/v1", "qty": 0.01, "account": 1},
    "binance-coinm-future": {"symbol": "BTCUSD_PERP", "api": "/dapi/v1", "qty": 1, "account": 2},
}

_ids = itertools.count()


def status_is(cl: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the update frames of order `cl` in one of `statuses`."""
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


@dataclass
class Market:
    """One ems session on one simulated Binance market, with the venue's own view."""

    exchange: str
    symbol: str
    api_path: str
    qty: float
    rest_url: str
    account: dict[str, str]
    api: Api
    session_id: str
    tick: Decimal
    step: Decimal
    counterparty: dict[str, str]
    """Another funded account on the same venue, to provide liquidity at chosen prices."""

    def cl(self) -> str:
        return f"cl-{next(_ids)}-{uuid.uuid4().hex[:6]}"

    def venue(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.rest_url + path, timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def signed(
        self, method: str, path: str, account: dict[str, str] | None = None, **params: Any
    ) -> Any:
        """A signed venue request (by default with the session's account), as any Binance
        client sends it."""
        account = account or self.account
        params["timestamp"] = int(time.time() * 1000)
        query = urlencode(params)
        sig = hmac.new(account["secretKey"].encode(), query.encode(), hashlib.sha256)
        return self.venue(
            method,
            f"{path}?{query}&signature={sig.hexdigest()}",
            headers={"X-MBX-APIKEY": account["apiKey"]},
        )

    def counter_order(self, side: str, price: float, qty: float) -> Any:
        """A resting limit order of the counterparty account, placed on the venue directly."""
        return self.signed(
            "POST",
            f"{self.api_path}/order",
            self.counterparty,
            symbol=self.symbol,
            side=side.upper(),
            type="LIMIT",
            timeInForce="GTC",
            price=str(Decimal(str(price))),
            quantity=str(Decimal(str(qty))),
        )

    def counter_cancel_all(self) -> None:
        """Cancels whatever the counterparty account has working on the symbol."""
        name = "openOrders" if self.exchange == "binance-spot" else "allOpenOrders"
        self.signed("DELETE", f"{self.api_path}/{name}", self.counterparty, symbol=self.symbol)

    def venue_history(self) -> list[dict[str, Any]]:
        """Every recent order of this session on the venue (allOrders), finished ones too."""
        prefixes = self.prefixes()
        return [
            o
            for o in self.signed(
                "GET", f"{self.api_path}/allOrders", symbol=self.symbol, limit=1000
            )
            if o["clientOrderId"].startswith(prefixes)
        ]

    def best(self) -> tuple[Decimal, Decimal]:
        depth = self.venue(
            "GET", f"{self.api_path}/depth", params={"symbol": self.symbol, "limit": 5}
        )
        return Decimal(depth["bids"][0][0]), Decimal(depth["asks"][0][0])

    def price(self, value: Decimal) -> float:
        """`value` rounded down to the tick, as the double a client would send."""
        return float((value / self.tick).to_integral_value(rounding="ROUND_FLOOR") * self.tick)

    def prefixes(self) -> tuple[str, ...]:
        """The client-id prefixes of this session (the account may be shared)."""
        _, sessions = self.api.get("/sessions")
        return next(
            tuple(s["clientIdPrefixes"]) for s in sessions if s["sessionId"] == self.session_id
        )

    def venue_orders(self) -> list[dict[str, Any]]:
        """This session's working orders on the venue, in the venue's own format."""
        prefixes = self.prefixes()
        return [
            o
            for o in self.venue("GET", "/sim/orders", params={"apiKey": self.account["apiKey"]})
            if o["symbol"] == self.symbol and o["clientOrderId"].startswith(prefixes)
        ]

    def venue_account(self) -> Any:
        return self.venue("GET", "/sim/account", params={"apiKey": self.account["apiKey"]})

    def trade(self, side: str, price: float, qty: float) -> Any:
        return self.venue(
            "POST",
            "/sim/trade",
            json={"symbol": self.symbol, "price": price, "qty": qty, "side": side},
        )

    def order(self, **fields: Any) -> dict[str, Any]:
        body = {"sessionId": self.session_id, "symbol": self.symbol, **fields}
        return body

    def send(self, **fields: Any) -> tuple[int, Any]:
        return self.api.post("/sendOrder", self.order(**fields))

    def stream(self) -> Stream:
        ws = self.api.ws()
        ws.subscribe(self.session_id)
        return ws


def _filters(info: dict[str, Any], symbol: str) -> tuple[Decimal, Decimal]:
    for sym in info["symbols"]:
        if sym["symbol"] == symbol:
            f = {x["filterType"]: x for x in sym["filters"]}
            return Decimal(f["PRICE_FILTER"]["tickSize"]), Decimal(f["LOT_SIZE"]["stepSize"])
    raise AssertionError(f"{symbol} not in exchangeInfo")


def start_session(api: Api, sim: dict[str, Any], exchange: str, session_id: str) -> Market:
    spec = MARKETS[exchange]
    account = sim["accounts"][spec["account"]]
    urls = sim[exchange]
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {
                **{k: account[k] for k in ("apiKey", "secretKey")},
                "exchange": exchange,
            },
            "sessionId": session_id,
            "restUrl": urls["restUrl"],
            "wsUrl": urls["wsUrl"],
        },
    )
    assert status == 200, body
    info = requests.get(f"{urls['restUrl']}{spec['api']}/exchangeInfo", timeout=10).json()
    tick, step = _filters(info, spec["symbol"])
    return Market(
        exchange=exchange,
        symbol=spec["symbol"],
        api_path=spec["api"],
        qty=spec["qty"],
        rest_url=urls["restUrl"],
        account=account,
        api=api,
        session_id=session_id,
        tick=tick,
        step=step,
        counterparty=sim["accounts"][(spec["account"] + 1) % len(MARKETS)],
    )


@pytest.fixture(params=list(MARKETS))
def market(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Iterator[Market]:
    """A fresh session on each Binance market (the test runs once per market)."""
    m = start_session(api, sim, request.param, f"{request.param}-{uuid.uuid4().hex[:8]}")
    yield m
    assert_matches_venue(m)
    # Leave nothing working on the venue for the next test.
    m.send(transactionType="pull")


def assert_matches_venue(m: Market, timeout: float = 5.0) -> None:
    """ems's view of the session equals the venue's own state.

    Working orders (price, unfilled qty, status) match the venue's open orders; every
    finished order's filled qty matches the venue's record of it (earlier legs of a
    cancel-replace, which ems folds into one order, included); the position matches the
    venue's position amount (futures) or the net of the venue's trades for the
    session's orders (spot).
    """
    deadline = time.monotonic() + timeout
    while True:
        problems = _differences(m)
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError("ems differs from the venue: " + "; ".join(problems))
        time.sleep(0.05)


def _differences(m: Market) -> list[str]:
    problems = []
    _, working = m.api.get("/orders", sessionId=m.session_id)
    ours = {
        o["exchOrderId"]: (o["price"], o["qty"] - o["cumulativeFilledQty"], o["orderStatus"])
        for o in working
    }
    venue = {
        str(o["orderId"]): (
            float(o["price"]),
            float(Decimal(o["origQty"]) - Decimal(o["executedQty"])),
            "partiallyfilled" if Decimal(o["executedQty"]) else "new",
        )
        for o in m.venue_orders()
    }
    if ours != venue:
        problems.append(f"working orders {ours} != venue {venue}")
    history = m.venue_history()
    by_id = {str(o["orderId"]): o for o in history}
    _, every = m.api.get("/orders", sessionId=m.session_id, all="true")
    for o in every:
        leg = by_id.get(o["exchOrderId"] or "")
        if o["orderStatus"] in _WORKING or leg is None:
            continue
        # A cancel-replace's last leg carries only what was left: the rest was filled
        # on earlier legs.
        earlier = Decimal(str(o["qty"])) - Decimal(leg["origQty"])
        venue_cum = Decimal(leg["executedQty"]) + earlier
        if Decimal(str(o["cumulativeFilledQty"])) != venue_cum:
            problems.append(
                f"{o['clOrderId']} filled {o['cumulativeFilledQty']} != venue {venue_cum}"
            )
    _, pos = m.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
    if m.exchange == "binance-spot":
        ids = {o["orderId"] for o in history}
        trades = m.signed("GET", "/api/v3/myTrades", symbol=m.symbol, limit=1000)
        venue_pos = sum(
            (Decimal(t["qty"]) if t["isBuyer"] else -Decimal(t["qty"]))
            for t in trades
            if t["orderId"] in ids
        )
        if Decimal(str(pos["position"])) != venue_pos:
            problems.append(f"position {pos['position']} != venue trades {venue_pos}")
    else:
        amount = next(
            (
                float(p["positionAmt"])
                for p in m.venue_account()["positions"]
                if p["symbol"] == m.symbol
            ),
            0.0,
        )
        if pos["position"] != amount:
            problems.append(f"position {pos['position']} != venue {amount}")
    return problems


_WORKING = {"pendingnew", "new", "partiallyfilled", "pendingupdate", "pendingcancel"}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Every sample of a Prometheus scrape, by name and labels."""


def scrape_metrics(server: Process) -> Samples:
    text = requests.get(server.info["metrics"], timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric_value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value, 0 if the scrape has none by that name and labels."""
    return samples.get((name, frozenset(labels.items())), 0.0)
