"""Unmodified third-party Binance clients, pointed at the simulator by base URL only."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.client import Client
from binance.exceptions import BinanceAPIException
from tests.sim.conftest import Sim


@pytest.fixture
def binance_client(sim: Sim) -> Client:
    """python-binance with its three REST base URLs replaced (protocols.md section E)."""
    client = Client(sim.spot.key, sim.spot.secret, ping=False)
    client.session.trust_env = False  # loopback only, never an environment proxy
    client.API_URL = sim.spot.base + "/api"
    client.FUTURES_URL = sim.usdm.base + "/fapi"
    client.FUTURES_COIN_URL = sim.coinm.base + "/dapi"
    return client


def _ccxt(sim: Sim, **options: Any) -> Any:
    spot, usdm, coinm = sim.spot.base, sim.usdm.base, sim.coinm.base
    exchange = ccxt.binance(
        {
            "apiKey": sim.spot.key,
            "secret": sim.spot.secret,
            "options": {"fetchCurrencies": False, **options},
        }
    )
    exchange.session.trust_env = False
    exchange.urls["api"] = {
        "public": f"{spot}/api/v3",
        "private": f"{spot}/api/v3",
        "v1": f"{spot}/api/v1",
        "sapi": f"{spot}/sapi/v1",
        "fapiPublic": f"{usdm}/fapi/v1",
        "fapiPublicV2": f"{usdm}/fapi/v2",
        "fapiPublicV3": f"{usdm}/fapi/v3",
        "fapiPrivate": f"{usdm}/fapi/v1",
        "fapiPrivateV2": f"{usdm}/fapi/v2",
        "fapiPrivateV3": f"{usdm}/fapi/v3",
        "fapiData": f"{usdm}/futures/data",
        "dapiPublic": f"{coinm}/dapi/v1",
        "dapiPrivate": f"{coinm}/dapi/v1",
        "dapiPrivateV2": f"{coinm}/dapi/v2",
        "dapiData": f"{coinm}/futures/data",
    }
    return exchange


def test_python_binance_spot_round_trip(binance_client: Client):
    info = binance_client.get_exchange_info()
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    order = binance_client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        quantity="0.00100", price="25000.00", newClientOrderId="pb-1",
    )  # fmt: skip
    assert order["status"] == "NEW" and order["clientOrderId"] == "pb-1"
    fetched = binance_client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert fetched["price"] == "25000.00000000" and fetched["status"] == "NEW"
    balances = {b["asset"]: b for b in binance_client.get_account()["balances"]}
    assert balances["USDT"]["locked"] == "25.00000000"
    cancelled = binance_client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED" and cancelled["origClientOrderId"] == "pb-1"
    market = binance_client.create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.01"
    )
    assert market["status"] == "FILLED" and market["fills"][0]["price"] == "29999.50000000"
    with pytest.raises(BinanceAPIException) as err:
        binance_client.get_order(symbol="BTCUSDT", orderId=1)
    assert err.value.code == -2013


def test_python_binance_futures_round_trip(binance_client: Client):
    order = binance_client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
        quantity="0.010", price="29000.0",
    )  # fmt: skip
    assert order["status"] == "NEW" and order["origQty"] == "0.010"
    cancelled = binance_client.futures_cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED"
    binance_client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.020"
    )
    positions = binance_client.futures_position_information(symbol="BTCUSDT")
    assert [(p["symbol"], p["positionAmt"]) for p in positions] == [("BTCUSDT", "-0.020")]
    coin = binance_client.futures_coin_create_order(
        symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="2"
    )
    assert coin["symbol"] == "BTCUSD_PERP"
    coin_positions = binance_client.futures_coin_position_information()
    assert {p["symbol"]: p["positionAmt"] for p in coin_positions}["BTCUSD_PERP"] == "2"


def test_ccxt_spot_round_trip(sim: Sim):
    exchange = _ccxt(sim, fetchMarkets={"types": ["spot"]})
    markets = exchange.load_markets()
    market = markets["BTC/USDT"]
    assert market["precision"]["price"] == 0.01 and market["limits"]["cost"]["min"] == 5
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 25000)
    assert order["status"] == "open" and order["price"] == 25000
    fetched = exchange.fetch_order(order["id"], "BTC/USDT")
    assert fetched["id"] == order["id"] and fetched["remaining"] == 0.001
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    balance = exchange.fetch_balance()
    assert balance["USDT"]["used"] == 25.0
    assert exchange.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    filled = exchange.create_order("BTC/USDT", "market", "buy", 0.002)
    assert filled["status"] == "closed" and filled["filled"] == 0.002
    assert D(str(filled["average"])) == D("30000.5")
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"postOnly": True})


def test_ccxt_usdm_orders_and_positions(sim: Sim):
    exchange = _ccxt(sim, fetchMarkets={"types": ["linear"]}, defaultType="future")
    exchange.load_markets()
    order = exchange.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 29000)
    assert order["status"] == "open"
    assert exchange.cancel_order(order["id"], "BTC/USDT:USDT")["status"] == "canceled"
    exchange.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    positions = exchange.fetch_positions(["BTC/USDT:USDT"])
    assert [(p["symbol"], p["contracts"], p["side"]) for p in positions] == [
        ("BTC/USDT:USDT", 0.01, "long")
    ]


def test_python_binance_sockets_user_data_and_trades(sim: Sim):
    """python-binance's spot user socket (WS-API subscription), futures user socket
    (listenKey on /ws?listenKey=) and trade socket, with only the URLs replaced."""

    async def scenario() -> list[dict[str, Any]]:
        client = AsyncClient(sim.spot.key, sim.spot.secret)
        client.API_URL = sim.spot.base + "/api"
        client.FUTURES_URL = sim.usdm.base + "/fapi"
        client.ws_api._url = sim.spot.ws_base + "/ws-api/v3"
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = sim.spot.ws_base + "/"
        manager.FSTREAM_URL = sim.usdm.ws_base + "/"
        got: list[dict[str, Any]] = []
        try:
            user, futures, trades = (
                manager.user_socket(),
                manager.futures_user_socket(),
                manager.trade_socket("BTCUSDT"),
            )
            # Its read loops only see the exit flag between recv timeouts (10 s by
            # default); a short one keeps the test fast.
            futures.TIMEOUT = trades.TIMEOUT = 0.2
            async with user, futures, trades:
                await client.create_order(
                    symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
                )
                got += [await asyncio.wait_for(user.recv(), 5) for _ in range(3)]
                got.append(await asyncio.wait_for(trades.recv(), 5))
                await client.futures_create_order(
                    symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010"
                )
                got += [await asyncio.wait_for(futures.recv(), 5) for _ in range(2)]
        finally:
            # The client's WS-API read loop only notices a close on its next message or
            # after its own long timeout; do not wait for that.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client.close_connection(), 1)
        return got

    events = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [e["e"] for e in events] == [
        "executionReport",
        "executionReport",
        "outboundAccountPosition",
        "trade",
        "ORDER_TRADE_UPDATE",
        "ORDER_TRADE_UPDATE",
    ]
    assert (events[1]["x"], events[1]["X"], events[1]["L"]) == ("TRADE", "FILLED", "30000.50000000")
    assert events[3]["p"] == "30000.50000000" and events[3]["m"] is False
    assert events[5]["o"]["X"] == "FILLED"


def test_ccxt_coinm_contracts_positions_and_balance(sim: Sim):
    exchange = _ccxt(
        sim, fetchMarkets={"types": ["inverse"]}, defaultType="swap", defaultSubType="inverse"
    )
    assert set(exchange.load_markets()) == {"BTC/USD:BTC", "ETH/USD:ETH"}
    assert exchange.market("BTC/USD:BTC")["contractSize"] == 100
    order = exchange.create_order("BTC/USD:BTC", "limit", "buy", 2, 29000)
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USD:BTC")] == [order["id"]]
    assert exchange.cancel_order(order["id"], "BTC/USD:BTC")["status"] == "canceled"
    exchange.create_order("BTC/USD:BTC", "market", "sell", 3)
    positions = exchange.fetch_positions(["BTC/USD:BTC"])
    assert [(p["contracts"], p["side"]) for p in positions] == [(3.0, "short")]
    # Initial margin of 3 x 100 USD at 30000 with leverage 20 is 0.0005 BTC.
    assert exchange.fetch_balance()["BTC"]["used"] == 0.0005
