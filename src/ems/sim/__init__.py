"""Venue simulators speaking the venues' real wire protocols (``ems sim``).

* :mod:`ems.sim.matching` - a venue-neutral price-time-priority book (Decimal only).
* :mod:`ems.sim.marketmaker` - a seeded synthetic market maker quoting a few levels.
* :mod:`ems.sim.faults` - venue-neutral HTTP fault injection.
* :mod:`ems.sim.binance` - Binance spot (``/api/v3``), USD-M (``/fapi``) and COIN-M
  (``/dapi``): REST, WebSocket streams, WebSocket API and the ``/sim/*`` admin API
  (documented in :mod:`ems.sim.binance.rest`).
* :mod:`ems.sim.cli` - the ``ems sim`` command and its first stdout line.

Nothing here imports the venue adapters (:mod:`ems.venues`) or the compiled core: the
simulator has its own signing check, decimal arithmetic and JSON encoding, so that a bug
in an adapter is never mirrored by the simulator.
"""
