"""An order write reaches the socket inside the callback that decided it.

uvloop defers small writes to the end of the loop turn; `write_at_once` must make the
bytes visible to the peer before the writing callback returns.
"""

from __future__ import annotations

import asyncio
import socket

import uvloop

from ems.venues.net import write_at_once


def _bytes_seen_inside_callback(at_once: bool) -> bytes | None:
    async def run() -> bytes | None:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        try:
            port = listener.getsockname()[1]
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            peer, _ = listener.accept()
            peer.setblocking(False)
            if at_once:
                write_at_once(transport)
            seen: asyncio.Future[bytes | None] = loop.create_future()

            def decide_and_write() -> None:
                transport.write(b"POST /order")  # type: ignore[attr-defined]
                try:
                    seen.set_result(peer.recv(64))
                except BlockingIOError:
                    seen.set_result(None)

            loop.call_soon(decide_and_write)
            result = await seen
            transport.close()
            peer.close()
            return result
        finally:
            listener.close()

    return uvloop.run(run())


def test_write_reaches_the_socket_before_the_callback_returns():
    assert _bytes_seen_inside_callback(at_once=True) == b"POST /order"


def test_without_it_uvloop_holds_the_write_until_the_turn_ends():
    # The reason write_at_once exists; if uvloop ever writes at once by itself, this
    # says so and the helper can go.
    assert _bytes_seen_inside_callback(at_once=False) is None
