"""The simulated Deribit FIX 4.4 acceptor (protocols.md D.1-D.3).

Session rules, as on the venue:

* Logon (A) first: HeartBtInt (108), Username (553) = the account's API key, RawData
  (96) = `<timestamp>.<base64 nonce>` and Password (554) = base64 of the raw SHA-256
  digest of RawData followed by the secret. The timestamp must be strictly larger than
  the last one that logged on with the same SenderCompID and Username, and within 60 s
  of the simulator's clock. A refused Logon is answered with Logout (5) and a close.
* Sequence numbers belong to the session (SenderCompID + Username) and survive
  disconnects for as long as the simulator runs; ResetSeqNumFlag (141=Y) on Logon
  resets both directions. Application messages sent while the client is away are kept
  and delivered when it asks for them with a ResendRequest.
* A message whose MsgSeqNum is too high triggers a ResendRequest (2) and is held until
  the gap is filled; one that is too low without PossDupFlag ends the session with
  Logout; PossDup repeats of processed numbers are ignored. ResendRequests from the
  client are answered with the stored application messages (PossDupFlag=Y,
  OrigSendingTime) and SequenceReset-GapFill (4, 123=Y) over session-level ones.
* Heartbeat (0) after HeartBtInt seconds of silence; a TestRequest (1) after 1.5x that
  with nothing heard; the connection is dropped when the TestRequest goes unanswered.
* A malformed message (missing required tag) gets a session Reject (3); an unsupported
  message type gets BusinessMessageReject (j).
* CancelOnDisconnect (9001=Y on Logon) cancels every open order of the session when its
  connection ends (Logout or drop); the cancel reports wait for the next logon.

Market data (D.3): MarketDataRequest (V) with 263=0 answers one snapshot (W); with
263=1 it subscribes until 263=2 or the connection ends. Trades (269=2) go out as X
when they print. Book entries (269=0 bids, 269=1 offers) take one of the two documented
forms: 265=1 with 264=0 gives a W of the whole book, then X messages whose entries say
279=0 New, 1 Change or 2 Delete for a price level (269, 270 price, 271 size in
contracts); 265=0 with 264=1, 10 or 20 gives a W of that many levels each time they
change. Book changes are published every `BOOK_INTERVAL_MS`, and before any new
subscriber's snapshot, so a snapshot and the X messages after it always join up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from ems.sim.deribit.codec import (
    FixFormatError,
    FrameReader,
    Message,
    decode,
    encode,
    utc_timestamp,
)
from ems.sim.deribit.venue import DeribitVenue, Order, RejectError, text
from ems.sim.matching import Side

log = logging.getLogger("ems.sim.deribit.fix")

SERVER_COMP_ID = "DERIBITSERVER"
SESSION_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
APP_TYPES = frozenset({"D", "F", "G", "q", "AF", "AN", "x", "V"})
LOGON_CLOCK_WINDOW_MS = 60_000
LOGON_TIMEOUT_S = 10.0
STORE_MAX = 100_000
BOOK_INTERVAL_MS = 100
BOOK_SIDES = {"0": Side.BUY, "1": Side.SELL}
FULL_REFRESH_DEPTHS = frozenset({1, 10, 20})

REQUIRED = {
    "D": (11, 54, 38, 55),
    "F": (),
    "G": (54, 38),
    "q": (11, 530),
    "AF": (584, 585),
    "AN": (710, 724),
    "x": (320,),
    "V": (262, 263),
}


@dataclass(slots=True)
class Stored:
    msg_type: str
    fields: list[tuple[int, str]]
    sending_time: str


@dataclass(slots=True)
class MdSubscription:
    """One MarketDataRequest (263=1) of a session."""

    symbols: list[str]
    trades: bool
    sides: tuple[str, ...]
    """Book entry types wanted ("0" bids, "1" offers), in that order."""
    depth: int | None
    """None: incremental over the whole book; N: full refresh of the top N levels."""
    last_top: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Full refresh only: the entries last sent per symbol."""


@dataclass(slots=True)
class SessionState:
    """One FIX session (SenderCompID + Username): its sequence numbers and message store."""

    sender: str
    api_key: str
    next_in: int = 1
    next_out: int = 1
    store: dict[int, Stored] = field(default_factory=dict)
    conn: FixConnection | None = None
    last_logon_ts: int = 0
    cancel_on_disconnect: bool = False
    fills_as_reports: bool = False
    connection_only: bool = False
    lose_out: int = 0
    lose_in: int = 0
    lose_resend: int = 0
    """Answers to the client's next ResendRequests that are lost on the wire (fault)."""
    lose_book: int = 0
    """Book updates (X) that are never made for this session (fault: a venue-side gap
    that no FIX resend can repair)."""
    md_subscriptions: dict[str, MdSubscription] = field(default_factory=dict)
    """MDReqID -> what it subscribed to."""

    def account_event(self, order: Order, fields: list[tuple[int, str]]) -> None:
        """An execution report of the account (stored, and written if connected)."""
        if self.connection_only and order.session != self.sender:
            return
        self.send("8", fields)

    def send(self, msg_type: str, fields: list[tuple[int, str]]) -> int:
        seq = self.next_out
        self.next_out += 1
        sending_time = utc_timestamp()
        app = msg_type not in SESSION_TYPES
        if app:
            self.store[seq] = Stored(msg_type, fields, sending_time)
            if len(self.store) > STORE_MAX:
                # Oldest first (insertion order); a resend that far back is gap-filled.
                del self.store[next(iter(self.store))]
            if self.lose_out > 0:
                # Fault: the message is "lost on the wire" (stored, never written).
                self.lose_out -= 1
                return seq
        if self.conn is not None and self.conn.logged_on:
            self.conn.write(self._frame(msg_type, seq, sending_time, fields))
        return seq

    def _frame(
        self,
        msg_type: str,
        seq: int,
        sending_time: str,
        fields: list[tuple[int, str]],
        orig_time: str | None = None,
    ) -> bytes:
        header = [(35, msg_type), (49, SERVER_COMP_ID), (56, self.sender), (34, str(seq))]
        if orig_time is not None:
            header.append((43, "Y"))
        header.append((52, sending_time))
        if orig_time is not None:
            header.append((122, orig_time))
        return encode(header + fields)

    def resend(self, begin: int, end: int) -> None:
        """Answers a ResendRequest: stored app messages again, gap fills over the rest."""
        assert self.conn is not None
        if self.lose_resend > 0:
            self.lose_resend -= 1  # fault: the whole answer is lost on the wire
            return
        last = self.next_out - 1 if end == 0 else min(end, self.next_out - 1)
        gap_start: int | None = None
        now = utc_timestamp()
        for seq in range(begin, last + 1):
            stored = self.store.get(seq)
            if stored is None:
                if gap_start is None:
                    gap_start = seq
                continue
            if gap_start is not None:
                self._gap_fill(gap_start, seq)
                gap_start = None
            self.conn.write(
                self._frame(stored.msg_type, seq, now, stored.fields, stored.sending_time)
            )
        if gap_start is not None:
            self._gap_fill(gap_start, last + 1)

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        assert self.conn is not None
        now = utc_timestamp()
        self.conn.write(self._frame("4", seq, now, [(123, "Y"), (36, str(new_seq))], now))


class FixAcceptor:
    """The listening socket and every session state of the simulated venue."""

    def __init__(self, venue: DeribitVenue) -> None:
        self.venue = venue
        self.sessions: dict[tuple[str, str], SessionState] = {}
        self.connections: set[FixConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._report_ids = itertools.count(1)
        self._published: dict[str, dict[tuple[str, Decimal], Decimal]] = {}
        """Per symbol, the book as the incremental subscribers were last told it."""
        venue.trade_sinks.append(self._on_trade)

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: FixConnection(self), host, port)
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        for conn in tuple(self.connections):
            conn.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def state_for(self, sender: str, api_key: str) -> SessionState:
        key = (sender, api_key)
        state = self.sessions.get(key)
        if state is None:
            state = self.sessions[key] = SessionState(sender, api_key)
            self.venue.sinks.setdefault(api_key, []).append(state)
        return state

    def next_report_id(self) -> str:
        return f"R{next(self._report_ids)}"

    # ----------------------------------------------------------------- faults
    def matching(self, api_key: str | None) -> list[SessionState]:
        return [s for s in self.sessions.values() if api_key is None or s.api_key == api_key]

    def drop(self, api_key: str | None) -> int:
        """Closes the TCP connections (of one account, or all) without a Logout."""
        dropped = 0
        for conn in tuple(self.connections):
            if api_key is None or (conn.state is not None and conn.state.api_key == api_key):
                conn.abort()
                dropped += 1
        return dropped

    def reset_sessions(self) -> None:
        """Forgets every session's sequence numbers and store (as a venue restart would)."""
        for conn in tuple(self.connections):
            conn.abort()
        for state in self.sessions.values():
            state.next_in = state.next_out = 1
            state.store.clear()
            state.lose_in = state.lose_out = state.lose_resend = state.lose_book = 0

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "senderCompId": s.sender,
                "apiKey": s.api_key,
                "nextIn": s.next_in,
                "nextOut": s.next_out,
                "connected": s.conn is not None,
                "cancelOnDisconnect": s.cancel_on_disconnect,
            }
            for s in self.sessions.values()
        ]

    # ----------------------------------------------------------------- market data
    def _on_trade(self, symbol: str, trade: dict[str, Any]) -> None:
        for state in self.sessions.values():
            for req_id, sub in state.md_subscriptions.items():
                if sub.trades and symbol in sub.symbols:
                    state.send(
                        "X",
                        [(262, req_id), (55, symbol), (268, "1"), (279, "0"), *_trade_entry(trade)],
                    )

    def book_levels(self, symbol: str) -> dict[tuple[str, Decimal], Decimal]:
        """The whole book as {(entry type, price): size}."""
        book = self.venue.books[symbol]
        out: dict[tuple[str, Decimal], Decimal] = {}
        for kind, side in BOOK_SIDES.items():
            for price, qty in book.levels(side):
                out[kind, price] = qty
        return out

    def flush_books(self) -> None:
        """Publishes what changed in every subscribed book since it was last published."""
        incremental: dict[str, list[tuple[SessionState, str, MdSubscription]]] = {}
        for state in self.sessions.values():
            for req_id, sub in state.md_subscriptions.items():
                if not sub.sides:
                    continue
                for symbol in sub.symbols:
                    if sub.depth is None:
                        incremental.setdefault(symbol, []).append((state, req_id, sub))
                    else:
                        self._full_refresh(state, req_id, sub, symbol)
        for symbol in list(self._published):
            if symbol not in incremental:
                del self._published[symbol]  # nobody listens: start afresh when one does
        for symbol, subs in incremental.items():
            now = self.book_levels(symbol)
            before = self._published.get(symbol, now)
            self._published[symbol] = now
            changes = _book_changes(before, now)
            if not changes:
                continue
            for state, req_id, sub in subs:
                entries = [e for e in changes if e[0] in sub.sides]
                if not entries:
                    continue
                if state.lose_book > 0:
                    state.lose_book -= 1
                    continue
                fields = [(262, req_id), (55, symbol), (268, str(len(entries)))]
                for kind, action, price, qty in entries:
                    fields += [(279, action), (269, kind), (270, text(price)), (271, text(qty))]
                state.send("X", fields)

    def _full_refresh(
        self, state: SessionState, req_id: str, sub: MdSubscription, symbol: str
    ) -> None:
        entries = self.snapshot_entries(symbol, sub.sides, sub.depth)
        if sub.last_top.get(symbol) != entries:
            sub.last_top[symbol] = entries
            state.send("W", [(262, req_id), (55, symbol), (268, str(len(entries) // 3)), *entries])

    def snapshot_entries(
        self, symbol: str, sides: tuple[str, ...], depth: int | None
    ) -> list[tuple[int, str]]:
        """Book entries of a W: (269, 270, 271) per level, bids first."""
        book = self.venue.books[symbol]
        entries: list[tuple[int, str]] = []
        for kind in sides:
            for price, qty in book.levels(BOOK_SIDES[kind], depth):
                entries += [(269, kind), (270, text(price)), (271, text(qty))]
        return entries

    def start_book(self, symbol: str) -> None:
        """Brings every book subscriber up to date so that a new subscriber's snapshot,
        taken now, is where the next X messages start from."""
        self.flush_books()
        self._published[symbol] = self.book_levels(symbol)


def _book_changes(
    before: dict[tuple[str, Decimal], Decimal], now: dict[tuple[str, Decimal], Decimal]
) -> list[tuple[str, str, Decimal, Decimal]]:
    """(entry type, MDUpdateAction, price, size) for each level that differs."""
    out = []
    for key in sorted(before.keys() | now.keys()):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        action = "0" if old is None else "2" if new is None else "1"
        out.append((key[0], action, key[1], new if new is not None else Decimal(0)))
    return out


def _trade_entry(trade: dict[str, Any]) -> list[tuple[int, str]]:
    return [
        (269, "2"),
        (270, text(trade["price"])),
        (271, text(trade["contracts"])),
        (272, utc_timestamp(trade["timestamp"] / 1000)),
        (100009, trade["trade_id"]),
        (54, "1" if trade["direction"] == "buy" else "2"),
    ]


class FixConnection(asyncio.Protocol):
    """One TCP connection; bound to a `SessionState` once its Logon is accepted."""

    def __init__(self, acceptor: FixAcceptor) -> None:
        self.acceptor = acceptor
        self.venue = acceptor.venue
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.state: SessionState | None = None
        self.logged_on = False
        self.heartbeat_s = 30.0
        self.last_in = self.last_out = time.monotonic()
        self.test_sent_at = 0.0
        self.queue: dict[int, Message] = {}
        self.resend_pending = 0
        self.logout_sent = False
        self._timer: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------------- transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.acceptor.connections.add(self)
        asyncio.get_running_loop().call_later(LOGON_TIMEOUT_S, self._logon_deadline)

    def _logon_deadline(self) -> None:
        if self.state is None:
            log.info("no Logon within %ss; closing", LOGON_TIMEOUT_S)
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.acceptor.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        state = self.state
        self.logged_on = False
        if state is not None and state.conn is self:
            state.conn = None
            state.md_subscriptions.clear()
            if state.cancel_on_disconnect:
                count = self.venue.cancel_session_orders(state.api_key, state.sender)
                if count:
                    log.info("cancel on disconnect: %d orders of %s", count, state.sender)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_out = time.monotonic()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_in = time.monotonic()
        try:
            frames = self.reader.feed(data)
        except FixFormatError as exc:
            log.warning("garbled FIX stream (%s); closing", exc)
            self.abort()
            return
        for raw in frames:
            try:
                msg = decode(raw)
            except FixFormatError as exc:
                log.warning("undecodable FIX message (%s); ignored", exc)
                continue
            try:
                self._on_message(msg)
            except Exception:
                log.exception("FIX message handling failed: %r", raw[:200])

    # ----------------------------------------------------------------- session layer
    def _on_message(self, msg: Message) -> None:
        state = self.state
        if state is None:
            if msg.msg_type != "A":
                log.warning("first message is %s, not Logon; closing", msg.msg_type)
                self.abort()
                return
            self._logon(msg)
            return
        if state.lose_in > 0 and msg.msg_type in APP_TYPES:
            state.lose_in -= 1  # fault: as if this message never arrived
            return
        if msg.msg_type == "4" and msg.get(123) != "Y":
            new_seq = int(msg.get(36) or "0")
            if new_seq > state.next_in:
                state.next_in = new_seq
            return
        seq = msg.seq
        if seq > state.next_in:
            if msg.msg_type == "2":
                self._handle(msg)
            elif msg.msg_type == "5":
                self._handle(msg)
                return
            self.queue[seq] = msg
            if not self.resend_pending:
                self.resend_pending = seq
                state.send("2", [(7, str(state.next_in)), (16, "0")])
            return
        if seq < state.next_in:
            if msg.poss_dup:
                return
            self._logout(f"MsgSeqNum too low, expecting {state.next_in} but received {seq}")
            return
        state.next_in = seq + 1
        self._handle(msg)
        while self.state is not None and self.state.next_in in self.queue:
            queued = self.queue.pop(self.state.next_in)
            self.state.next_in += 1
            if queued.msg_type not in ("2", "A"):
                self._handle(queued)
        if self.state is not None:
            # A gap fill may jump past numbers we hold (the client's Logon, or an order
            # it judged too old to resend): those numbers are settled, drop them, or the
            # next gap on this connection is never asked for.
            stale = [seq for seq in self.queue if seq < self.state.next_in]
            for seq in stale:
                skipped = self.queue.pop(seq)
                if skipped.msg_type not in ("2", "A"):
                    log.info("message %d (%s) skipped by a gap fill", seq, skipped.msg_type)
            if not self.queue:
                self.resend_pending = 0

    def _handle(self, msg: Message) -> None:
        state = self.state
        assert state is not None
        kind = msg.msg_type
        if kind == "0":
            if msg.get(112):
                self.test_sent_at = 0.0
        elif kind == "1":
            state.send("0", [(112, msg.get(112, "") or "")])
        elif kind == "2":
            begin = int(msg.get(7) or "1")
            end = int(msg.get(16) or "0")
            state.resend(begin, end)
        elif kind == "4":
            new_seq = int(msg.get(36) or "0")
            if new_seq > state.next_in:
                state.next_in = new_seq
        elif kind == "5":
            if not self.logout_sent:
                state.send("5", [(58, "logout acknowledged")])
            self._close_soon()
        elif kind == "3":
            log.info("client rejected our message %s: %s", msg.get(45), msg.get(58))
        elif kind == "A":
            pass
        elif kind in APP_TYPES:
            missing = next((t for t in REQUIRED[kind] if not msg.has(t)), None)
            if missing is not None:
                state.send(
                    "3",
                    [
                        (45, str(msg.seq)),
                        (371, str(missing)),
                        (372, kind),
                        (373, "1"),
                        (58, f"Required tag missing: {missing}"),
                    ],
                )
                return
            APP_HANDLERS[kind](self, state, msg)
        else:
            state.send(
                "j",
                [
                    (45, str(msg.seq)),
                    (372, kind),
                    (380, "3"),
                    (58, f"Unsupported message type {kind}"),
                ],
            )

    def _logon(self, msg: Message) -> None:
        sender = msg.get(49) or ""
        api_key = msg.get(553) or ""
        refusal = self._check_logon(msg, sender, api_key)
        if refusal is not None:
            log.info("logon refused for %s: %s", sender, refusal)
            self.write(
                encode(
                    [
                        (35, "5"),
                        (49, SERVER_COMP_ID),
                        (56, sender or "?"),
                        (34, "1"),
                        (52, utc_timestamp()),
                        (58, refusal),
                    ]
                )
            )
            self._close_soon()
            return
        state = self.acceptor.state_for(sender, api_key)
        if state.conn is not None and state.conn is not self:
            self.write(
                encode(
                    [
                        (35, "5"),
                        (49, SERVER_COMP_ID),
                        (56, sender),
                        (34, "1"),
                        (52, utc_timestamp()),
                        (58, "session already logged on"),
                    ]
                )
            )
            self._close_soon()
            return
        raw = msg.get(96) or ""
        state.last_logon_ts = int(raw.split(".", 1)[0])
        reset = msg.get(141) == "Y"
        if reset:
            state.next_in = 1
            state.next_out = 1
            state.store.clear()
        seq = msg.seq
        if seq < state.next_in:
            self.state = state
            state.conn = self
            self.logged_on = True
            self._logout(f"MsgSeqNum too low, expecting {state.next_in} but received {seq}")
            return
        self.state = state
        state.conn = self
        self.logged_on = True
        self.heartbeat_s = float(msg.get(108) or "30")
        if msg.has(9001):
            state.cancel_on_disconnect = msg.get(9001) == "Y"
        state.fills_as_reports = msg.get(9015) == "Y"
        state.connection_only = msg.get(9010) == "Y"
        reply = [(98, "0"), (108, msg.get(108) or "30")]
        if reset:
            reply.append((141, "Y"))
        if msg.has(9001):
            reply.append((9001, msg.get(9001) or "N"))
        state.send("A", reply)
        if seq == state.next_in:
            state.next_in = seq + 1
        else:
            self.queue[seq] = msg
            self.resend_pending = seq
            state.send("2", [(7, str(state.next_in)), (16, "0")])
        self._schedule()

    def _check_logon(self, msg: Message, sender: str, api_key: str) -> str | None:
        if not sender:
            return "SenderCompID (49) is required"
        if msg.get(56) != SERVER_COMP_ID:
            return f"TargetCompID (56) must be {SERVER_COMP_ID}"
        hb = msg.get(108) or ""
        if not hb.isdigit() or int(hb) <= 0:
            return "HeartBtInt (108) must be a positive integer"
        secret = self.venue.secret_of(api_key)
        raw = msg.get(96)
        password = msg.get(554)
        if secret is None or raw is None or password is None:
            return "invalid_credentials"
        stamp, dot, nonce = raw.partition(".")
        if not dot or not stamp.isdigit() or not nonce:
            return "RawData (96) must be <timestamp>.<base64 nonce>"
        expected = base64.b64encode(hashlib.sha256((raw + secret).encode()).digest()).decode()
        if not hmac.compare_digest(expected, password):
            return "invalid_credentials"
        ts = int(stamp)
        if abs(ts - int(time.time() * 1000)) > LOGON_CLOCK_WINDOW_MS:
            return "RawData timestamp is too far from the server clock"
        state = self.acceptor.sessions.get((sender, api_key))
        if state is not None and ts <= state.last_logon_ts:
            return "RawData timestamp must increase with every logon"
        return None

    def _logout(self, reason: str) -> None:
        assert self.state is not None
        self.logout_sent = True
        self.state.send("5", [(58, reason)])
        self._close_soon()

    def _close_soon(self) -> None:
        # Give the Logout a moment on the wire before closing.
        asyncio.get_running_loop().call_later(0.05, self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(
            min(1.0, self.heartbeat_s / 2), self._on_timer
        )

    def _on_timer(self) -> None:
        state = self.state
        if state is None or state.conn is not self or self.transport is None:
            return
        now = time.monotonic()
        if self.test_sent_at and now - self.test_sent_at > self.heartbeat_s:
            log.info("TestRequest unanswered by %s; dropping", state.sender)
            self.abort()
            return
        if not self.test_sent_at and now - self.last_in > self.heartbeat_s * 1.5:
            self.test_sent_at = now
            state.send("1", [(112, f"T{int(now * 1000)}")])
        elif now - self.last_out >= self.heartbeat_s:
            state.send("0", [])
        self._schedule()


# --------------------------------------------------------------------- application
def _on_new_order(conn: FixConnection, state: SessionState, msg: Message) -> None:
    cl = msg.get(11) or ""
    if msg.poss_dup and conn.venue.by_cl(state.api_key, cl):
        return  # a resent order that already reached us: the original reports stand
    try:
        conn.venue.new_order(
            state.api_key,
            state.sender,
            cl,
            msg.get(55),
            msg.get(54),
            msg.get(38),
            msg.get(40),
            msg.get(44),
            msg.get(59),
            msg.get(18),
            msg.get(100010),
        )
    except RejectError as exc:
        state.send(
            "8",
            [
                (41, cl),
                (17, conn.acceptor.next_report_id()),
                (150, "8"),
                (39, "8"),
                (55, msg.get(55) or "?"),
                (54, msg.get(54) or "1"),
                (38, msg.get(38) or "0"),
                (151, "0"),
                (14, "0"),
                (60, utc_timestamp()),
                (103, str(exc.reason)),
                (58, exc.text),
            ],
        )


def _target(conn: FixConnection, state: SessionState, msg: Message) -> Order:
    return conn.venue.find_open(state.api_key, msg.get(41), msg.get(11))


def _cancel_reject(state: SessionState, msg: Message, response_to: str, exc: RejectError) -> None:
    fields = [(434, response_to), (102, "1" if exc.reason == 5 else "99"), (58, exc.text)]
    for tag in (41, 11, 100010):
        value = msg.get(tag)
        if value:
            fields.insert(0, (tag, value))
    fields.insert(0, (37, msg.get(41) or "NONE"))
    fields.append((39, "8" if exc.reason == 5 else "0"))
    state.send("9", fields)


def _on_cancel(conn: FixConnection, state: SessionState, msg: Message) -> None:
    if not msg.has(41) and not msg.has(11) and not msg.has(100010):
        state.send(
            "3",
            [
                (45, str(msg.seq)),
                (371, "41"),
                (372, "F"),
                (373, "1"),
                (58, "OrigClOrdID (41), ClOrdID (11) or DeribitLabel is required"),
            ],
        )
        return
    try:
        order = _target(conn, state, msg)
    except RejectError as exc:
        if msg.poss_dup:
            return
        _cancel_reject(state, msg, "1", exc)
        return
    conn.venue.cancel(order)
    for book in conn.venue.books.values():
        conn.venue.mm.replenish(book)


def _on_replace(conn: FixConnection, state: SessionState, msg: Message) -> None:
    try:
        order = _target(conn, state, msg)
        side = Side.BUY if msg.get(54) == "1" else Side.SELL
        if side is not order.side:
            raise RejectError("Side (54) does not match the order")
        conn.venue.replace(order, msg.get(38), msg.get(44))
    except RejectError as exc:
        _cancel_reject(state, msg, "2", exc)


def _on_mass_cancel(conn: FixConnection, state: SessionState, msg: Message) -> None:
    kind = msg.get(530) or ""
    symbol = msg.get(55) if kind == "1" else None
    reply = [(11, msg.get(11) or ""), (530, kind)]
    if kind not in ("1", "5", "7") or (kind == "1" and symbol not in conn.venue.specs):
        reason = "1" if kind == "1" else "99"
        state.send("r", [*reply, (531, "0"), (532, reason), (58, "unknown security")])
        return
    count = conn.venue.mass_cancel(state.api_key, symbol, msg.get(15))
    state.send("r", [*reply, (531, kind), (533, str(count)), (58, "success")])


def _on_mass_status(conn: FixConnection, state: SessionState, msg: Message) -> None:
    req_id = msg.get(584) or ""
    kind = msg.get(585)
    venue = conn.venue
    if kind == "1":
        found = venue.orders.get(int(req_id)) if req_id.isdigit() else None
        orders = [found] if found is not None and found.api_key == state.api_key else []
    elif msg.get(9014) == "1":
        orders = [
            o
            for o in venue.by_cl(state.api_key, req_id)
            if not msg.has(55) or o.symbol == msg.get(55)
        ]
    else:
        orders = venue.open_orders(state.api_key, msg.get(55))
    head = [(584, req_id), (585, kind or "7"), (911, str(len(orders)))]
    if not orders:
        state.send(
            "8",
            [
                *head,
                (912, "Y"),
                (150, "I"),
                (39, "8"),
                (103, "5"),
                (55, msg.get(55) or "NONE"),
                (54, "1"),
                (151, "0"),
                (14, "0"),
                (58, "order_not_found"),
            ],
        )
        return
    for i, order in enumerate(orders):
        last = [(912, "Y")] if i == len(orders) - 1 else []
        state.send("8", venue.report(order, "I", extra=head + last))


def _on_positions(conn: FixConnection, state: SessionState, msg: Message) -> None:
    venue = conn.venue
    account = venue.accounts[state.api_key]
    currency = msg.get(15)
    group: list[tuple[int, str]] = []
    count = 0
    for symbol, pos in account.positions.items():
        spec = venue.specs[symbol]
        if currency and spec.currency != currency:
            continue
        count += 1
        amt: Decimal = pos.amt
        group += [
            (703, "TQ"),
            (704, text(amt if amt > 0 else Decimal(0))),
            (705, text(-amt if amt < 0 else Decimal(0))),
            (55, symbol),
            (854, "1"),
            (231, text(spec.contract_size)),
            (54, "1" if amt >= 0 else "2"),
            (730, text(pos.entry.quantize(Decimal("0.00000001")))),
        ]
    state.send(
        "AP",
        [
            (721, conn.acceptor.next_report_id()),
            (710, msg.get(710) or ""),
            (724, "0"),
            (728, "0"),
            (702, str(count)),
            *group,
        ],
    )


def _on_security_list(conn: FixConnection, state: SessionState, msg: Message) -> None:
    specs = list(conn.venue.specs.values())
    if msg.get(559) == "0" and msg.has(55):
        specs = [s for s in specs if s.symbol == msg.get(55)]
    if msg.has(15):
        specs = [s for s in specs if s.currency == msg.get(15)]
    group: list[tuple[int, str]] = []
    for s in specs:
        group += [
            (55, s.symbol),
            (107, f"{s.currency} perpetual"),
            (167, "FUT"),
            (15, s.currency),
            (120, s.currency),
            (969, text(s.tick)),
            (562, text(s.min_qty)),
            (231, text(s.contract_size)),
            (1079, "00:00:00"),
        ]
    state.send(
        "y",
        [
            (320, msg.get(320) or ""),
            (322, conn.acceptor.next_report_id()),
            (560, "0"),
            (393, str(len(specs))),
            (893, "Y"),
            (146, str(len(specs))),
            *group,
        ],
    )


def _md_reject(state: SessionState, req_id: str, reason: str, text_: str) -> None:
    state.send("Y", [(262, req_id), (281, reason), (58, text_)])


def _on_market_data(conn: FixConnection, state: SessionState, msg: Message) -> None:
    req_id = msg.get(262) or ""
    kind = msg.get(263)
    fields = msg.fields
    symbols = [v for t, v in fields if t == 55]
    entry_types = {v for t, v in fields if t == 269}
    if kind == "2":
        state.md_subscriptions.pop(req_id, None)
        return
    if kind not in ("0", "1"):
        _md_reject(state, req_id, "4", f"SubscriptionRequestType {kind} is not 0, 1 or 2")
        return
    unknown = [s for s in symbols if s not in conn.venue.specs]
    if not symbols or unknown:
        _md_reject(state, req_id, "0", f"unknown symbol {unknown or '(none)'}")
        return
    if not entry_types or entry_types - {"0", "1", "2"}:
        _md_reject(state, req_id, "8", "the simulator serves MDEntryType 0, 1 and 2 only")
        return
    depth_text = msg.get(264) or "0"
    if not depth_text.isdigit():
        _md_reject(state, req_id, "5", f"MarketDepth {depth_text!r} is not a number")
        return
    depth = int(depth_text) or None
    sides = tuple(k for k in ("0", "1") if k in entry_types)
    if kind == "1" and sides:
        update_type = msg.get(265)
        if update_type == "1" and depth is None:
            pass  # W of the whole book, then X increments
        elif update_type == "0" and depth in FULL_REFRESH_DEPTHS:
            pass  # W of the top `depth` levels on each change
        else:
            _md_reject(
                state,
                req_id,
                "5",
                "book subscriptions take MDUpdateType=1 with MarketDepth=0, or "
                "MDUpdateType=0 with MarketDepth 1, 10 or 20",
            )
            return
    if kind == "1" and sides and depth is None:
        for symbol in symbols:
            conn.acceptor.start_book(symbol)
    for symbol in symbols:
        entries = conn.acceptor.snapshot_entries(symbol, sides, depth)
        n = len(entries) // 3
        if "2" in entry_types:
            amount = int(msg.get(100007) or "20")
            for trade in conn.venue.recent_trades[symbol][-amount:]:
                entries += _trade_entry(trade)
                n += 1
        state.send("W", [(262, req_id), (55, symbol), (268, str(n)), *entries])
    if kind == "1":
        sub = MdSubscription(symbols, "2" in entry_types, sides, depth)
        if depth is not None:
            for symbol in symbols:
                sub.last_top[symbol] = conn.acceptor.snapshot_entries(symbol, sides, depth)
        state.md_subscriptions[req_id] = sub


APP_HANDLERS = {
    "D": _on_new_order,
    "F": _on_cancel,
    "G": _on_replace,
    "q": _on_mass_cancel,
    "AF": _on_mass_status,
    "AN": _on_positions,
    "x": _on_security_list,
    "V": _on_market_data,
}
