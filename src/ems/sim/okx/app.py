"""Assembles the OKX simulator: venue state, REST routes, WebSocket paths, timers."""

from __future__ import annotations

from aiohttp import web

from ems.sim.binance.auth import Credential
from ems.sim.okx.auth import okx_credentials
from ems.sim.okx.rest import OkxServer
from ems.sim.okx.venue import OkxVenue
from ems.sim.okx.ws import attach_websockets

BOOKS_INTERVAL_MS = 100
"""The ``books`` channel's update interval."""


def build_server(credentials: list[Credential], seed: int, market_maker: bool) -> OkxServer:
    """A ready-to-serve OKX simulator."""
    server = OkxServer(OkxVenue(okx_credentials(credentials), seed, market_maker))
    attach_websockets(server)
    return server


class OkxSims:
    """The ``okx`` exchange value: one aiohttp server for REST and every WebSocket path."""

    def __init__(self, credentials: list[Credential], seed: int, market_maker: bool) -> None:
        """Builds the venue; :meth:`start` binds it."""
        self.server = build_server(credentials, seed, market_maker)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port_for: object) -> dict[str, dict[str, str]]:
        """Binds the server; returns ``{"okx": {"restUrl", "wsUrl"}}``."""
        assert callable(port_for)
        runner = web.AppRunner(self.server.app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, host, port_for()).start()
        port = runner.addresses[0][1]
        return {"okx": {"restUrl": f"http://{host}:{port}", "wsUrl": f"ws://{host}:{port}"}}

    def tick(self, elapsed_ms: int) -> None:
        """Publishes the 100 ms book channels."""
        if elapsed_ms % BOOKS_INTERVAL_MS == 0:
            self.server.venue.flush_books()

    def drift(self) -> None:
        """Moves the market maker's mids one step."""
        self.server.venue.drift()

    async def stop(self) -> None:
        """Closes connections and the server."""
        await self.server.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
