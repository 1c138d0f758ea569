"""OKX v5 hosts and order rules (protocols.md B.1, B.4).

Production and demo trading share the REST host; demo requests carry the
`x-simulated-trading: 1` header and use the `wspap` WebSocket host. Outside Alibaba
Cloud Hong Kong (where OKX's matching engine runs) the venue's AWS entry points
`https://aws.okx.com` and `wss://wsaws.okx.com:8443` are reached by giving them as the
session's `restUrl` and `wsUrl`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ems.model import OrderType, TimeInForce
from ems.venues.base import Capabilities

REST_URL = "https://www.okx.com"
WS_URL = "wss://ws.okx.com:8443"
DEMO_REST_URL = "https://www.okx.com"
DEMO_WS_URL = "wss://wspap.okx.com:8443"
AWS_REST_URL = "https://aws.okx.com"
AWS_WS_URL = "wss://wsaws.okx.com:8443"

PRIVATE_PATH = "/ws/v5/private"
PUBLIC_PATH = "/ws/v5/public"
API = "/api/v5"

INST_TYPES = ("SPOT", "SWAP", "FUTURES")
"""Instrument types a session loads; options are left out (sized and cancelled apart)."""

CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.LIMIT, OrderType.MARKET, OrderType.POSTONLY}),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC}),
    postonly_tifs=frozenset({TimeInForce.GTC}),
    positions_from_venue=True,
)


@dataclass(frozen=True, slots=True)
class Hosts:
    """Where one session connects."""

    rest_url: str
    ws_url: str
    demo: bool


def hosts(rest_url: str | None, ws_url: str | None, testnet: bool) -> Hosts:
    """The session's hosts: explicit URLs win, else production or demo trading."""
    rest = rest_url or (DEMO_REST_URL if testnet else REST_URL)
    ws = ws_url or (DEMO_WS_URL if testnet else WS_URL)
    return Hosts(rest.rstrip("/"), ws.rstrip("/"), testnet)
