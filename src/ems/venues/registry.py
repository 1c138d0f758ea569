"""Which venue module serves which exchange value.

Each venue family contributes one factory per exchange value it serves; adding a venue
is one entry in `FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ems.errors import ApiError
from ems.venues.base import VenueSession
from ems.venues.binance.products import PRODUCTS as BINANCE_PRODUCTS
from ems.venues.binance.products import hosts as binance_hosts
from ems.venues.binance.session import BinanceSession, ReplaceListener
from ems.venues.bybit.products import PRODUCTS as BYBIT_PRODUCTS
from ems.venues.bybit.products import hosts as bybit_hosts
from ems.venues.bybit.session import BybitSession
from ems.venues.deribit.products import FIX_TESTNET_URL, FIX_URL, parse_endpoint
from ems.venues.deribit.session import DeribitSession
from ems.venues.okx.products import hosts as okx_hosts
from ems.venues.okx.session import OkxSession


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
    extra: dict[str, Any] = field(default_factory=dict)
    """Venue-specific startOrderHandler options (persisted with the session)."""
    cancel_on_disconnect: bool | None = None
    """Deribit: CancelOnDisconnect on the FIX Logon (None: the account's default)."""
    session_id: str = ""


Factory = Callable[[VenueParams, ReplaceListener], VenueSession]


def _binance(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    product = BINANCE_PRODUCTS[params.exchange]
    rest = params.rest_url or (product.testnet_rest_url if params.testnet else product.rest_url)
    ws, md = binance_hosts(product, params.ws_url, params.extra.get("wsApiUrl"), params.testnet)
    return BinanceSession(
        product,
        params.api_key,
        params.secret,
        rest,
        ws,
        listener,
        params.local_address,
        md,
        # The setting a client would change if the order-side WebSocket is unreachable.
        "wsUrl" if params.ws_url and ws == params.ws_url else "wsApiUrl",
    )


def _okx(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    if not params.passphrase:
        raise ApiError("OKX keys need their passphrase", "exchangeKey.passphrase")
    return OkxSession(
        params.api_key,
        params.secret,
        params.passphrase,
        okx_hosts(params.rest_url, params.ws_url, params.testnet),
        listener,
        params.local_address,
        params.use_margin,
    )


def _bybit(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    rest, ws = bybit_hosts(params.rest_url, params.ws_url, params.testnet)
    product = BYBIT_PRODUCTS[params.exchange]
    return BybitSession(
        product, params.api_key, params.secret, rest, ws, listener, params.local_address
    )


def _deribit(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    url = params.ws_url or (FIX_TESTNET_URL if params.testnet else FIX_URL)
    return DeribitSession(
        session_id=params.session_id or params.api_key,
        api_key=params.api_key,
        secret=params.secret,
        endpoint=parse_endpoint(url),
        listener=listener,
        local_address=params.local_address,
        cancel_on_disconnect=params.cancel_on_disconnect,
    )


FACTORIES: dict[str, Factory] = {
    **dict.fromkeys(BINANCE_PRODUCTS, _binance),
    "okx": _okx,
    **dict.fromkeys(BYBIT_PRODUCTS, _bybit),
    "deribit": _deribit,
}


def create_venue(params: VenueParams, listener: ReplaceListener) -> VenueSession:
    """A not-yet-started venue session for `params.exchange`."""
    factory = FACTORIES.get(params.exchange)
    if factory is None:
        raise ApiError(
            f"exchange {params.exchange!r} is not supported by this build "
            f"(supported: {', '.join(FACTORIES)})",
            "exchangeKey.exchange",
        )
    return factory(params, listener)
