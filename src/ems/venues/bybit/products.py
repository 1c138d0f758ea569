"""Bybit v5 categories: hosts, batch sizes and order rules (protocols.md C).

One REST host and one WebSocket host serve every category; the category travels in
each request (`category`) and chooses the public stream path.
"""

from __future__ import annotations

from dataclasses import dataclass

from ems.model import Exchange, OrderType, TimeInForce
from ems.venues.base import Capabilities

REST_URL = "https://api.bybit.com"
WS_URL = "wss://stream.bybit.com"
TESTNET_REST_URL = "https://api-testnet.bybit.com"
TESTNET_WS_URL = "wss://stream-testnet.bybit.com"


@dataclass(frozen=True, slots=True)
class Product:
    exchange: Exchange
    category: str
    """The v5 `category` parameter: spot, linear, inverse or option."""
    batch_max: int
    """Orders per create/amend/cancel batch (10 on spot, 20 elsewhere)."""
    cancel_all_max: int | None
    """Orders one cancel-all call cancels at most (futures 500; spot and option: all)."""
    positions: bool
    """The venue keeps a position per symbol (derivatives)."""
    capabilities: Capabilities


_ORDER_TYPES = frozenset({OrderType.LIMIT, OrderType.MARKET, OrderType.POSTONLY})
_LIMIT_TIFS = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})
# Bybit runs every market order as IOC; a market "gtc" would not mean what it says.
_MARKET_TIFS = frozenset({TimeInForce.IOC})


def _caps(positions: bool) -> Capabilities:
    return Capabilities(
        order_types=_ORDER_TYPES,
        tifs=_LIMIT_TIFS,
        market_tifs=_MARKET_TIFS,
        positions_from_venue=positions,
    )


SPOT = Product(Exchange.BYBIT_SPOT, "spot", 10, None, False, _caps(False))
LINEAR = Product(Exchange.BYBIT_LINEAR, "linear", 20, 500, True, _caps(True))
INVERSE = Product(Exchange.BYBIT_INVERSE, "inverse", 20, 500, True, _caps(True))
OPTION = Product(Exchange.BYBIT_OPTION, "option", 20, None, True, _caps(True))

PRODUCTS = {p.exchange.value: p for p in (SPOT, LINEAR, INVERSE, OPTION)}


def hosts(rest_url: str | None, ws_url: str | None, testnet: bool) -> tuple[str, str]:
    """The REST and WebSocket base URLs: the session's own, else mainnet or testnet.

    `wsUrl` is a base (scheme, host, port); `/v5/public/<category>`, `/v5/private` and
    `/v5/trade` are appended to it.
    """
    rest = rest_url or (TESTNET_REST_URL if testnet else REST_URL)
    ws = ws_url or (TESTNET_WS_URL if testnet else WS_URL)
    return rest, ws
