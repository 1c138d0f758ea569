"""Which venue module serves which exchange value."""

from __future__ import annotations

from dataclasses import dataclass

from ems.errors import ApiError
from ems.venues.base import VenueSession
from ems.venues.binance.products import PRODUCTS as BINANCE_PRODUCTS
from ems.venues.binance.session import BinanceSession, ReplaceListener


@dataclass(slots=True)
class VenueParams:
    exchange: str
    api_key: str
    secret: str
    passphrase: str
    rest_url: str | None
    ws_url: str | None
    local_address: str | None
    testnet: bool
    use_margin: bool


SUPPORTED = tuple(BINANCE_PRODUCTS)


def create_venue(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    """A not-yet-started venue session for `params.exchange`."""
    product = BINANCE_PRODUCTS.get(params.exchange)
    if product is None:
        raise ApiError(
            f"exchange {params.exchange!r} is not supported by this build "
            f"(supported: {', '.join(SUPPORTED)})",
            "exchangeKey.exchange",
        )
    rest = params.rest_url or (product.testnet_rest_url if params.testnet else product.rest_url)
    ws = params.ws_url or (product.testnet_ws_url if params.testnet else product.ws_url)
    # An explicit wsUrl (colocation, simulator) serves market streams too.
    md = params.ws_url or (product.testnet_md_url if params.testnet else product.md_url)
    return BinanceSession(
        product, params.api_key, params.secret, rest, ws, listener, params.local_address, md
    )
