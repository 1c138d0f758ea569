"""Binance products: their hosts, paths and order rules (protocols.md A)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

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


# Binance's own WebSocket hosts, by role (protocols.md A): spot serves its WebSocket API
# and its public streams from different hosts; the futures products use one host for both.
MARKET_DATA_HOSTS = frozenset(
    {"stream.binance.com", "data-stream.binance.vision", "stream.testnet.binance.vision"}
)
WS_API_HOSTS = frozenset({"ws-api.binance.com", "ws-api.testnet.binance.vision"})


def hosts(
    product: Product, ws_url: str | None, ws_api_url: str | None, testnet: bool
) -> tuple[str, str]:
    """(order and user-stream WebSocket base, public market-data base) for a session.

    `wsUrl` overrides one of Binance's two spot hosts when it names one of them (the
    other keeps its default), and both when it names any other host (a simulator, a
    colocation gateway: one endpoint serving both); `wsApiUrl` sets the WebSocket API
    host explicitly.
    """
    default_ws = product.testnet_ws_url if testnet else product.ws_url
    default_md = product.testnet_md_url if testnet else product.md_url
    if ws_url is None:
        return ws_api_url or default_ws, default_md
    host = urlsplit(ws_url).hostname or ""
    if host in MARKET_DATA_HOSTS:
        return ws_api_url or default_ws, ws_url
    if host in WS_API_HOSTS:
        return ws_api_url or ws_url, default_md
    return ws_api_url or ws_url, ws_url
