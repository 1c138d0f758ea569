"""Reconciliation lists a busy symbol whole: Binance's `allOrders` answers at most `limit`
orders per time window, so ems splits a window that comes back full until none does."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from tests.e2e.conftest import MARKETS, _filters
from tests.harness import venue_recent_orders

from ems.venues.binance import session as binance_session

BUSY = 11
LIMIT = 4


def _signed(url: str, account: dict[str, str], method: str, path: str, **params: Any) -> Any:
    params["timestamp"] = int(time.time() * 1000)
    query = urlencode(params)
    sig = hmac.new(account["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
    reply = requests.request(
        method,
        f"{url}{path}?{query}&signature={sig}",
        headers={"X-MBX-APIKEY": account["apiKey"]},
        timeout=10,
    )
    return reply.json()


@pytest.mark.parametrize("exchange", ["binance-spot", "binance-usdm-future"])
def test_recent_orders_list_every_order_of_a_symbol_busier_than_one_answer(
    sim: dict[str, Any], monkeypatch: pytest.MonkeyPatch, exchange: str
):
    monkeypatch.setattr(binance_session, "ALL_ORDERS_LIMIT", LIMIT)
    api = MARKETS[exchange]["api"]
    url = sim[exchange]["restUrl"]
    account = sim["accounts"][2]
    symbol = "ETHUSDT"
    tick, step = _filters(requests.get(f"{url}{api}/exchangeInfo", timeout=10).json(), symbol)
    bid = Decimal(requests.get(f"{url}{api}/depth", params={"symbol": symbol}, timeout=10)
                  .json()["bids"][0][0])  # fmt: skip
    price = bid - 50 * tick
    qty = (Decimal(25) / price / step).to_integral_value(rounding=ROUND_CEILING) * step
    since = int(time.time() * 1000) - 1000
    placed = [f"busy{uuid.uuid4().hex[:8]}{i}" for i in range(BUSY)]
    for cid in placed:
        # Far below the bid and immediate-or-cancel: each order expires at once.
        reply = _signed(url, account, "POST", f"{api}/order", symbol=symbol, side="BUY",
                        type="LIMIT", timeInForce="IOC", price=str(price), quantity=str(qty),
                        newClientOrderId=cid)  # fmt: skip
        assert reply.get("clientOrderId") == cid, reply
    # One answer holds only LIMIT of them.
    one = _signed(url, account, "GET", f"{api}/allOrders", symbol=symbol, startTime=since,
                  limit=LIMIT)  # fmt: skip
    assert len(one) == LIMIT

    reports = venue_recent_orders(exchange, account, sim[exchange], {symbol}, since)
    found = {r.venue_client_id: r for r in reports}
    assert set(placed) <= found.keys()
    assert all(found[cid].symbol == symbol for cid in placed)
