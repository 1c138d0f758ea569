"""Fixtures for the Deribit tests: an `ems serve` whose FIX sequence files live in a
temporary directory, sessions on the simulated Deribit, and the venue's own view (read
through the simulator's admin API, never through the adapter)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from tests.harness import API_KEY, Api, Process, Stream

SYMBOL = "BTC-PERPETUAL"
TICK = Decimal("0.5")
_ids = itertools.count()


@pytest.fixture(scope="session")
def deribit_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fix-state")


@pytest.fixture(scope="session")
def deribit_ems(logs_dir: Path, deribit_state_dir: Path) -> Iterator[Process]:
    process = Process(
        ["serve", "--key", API_KEY, "--port", "0", "--promPort", "0", "--journal", "none"],
        logs_dir / "ems-deribit.log",
        env={"EMS_STATE_DIR": str(deribit_state_dir)},
    )
    yield process
    process.stop()


@pytest.fixture(scope="session")
def dapi(deribit_ems: Process) -> Api:
    return Api(deribit_ems.info["url"], API_KEY)


@dataclass
class DeribitMarket:
    """One ems session on the simulated Deribit, with the venue's own view."""

    api: Api
    session_id: str
    account: dict[str, str]
    rest_url: str
    fix_url: str
    symbol: str = SYMBOL
    tick: Decimal = TICK

    def cl(self) -> str:
        return f"d{next(_ids)}-{uuid.uuid4().hex[:6]}"

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.rest_url + path, timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def fault(self, **spec: Any) -> Any:
        return self.admin("POST", "/sim/fault", json=spec)

    def best(self) -> tuple[Decimal, Decimal]:
        book = self.admin("GET", "/sim/book", params={"symbol": self.symbol})
        return Decimal(book["bestBid"]), Decimal(book["bestAsk"])

    def price(self, value: Decimal) -> float:
        return float((value / self.tick).to_integral_value(rounding=ROUND_FLOOR) * self.tick)

    def resting_buy(self, ticks_below: int = 200) -> float:
        bid, _ = self.best()
        return self.price(bid - ticks_below * self.tick)

    def venue_orders(self) -> list[dict[str, Any]]:
        return self.admin(
            "GET", "/sim/orders", params={"apiKey": self.account["apiKey"], "symbol": self.symbol}
        )

    def venue_position(self) -> float:
        account = self.admin("GET", "/sim/account", params={"apiKey": self.account["apiKey"]})
        for p in account["positions"]:
            if p["instrument_name"] == self.symbol:
                return float(p["contracts"])
        return 0.0

    def trade(self, side: str, price: float, qty: float) -> Any:
        body = {"symbol": self.symbol, "price": price, "qty": qty, "side": side}
        return self.admin("POST", "/sim/trade", json=body)

    def order(self, **fields: Any) -> dict[str, Any]:
        return {"sessionId": self.session_id, "symbol": self.symbol, **fields}

    def send(self, **fields: Any) -> tuple[int, Any]:
        return self.api.post("/sendOrder", self.order(**fields))

    def stream(self) -> Stream:
        ws = self.api.ws()
        ws.subscribe(self.session_id)
        return ws


def start_deribit(api: Api, sim: dict[str, Any], account: int, **options: Any) -> DeribitMarket:
    urls = sim["deribit"]
    acct = sim["accounts"][account]
    session_id = f"deribit-{uuid.uuid4().hex[:8]}"
    status, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {
                "apiKey": acct["apiKey"],
                "secretKey": acct["secretKey"],
                "exchange": "deribit",
            },
            "sessionId": session_id,
            "restUrl": urls["restUrl"],
            "wsUrl": urls["wsUrl"],
            **options,
        },
    )
    assert status == 200, body
    return DeribitMarket(api, session_id, acct, urls["restUrl"], urls["wsUrl"])


def assert_matches_venue(m: DeribitMarket, timeout: float = 5.0) -> None:
    """ems's working orders and position equal the simulated venue's own state."""
    deadline = time.monotonic() + timeout
    while True:
        _, working = m.api.get("/orders", sessionId=m.session_id)
        ours = {
            o["exchOrderId"]: (o["price"], o["qty"] - o["cumulativeFilledQty"], o["orderStatus"])
            for o in working
            if o["symbol"] == m.symbol
        }
        venue = {
            o["order_id"]: (
                float(o["price"]),
                float(Decimal(o["contracts"]) - Decimal(o["filled_contracts"])),
                "partiallyfilled" if Decimal(o["filled_contracts"]) else "new",
            )
            for o in m.venue_orders()
        }
        _, pos = m.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        venue_pos = m.venue_position()
        if ours == venue and pos["position"] == venue_pos:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ems {ours} / {pos} differs from venue {venue} / {venue_pos}")
        time.sleep(0.05)


@pytest.fixture
def market(dapi: Api, sim: dict[str, Any]) -> Iterator[DeribitMarket]:
    m = start_deribit(dapi, sim, 0)
    yield m
    assert_matches_venue(m)
    m.send(transactionType="pull")
