"""The latency floor: the least a Python process can do between a trade and an order.

It reads the venue's trade stream with picows and answers every trade frame by writing
one fixed, pre-built order request on an open HTTP connection: no parsing, no decision,
no signing. ems's tick-to-trade is compared against this over the same transports.

    python bench/relay.py MD_WS_URL REST_URL API_KEY [--spin]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from urllib.parse import urlsplit

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class _Sink(asyncio.Protocol):
    """Reads and drops the venue's replies."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Written at once, not at the end of the loop turn (as ems writes its orders).
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        pass


class _Relay(WSListener):
    def __init__(self, out: asyncio.Transport, order: bytes) -> None:
        self.out = out
        self.order = order

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.out.write(self.order)


async def main(md_url: str, rest_url: str, api_key: str, spin: bool) -> None:
    loop = asyncio.get_running_loop()
    if spin:

        def again() -> None:
            loop.call_soon(again)

        loop.call_soon(again)
    parts = urlsplit(rest_url)
    out, _ = await loop.create_connection(_Sink, parts.hostname, parts.port)
    # A syntactically complete order; its signature is not checked before the venue
    # reads it, which is the moment the benchmark measures.
    order = (
        "POST /api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC"
        "&quantity=0.001&price=1000&newClientOrderId=relay&timestamp=0&signature=0 HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\nX-MBX-APIKEY: {api_key}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    ws, _ = await ws_connect(lambda: _Relay(out, order), md_url)
    print("ready", flush=True)
    await ws.wait_disconnected()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("md_url")
    p.add_argument("rest_url")
    p.add_argument("api_key")
    p.add_argument("--spin", action="store_true")
    a = p.parse_args()
    uvloop.run(main(a.md_url, a.rest_url, a.api_key, a.spin))
    sys.exit(0)
