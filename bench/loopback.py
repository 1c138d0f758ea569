"""What this machine's loopback allows, with no simulator and no event loop.

Two processes on two CPUs, plain Python sockets, no framework on either side:

  ping_pong        one TCP connection; A writes 300 bytes, B writes them back, A reads.
                   The shape of the figures quoted for this class of machine.
  trade_to_order   two connections, the shape of tick-to-trade: the "venue" writes a
                   100-byte trade frame on one, the "client" reads it and writes a
                   300-byte order on the other, the venue reads it.

Each runs twice: both sides busy-polling (non-blocking reads in a loop) and both sides
sleeping in the kernel between messages (blocking reads). The venue side pauses 2 ms
before each message, as the tick-to-trade benchmark does; `ping_pong_spin_back_to_back`
is the busy-polling ping-pong without that pause, the way such figures are usually
quoted. `trade_to_order_sleep_idle_poll` is the sleeping trade-to-order while this
process holds the kernel's CPU latency limit at 0 (idle CPUs poll instead of halting, as
under `ems serve --cpu-latency-us 0`); it needs root and is left out without. µs,
measured by the side that writes first, on one clock.

    python bench/loopback.py            # 20,000 samples each, writes RESULTS.md / results.json
    python bench/loopback.py --smoke    # 500 samples, nothing written
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import sys
import time
from typing import Any

import report

PAUSE_NS = 2_000_000
TRADE = b"t" * 100
ORDER = b"o" * 300


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2)
    return sock


def _tuned(sock: socket.socket, spin: bool) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(not spin)
    return sock


def _read(sock: socket.socket) -> bytes:
    """One read; busy-polls if the socket is non-blocking."""
    while True:
        try:
            return sock.recv(65536)
        except BlockingIOError:
            continue


def _pause(spin: bool, pause_ns: int) -> None:
    if not pause_ns:
        return
    if spin:
        end = time.perf_counter_ns() + pause_ns
        while time.perf_counter_ns() < end:
            pass
    else:
        time.sleep(pause_ns / 1e9)


def _client(ports: tuple[int, int], two: bool, spin: bool, cpu: int | None) -> None:
    """The side that answers: echoes (one connection) or sends an order (two)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    inbound = _tuned(socket.create_connection(("127.0.0.1", ports[0])), spin)
    outbound = _tuned(socket.create_connection(("127.0.0.1", ports[1])), spin) if two else inbound
    while True:
        data = _read(inbound)
        if not data:
            os._exit(0)
        outbound.send(ORDER if two else data)


def _venue(
    samples: int, warmup: int, two: bool, spin: bool, cpus: list[int], pause_ns: int
) -> list[int]:
    first, second = _listener(), _listener()
    ports = (first.getsockname()[1], second.getsockname()[1])
    pid = os.fork()
    if pid == 0:
        try:
            _client(ports, two, spin, cpus[1] if len(cpus) > 1 else None)
        finally:
            os._exit(1)
    if cpus:
        os.sched_setaffinity(0, {cpus[0]})
    out = _tuned(first.accept()[0], spin)
    back = _tuned(second.accept()[0], spin) if two else out
    message = TRADE if two else ORDER
    latencies = []
    try:
        for i in range(warmup + samples):
            _pause(spin, pause_ns)
            start = time.perf_counter_ns()
            out.send(message)
            got = 0
            while got < len(ORDER):
                got += len(_read(back))
            if i >= warmup:
                latencies.append(time.perf_counter_ns() - start)
    finally:
        out.close()
        back.close()
        first.close()
        second.close()
        os.waitpid(pid, 0)
    return latencies


def _summary(values: list[int]) -> dict[str, Any]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return {"p50_us": at(0.5), "p99_us": at(0.99), "p99_9_us": at(0.999), "samples": len(values)}


def run(samples: int, warmup: int) -> dict[str, dict[str, Any]]:
    cpus = sorted(os.sched_getaffinity(0))[:2]
    runs = [
        (f"loopback_{shape}_{mode}", two, spin, PAUSE_NS)
        for two, shape in ((False, "ping_pong"), (True, "trade_to_order"))
        for spin, mode in ((True, "spin"), (False, "sleep"))
    ]
    runs.append(("loopback_ping_pong_spin_back_to_back", False, True, 0))
    runs.append(("loopback_trade_to_order_sleep_idle_poll", True, False, PAUSE_NS))
    results = {}
    for name, two, spin, pause_ns in runs:
        with contextlib.ExitStack() as held:
            if name.endswith("_idle_poll"):
                try:
                    fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
                except OSError as exc:
                    print(f"{name}: left out ({exc.strerror})", flush=True)
                    continue
                held.callback(os.close, fd)  # the limit holds until this closes
                os.write(fd, struct.pack("i", 0))
            results[name] = _summary(_venue(samples, warmup, two, spin, cpus, pause_ns))
        r = results[name]
        print(
            f"{name:38s} p50 {r['p50_us']:.1f}  p99 {r['p99_us']:.1f}  "
            f"p99.9 {r['p99_9_us']:.1f} µs",
            flush=True,
        )
    return results


def write(results: dict[str, dict[str, Any]]) -> None:
    report.merge_json(results)
    lines = [
        "## Loopback floor",
        "",
        "Plain Python sockets in two processes on two CPUs, no simulator, no event loop "
        "(see the script's docstring). `ping_pong` is one connection written both ways; "
        "`trade_to_order` is the tick-to-trade shape, a trade read on one connection and "
        "an order written on another; `_idle_poll` sleeps as `_sleep` does, with the "
        "kernel's CPU latency limit held at 0 so idle CPUs poll instead of halting. µs.",
        "",
        "| measure | p50 | p99 | p99.9 | samples |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['p99_9_us']:.1f} "
            f"| {r['samples']} |"
        )
    report.write_block("loopback", "\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--smoke", action="store_true", help="500 samples, no files written")
    args = p.parse_args()
    samples = 500 if args.smoke else args.samples
    results = run(samples, 50 if args.smoke else 500)
    if not args.smoke:
        write(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
