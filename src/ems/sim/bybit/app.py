"""The Bybit simulator family as ``ems sim`` runs it: one server for every category."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from ems.sim.binance.auth import Credential
from ems.sim.bybit.server import BybitServer
from ems.sim.bybit.specs import Category
from ems.sim.bybit.venue import BybitVenue
from ems.sim.bybit.ws import attach_websockets


def build_server(credentials: list[Credential], seed: int, market_maker: bool) -> BybitServer:
    """A ready-to-serve Bybit simulator (REST, WebSockets, admin)."""
    venue = BybitVenue([c.api_key for c in credentials], seed, market_maker)
    server = BybitServer(venue, {c.api_key: c.secret_key for c in credentials})
    attach_websockets(server)
    return server


class BybitSims:
    """``bybit-spot``, ``bybit-linear``, ``bybit-inverse`` and ``bybit-option`` on one
    port (Bybit serves every category from one REST host and one WebSocket host)."""

    def __init__(self, credentials: list[Credential], seed: int, market_maker: bool) -> None:
        """Builds the venue; nothing is bound until :meth:`start`."""
        self.server = build_server(credentials, seed, market_maker)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port_for: Callable[[], int]) -> dict[str, dict[str, str]]:
        """Binds the server; returns the four exchange values' URLs (all the same)."""
        self._runner = web.AppRunner(self.server.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port_for())
        await site.start()
        port = self._runner.addresses[0][1]
        urls = {"restUrl": f"http://{host}:{port}", "wsUrl": f"ws://{host}:{port}"}
        return {category.exchange: dict(urls) for category in Category}

    def tick(self, elapsed_ms: int) -> None:
        """Publishes the orderbook topics due now."""
        self.server.venue.flush_depth(elapsed_ms)

    def drift(self) -> None:
        """Moves the market makers' mids one seeded step."""
        self.server.venue.drift()

    async def stop(self) -> None:
        """Closes connections and the server."""
        await self.server.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.sleep(0)
