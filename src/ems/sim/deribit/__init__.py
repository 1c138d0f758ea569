"""A simulated Deribit: a FIX 4.4 acceptor, a JSON-RPC trade channel and an admin API.

Its FIX encoder and decoder, its Logon check and its arithmetic are its own (nothing
here imports `ems.venues` or the compiled core), so that an adapter bug is never
mirrored by the simulator. See `ems.sim.deribit.admin` for the admin API.
"""
