"""The latency probe stamps a trade frame when its framed bytes go to the socket, and
stops the clock on the next order read."""

from __future__ import annotations

import asyncio

from ems.sim.probe import PROBE, StampingTransport

TRADE = b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":false}'


class _Socket:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False


def test_the_start_is_stamped_at_the_write_of_the_claimed_frame_not_before():
    async def measure() -> tuple[int, _Socket, StampingTransport]:
        sock = _Socket()
        transport = StampingTransport(sock)
        waiter = PROBE.arm()
        assert not PROBE.claims(b'{"e":"depthUpdate"}')  # only a trade frame starts it
        assert PROBE.claims(TRADE)
        assert not PROBE.claims(TRADE)  # one measurement, one frame
        transport.stamp_next = True
        await asyncio.sleep(0.02)  # framing takes time; the clock has not started yet
        transport.write(b"\x81\x10" + TRADE)
        transport.write(b"\x81\x02{}")  # later frames stamp nothing
        PROBE.order_read()
        latency = await asyncio.wait_for(waiter, 1)
        return latency, sock, transport

    latency, sock, transport = asyncio.run(measure())
    assert 0 < latency < 20_000_000  # started at the write, after the 20 ms of framing
    assert len(sock.writes) == 2 and sock.writes[0].endswith(TRADE)
    assert transport.is_closing() is False  # the rest of the transport passes through
