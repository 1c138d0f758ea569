"""Interoperability with an independent FIX engine (QuickFIX, the `quickfix` package).

1. ems's initiator (the real `DeribitSession`) logs on to a QuickFIX acceptor that checks
   Deribit's Logon authentication with hashlib and plays a tiny venue (security list,
   positions, NewOrderSingle -> ExecutionReport, OrderCancelRequest -> cancelled).
2. A QuickFIX initiator logs on to `ems sim`'s FIX acceptor, rests, cancels, takes the
   best ask (a fill report checked field by field) and mass-cancels.

Sequence gaps are made on purpose in both directions on both pairs; the sessions must
recover through ResendRequest, SequenceReset-GapFill and PossDup resends. QuickFIX runs
in a child process (tests/deribit/quickfix_peer.py), driven by JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("quickfix")

from ems.engine.orders import Order
from ems.model import OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport
from ems.venues.deribit.products import parse_endpoint
from ems.venues.deribit.session import DeribitSession, sender_comp_id

PEER = Path(__file__).with_name("quickfix_peer.py")
SECRET = "quickfix-acceptor-secret"
CLIENT = "quickfix-client"

Event = dict[str, Any]


class QuickFixPeer:
    """The child process and its event stream."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait(lambda e: e["event"] == "started")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def send(self, msg_type: str, **fields: str) -> None:
        self.command(cmd="send", type=msg_type,
                     fields=[[int(k.removeprefix("t")), v] for k, v in fields.items()])  # fmt: skip

    def wait(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        for event in self.seen:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching QuickFIX event; last: {self.seen[-6:]}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if predicate(event):
                return event

    def drain(self) -> list[Event]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.command(cmd="stop")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _app(kind: str, **match: Any) -> Callable[[Event], bool]:
    def predicate(event: Event) -> bool:
        if event["event"] != "app" or event["type"] != kind:
            return False
        return all(event["fields"].get(str(k.removeprefix("t"))) == v for k, v in match.items())

    return predicate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[tuple[QuickFixPeer, int, str]]:
    port = _free_port()
    session_id = "interop-" + uuid.uuid4().hex[:6]
    peer = QuickFixPeer(
        ["acceptor", str(port), sender_comp_id(session_id), CLIENT, SECRET, str(tmp_path)]
    )
    try:
        yield peer, port, session_id
    finally:
        peer.stop()


class Reports:
    """A VenueListener that keeps what it is told."""

    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []

    def on_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)

    def on_venue_position(self, symbol: str, position: float) -> None:
        pass

    def on_stream_state(self, connected: bool, reason: str) -> None:
        pass

    async def wait(self, vid: str, status: OrderStatus, timeout: float = 10.0) -> ExecutionReport:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.reports:
                if r.venue_client_id == vid and r.status == status:
                    return r
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {status} for {vid}: {self.reports}")


def _order(session: DeribitSession, cl: str) -> Order:
    inst = session.instruments["BTC-PERPETUAL"]
    return Order(
        session_id="interop", exchange="deribit", cl_order_id=cl, venue_client_id=cl,
        symbol="BTC-PERPETUAL", side=Side.BUY, order_type=OrderType.LIMIT,
        tif=TimeInForce.GTC, price=inst.price_grid.units("29000"), qty=inst.qty_grid.units("2"),
        instrument=inst,
    )  # fmt: skip


def test_ems_initiator_trades_with_a_quickfix_acceptor_and_recovers_gaps(
    acceptor: tuple[QuickFixPeer, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer, port, session_id = acceptor
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        listener = Reports()
        session = DeribitSession(
            session_id=session_id, api_key=CLIENT, secret=SECRET,
            endpoint=parse_endpoint(f"127.0.0.1:{port}"), listener=listener,
        )  # fmt: skip
        await session.start()
        assert list(session.instruments) == ["BTC-PERPETUAL"]

        first = _order(session, "ems-1")
        await session.insert(first)
        new = await listener.wait("ems-1", OrderStatus.NEW)
        peer.wait(_app("D", t11="ems-1", t38="2", t44="29000", t54="1"))
        first.exch_order_id = new.exch_order_id
        await session.cancel(first)  # answered by QuickFIX's "cancelled" report
        await listener.wait("ems-1", OrderStatus.CANCELLED)
        peer.wait(_app("F", t41=new.exch_order_id))

        # The acceptor skips two numbers: ems asks for them and is gap-filled.
        peer.command(cmd="skip", n=2)
        peer.wait(lambda e: e["event"] == "skipped")
        asked = session.fix.resends_asked
        await session.insert(_order(session, "ems-2"))
        await listener.wait("ems-2", OrderStatus.NEW)
        assert session.fix.resends_asked == asked + 1

        # ems "loses" one order on the wire: QuickFIX asks, ems resends it (PossDup).
        answered = session.fix.resends_answered
        conn = session.fix._conn
        assert conn is not None and conn.transport is not None
        transport = conn.transport
        real_write = transport.write
        transport.write = lambda data: None  # type: ignore[method-assign]
        try:
            await session.insert(_order(session, "ems-lost"))
        finally:
            transport.write = real_write  # type: ignore[method-assign]
        await session.insert(_order(session, "ems-3"))
        await listener.wait("ems-lost", OrderStatus.NEW)
        await listener.wait("ems-3", OrderStatus.NEW)
        assert session.fix.resends_answered == answered + 1
        resent = peer.wait(_app("D", t11="ems-lost"))
        assert resent["possDup"] is True
        await session.stop()

    asyncio.run(scenario())


def test_quickfix_acceptor_refuses_a_wrong_password(
    acceptor: tuple[QuickFixPeer, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer, port, session_id = acceptor
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        session = DeribitSession(
            session_id=session_id, api_key=CLIENT, secret="wrong-secret",
            endpoint=parse_endpoint(f"127.0.0.1:{port}"), listener=Reports(),
        )  # fmt: skip
        with pytest.raises((OSError, TimeoutError, Exception)):
            await session.start()

    asyncio.run(scenario())
    peer.wait(lambda e: e["event"] == "refused")


def test_quickfix_initiator_trades_on_ems_sim_and_recovers_gaps(
    sim: dict[str, Any], tmp_path: Path
) -> None:
    account = sim["accounts"][2]
    host, port = sim["deribit"]["wsUrl"].rsplit(":", 1)
    admin = sim["deribit"]["restUrl"]
    sender = f"qf-{uuid.uuid4().hex[:8]}"
    account_key = account["apiKey"]
    peer = QuickFixPeer(
        ["initiator", host, port, sender, account["apiKey"], account["secretKey"], str(tmp_path)]
    )

    def place(cl: str) -> None:
        peer.send("D", t11=cl, t55="BTC-PERPETUAL", t54="1", t38="2", t40="2", t44="25000",
                  t59="1")  # fmt: skip

    def fault(**spec: Any) -> None:
        spec["apiKey"] = account["apiKey"]
        requests.post(f"{admin}/sim/fault", json=spec, timeout=5).raise_for_status()

    try:
        peer.wait(lambda e: e["event"] == "logon")
        place("qf-1")
        new = peer.wait(_app("8", t41="qf-1", t39="0"))
        assert new["fields"]["11"] != "qf-1"  # Deribit's own id in 11, ours in 41
        peer.send("F", t41=new["fields"]["37"], t55="BTC-PERPETUAL")
        peer.wait(_app("8", t41="qf-1", t39="4"))

        # An aggressive IOC buy takes the best ask: one fill report (9015=Y) with the
        # trade's price and size, and the order done.
        def contracts() -> Decimal:
            account = requests.get(
                f"{admin}/sim/account", params={"apiKey": account_key}, timeout=5
            ).json()
            mine = [p for p in account["positions"] if p["instrument_name"] == "BTC-PERPETUAL"]
            return Decimal(mine[0]["contracts"]) if mine else Decimal(0)

        before = contracts()
        ask = requests.get(f"{admin}/sim/book", params={"symbol": "BTC-PERPETUAL"},
                           timeout=5).json()["bestAsk"]  # fmt: skip
        peer.send("D", t11="qf-take", t55="BTC-PERPETUAL", t54="1", t38="2", t40="2", t44=ask,
                  t59="3")  # fmt: skip
        fill = peer.wait(_app("8", t41="qf-take", t150="F"))["fields"]
        assert Decimal(fill["31"]) == Decimal(ask) and fill["32"] == "2"
        assert fill["14"] == "2" and fill["151"] == "0" and fill["39"] == "2"
        assert Decimal(fill["6"]) == Decimal(ask) and fill["54"] == "1"
        assert contracts() == before + 2

        # The venue loses one of its reports: QuickFIX sees the gap and asks for it.
        fault(fix="loseOutbound", count=1)
        place("qf-2")
        place("qf-3")
        again = peer.wait(_app("8", t41="qf-2", t39="0"))
        assert again["possDup"] is True
        peer.wait(_app("8", t41="qf-3", t39="0"))
        assert any(e["event"] == "admin-out" and e["type"] == "2" for e in peer.drain())

        # The venue loses one of QuickFIX's orders: the simulator asks, QuickFIX resends.
        fault(fix="loseInbound", count=1)
        place("qf-4")
        place("qf-5")
        peer.wait(_app("8", t41="qf-4", t39="0"))
        peer.wait(_app("8", t41="qf-5", t39="0"))
        orders = requests.get(
            f"{admin}/sim/orders", params={"apiKey": account["apiKey"]}, timeout=5
        ).json()
        assert {"qf-2", "qf-3", "qf-4", "qf-5"} <= {o["cl_ord_id"] for o in orders}

        peer.send("q", t11="mass-1", t530="1", t55="BTC-PERPETUAL")
        report = peer.wait(_app("r", t11="mass-1"))
        assert report["fields"]["533"] == "4"
        orders = requests.get(
            f"{admin}/sim/orders", params={"apiKey": account["apiKey"]}, timeout=5
        ).json()
        assert orders == []
    finally:
        peer.stop()
