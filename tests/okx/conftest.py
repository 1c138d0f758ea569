"""Fixtures for the OKX tests: ems sessions on the simulated OKX, and the venue's own view.

The venue is read through the simulator's admin API and through OKX REST requests signed
here with the standard library (not with the adapter's code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import orjson
import pytest
import requests
from tests.harness import Api, Stream

INSTRUMENTS = {
    # instId: (account index, qty used by the tests, tick, lot)
    "BTC-USDT": (0, 0.01, Decimal("0.1"), Decimal("0.00000001")),
    "BTC-USDT-SWAP": (1, 1.0, Decimal("0.1"), Decimal("0.01")),
}
FAULT_ACCOUNT = 2

_ids = itertools.count()


def iso_now() -> str:
    now = datetime.now(tz=UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass
class OkxMarket:
    """One ems session on one simulated OKX instrument."""

    inst_id: str
    qty: float
    tick: Decimal
    lot: Decimal
    rest_url: str
    account: dict[str, str]
    api: Api
    session_id: str

    @property
    def swap(self) -> bool:
        return self.inst_id.endswith("-SWAP")

    def cl(self) -> str:
        return f"c{next(_ids)}{uuid.uuid4().hex[:6]}"

    # ------------------------------------------------------------ venue
    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.rest_url + path, timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def signed(self, method: str, path: str, body: bytes = b"") -> Any:
        """A signed OKX REST request with the session's account."""
        stamp = iso_now()
        sign = base64.b64encode(
            hmac.new(
                self.account["secretKey"].encode(),
                f"{stamp}{method}{path}".encode() + body,
                hashlib.sha256,
            ).digest()
        ).decode()
        headers = {
            "OK-ACCESS-KEY": self.account["apiKey"],
            "OK-ACCESS-SIGN": sign,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-PASSPHRASE": self.account["passphrase"],
            "Content-Type": "application/json",
        }
        r = requests.request(method, self.rest_url + path, data=body, headers=headers, timeout=10)
        return r.json()

    def clear_venue(self) -> None:
        """Cancels whatever an earlier (failed) test left working on this instrument."""
        ids = [o["ordId"] for o in self.venue_orders()]
        for start in range(0, len(ids), 20):
            batch = [{"instId": self.inst_id, "ordId": i} for i in ids[start : start + 20]]
            self.signed("POST", "/api/v5/trade/cancel-batch-orders", orjson.dumps(batch))

    def best(self) -> tuple[Decimal, Decimal]:
        book = self.admin("GET", f"/api/v5/market/books?instId={self.inst_id}&sz=5")["data"][0]
        return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])

    def price(self, value: Decimal) -> float:
        return float((value / self.tick).to_integral_value(rounding=ROUND_FLOOR) * self.tick)

    def resting_buy(self, ticks_below: int = 200) -> float:
        bid, _ = self.best()
        return self.price(bid - ticks_below * self.tick)

    def venue_orders(self) -> list[dict[str, Any]]:
        return list(
            self.admin(
                "GET",
                "/sim/orders",
                params={"apiKey": self.account["apiKey"], "instId": self.inst_id},
            )
        )

    def venue_position(self) -> float:
        account = self.admin("GET", "/sim/account", params={"apiKey": self.account["apiKey"]})
        for p in account["positions"]:
            if p["instId"] == self.inst_id:
                return float(p["pos"])
        return 0.0

    def venue_balance(self, ccy: str) -> Decimal:
        account = self.admin("GET", "/sim/account", params={"apiKey": self.account["apiKey"]})
        for d in account["balance"]["details"]:
            if d["ccy"] == ccy:
                return Decimal(d["eq"])
        return Decimal(0)

    def trade(self, side: str, px: float, sz: float) -> Any:
        return self.admin(
            "POST", "/sim/trade", json={"instId": self.inst_id, "px": px, "sz": sz, "side": side}
        )

    def fault(self, **spec: Any) -> Any:
        return self.admin("POST", "/sim/fault", json=spec)

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/sim/stats", params={"apiKey": self.account["apiKey"]}))

    # ------------------------------------------------------------ ems
    def order(self, **fields: Any) -> dict[str, Any]:
        return {"sessionId": self.session_id, "symbol": self.inst_id, **fields}

    def send(self, **fields: Any) -> tuple[int, Any]:
        return self.api.post("/sendOrder", self.order(**fields))

    def stream(self) -> Stream:
        ws = self.api.ws()
        ws.subscribe(self.session_id)
        return ws

    def working(self) -> list[dict[str, Any]]:
        _, body = self.api.get("/orders", sessionId=self.session_id)
        return [o for o in body if o["symbol"] == self.inst_id]


def start_okx_session(
    api: Api, sim: dict[str, Any], inst_id: str, account_index: int | None = None, **extra: Any
) -> OkxMarket:
    index, qty, tick, lot = INSTRUMENTS[inst_id]
    account = sim["accounts"][index if account_index is None else account_index]
    urls = sim["okx"]
    session_id = f"okx-{uuid.uuid4().hex[:10]}"
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {
                "apiKey": account["apiKey"],
                "secretKey": account["secretKey"],
                "passphrase": account["passphrase"],
                "exchange": "okx",
            },
            "sessionId": session_id,
            "restUrl": urls["restUrl"],
            "wsUrl": urls["wsUrl"],
            **extra,
        },
    )
    assert status == 200, body
    m = OkxMarket(inst_id, qty, tick, lot, urls["restUrl"], account, api, session_id)
    m.clear_venue()
    return m


def status_is(cl: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("clOrderId") == cl and f.get("orderStatus") in statuses


def assert_matches_venue(m: OkxMarket, timeout: float = 5.0) -> None:
    """ems's working orders (and swap position) equal the venue's own state."""
    deadline = time.monotonic() + timeout
    while True:
        ours = {
            o["exchOrderId"]: (o["price"], round(o["qty"] - o["cumulativeFilledQty"], 8))
            for o in m.working()
        }
        pending = [o["orderStatus"] for o in m.working() if o["orderStatus"].startswith("pending")]
        venue = {
            o["ordId"]: (float(o["px"]), float(Decimal(o["sz"]) - Decimal(o["accFillSz"])))
            for o in m.venue_orders()
        }
        same_pos = True
        if m.swap:
            _, pos = m.api.get("/getPosition", sessionId=m.session_id, symbol=m.inst_id)
            same_pos = pos["position"] == pytest.approx(m.venue_position())
        if ours == venue and same_pos and not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ems {ours} {pending} differs from venue {venue}")
        time.sleep(0.05)


@pytest.fixture(params=list(INSTRUMENTS))
def okx(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Iterator[OkxMarket]:
    """A fresh ems session on the OKX spot and swap instruments (each test runs twice)."""
    m = start_okx_session(api, sim, request.param)
    yield m
    try:
        assert_matches_venue(m)
    finally:
        m.send(transactionType="pull")
        m.clear_venue()


@pytest.fixture(params=list(INSTRUMENTS))
def okx_faults(
    request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]
) -> Iterator[OkxMarket]:
    """A session on its own account for fault tests (faults cleared afterwards), on the
    spot and the swap instrument in turn."""
    m = start_okx_session(api, sim, request.param, FAULT_ACCOUNT)
    yield m
    m.fault(clear=True)
    m.send(transactionType="pull")
    m.clear_venue()


def frames_for(ws: Stream, cl: str) -> list[dict[str, Any]]:
    return [f for f in ws.frames if f.get("clOrderId") == cl]


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
