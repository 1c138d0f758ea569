"""Deribit FIX session rules in process, against `ems sim`: authentication vector,
sequence files, sequence numbers across restarts, heartbeats, and both trade feeds;
and against a scripted acceptor that sends what the simulator never does (Reject,
BusinessMessageReject, ResendRequest, TestRequest) and records ems's answers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from ems._core import (
    BUY,
    SELL,
    FixMessage,
    FixSession,
    fix_decode,
    fix_frame_length,
    sha256_base64,
)
from ems.engine.orders import Order
from ems.errors import EndpointUnreachable
from ems.model import OrderStatus, OrderType, Side, TimeInForce
from ems.venues.base import ExecutionReport
from ems.venues.deribit import codec, fixsession
from ems.venues.deribit import session as deribit_session
from ems.venues.deribit.feed import FixTradeFeed, JsonRpcTradeFeed
from ems.venues.deribit.fixsession import SeqFile
from ems.venues.deribit.products import parse_endpoint
from ems.venues.deribit.session import DeribitSession

V12_RAW = "1700000000000.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
V12_PASSWORD = "gFa38qQaYNi8BWIvgrA5R39tFina/KjMpu491QhgRBU="


def test_logon_password_is_base64_of_the_raw_digest_vector_v12() -> None:
    assert V12_RAW.split(".")[1] == base64.b64encode(bytes(range(32))).decode()
    assert sha256_base64((V12_RAW + "AMANDASECRECT").encode()) == V12_PASSWORD
    hex_variant = base64.b64encode(
        hashlib.sha256((V12_RAW + "AMANDASECRECT").encode()).hexdigest().encode()
    ).decode()
    assert hex_variant != V12_PASSWORD  # the common bug gives another string


def test_endpoint_urls() -> None:
    assert str(parse_endpoint("127.0.0.1:9881")) == "tcp://127.0.0.1:9881"
    assert parse_endpoint("ssl://fix.deribit.com:9883").tls
    assert not parse_endpoint("tcp://fix.deribit.com:9881").tls
    for bad in ("fix.deribit.com", "ws://h:1", "h:99999", ":80"):
        with pytest.raises(Exception, match="wsUrl"):
            parse_endpoint(bad)


def test_sequence_file_reserves_outbound_numbers_ahead(tmp_path: Path) -> None:
    path = tmp_path / "fix" / "s.json"
    seq = SeqFile(path)
    assert seq.load() == (1, 1)
    seq.reserve(5, 3)
    # After a crash the file still covers every number used up to the reservation.
    assert SeqFile(path).load() == (5 + SeqFile.BLOCK, 3)
    seq.save(42, 17)
    assert SeqFile(path).load() == (42, 17)
    path.write_text("not json")
    assert SeqFile(path).load() == (1, 1)


def test_ioc_remainder_cancelled_by_the_venue_reads_as_expired() -> None:
    from ems._core import FixSession

    raw = FixSession("DERIBITSERVER", "me").encode(
        "8", 9,
        [(37, "7"), (11, "srv-7"), (41, "mine"), (150, "4"), (39, "4"), (55, "BTC-PERPETUAL"),
         (54, "1"), (38, "3"), (14, "1"), (151, "0"), (59, "3"), (40, "2"), (44, "30000"),
         (58, "immediate_or_cancel"), (60, "20260101-00:00:01.250")],
    )  # fmt: skip
    report = codec.execution_report(fix_decode(raw))
    assert report.venue_client_id == "mine" and report.exch_order_id == "7"
    assert report.status == OrderStatus.EXPIRED and report.message == "immediate_or_cancel"
    assert report.exch_time == 1767225601250000000
    assert codec.trade_side(b"1") == BUY and codec.trade_side("sell") == SELL


def test_a_fill_without_trade_match_id_moves_the_position_and_keeps_an_id() -> None:
    """protocols.md D.2 lists no TrdMatchID (880): the fill still counts, named by its
    SecondaryExecID (527)."""
    from ems._core import FixSession

    positions: list[tuple[str, float]] = []
    listener = Quiet()
    listener.on_venue_position = lambda symbol, amount: positions.append((symbol, amount))  # type: ignore[method-assign]
    session = DeribitSession(
        session_id="unit", api_key="k", secret="s", endpoint=parse_endpoint("127.0.0.1:1"),
        listener=listener, state_file=False,
    )  # fmt: skip
    raw = FixSession("DERIBITSERVER", "me").encode(
        "8", 4,
        [(37, "7"), (11, "srv-7"), (41, "mine"), (527, "7-2"), (150, "F"), (39, "1"),
         (55, "BTC-PERPETUAL"), (54, "2"), (38, "3"), (14, "2"), (151, "1"), (31, "30000.5"),
         (32, "2"), (59, "1"), (40, "2"), (44, "30000")],
    )  # fmt: skip
    session.on_app(fix_decode(raw))
    (report,) = listener.reports
    assert report.last_qty == "2" and report.last_price == "30000.5"
    assert report.trade_id == "7-2"
    assert positions == [("BTC-PERPETUAL", -2.0)]


class Quiet:
    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []
        self.states: list[tuple[bool, str]] = []

    def on_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)

    def on_venue_position(self, symbol: str, position: float) -> None:
        pass

    def on_stream_state(self, connected: bool, reason: str) -> None:
        self.states.append((connected, reason))


def _session(sim: dict[str, Any], session_id: str, account: int = 2) -> DeribitSession:
    acct = sim["accounts"][account]
    return DeribitSession(
        session_id=session_id,
        api_key=acct["apiKey"],
        secret=acct["secretKey"],
        endpoint=parse_endpoint(sim["deribit"]["wsUrl"]),
        listener=Quiet(),
    )


def _venue_session(sim: dict[str, Any], sender: str) -> dict[str, Any]:
    states = requests.get(sim["deribit"]["restUrl"] + "/sim/sessions", timeout=5).json()
    return next(s for s in states if s["senderCompId"] == sender)


def test_sequence_numbers_survive_a_restart_and_a_lost_file(
    sim: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path))
    session_id = f"restart-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        first = _session(sim, session_id)
        await first.start()
        await first.positions()
        out, inbound = first.fix.next_out, first.fix.next_in
        await first.stop()
        files = list((tmp_path / "fix").glob("*.json"))
        assert len(files) == 1 and first.sender in files[0].name
        assert SeqFile(files[0]).load() == (out + 1, inbound + 1)  # our Logout and theirs

        second = _session(sim, session_id)
        assert second.fix.next_out == out + 1
        await second.start()
        venue = _venue_session(sim, second.sender)
        assert venue["nextIn"] == second.fix.next_out  # continued, nothing reset
        assert second.fix.resends_asked == 0
        await second.stop()

        # The file is lost: the venue says which number it expects and ems adopts it.
        for f in files:
            f.unlink()
        third = _session(sim, session_id)
        assert third.fix.next_out == 1
        await third.start()
        assert third.fix.next_out > out
        await third.stop()

    asyncio.run(scenario())


def test_heartbeats_and_test_requests_keep_an_idle_session_up(
    sim: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(deribit_session, "HEARTBEAT_S", 1)

    async def scenario() -> None:
        session = _session(sim, f"idle-{uuid.uuid4().hex[:6]}")
        await session.start()
        before = _venue_session(sim, session.sender)["nextIn"]
        await asyncio.sleep(2.6)
        after = _venue_session(sim, session.sender)
        assert after["connected"] and session.fix.connects == 1
        assert after["nextIn"] >= before + 2  # our heartbeats (or answers to test requests)
        await session.stop()

    asyncio.run(scenario())


def test_fix_and_json_rpc_feeds_both_deliver_trades_on_the_grid(
    sim: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path))
    admin = sim["deribit"]["restUrl"]

    async def scenario() -> None:
        session = _session(sim, f"feeds-{uuid.uuid4().hex[:6]}")
        await session.start()
        inst = session.instruments["ETH-PERPETUAL"]
        seen: dict[str, list[Any]] = {"fix": [], "rpc": []}
        fix_feed = session.trade_feed("ETH-PERPETUAL", seen["fix"].append)
        assert isinstance(fix_feed, FixTradeFeed)
        rpc_url = admin.replace("http://", "ws://") + "/ws/api/v2"
        rpc_feed = JsonRpcTradeFeed(rpc_url, inst, seen["rpc"].append)
        await fix_feed.start()
        await rpc_feed.start()
        await asyncio.sleep(0.2)
        body = {"symbol": "ETH-PERPETUAL", "price": 9000.05, "qty": 3, "side": "buy"}
        printed = await asyncio.to_thread(
            lambda: requests.post(admin + "/sim/trade", json=body, timeout=5).json()
        )
        (fill,) = printed["fills"]  # 3 contracts at the best ask
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (seen["fix"] and seen["rpc"]):
            await asyncio.sleep(0.01)
        for name in ("fix", "rpc"):
            trade = seen[name][-1]
            assert trade.aggressor_side == BUY, name
            assert inst.price_grid.format(trade.price) == fill["price"], name
            assert inst.qty_grid.format(trade.qty) == "3", name
            assert trade.trade_id > 0 and trade.time > 0, name
        await fix_feed.stop()
        await rpc_feed.stop()
        await session.stop()

    asyncio.run(scenario())


def test_simulator_rejects_malformed_and_unsupported_messages(sim: dict[str, Any]) -> None:
    """A raw simplefix client: Reject (3) for a missing tag, BusinessMessageReject (j)
    for an unknown message type, Logout for a bad password."""
    import socket

    import simplefix

    account = sim["accounts"][2]
    host, port = sim["deribit"]["wsUrl"].rsplit(":", 1)

    def connect(secret: str) -> tuple[socket.socket, Any, Any]:
        sock = socket.create_connection((host, int(port)), timeout=5)
        parser = simplefix.FixParser()
        parser.add_raw(95, 96)
        seq = iter(range(1, 100))
        sender = f"raw-{uuid.uuid4().hex[:6]}"

        def send(msg_type: str, fields: list[tuple[int, str]]) -> None:
            msg = simplefix.FixMessage()
            for tag, value in ((8, "FIX.4.4"), (35, msg_type), (49, sender),
                               (56, "DERIBITSERVER"), (34, str(next(seq)))):  # fmt: skip
                msg.append_pair(tag, value, header=True)
            msg.append_utc_timestamp(52, header=True)
            for tag, value in fields:
                msg.append_pair(tag, value)
            sock.sendall(msg.encode())

        def read() -> Any:
            while True:
                got = parser.get_message()
                if got is not None:
                    return got
                data = sock.recv(65536)
                if not data:
                    return None
                parser.append_buffer(data)

        raw = f"{int(time.time() * 1000)}.{base64.b64encode(bytes(32)).decode()}"
        digest = hashlib.sha256((raw + secret).encode()).digest()
        send("A", [(98, "0"), (108, "30"), (95, str(len(raw))), (96, raw),
                   (553, account["apiKey"]), (554, base64.b64encode(digest).decode())])  # fmt: skip
        return sock, send, read

    sock, send, read = connect("not-the-secret")
    refused = read()
    assert refused.get(35) == b"5" and refused.get(58) == b"invalid_credentials"
    sock.close()

    sock, send, read = connect(account["secretKey"])
    assert read().get(35) == b"A"
    send("D", [(11, "x1"), (55, "BTC-PERPETUAL"), (54, "1"), (44, "100")])  # no OrderQty
    reject = read()
    assert reject.get(35) == b"3" and reject.get(371) == b"38" and reject.get(373) == b"1"
    send("ZZ", [])
    business = read()
    assert business.get(35) == b"j" and business.get(380) == b"3"
    send("D", [(11, "x2"), (55, "NOPE"), (54, "1"), (38, "1"), (44, "100")])
    unknown = read()
    assert unknown.get(35) == b"8" and unknown.get(39) == b"8" and unknown.get(41) == b"x2"
    sock.close()


def test_tls_endpoint_is_verified_and_carries_the_session(
    sim: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ssl://host:port`: TLS with certificate and host checks (a TLS relay in front of
    the simulator, its self-signed certificate trusted through SSL_CERT_FILE)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("EMS_STATE_DIR", str(tmp_path / "state"))
    fix_host, fix_port = sim["deribit"]["wsUrl"].rsplit(":", 1)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(fix_host, int(fix_port))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def scenario() -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        acct = sim["accounts"][2]
        session = DeribitSession(
            session_id=f"tls-{uuid.uuid4().hex[:6]}", api_key=acct["apiKey"],
            secret=acct["secretKey"], endpoint=parse_endpoint(f"ssl://127.0.0.1:{port}"),
            listener=Quiet(),
        )  # fmt: skip
        await session.start()
        assert "BTC-PERPETUAL" in session.instruments
        await session.stop()
        monkeypatch.delenv("SSL_CERT_FILE")
        untrusted = DeribitSession(
            session_id=f"tls-{uuid.uuid4().hex[:6]}", api_key=acct["apiKey"],
            secret=acct["secretKey"], endpoint=parse_endpoint(f"ssl://127.0.0.1:{port}"),
            listener=Quiet(),
        )  # fmt: skip
        with pytest.raises(EndpointUnreachable) as refused:
            await untrusted.start()
        assert refused.value.field == "wsUrl"
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
        server.close()

    asyncio.run(scenario())


# --------------------------------------------------------------------- scripted acceptor
class ScriptedVenue:
    """A bare FIX acceptor on 127.0.0.1:0: just enough of Deribit for a DeribitSession to
    start (Logon, TestRequest, SecurityList, positions), everything received recorded,
    and `on_order` deciding the answer to each NewOrderSingle (none by default)."""

    def __init__(self) -> None:
        self.received: list[FixMessage] = []
        self.on_order: Callable[[FixMessage], None] = lambda msg: None
        self.next_out = 1
        self._encoder: FixSession | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()

    def send(self, msg_type: str, fields: list[tuple[int, str | int]]) -> int:
        assert self._encoder is not None and self._writer is not None
        seq = self.next_out
        self.next_out += 1
        self._writer.write(self._encoder.encode(msg_type, seq, fields))
        return seq

    async def wait(
        self, predicate: Callable[[FixMessage], bool], timeout: float = 5.0, after: int = 0
    ) -> FixMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.received[after:]:
                if predicate(msg):
                    return msg
            await asyncio.sleep(0.01)
        kinds = [(m.msg_type, m.seq_num) for m in self.received[after:]]
        raise AssertionError(f"nothing matching arrived; got {kinds}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        buf = b""
        while data := await reader.read(65536):
            buf += data
            while buf and (n := fix_frame_length(buf)) is not None:
                msg, buf = fix_decode(buf[:n]), buf[n:]
                self.received.append(msg)
                self._answer(msg)

    def _answer(self, msg: FixMessage) -> None:
        kind = msg.msg_type
        if kind == "A":
            self._encoder = FixSession("DERIBITSERVER", msg.get_str(49) or "")
            self.send("A", [(98, "0"), (108, msg.get_str(108) or "10")])
        elif kind == "1":
            self.send("0", [(112, msg.get_str(112) or "")])
        elif kind == "x":
            self.send("y", [(320, msg.get_str(320) or ""), (560, "0"), (146, "1"),
                            (55, "BTC-PERPETUAL"), (15, "BTC"), (969, "0.5"), (562, "1"),
                            (231, "10")])  # fmt: skip
        elif kind == "AN":
            self.send("AP", [(721, "p1"), (710, msg.get_str(710) or ""), (724, "0"),
                             (728, "0"), (702, "0")])  # fmt: skip
        elif kind == "D":
            self.on_order(msg)


def _limit_order(session: DeribitSession, cl: str) -> Order:
    inst = session.instruments["BTC-PERPETUAL"]
    return Order(
        session_id="scripted", exchange="deribit", cl_order_id=cl, venue_client_id=cl,
        symbol="BTC-PERPETUAL", side=Side.BUY, order_type=OrderType.LIMIT,
        tif=TimeInForce.GTC, price=inst.price_grid.units("29000"), qty=inst.qty_grid.units("2"),
        instrument=inst,
    )  # fmt: skip


def _scripted(venue_port: int, listener: Quiet) -> DeribitSession:
    return DeribitSession(
        session_id=f"scripted-{uuid.uuid4().hex[:6]}", api_key="k", secret="s",
        endpoint=parse_endpoint(f"127.0.0.1:{venue_port}"), listener=listener,
        state_file=False,
    )  # fmt: skip


async def _rejected(listener: Quiet, vid: str, timeout: float = 5.0) -> ExecutionReport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for report in listener.reports:
            if report.venue_client_id == vid and report.status == OrderStatus.REJECTED:
                return report
        await asyncio.sleep(0.01)
    raise AssertionError(f"{vid} was not rejected: {listener.reports}")


def test_reject_and_business_reject_over_the_wire_reject_the_order_with_the_text() -> None:
    async def scenario() -> None:
        venue = ScriptedVenue()
        port = await venue.start()
        listener = Quiet()
        session = _scripted(port, listener)
        await session.start()

        def refuse(msg: FixMessage) -> None:
            seq = str(msg.seq_num)
            if msg.get_str(11) == "by-session":
                text = "Value is incorrect (out of range) for this tag"
                venue.send("3", [(45, seq), (371, "44"), (372, "D"), (373, "5"), (58, text)])
            else:
                venue.send("j", [(45, seq), (372, "D"), (380, "4"),
                                 (58, "Application not available")])  # fmt: skip

        venue.on_order = refuse
        await session.insert(_limit_order(session, "by-session"))
        await session.insert(_limit_order(session, "by-business"))
        first = await _rejected(listener, "by-session")
        assert first.message and "Value is incorrect (out of range) for this tag" in first.message
        assert "tag 44" in first.message
        second = await _rejected(listener, "by-business")
        assert second.message and "Application not available" in second.message
        # Both went over the wire as orders first.
        sent = [m.get_str(11) for m in venue.received if m.msg_type == "D"]
        assert sent == ["by-session", "by-business"]
        await session.stop()
        await venue.stop()

    asyncio.run(scenario())


def test_resend_asked_by_the_venue_gap_fills_session_messages_and_stale_orders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fixsession, "RESEND_MAX_AGE_S", 0.3)

    async def scenario() -> None:
        venue = ScriptedVenue()
        port = await venue.start()
        session = _scripted(port, Quiet())
        await session.start()
        await session.insert(_limit_order(session, "stale"))
        await asyncio.sleep(0.5)  # older than RESEND_MAX_AGE_S now
        await session.insert(_limit_order(session, "fresh"))
        fresh = await venue.wait(lambda m: m.get_str(11) == "fresh")
        mark = len(venue.received)
        venue.send("2", [(7, "1"), (16, "0")])
        # Logon, TestRequest, SecurityList and position requests and the stale order are
        # covered by one gap fill up to the fresh order, which is sent again.
        fill = await venue.wait(lambda m: m.msg_type == "4", after=mark)
        assert fill.get(123) == b"Y" and fill.seq_num == 1
        assert fill.get_int(36) == fresh.seq_num
        again = await venue.wait(lambda m: m.msg_type == "D", after=mark)
        assert again.seq_num == fresh.seq_num and again.get_str(11) == "fresh"
        assert again.get(43) == b"Y" and again.get(122) == fresh.get(52)
        await asyncio.sleep(0.2)
        answer = venue.received[mark:]
        assert [m.msg_type for m in answer] == ["4", "D"], [m.msg_type for m in answer]
        assert session.fix.resends_answered == 1
        await session.stop()
        await venue.stop()

    asyncio.run(scenario())


def test_a_test_request_from_the_venue_is_answered_with_its_id() -> None:
    async def scenario() -> None:
        venue = ScriptedVenue()
        port = await venue.start()
        session = _scripted(port, Quiet())
        await session.start()
        mark = len(venue.received)
        venue.send("1", [(112, "venue-probe-7")])
        beat = await venue.wait(lambda m: m.msg_type == "0", after=mark)
        assert beat.get_str(112) == "venue-probe-7"
        assert beat.seq_num == session.fix.next_out - 1  # in sequence, not out of band
        await session.stop()
        await venue.stop()

    asyncio.run(scenario())


# --------------------------------------------------------------------- raw client
class RawClient:
    """A blocking FIX client with sequence numbers chosen by the test."""

    def __init__(self, sim: dict[str, Any], sender: str, account: int = 2) -> None:
        import socket

        host, port = sim["deribit"]["wsUrl"].rsplit(":", 1)
        self.account = sim["accounts"][account]
        self.encoder = FixSession(sender, "DERIBITSERVER")
        self.sock = socket.create_connection((host, int(port)), timeout=3)
        self._buf = b""

    def send(self, msg_type: str, seq: int, fields: list[tuple[int, str | int]]) -> None:
        self.sock.sendall(self.encoder.encode(msg_type, seq, fields))

    def logon(self, seq: int, stamp_ms: int) -> None:
        raw = f"{stamp_ms}.{base64.b64encode(bytes(32)).decode()}"
        password = sha256_base64((raw + self.account["secretKey"]).encode())
        self.send("A", seq, [(98, "0"), (108, "30"), (95, len(raw)), (96, raw),
                             (553, self.account["apiKey"]), (554, password)])  # fmt: skip

    def read_until(self, predicate: Callable[[FixMessage], bool]) -> FixMessage:
        """The first message matching; raises TimeoutError if none comes within 3 s."""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            n = fix_frame_length(self._buf) if self._buf else None
            if n is not None:
                msg, self._buf = fix_decode(self._buf[:n]), self._buf[n:]
                if predicate(msg):
                    return msg
                continue
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the simulator closed the connection")
            self._buf += data
        raise TimeoutError("no matching message")

    def close(self) -> None:
        self.sock.close()


def test_simulator_asks_for_a_second_gap_after_a_gap_filled_logon(sim: dict[str, Any]) -> None:
    """The simulator holds back a Logon whose MsgSeqNum is too high and asks for the gap;
    a gap fill that jumps past the Logon settles it, so a later gap on the same
    connection is asked for again and the message behind it is processed."""
    sender = f"gaps-{uuid.uuid4().hex[:6]}"
    stamp = int(time.time() * 1000)
    first = RawClient(sim, sender)
    first.logon(1, stamp)
    first.read_until(lambda m: m.msg_type == "A")
    first.send("1", 2, [(112, "in-step")])
    first.read_until(lambda m: m.msg_type == "0" and m.get_str(112) == "in-step")
    first.close()
    deadline = time.monotonic() + 5
    while _venue_session(sim, sender)["connected"]:
        assert time.monotonic() < deadline, "the simulator did not see the close"
        time.sleep(0.02)
    assert _venue_session(sim, sender)["nextIn"] == 3

    client = RawClient(sim, sender)
    client.logon(6, stamp + 1)  # 3..5 "lost": the simulator holds the Logon and asks
    ask = client.read_until(lambda m: m.msg_type == "2")
    assert ask.get_int(7) == 3
    client.send("4", 3, [(43, "Y"), (123, "Y"), (36, 7)])  # jumps past the Logon (6)
    cl = f"gap-{uuid.uuid4().hex[:6]}"
    client.send("D", 9, [(11, cl), (55, "BTC-PERPETUAL"), (54, "1"), (38, "1"),
                         (40, "2"), (44, "20000")])  # fmt: skip
    second = client.read_until(lambda m: m.msg_type == "2")  # 7 and 8 are missing
    assert second.get_int(7) == 7
    client.send("4", 7, [(43, "Y"), (123, "Y"), (36, 9)])
    new = client.read_until(lambda m: m.msg_type == "8" and m.get_str(41) == cl)
    assert new.get(39) == b"0"
    assert _venue_session(sim, sender)["nextIn"] == 10
    client.send("q", 10, [(11, "cleanup"), (530, "1"), (55, "BTC-PERPETUAL")])
    client.read_until(lambda m: m.msg_type == "r")
    client.close()
