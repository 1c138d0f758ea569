"""What a venue module counts from a report (OKX's spot positions) is journaled in the
same transaction as the order the report moves, whatever brought the report, and a
report seen twice is counted once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson
import pytest
from tests.unit.test_risk_bookkeeping import INST, QuietVenue

from ems.engine import journal as journal_module
from ems.engine.journal import Journal
from ems.engine.risk import RiskEngine
from ems.engine.session import OrderSession, SendOrder
from ems.metrics import Metrics
from ems.model import OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ems.venues.base import Capabilities, ExecutionReport


class CountingVenue(QuietVenue):
    """Counts the session's position from the fills in the reports it is given, as the
    OKX module does for spot."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = Capabilities(
            order_types=frozenset(OrderType),
            tifs=frozenset(TimeInForce),
            positions_from_venue=True,
        )
        self.session: OrderSession | None = None
        self.counted: dict[str, int] = {}
        self.net = 0

    def account(self, report: ExecutionReport) -> None:
        assert self.session is not None
        cum = INST.qty_grid.units(report.cum_qty) if report.cum_qty else 0
        delta = cum - self.counted.get(report.venue_client_id, 0)
        if delta > 0:
            self.counted[report.venue_client_id] = cum
            self.net += delta
            self.session.on_venue_position(INST.symbol, INST.qty_grid.value(self.net))


def _rows(journal: Journal, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(journal.path) as db:
        return db.execute(sql).fetchall()


def test_a_fill_and_the_venue_modules_position_are_one_journal_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(journal_module, "BATCH_MAX", 1)  # one queue item per transaction
    journal = Journal(str(tmp_path / "journal.db"), None)
    venue = CountingVenue()
    s = OrderSession(
        session_id="s1",
        exchange="okx",
        venue=venue,  # type: ignore[arg-type]
        metrics=Metrics(),
        client_id_prefix="emsx",
        account_key="acct",
        shares_symbol=lambda s, sym: False,
        risk=RiskEngine(),
        reference_price=lambda exchange, symbol: 30_000.0,
        journal=journal,
    )
    venue.session = s

    async def run() -> None:
        s.send(
            SendOrder("a", INST.symbol, "s1", TransactionType.INSERT, 30_000.0, 0.01, side=Side.BUY)
        )
        vid = s.orders["a"].venue_client_id
        await asyncio.sleep(0)
        journal.flush()
        before = journal.batches
        fill = ExecutionReport(
            vid, "x1", INST.symbol, OrderStatus.PARTIALLY_FILLED, cum_qty="0.004",
            last_qty="0.004", last_price="30000",
        )  # fmt: skip
        s.on_report(fill)
        journal.flush()
        assert journal.batches - before == 1, "the fill took more than one transaction"
        # Venue-counted positions are journaled by value (no session-side units).
        assert _rows(journal, "SELECT symbol, units, value FROM positions") == [
            (INST.symbol, None, 0.004)
        ]
        [(state,)] = _rows(journal, "SELECT state FROM orders")
        assert orjson.loads(state)["legs"] == {vid: "0.004"}
        # The same fill reported again (a status query after the push) counts nothing.
        s.on_report(fill)
        assert s.positions[INST.symbol] == pytest.approx(0.004)
        await s.close()

    try:
        asyncio.run(run())
    finally:
        journal.close()
