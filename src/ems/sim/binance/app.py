"""Assembles one product's simulator: venue state, REST routes and WebSocket routes."""

from __future__ import annotations

from ems.sim.binance.auth import Credential
from ems.sim.binance.futures import FuturesVenue, futures_endpoints
from ems.sim.binance.rest import BinanceServer, spot_endpoints
from ems.sim.binance.specs import Product
from ems.sim.binance.spot import SpotVenue
from ems.sim.binance.ws import attach_websockets


def build_server(
    product: Product, credentials: list[Credential], seed: int, market_maker: bool
) -> BinanceServer:
    """A ready-to-serve simulator of one Binance product."""
    if product is Product.SPOT:
        server = BinanceServer(SpotVenue(credentials, seed, market_maker))
        spot_endpoints(server)
    else:
        server = BinanceServer(FuturesVenue(product, credentials, seed, market_maker))
        futures_endpoints(server)
    attach_websockets(server)
    return server
