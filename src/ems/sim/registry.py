"""The simulators `ems sim` runs, each behind the same small interface.

A simulator family (Binance, OKX, Bybit, Deribit) starts its servers on loopback, says
which exchange values it serves at which URLs, and takes the periodic calls that move
its markets. Adding a venue is one entry in `build_all`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ems.sim.binance.app import build_server
from ems.sim.binance.auth import Credential
from ems.sim.binance.rest import BinanceServer
from ems.sim.binance.specs import Product
from ems.sim.bybit.app import BybitSims
from ems.sim.deribit.admin import DeribitSims
from ems.sim.okx.app import OkxSims
from ems.sim.probe import PROBE

PortFor = Callable[[], int]
"""Returns the next port to bind (0: any free port)."""


class SimVenue(Protocol):
    """One simulator family."""

    async def start(self, host: str, port_for: PortFor) -> dict[str, dict[str, str]]:
        """Binds its servers; returns `{exchange: {"restUrl", "wsUrl"}}`."""
        ...

    def tick(self, elapsed_ms: int) -> None:
        """Publishes interval streams (e.g. 100 ms depth diffs)."""
        ...

    def drift(self) -> None:
        """Moves the synthetic market makers' mids one step."""
        ...

    async def stop(self) -> None:
        """Closes connections and servers."""
        ...


class BinanceSims:
    """Binance spot, USD-M and COIN-M, one aiohttp server each."""

    def __init__(self, credentials: list[Credential], seed: int, market_maker: bool) -> None:
        self.servers: list[BinanceServer] = [
            build_server(product, credentials, seed, market_maker) for product in Product
        ]
        self._runners: list[web.AppRunner] = []
        self._listeners: list[asyncio.Server] = []

    async def start(self, host: str, port_for: PortFor) -> dict[str, dict[str, str]]:
        urls = {}
        loop = asyncio.get_running_loop()
        for product, server in zip(Product, self.servers, strict=True):
            runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
            await runner.setup()
            self._runners.append(runner)
            assert runner.server is not None
            listener = await loop.create_server(_probed(runner.server), host, port_for())
            self._listeners.append(listener)
            port = listener.sockets[0].getsockname()[1]
            urls[product.value] = {
                "restUrl": f"http://{host}:{port}",
                "wsUrl": f"ws://{host}:{port}",
            }
        return urls

    def tick(self, elapsed_ms: int) -> None:
        for server in self.servers:
            server.venue.flush_depth(elapsed_ms)

    def drift(self) -> None:
        for server in self.servers:
            server.venue.drift()

    async def stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        for server in self.servers:
            await server.shutdown()
        for runner in self._runners:
            await runner.cleanup()


class _ProbedHandler(RequestHandler):
    """aiohttp's HTTP protocol with the latency probe's read stamp on raw bytes.

    Stamping when the bytes arrive, before the HTTP server parses them, keeps the
    server's own parsing out of the client's measured tick-to-trade.
    """

    def data_received(self, data: bytes) -> None:
        if data[:6] == b"POST /" and (b"/order?" in data[:48] or b"/order " in data[:48]):
            PROBE.order_read()
        super().data_received(data)


def _probed(server: web.Server) -> Callable[[], asyncio.Protocol]:
    loop = asyncio.get_running_loop()
    # The same construction aiohttp's Server.__call__ performs, with our subclass.
    return lambda: _ProbedHandler(server, loop=loop, **server._kwargs)


def build_all(credentials: list[Credential], seed: int, market_maker: bool) -> list[SimVenue]:
    """Every simulator family, in the order their ports are assigned."""
    return [
        BinanceSims(credentials, seed, market_maker),
        OkxSims(credentials, seed, market_maker),
        BybitSims(credentials, seed, market_maker),
        DeribitSims([(c.api_key, c.secret_key) for c in credentials], seed, market_maker),
    ]
