"""Simulator of Bybit v5 (spot, linear, inverse, option) on one aiohttp server.

REST under ``/v5/...`` signed with the ``X-BAPI-*`` headers, public WebSockets
``/v5/public/{spot,linear,inverse,option}``, the private stream ``/v5/private`` and the
order-entry WebSocket ``/v5/trade``, plus the ``/sim/*`` admin API (documented in
:mod:`ems.sim.bybit.server`).  It shares no code with the adapter in
:mod:`ems.venues.bybit`.
"""
