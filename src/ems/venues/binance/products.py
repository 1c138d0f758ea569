"""Binance products: their hosts, paths and order rules (protocols.md A)."""

from __future__ import annotations

from dataclasses import dataclass

from ems.model import Exchange, OrderType, TimeInForce
from ems.venues.base import Capabilities


@dataclass(frozen=True, slots=True)
class Product:
    exchange: Exchange
    rest_url: str
    ws_url: str
    testnet_rest_url: str
    testnet_ws_url: str
    md_url: str
    """Public market streams (spot's differ from its WebSocket API host)."""
    testnet_md_url: str
    api: str
    """REST path prefix, e.g. `/api/v3`."""
    spot: bool
    account_path: str
    positions_path: str
    capabilities: Capabilities


_LIMIT_TIFS = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})
_ORDER_TYPES = frozenset({OrderType.LIMIT, OrderType.MARKET, OrderType.POSTONLY})

SPOT = Product(
    exchange=Exchange.BINANCE_SPOT,
    rest_url="https://api.binance.com",
    ws_url="wss://ws-api.binance.com:443",
    testnet_rest_url="https://testnet.binance.vision",
    testnet_ws_url="wss://ws-api.testnet.binance.vision",
    md_url="wss://stream.binance.com:9443",
    testnet_md_url="wss://stream.testnet.binance.vision",
    api="/api/v3",
    spot=True,
    account_path="/api/v3/account",
    positions_path="",
    capabilities=Capabilities(order_types=_ORDER_TYPES, tifs=_LIMIT_TIFS),
)

USDM = Product(
    exchange=Exchange.BINANCE_USDM,
    rest_url="https://fapi.binance.com",
    ws_url="wss://fstream.binance.com",
    testnet_rest_url="https://demo-fapi.binance.com",
    testnet_ws_url="wss://fstream.binancefuture.com",
    md_url="wss://fstream.binance.com",
    testnet_md_url="wss://fstream.binancefuture.com",
    api="/fapi/v1",
    spot=False,
    account_path="/fapi/v2/balance",
    positions_path="/fapi/v2/positionRisk",
    capabilities=Capabilities(
        order_types=_ORDER_TYPES, tifs=_LIMIT_TIFS, positions_from_venue=True
    ),
)

COINM = Product(
    exchange=Exchange.BINANCE_COINM,
    rest_url="https://dapi.binance.com",
    ws_url="wss://dstream.binance.com",
    testnet_rest_url="https://testnet.binancefuture.com",
    testnet_ws_url="wss://dstream.binancefuture.com",
    md_url="wss://dstream.binance.com",
    testnet_md_url="wss://dstream.binancefuture.com",
    api="/dapi/v1",
    spot=False,
    account_path="/dapi/v1/balance",
    positions_path="/dapi/v1/positionRisk",
    capabilities=Capabilities(
        order_types=_ORDER_TYPES, tifs=_LIMIT_TIFS, positions_from_venue=True
    ),
)

PRODUCTS = {p.exchange.value: p for p in (SPOT, USDM, COINM)}
