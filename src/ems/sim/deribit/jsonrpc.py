"""The simulator's Deribit JSON-RPC WebSocket (`/ws/api/v2`), public trade channel only.

Supported methods: `public/subscribe` and `public/unsubscribe` with channels
`trades.{instrument}.raw` (and `.100ms`, served as raw), `public/test`, `public/get_time`.
Notifications have Deribit's shape::

    {"jsonrpc": "2.0", "method": "subscription",
     "params": {"channel": "trades.BTC-PERPETUAL.raw",
                "data": [{"trade_id", "trade_seq", "timestamp", "price", "amount",
                          "contracts", "direction", "instrument_name", "tick_direction",
                          "index_price", "mark_price"}]}}

`amount` is in USD for the inverse perpetuals and `contracts = amount / contract size`.
Frames are written straight to the socket from the matching call (no queue), so the
path costs the same as the FIX one it is measured against.
"""

from __future__ import annotations

import itertools
import logging
import struct
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ems.sim.deribit.venue import DeribitVenue

log = logging.getLogger("ems.sim.deribit.jsonrpc")


def ws_text_frame(payload: bytes) -> bytes:
    """One unmasked server-to-client text frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", n) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", n) + payload


class RpcConnection:
    """One JSON-RPC WebSocket client and its trade subscriptions."""

    def __init__(self, request: web.Request) -> None:
        self.transport = request.transport
        self.channels: set[str] = set()

    def send(self, obj: Any) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ws_text_frame(orjson.dumps(obj)))


class JsonRpcServer:
    """Subscriptions of every JSON-RPC connection; publishes the venue's trades."""

    def __init__(self, venue: DeribitVenue) -> None:
        self.venue = venue
        self.connections: set[RpcConnection] = set()
        self._seq: dict[str, itertools.count[int]] = {}
        venue.trade_sinks.append(self._on_trade)

    def _on_trade(self, symbol: str, trade: dict[str, Any]) -> None:
        channel = f"trades.{symbol}.raw"
        subscribed = [c for c in self.connections if channel in c.channels]
        if not subscribed:
            return
        seq = self._seq.setdefault(symbol, itertools.count(1))
        mark = float(trade["price"])
        data = {
            "trade_seq": next(seq),
            "trade_id": trade["trade_id"],
            "timestamp": trade["timestamp"],
            "tick_direction": 0,
            "price": float(trade["price"]),
            "mark_price": mark,
            "index_price": mark,
            "instrument_name": symbol,
            "direction": trade["direction"],
            "amount": float(trade["amount"]),
            "contracts": float(trade["contracts"]),
        }
        frame = ws_text_frame(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "subscription",
                    "params": {"channel": channel, "data": [data]},
                }
            )
        )
        for conn in subscribed:
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.write(frame)

    def drop_all(self) -> int:
        count = 0
        for conn in tuple(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
                count += 1
        return count

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        conn = RpcConnection(request)
        self.connections.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self._on_request(conn, msg.data)
        finally:
            self.connections.discard(conn)
        return ws

    def _on_request(self, conn: RpcConnection, data: str) -> None:
        us_in = int(time.time() * 1_000_000)
        try:
            req = orjson.loads(data)
        except orjson.JSONDecodeError:
            conn.send({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}})
            return
        if not isinstance(req, dict):
            conn.send({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}})
            return
        req_id = req.get("id")
        method = req.get("method")
        params = req.get("params") or {}
        result: Any
        if method in ("public/subscribe", "public/unsubscribe"):
            channels = params.get("channels") if isinstance(params, dict) else None
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                self._error(conn, req_id, 10001, "channels must be a list of strings", us_in)
                return
            result = []
            for channel in channels:
                parts = channel.split(".")
                if len(parts) != 3 or parts[0] != "trades" or parts[1] not in self.venue.specs:
                    continue
                raw = f"trades.{parts[1]}.raw"
                if method == "public/subscribe":
                    conn.channels.add(raw)
                else:
                    conn.channels.discard(raw)
                result.append(channel)
        elif method == "public/test":
            result = {"version": "ems-sim"}
        elif method == "public/get_time":
            result = int(time.time() * 1000)
        else:
            self._error(conn, req_id, -32601, "Method not found", us_in)
            return
        us_out = int(time.time() * 1_000_000)
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": req_id,
                "result": result,
                "usIn": us_in,
                "usOut": us_out,
                "usDiff": us_out - us_in,
                "testnet": True,
            }
        )

    @staticmethod
    def _error(conn: RpcConnection, req_id: Any, code: int, message: str, us_in: int) -> None:
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": req_id,
                "error": {"code": code, "message": message},
                "usIn": us_in,
                "testnet": True,
            }
        )
