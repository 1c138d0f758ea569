"""The default mode's rehearsal timer: runs while something is armed, stops after, and
drops a rehearsal that raises instead of logging it every millisecond."""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from ems.engine.engine import Engine
from ems.metrics import Metrics


def _rehearsals(engine: Engine) -> float | None:
    return engine.metrics.registry.get_sample_value("om_hot_path_rehearsals_total")


def test_the_timer_runs_while_armed_and_stops_after(caplog: pytest.LogCaptureFixture):
    engine = Engine(Metrics())
    engine.rehearse_every_s = 0.001
    calls = {"armed": 0, "broken": 0}

    def armed_for_twenty() -> bool:
        calls["armed"] += 1
        return calls["armed"] <= 20

    def broken() -> bool:
        calls["broken"] += 1
        raise RuntimeError("rehearsal bug")

    async def run() -> tuple[int, int]:
        engine.warmers += [broken, armed_for_twenty]
        engine.rehearse_soon()
        engine.rehearse_soon()  # already running: no second timer
        for _ in range(200):  # at most 2 s; about 20 ms are needed
            await asyncio.sleep(0.01)
            if calls["armed"] > 20:
                break
        stopped_at = calls["armed"]
        await asyncio.sleep(0.05)
        return stopped_at, calls["armed"]

    with caplog.at_level(logging.ERROR, logger="ems.engine"):
        stopped_at, later = uvloop.run(run())
    assert stopped_at == 21  # twenty armed turns, then the one that found nothing
    assert later == stopped_at  # and no timer after it
    assert _rehearsals(engine) == 20
    assert calls["broken"] == 1 and broken not in engine.warmers
    assert [r.message for r in caplog.records].count(
        "hot-path rehearsal failed; it will not run again"
    ) == 1


def test_no_timer_when_off_or_outside_a_loop():
    engine = Engine(Metrics())
    engine.warmers.append(lambda: True)
    engine.rehearse_soon()  # no running loop: nothing scheduled, no error
    assert engine._rehearsal is None

    async def run() -> bool:
        engine.rehearse_every_s = 0.0
        engine.rehearse_soon()
        return engine._rehearsal is None

    assert uvloop.run(run())
