"""Which hosts a Binance session's WebSockets use for each wsUrl / wsApiUrl a client
gives: spot's WebSocket API and public streams live on different hosts at Binance."""

from __future__ import annotations

import pytest

from ems.venues.binance.products import PRODUCTS, hosts

SPOT = PRODUCTS["binance-spot"]
USDM = PRODUCTS["binance-usdm-future"]


@pytest.mark.parametrize(
    ("ws_url", "ws_api_url", "testnet", "want"),
    [
        # Defaults: each role on its own host.
        (None, None, False, ("wss://ws-api.binance.com:443", "wss://stream.binance.com:9443")),
        (
            None,
            None,
            True,
            ("wss://ws-api.testnet.binance.vision", "wss://stream.testnet.binance.vision"),
        ),
        # The seed's example names the market-data host: orders keep the WebSocket API.
        (
            "wss://stream.binance.com",
            None,
            False,
            ("wss://ws-api.binance.com:443", "wss://stream.binance.com"),
        ),
        # The WebSocket API host: market data keeps its default.
        (
            "wss://ws-api.binance.com:443",
            None,
            False,
            ("wss://ws-api.binance.com:443", "wss://stream.binance.com:9443"),
        ),
        # Any other host (a simulator, a colocation gateway) serves both.
        ("ws://127.0.0.1:9000", None, False, ("ws://127.0.0.1:9000", "ws://127.0.0.1:9000")),
        # wsApiUrl sets the order host whatever wsUrl says.
        (
            "ws://10.0.0.5:9443",
            "ws://10.0.0.6:443",
            False,
            ("ws://10.0.0.6:443", "ws://10.0.0.5:9443"),
        ),
        (None, "ws://10.0.0.6:443", False, ("ws://10.0.0.6:443", "wss://stream.binance.com:9443")),
    ],
)
def test_spot_hosts(ws_url: str | None, ws_api_url: str | None, testnet: bool, want: tuple):
    assert hosts(SPOT, ws_url, ws_api_url, testnet) == want


def test_futures_use_one_host_for_both_roles():
    assert hosts(USDM, None, None, False) == ("wss://fstream.binance.com",) * 2
    assert (
        hosts(USDM, "wss://fstream-mm.binance.com", None, False)
        == ("wss://fstream-mm.binance.com",) * 2
    )
