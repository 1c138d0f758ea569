"""`ems serve`: the API server, its metrics port, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable

import orjson
import uvloop
from aiohttp import web

from ems.api.app import build_app
from ems.config import Config, ConfigError, load, parse_cpus
from ems.engine.engine import Engine
from ems.engine.journal import Journal
from ems.engine.risk import RiskEngine, parse_risk_table
from ems.engine.triggers import TriggerManagers
from ems.errors import ApiError
from ems.metrics import Metrics

log = logging.getLogger("ems")


def configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Third-party loggers stay quiet: aiohttp's access log would print query strings,
    # and a query string can carry the API key.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("ems").setLevel(logging.DEBUG if debug else logging.INFO)


async def _metrics(request: web.Request) -> web.Response:
    metrics: Metrics = request.app["metrics"]
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


class Server:
    """The running server: API site, metrics site, engine."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.metrics = Metrics()
        self.journal = (
            Journal(cfg.journal, cfg.secrets_key)
            if cfg.journal and cfg.journal.lower() != "none"
            else None
        )
        if self.journal is not None and not self.journal.persists_sessions:
            log.warning("no --secrets-key: sessions will not survive a restart")
        self.engine = Engine(
            self.metrics,
            testnet=cfg.testnet,
            risk=RiskEngine(table=parse_risk_table(cfg.risk)),
            journal=self.journal,
        )
        if not cfg.spin:
            # (A spinning loop rehearses between frames instead, see _spin_forever.)
            self.engine.rehearse_every_s = cfg.rehearse_us / 1e6
        self.triggers = TriggerManagers(self.engine)
        self._runners: list[web.AppRunner] = []
        self.port = 0
        self.prom_port = 0

    async def start(self) -> None:
        api = build_app(self.engine, self.cfg.key, self.triggers)
        api_runner = web.AppRunner(api, access_log=None, handle_signals=False)
        await api_runner.setup()
        api_site = web.TCPSite(api_runner, self.cfg.host, self.cfg.port, reuse_address=True)
        await api_site.start()
        self._runners.append(api_runner)
        self.port = _bound_port(api_runner)

        prom = web.Application()
        prom["metrics"] = self.metrics
        prom.router.add_get("/metrics", _metrics)
        prom_runner = web.AppRunner(prom, access_log=None, handle_signals=False)
        await prom_runner.setup()
        await web.TCPSite(prom_runner, self.cfg.host, self.cfg.promPort, reuse_address=True).start()
        self._runners.append(prom_runner)
        self.prom_port = _bound_port(prom_runner)
        await self.engine.recover()

    async def stop(self) -> None:
        await self.triggers.close()
        await self.engine.close()
        if self.journal is not None:
            self.journal.close()
        for runner in reversed(self._runners):
            await runner.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    return 0


WARM_EVERY = 64
"""Loop turns between hot-path rehearsals when spinning (tens of microseconds)."""


def _spin_forever(loop: asyncio.AbstractEventLoop, rehearse: Callable[[], bool]) -> None:
    """Keeps a callback always ready, so the loop polls its sockets without blocking.

    Waking a process that sleeps in epoll costs tens of microseconds; a loop that never
    sleeps sees a frame as soon as it lands, at the price of a whole core. Every few
    dozen turns it also rehearses the trade-to-order path (`Engine.run_warmers`), so that
    code is still in the CPU's caches when a real trade arrives.
    """
    turns = 0

    def again() -> None:
        nonlocal turns
        turns += 1
        if turns % WARM_EVERY == 0:
            rehearse()
        loop.call_soon(again)

    loop.call_soon(again)


GC_EVERY_S = 0.05
"""How often the loop collects young garbage itself (automatic collection is off)."""
GC_FULL_EVERY = 1200
"""Collections between full ones (one a minute)."""


def _collect_between_events(loop: asyncio.AbstractEventLoop) -> None:
    """Collects cyclic garbage from a loop timer, never in the middle of an event.

    CPython collects its youngest generation after every 700 container allocations,
    wherever the 700th happens: between reading a trade and writing the order it fires
    as likely as anywhere else. Automatic collection is turned off, what start-up built
    is frozen (never traversed again), and a timer collects instead: the youngest
    generation every 50 ms, the middle one every tenth time, all of them once a minute.
    Reference counting still frees everything that is not in a cycle at once.
    """
    gc.freeze()
    gc.disable()
    turns = 0

    def collect() -> None:
        nonlocal turns
        turns += 1
        gc.collect(2 if turns % GC_FULL_EVERY == 0 else 1 if turns % 10 == 0 else 0)
        loop.call_later(GC_EVERY_S, collect)

    loop.call_later(GC_EVERY_S, collect)


CPU_LATENCY_DEVICE = "/dev/cpu_dma_latency"


def hold_cpu_latency(us: int, device: str | None = None) -> int:
    """Asks the kernel to keep every CPU in idle states it can leave within `us`
    microseconds, for as long as the returned file descriptor stays open (the kernel
    drops the request when it closes, also when the process dies).

    At 0 an idle CPU polls instead of halting, so a process sleeping in epoll is woken
    without the CPU's (or, in a VM, the hypervisor's) wake-up cost. Raises OSError when
    the device cannot be opened (it belongs to root).
    """
    fd = os.open(device or CPU_LATENCY_DEVICE, os.O_WRONLY)
    try:
        os.write(fd, struct.pack("i", us))
    except OSError:
        os.close(fd)
        raise
    return fd


def _place_threads(cpus: set[int], spin: bool) -> None:
    """Gives the event loop the first of `cpus` and ems's other threads (the journal
    writer) the rest, so a spinning loop does not starve them and they do not delay it.

    Threads started later by the loop inherit its CPU; the journal writer is the only one
    that lives for long. With a single CPU everything shares it.
    """
    ordered = sorted(cpus)
    if len(ordered) < 2:
        if spin:
            log.warning("--spin on one CPU: the journal writer shares the spinning core")
        return
    hot, rest = {ordered[0]}, set(ordered[1:])
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and thread.native_id is not None:
            try:
                os.sched_setaffinity(thread.native_id, rest)
            except OSError as exc:  # the thread ended meanwhile
                log.debug("thread %s not placed: %s", thread.name, exc)
    os.sched_setaffinity(0, hot)
    log.info("event loop on CPU %d, other threads on CPUs %s", ordered[0], sorted(rest))


async def serve(cfg: Config) -> None:
    server = Server(cfg)
    loop = asyncio.get_running_loop()
    if cfg.spin:
        _spin_forever(loop, server.engine.run_warmers)
    await server.start()
    if cfg.cpus is not None:
        _place_threads(parse_cpus(cfg.cpus), cfg.spin)
    _collect_between_events(loop)
    # One JSON line on stdout says where to connect (useful with --port 0).
    print(
        orjson.dumps(
            {
                "url": f"http://{cfg.host}:{server.port}",
                "ws": f"ws://{cfg.host}:{server.port}/subscribeUpdates",
                "metrics": f"http://{cfg.host}:{server.prom_port}/metrics",
            }
        ).decode(),
        flush=True,
    )
    log.info("ems serving on %s:%d (metrics on %d)", cfg.host, server.port, server.prom_port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()


def main(argv: list[str]) -> int:
    """Entry point of `ems serve`."""
    try:
        cfg = load(argv)
        parse_risk_table(cfg.risk)
    except ApiError as exc:
        print(f"ems serve: config file: {exc.message} ({exc.field})", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"ems serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(cfg.debug)
    if cfg.cpus is not None:
        cpus = parse_cpus(cfg.cpus)
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as exc:
            print(f"ems serve: cannot pin to CPUs {sorted(cpus)}: {exc}", file=sys.stderr)
            return 2
        log.info("pinned to CPUs %s", sorted(cpus))
    latency_fd = None
    if cfg.cpu_latency_us is not None:
        try:
            latency_fd = hold_cpu_latency(cfg.cpu_latency_us)
        except OSError as exc:
            print(
                f"ems serve: --cpu-latency-us needs write access to {CPU_LATENCY_DEVICE} "
                f"(root, or the device passed into the container): {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        log.info(
            "idle CPUs held to a wake-up latency of %d µs%s",
            cfg.cpu_latency_us,
            " (they poll)" if cfg.cpu_latency_us == 0 else "",
        )
    try:
        uvloop.run(serve(cfg))
    finally:
        if latency_fd is not None:
            os.close(latency_fd)
    return 0
