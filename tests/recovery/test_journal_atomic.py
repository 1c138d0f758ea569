"""The journal commits an event's records together: all of them or none."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ems.engine import journal as journal_module
from ems.engine.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(str(tmp_path / "journal.db"), None)
    yield j
    j.close()


def _rows(j: Journal, sql: str) -> list[tuple[object, ...]]:
    # A second connection sees only what the writer thread has committed.
    with sqlite3.connect(j.path) as db:
        return db.execute(sql).fetchall()


def _fill(j: Journal, cl: str, units: int) -> None:
    """What a fill journals: the position, the order's state and the fill event."""
    j.position("s1", "BTCUSDT", units, units / 1000)
    j.order("s1", cl, {"cl": cl, "cum": units}, True)
    j.event("s1", "fill", cl, {"qty": units})


def test_nothing_of_an_event_is_committed_before_all_of_it_is_written(journal: Journal):
    with journal.atomic():
        journal.position("s1", "BTCUSDT", 2, 0.002)
        # Time for the writer thread to commit the position, were it queued on its own.
        time.sleep(0.3)
        assert _rows(journal, "SELECT * FROM positions") == []
        journal.order("s1", "a", {"cl": "a"}, True)
    journal.flush()
    assert _rows(journal, "SELECT symbol, units FROM positions") == [("BTCUSDT", 2)]
    assert _rows(journal, "SELECT cl_order_id FROM orders") == [("a",)]


def test_an_event_is_one_transaction_however_the_queue_is_batched(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(journal_module, "BATCH_MAX", 1)  # one queue item per transaction
    before = journal.batches
    for i in range(5):
        with journal.atomic():
            _fill(journal, f"o{i}", i + 1)
    journal.flush()
    assert journal.batches - before == 5
    assert journal.written == 15
    assert _rows(journal, "SELECT units FROM positions") == [(5,)]


def test_an_event_whose_last_record_fails_leaves_no_trace(journal: Journal):
    with journal.atomic():
        journal.position("s1", "ETHUSDT", 7, 0.007)
        journal.write("INSERT INTO no_such_table VALUES (?)", (1,))
    journal.flush()
    assert _rows(journal, "SELECT * FROM positions") == []
    # The journal goes on working after the failed event.
    with journal.atomic():
        _fill(journal, "b", 3)
    journal.flush()
    assert _rows(journal, "SELECT units FROM positions") == [(3,)]


def test_atomic_groups_nest_and_only_the_outer_one_queues(journal: Journal):
    with journal.atomic():
        journal.position("s1", "BTCUSDT", 1, 0.001)
        with journal.atomic():
            journal.order("s1", "c", {"cl": "c"}, True)
        time.sleep(0.3)
        assert _rows(journal, "SELECT * FROM orders") == []
    journal.flush()
    assert len(_rows(journal, "SELECT * FROM orders")) == 1


def test_commit_delay_holds_records_back_for_crash_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv(journal_module.COMMIT_DELAY_ENV, "400")
    with caplog.at_level("WARNING", logger="ems.journal"):
        j = Journal(str(tmp_path / "delayed.db"), None)
    # Set by mistake on a trading server, it would say so at start.
    assert any("lag 400 ms" in r.getMessage() for r in caplog.records), caplog.text
    try:
        j.order("s1", "d", {"cl": "d"}, True)
        time.sleep(0.15)
        assert _rows(j, "SELECT * FROM orders") == []
        j.flush()
        assert len(_rows(j, "SELECT * FROM orders")) == 1
    finally:
        j.close()


def test_durable_waits_for_the_commit_of_everything_queued_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(journal_module.COMMIT_DELAY_ENV, "300")  # the writer lags 0.3 s
    j = Journal(str(tmp_path / "slow.db"), None)
    try:
        _fill(j, "d1", 5)
        assert asyncio.run(j.durable(timeout=0.05)) is False  # not yet
        assert asyncio.run(j.durable(timeout=5)) is True
        # Everything queued before the call is committed once it returns.
        assert _rows(j, "SELECT cl_order_id FROM orders") == [("d1",)]
        assert asyncio.run(j.durable(timeout=0.05)) is True  # nothing left behind
    finally:
        j.close()


def test_many_records_of_one_statement_commit_in_order(journal: Journal):
    for n in range(500):
        journal.event("s1", "fill", f"o{n}", {"qty": n})
    journal.flush()
    rows = _rows(journal, "SELECT cl_order_id FROM events WHERE kind='fill' ORDER BY rowid")
    assert rows == [(f"o{n}",) for n in range(500)]


def test_a_refused_record_does_not_take_its_batch_with_it(journal: Journal):
    journal.event("s1", "insert", "before", {})
    with journal.atomic():
        journal.event("s1", "fill", "doomed", {})
        journal.write("INSERT INTO no_such_table VALUES (?)", (1,))  # sqlite refuses it
    journal.event("s1", "insert", "after", {})
    journal.flush()
    rows = _rows(journal, "SELECT cl_order_id FROM events ORDER BY rowid")
    # The refused record's own event goes with it (it was atomic with it); the rest stay.
    assert rows == [("before",), ("after",)]
