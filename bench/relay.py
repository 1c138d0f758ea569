"""The latency floor: the least a Python process can do between a trade and an order.

It reads the venue's trade stream with picows and answers every trade frame by writing
one fixed, pre-built order request on an open HTTP connection: no parsing, no decision,
no signing. ems's tick-to-trade is compared against this over the same transports.

    python bench/relay.py MD_WS_URL REST_URL API_KEY [--spin | --raw] [--idle-poll]

`--raw` drops the event loop too: two plain non-blocking sockets read in a busy loop, the
order written by `socket.send` the moment a trade frame is read. It is not a client
anyone would run (one frame per read assumed, no reconnect); it measures what this
machine's loopback and the simulator leave for any Python client that busy-polls.

`--idle-poll` holds the kernel's CPU latency limit at 0 while the relay runs (as
`ems serve --cpu-latency-us 0` does): idle CPUs poll instead of halting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import struct
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
    order = _order(rest_url, api_key)
    ws, _ = await ws_connect(lambda: _Relay(out, order), md_url)
    print("ready", flush=True)
    await ws.wait_disconnected()


TRADE = b'"e":"trade"'
PING, PONG = 0x9, 0xA


def _raw(md_url: str, rest_url: str, api_key: str) -> None:
    """The `--raw` floor: busy-polls the trade stream and the order connection."""
    md, rest = urlsplit(md_url), urlsplit(rest_url)
    ws = socket.create_connection((md.hostname, md.port))
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET {md.path} HTTP/1.1\r\nHost: {md.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    ws.sendall(handshake.encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = ws.recv(4096)
        if not chunk:
            raise ConnectionError("the stream closed during the handshake")
        reply += chunk
    if not reply.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(reply.split(b"\r\n", 1)[0].decode())
    out = socket.create_connection((rest.hostname, rest.port))
    for sock in (ws, out):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
    order = _order(rest_url, api_key)
    print("ready", flush=True)
    while True:
        try:
            data = ws.recv(65536)
        except BlockingIOError:
            # The venue's replies, dropped. Not contextlib.suppress: this is the loop
            # that sees the next trade, and a context manager per turn slows it.
            try:  # noqa: SIM105
                out.recv(65536)
            except BlockingIOError:
                pass
            continue
        if not data:
            return
        if TRADE in data:
            out.send(order)
        elif data[0] & 0x0F == PING and len(data) >= 2 and data[1] < 126:
            # A client's frames are masked; a zero mask leaves the payload as it is.
            ws.send(bytes([0x80 | PONG, 0x80 | data[1]]) + b"\0\0\0\0" + data[2 : 2 + data[1]])


def _order(rest_url: str, api_key: str) -> bytes:
    """A syntactically complete order; its signature is not checked before the venue
    reads it, which is the moment the benchmark measures."""
    netloc = urlsplit(rest_url).netloc
    return (
        "POST /api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC"
        "&quantity=0.001&price=1000&newClientOrderId=relay&timestamp=0&signature=0 HTTP/1.1\r\n"
        f"Host: {netloc}\r\nX-MBX-APIKEY: {api_key}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("md_url")
    p.add_argument("rest_url")
    p.add_argument("api_key")
    p.add_argument("--spin", action="store_true")
    p.add_argument("--raw", action="store_true")
    p.add_argument("--idle-poll", action="store_true")
    a = p.parse_args()
    if a.idle_poll:
        # Held until the process exits, when the kernel drops the request.
        latency = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(latency, struct.pack("i", 0))
    if a.raw:
        _raw(a.md_url, a.rest_url, a.api_key)
    else:
        uvloop.run(main(a.md_url, a.rest_url, a.api_key, a.spin))
    sys.exit(0)
