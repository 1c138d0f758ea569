"""Third-party OKX clients against the simulator, unchanged but for their base URL:
python-okx (REST) and ccxt place, amend, cancel, list open orders and read balances."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = 2


def test_python_okx_rest_round_trip(sim: dict[str, Any]):
    trade_mod = pytest.importorskip("okx.Trade")
    account_mod = pytest.importorskip("okx.Account")
    acc = sim["accounts"][ACCOUNT]
    url = sim["okx"]["restUrl"]
    # flag "1" is demo trading (x-simulated-trading: 1), the library's default.
    keys = (acc["apiKey"], acc["secretKey"], acc["passphrase"])
    trade = trade_mod.TradeAPI(*keys, flag="1", domain=url)
    account = account_mod.AccountAPI(*keys, flag="1", domain=url)
    placed = trade.place_order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                               px="20000", sz="0.002", clOrdId="pyokx1")  # fmt: skip
    assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0", placed
    ord_id = placed["data"][0]["ordId"]
    amended = trade.amend_order(instId="BTC-USDT", ordId=ord_id, newPx="20000.5", newSz="0.003")
    assert amended["code"] == "0", amended
    pending = trade.get_order_list(instType="SPOT")
    mine = [o for o in pending["data"] if o["ordId"] == ord_id]
    assert mine and mine[0]["px"] == "20000.5" and mine[0]["sz"] == "0.003"
    detail = trade.get_order(instId="BTC-USDT", clOrdId="pyokx1")
    assert detail["data"][0]["state"] == "live"
    cancelled = trade.cancel_order(instId="BTC-USDT", ordId=ord_id)
    assert cancelled["data"][0]["sCode"] == "0"
    assert not [o for o in trade.get_order_list()["data"] if o["ordId"] == ord_id]
    balance = account.get_account_balance(ccy="USDT")
    assert balance["code"] == "0" and balance["data"][0]["details"][0]["ccy"] == "USDT"
    swap = trade.place_order(instId="BTC-USDT-SWAP", tdMode="cross", side="sell",
                             ordType="market", sz="2")  # fmt: skip
    assert swap["data"][0]["sCode"] == "0"
    positions = account.get_positions(instType="SWAP")
    assert any(p["instId"] == "BTC-USDT-SWAP" for p in positions["data"])


def test_ccxt_round_trip(sim: dict[str, Any]):
    ccxt = pytest.importorskip("ccxt")
    acc = sim["accounts"][ACCOUNT]
    ex = ccxt.okx({"apiKey": acc["apiKey"], "secret": acc["secretKey"],
                   "password": acc["passphrase"],
                   "options": {"fetchMarkets": {"types": ["spot", "swap"]},
                               "fetchCurrencies": False}})  # fmt: skip
    ex.urls["api"]["rest"] = sim["okx"]["restUrl"]
    ex.load_markets()
    assert "BTC/USDT" in ex.markets and "BTC/USDT:USDT" in ex.markets
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.002, 21000)
    assert order["id"]
    edited = ex.edit_order(order["id"], "BTC/USDT", "limit", "buy", 0.002, 21000.5)
    assert edited["id"] == order["id"]
    open_orders = ex.fetch_open_orders("BTC/USDT")
    assert [o["price"] for o in open_orders if o["id"] == order["id"]] == [21000.5]
    ex.cancel_order(order["id"], "BTC/USDT")
    assert not [o for o in ex.fetch_open_orders("BTC/USDT") if o["id"] == order["id"]]
    balance = ex.fetch_balance()
    assert balance["USDT"]["total"] > 0
