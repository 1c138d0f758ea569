"""Cyclic garbage is collected by the loop's timer, not by allocation counts."""

from __future__ import annotations

import asyncio
import gc
import weakref

import uvloop

from ems.server import GC_EVERY_S, _collect_between_events


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_cycles_are_collected_by_the_timer_and_automatic_collection_is_off():
    async def run() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        _collect_between_events(loop)
        automatic = gc.isenabled()
        cycle = weakref.ref(_Node())
        # Far more allocations than the automatic threshold: nothing collects them.
        junk = [[i] for i in range(10_000)]
        del junk
        alive_before_timer = cycle() is not None
        await asyncio.sleep(GC_EVERY_S * 3)
        return automatic, alive_before_timer, cycle() is None

    try:
        automatic, alive_before_timer, collected = uvloop.run(run())
    finally:
        gc.unfreeze()
        gc.enable()
    assert not automatic
    assert alive_before_timer
    assert collected
