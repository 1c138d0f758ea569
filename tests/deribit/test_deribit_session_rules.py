"""Deribit FIX session rules in process, against `ems sim`: authentication vector,
sequence files, sequence numbers across restarts, heartbeats, and both trade feeds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from ems._core import BUY, SELL, fix_decode, sha256_base64
from ems.model import OrderStatus
from ems.venues.base import ExecutionReport
from ems.venues.deribit import codec
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


def test_a_session_level_reject_of_an_order_rejects_it_with_the_text() -> None:
    listener = Quiet()
    session = DeribitSession(
        session_id="unit", api_key="k", secret="s", endpoint=parse_endpoint("127.0.0.1:1"),
        listener=listener, state_file=False,
    )  # fmt: skip
    session.on_refused(("D", "ems-1"), "session reject of our message 7: Required tag missing")
    (report,) = listener.reports
    assert report.venue_client_id == "ems-1" and report.status == OrderStatus.REJECTED
    assert report.message and "Required tag missing" in report.message


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
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusted.start()
        server.close()

    asyncio.run(scenario())
