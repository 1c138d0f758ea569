"""Deribit endpoints and order rules (protocols.md D)."""

from __future__ import annotations

from dataclasses import dataclass

from ems.errors import ApiError
from ems.model import OrderType, TimeInForce
from ems.venues.base import Capabilities

FIX_URL = "ssl://fix.deribit.com:9883"
"""TLS by default; inside LD4 `tcp://fix.deribit.com:9881` (plain TCP) is the fast path."""
FIX_TESTNET_URL = "ssl://fix-test.deribit.com:9883"
REST_URL = "https://www.deribit.com"
REST_TESTNET_URL = "https://test.deribit.com"
TARGET_COMP_ID = "DERIBITSERVER"

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.LIMIT, OrderType.MARKET, OrderType.POSTONLY}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY}),
    market_tifs=frozenset({TimeInForce.IOC, TimeInForce.FOK}),
    postonly_tifs=frozenset({TimeInForce.GTC, TimeInForce.DAY}),
    positions_from_venue=True,
)

TIF_CODES = {
    TimeInForce.DAY: "0",
    TimeInForce.GTC: "1",
    TimeInForce.IOC: "3",
    TimeInForce.FOK: "4",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the FIX session connects."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'ssl' if self.tls else 'tcp'}://{self.host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """`host:port`, `tcp://host:port` (plain TCP) or `ssl://host:port` (TLS)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "tcp", url
    if scheme not in ("tcp", "ssl"):
        raise ApiError(
            "wsUrl for deribit must be host:port, tcp://host:port or ssl://host:port", "wsUrl"
        )
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ApiError(f"wsUrl {url!r} must name a host and a port (host:port)", "wsUrl")
    return Endpoint(host.strip("[]"), int(port_text), scheme == "ssl")
