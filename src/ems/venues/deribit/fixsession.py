"""A FIX 4.4 initiator session: logon, heartbeats, sequence numbers, resend, reconnect.

Encoding and decoding go through the core (`ems._core.FixSession`, `fix_decode`,
`fix_frame_length`); this module keeps the session rules:

* Logon (A) with Deribit's authentication: RawData (96) is `<ms timestamp>.<base64 of
  32 random bytes>` and Password (554) the base64 of the raw SHA-256 digest of RawData
  followed by the secret (protocols.md D.1, vector V12).
* Sequence numbers survive reconnects (in memory) and restarts (a small JSON file per
  session, see `SeqFile`). A Logon never asks for a reset.
* Inbound: a number too high means messages were lost: we send ResendRequest (2) and
  hold later messages until the gap is filled, then process everything in order,
  exactly once. If the answer is lost too (nothing comes in to close the gap for
  `RESEND_RETRY_S`), we ask again, `RESEND_ATTEMPTS` times in all, then reconnect.
  Too low without PossDupFlag is fatal (Logout), except in the venue's Logon reply,
  where it means the venue reset its side; we follow it and say so.
* Outbound: ResendRequests are answered with the stored application messages
  (PossDupFlag=Y, OrigSendingTime) while younger than `RESEND_MAX_AGE_S`, and with
  SequenceReset-GapFill over session messages and older ones (stale orders must not
  reach the market late; the engine reconciles them instead).
* Heartbeat (0) after HeartBtInt of silence; TestRequest (1) after 1.2 x HeartBtInt
  with nothing heard; the connection is dropped if that goes unanswered too.
* After every logon a TestRequest round trip proves both directions are in sequence
  (the venue answers it only after any resend it asked for); only then is the session
  ready for orders and the handler told.
* Reconnect with back-off after any drop; Logout (5) on stop.

Application messages are written to the socket from the call that sends them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import orjson

from ems._core import (
    DecodeError,
    FixMessage,
    FixSession,
    fix_decode,
    fix_frame_length,
    sha256_base64,
)
from ems.errors import VenueError
from ems.venues.net import write_at_once

log = logging.getLogger("ems.deribit.fix")

BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
RESEND_MAX_AGE_S = 10.0
RESEND_RETRY_S = 2.0
"""A ResendRequest with no progress (nothing filled in) for this long is sent again..."""
RESEND_ATTEMPTS = 4
"""...this many times in all; then the connection is dropped and the reconnect's Logon
starts the recovery afresh."""
STORE_MAX = 20_000
SESSION_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
HEADER_TAGS = frozenset({8, 9, 35, 49, 56, 34, 52, 43, 97, 122})
_EXPECTING = re.compile(r"expect(?:ing|ed)\D{0,20}(\d+)", re.IGNORECASE)
_last_logon_ms = 0


def state_dir() -> Path:
    """Where sequence-number files live: `$EMS_STATE_DIR`, else `~/.local/state/ems`."""
    explicit = os.environ.get("EMS_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ems"


class SeqFile:
    """The next sequence numbers of one FIX session, in `<state dir>/fix/<id>.json`.

    Outbound numbers are reserved in blocks: the file holds a number no smaller than
    any we have used, so a crash never makes us reuse one (the venue then sees a gap and
    we fill it). The inbound number is saved on disconnect and stop; if it is stale after
    a crash we ask for (and ignore) repeats.
    """

    BLOCK = 1000

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.reserved = 0

    def load(self) -> tuple[int, int]:
        """(next outbound, next inbound); (1, 1) for a new session."""
        if self.path is None:
            return 1, 1
        try:
            data = orjson.loads(self.path.read_bytes())
            out, inbound = int(data["out"]), int(data["in"])
        except FileNotFoundError:
            return 1, 1
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.warning("unreadable sequence file %s (%s); starting at 1", self.path, exc)
            return 1, 1
        self.reserved = out
        return max(out, 1), max(inbound, 1)

    def reserve(self, next_out: int, next_in: int) -> None:
        """Makes the file cover outbound numbers up to `next_out + BLOCK`."""
        self.reserved = next_out + self.BLOCK
        self._write(self.reserved, next_in)

    def save(self, next_out: int, next_in: int) -> None:
        """Exact numbers (clean disconnect or stop)."""
        self.reserved = next_out
        self._write(next_out, next_in)

    def _write(self, out: int, inbound: int) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps({"out": out, "in": inbound}))
            tmp.replace(self.path)
        except OSError as exc:
            log.error("cannot write sequence file %s: %s", self.path, exc)


class FixHandler(Protocol):
    """What the session reports to (the venue adapter)."""

    def on_app(self, msg: FixMessage) -> None:
        """An application message, in sequence, exactly once."""

    def on_refused(self, ref: object, text: str) -> None:
        """The venue rejected one of our messages (Reject 3 or BusinessMessageReject j)."""

    def on_ready(self, first: bool) -> None:
        """Logged on and in sequence both ways (`first`: the initial logon)."""

    def on_down(self, reason: str) -> None:
        """The connection ended; in-flight requests have an unknown outcome."""


class NotReady(Exception):
    """The session is not logged on, so nothing was sent."""


@dataclass(slots=True)
class _Sent:
    raw: bytes
    sent_at: float
    ref: object


class _Conn(asyncio.Protocol):
    def __init__(self, owner: FixInitiator) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        write_at_once(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner._connection_lost(self, str(exc) if exc else "closed by peer")

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        owner.last_in = time.monotonic()
        if self._buf:
            data = self._buf + data
            self._buf = b""
        off = 0
        end = len(data)
        while off < end:
            chunk = data if off == 0 else data[off:]
            try:
                n = fix_frame_length(chunk)
            except DecodeError as exc:
                log.error("%s: unreadable FIX stream (%s); reconnecting", owner.name, exc)
                self.abort()
                return
            if n is None:
                self._buf = chunk
                return
            raw = chunk if n == len(chunk) else chunk[:n]
            off += n
            try:
                msg = fix_decode(raw)
            except DecodeError as exc:
                # A garbled message is ignored; its sequence number becomes a gap.
                log.warning("%s: garbled FIX message ignored (%s)", owner.name, exc)
                continue
            try:
                owner._on_message(msg)
            except Exception:
                log.exception("%s: FIX message handling failed", owner.name)
            if self.transport is None or self.transport.is_closing():
                return

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class FixInitiator:
    """One FIX session to one acceptor, kept logged on until `stop`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        sender: str,
        target: str,
        username: str,
        secret: str,
        heartbeat_s: int,
        logon_fields: list[tuple[int, str]],
        handler: FixHandler,
        seq_file: SeqFile,
        local_address: str | None = None,
        name: str = "fix",
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.sender, self.target = sender, target
        self._username = username
        self._secret = secret.encode()
        self.heartbeat_s = heartbeat_s
        self._logon_fields = logon_fields
        self.handler = handler
        self.seq_file = seq_file
        self.local_address = local_address
        self.name = name
        self.encoder = FixSession(sender, target)
        self.next_out, self.next_in = seq_file.load()
        self._store: OrderedDict[int, _Sent] = OrderedDict()
        self._queue: dict[int, FixMessage] = {}
        self._resend_asked = False
        self._resend_at = 0.0
        self._resend_from = 0
        self._resend_attempts = 0
        self._conn: _Conn | None = None
        self.ready = False
        self.logged_on = False
        self.last_in = self.last_out = 0.0
        self._test_pending: dict[str, asyncio.Future[None]] = {}
        self._test_sent_at = 0.0
        self._logon_reply: asyncio.Future[None] | None = None
        self._logout_reply: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._tests = 0
        self.connects = 0
        self.resends_asked = 0
        self.resends_answered = 0

    # ----------------------------------------------------------------- lifecycle
    async def start(self, timeout: float = 10.0) -> None:
        """Connects, logs on and syncs once (raising if that fails), then stays connected.

        Raises `VenueError` when the venue refuses the logon, OSError/TimeoutError when
        it cannot be reached."""
        await asyncio.wait_for(self._session_up(), timeout)
        self.handler.on_ready(True)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Logout (waiting briefly for the venue's), then close; saves sequence numbers."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        conn = self._conn
        if conn is not None and self.logged_on:
            self._logout_reply = asyncio.get_running_loop().create_future()
            with contextlib.suppress(NotReady):
                self._send_session("5", [(58, "client stop")])
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._logout_reply), 2.0)
        if conn is not None and conn.transport is not None:
            conn.transport.close()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(conn.closed), 2.0)
        self._cancel_timer()
        self.seq_file.save(self.next_out, self.next_in)

    def drop(self) -> None:
        """Closes the connection abruptly (tests); the run loop reconnects."""
        if self._conn is not None:
            self._conn.abort()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            conn = self._conn
            if conn is not None:
                await asyncio.shield(conn.closed)
            if self._stopping:
                return
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            try:
                await asyncio.wait_for(self._session_up(), 15)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("%s: reconnect failed (%s); retrying", self.name, exc)
                if self._conn is not None:
                    self._conn.abort()
                    self._conn = None
                continue
            attempt = 0
            log.info("%s: reconnected and in sequence", self.name)
            self.handler.on_ready(False)

    async def _session_up(self) -> None:
        """TCP connect, Logon, then a TestRequest round trip."""
        loop = asyncio.get_running_loop()
        local = (self.local_address, 0) if self.local_address else None
        _, conn = await loop.create_connection(
            lambda: _Conn(self),
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
            local_addr=local,
        )
        self._conn = conn
        self.connects += 1
        self._queue.clear()
        self._resend_asked = False
        for _ in range(2):
            self._logon_reply = loop.create_future()
            self._send_logon()
            try:
                await asyncio.shield(self._logon_reply)
                break
            except _SeqTooLow as exc:
                # The venue expects a higher number than ours (our file was lost or
                # stale): adopt it and log on again on a fresh connection.
                log.warning(
                    "%s: venue expects MsgSeqNum %d, we had %d; adopting it",
                    self.name,
                    exc.expected,
                    self.next_out,
                )
                self.next_out = exc.expected
                self.seq_file.reserve(self.next_out, self.next_in)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)
                conn.abort()
                _, conn = await loop.create_connection(
                    lambda: _Conn(self),
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                    local_addr=local,
                )
                self._conn = conn
        else:
            raise VenueError("FIX logon failed: sequence numbers could not be agreed")
        self._schedule()
        await self.test_request(10.0)
        self.ready = True

    async def test_request(self, timeout: float) -> None:
        """Sends TestRequest and waits for its Heartbeat (everything before it is in)."""
        self._tests += 1
        test_id = f"sync-{self._tests}"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._test_pending[test_id] = waiter
        self._send_session("1", [(112, test_id)])
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            self._test_pending.pop(test_id, None)

    # ----------------------------------------------------------------- sending
    def claim(self) -> int:
        """The sequence number the next application message must carry."""
        if not self.ready or self._conn is None or self._conn.transport is None:
            raise NotReady(f"{self.name}: FIX session is not logged on")
        return self.next_out

    def commit(self, raw: bytes, ref: object = None) -> None:
        """Writes an application message built with `claim()`'s number, and stores it."""
        seq = self.next_out
        self.next_out = seq + 1
        conn = self._conn
        assert conn is not None and conn.transport is not None
        conn.transport.write(raw)
        now = time.monotonic()
        self.last_out = now
        self._store[seq] = _Sent(raw, now, ref)
        if len(self._store) > STORE_MAX:
            self._store.popitem(last=False)
        if self.next_out >= self.seq_file.reserved:
            self.seq_file.reserve(self.next_out, self.next_in)

    def send(self, msg_type: str, fields: list[tuple[int, str | int]], ref: object = None) -> int:
        """Encodes, writes and stores one application message; returns its number."""
        seq = self.claim()
        self.commit(self.encoder.encode(msg_type, seq, fields), ref)
        return seq

    def _send_session(self, msg_type: str, fields: list[tuple[int, str | int]]) -> None:
        conn = self._conn
        if conn is None or conn.transport is None or conn.transport.is_closing():
            raise NotReady(f"{self.name}: not connected")
        seq = self.next_out
        self.next_out = seq + 1
        conn.transport.write(self.encoder.encode(msg_type, seq, fields))
        self.last_out = time.monotonic()
        if self.next_out >= self.seq_file.reserved:
            self.seq_file.reserve(self.next_out, self.next_in)

    def _send_logon(self) -> None:
        global _last_logon_ms
        # The venue wants a strictly increasing timestamp; two logons in one
        # millisecond (several sessions of one process) get consecutive values.
        stamp = max(int(time.time() * 1000), _last_logon_ms + 1)
        _last_logon_ms = stamp
        raw_data = f"{stamp}.{base64.b64encode(secrets.token_bytes(32)).decode()}"
        password = sha256_base64(raw_data.encode() + self._secret)
        fields: list[tuple[int, str | int]] = [
            (98, "0"),
            (108, self.heartbeat_s),
            (95, len(raw_data)),
            (96, raw_data),
            (553, self._username),
            (554, password),
            *self._logon_fields,
        ]
        self._send_session("A", fields)

    # ----------------------------------------------------------------- receiving
    def _on_message(self, msg: FixMessage) -> None:
        kind = msg.msg_type
        seq = msg.seq_num or 0
        if kind == "A" and self._logon_reply is not None and not self._logon_reply.done():
            self._on_logon_reply(msg, seq)
            return
        if kind == "5" and not self.logged_on:
            self._on_logon_refused(msg)
            return
        if kind == "4" and msg.get(123) != b"Y":
            self._reset_to(msg)
            return
        expected = self.next_in
        if seq > expected:
            if kind == "2":
                self._on_resend_request(msg)
            elif kind == "5":
                self._on_logout(msg)
                return
            self._queue[seq] = msg
            if not self._resend_asked:
                self._ask_resend(expected)
            return
        if seq < expected:
            if msg.get(43) == b"Y":
                return  # a repeat of something already processed
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            log.error("%s: %s; logging out", self.name, text)
            with contextlib.suppress(NotReady):
                self._send_session("5", [(58, text)])
            self._close_soon()
            return
        self.next_in = seq + 1
        self._process(msg)
        queue = self._queue
        while queue:
            lowest = min(queue)
            if lowest > self.next_in:
                break
            queued = queue.pop(lowest)
            if lowest == self.next_in:
                self.next_in += 1
            # else: a gap fill jumped over a message we did receive; it is still news.
            if queued.msg_type != "2":  # resend requests were answered on arrival
                self._process(queued)
        if not queue:
            self._resend_asked = False

    def _ask_resend(self, begin: int) -> None:
        self._resend_asked = True
        self._resend_at = time.monotonic()
        self._resend_from = begin
        self._resend_attempts = 1
        self.resends_asked += 1
        log.info("%s: gap from MsgSeqNum %d; asking for a resend", self.name, begin)
        with contextlib.suppress(NotReady):
            self._send_session("2", [(7, begin), (16, 0)])

    def _on_logon_reply(self, msg: FixMessage, seq: int) -> None:
        assert self._logon_reply is not None
        self.logged_on = True
        if msg.get(141) == b"Y" or seq < self.next_in:
            if seq < self.next_in and msg.get(141) != b"Y":
                log.warning(
                    "%s: venue's MsgSeqNum %d is below the expected %d: the venue "
                    "reset its side; following it",
                    self.name,
                    seq,
                    self.next_in,
                )
            self.next_in = seq + 1
        elif seq == self.next_in:
            self.next_in = seq + 1
        else:
            self._ask_resend(self.next_in)
            self._queue[seq] = msg  # counted when the gap closes, not processed twice
            # The logon itself needs no processing; mark it as a no-op resend request.
        self._logon_reply.set_result(None)

    def _on_logon_refused(self, msg: FixMessage) -> None:
        text = msg.get_str(58) or "logon refused"
        waiter = self._logon_reply
        match = _EXPECTING.search(text)
        if waiter is not None and not waiter.done():
            if match and "too low" in text.lower():
                waiter.set_exception(_SeqTooLow(int(match.group(1))))
            else:
                waiter.set_exception(VenueError(f"FIX logon refused: {text}"))
        self._close_soon()

    def _reset_to(self, msg: FixMessage) -> None:
        new_seq = msg.get_int(36) or 0
        if new_seq < self.next_in:
            log.error(
                "%s: SequenceReset to %d below expected %d ignored",
                self.name,
                new_seq,
                self.next_in,
            )
            return
        self.next_in = new_seq

    def _process(self, msg: FixMessage) -> None:
        kind = msg.msg_type
        if kind not in SESSION_TYPES:
            self.handler.on_app(msg)
            return
        if kind == "0":
            test_id = msg.get_str(112)
            if test_id:
                self._test_sent_at = 0.0
                waiter = self._test_pending.get(test_id)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        elif kind == "1":
            with contextlib.suppress(NotReady):
                self._send_session("0", [(112, msg.get_str(112) or "")])
        elif kind == "2":
            self._on_resend_request(msg)
        elif kind == "4":
            new_seq = msg.get_int(36) or 0
            if new_seq > self.next_in:
                self.next_in = new_seq
        elif kind == "5":
            self._on_logout(msg)
        elif kind == "3":
            ref_seq = msg.get_int(45) or 0
            text = (
                f"session reject of our message {ref_seq}: {msg.get_str(58) or ''} "
                f"(tag {msg.get_str(371) or '-'}, reason {msg.get_str(373) or '-'})"
            )
            self._refused(ref_seq, text)

    def on_business_reject(self, msg: FixMessage) -> None:
        """BusinessMessageReject (j), routed here by the adapter."""
        ref_seq = msg.get_int(45) or 0
        text = f"business reject: {msg.get_str(58) or ''} (reason {msg.get_str(380) or '-'})"
        self._refused(ref_seq, text)

    def _refused(self, ref_seq: int, text: str) -> None:
        log.warning("%s: %s", self.name, text)
        sent = self._store.get(ref_seq)
        self.handler.on_refused(sent.ref if sent is not None else None, text)

    def _on_logout(self, msg: FixMessage) -> None:
        if self._logout_reply is not None:
            if not self._logout_reply.done():
                self._logout_reply.set_result(None)
            return
        log.warning("%s: venue logged out: %s", self.name, msg.get_str(58) or "")
        with contextlib.suppress(NotReady):
            self._send_session("5", [])
        self._close_soon()

    def _on_resend_request(self, msg: FixMessage) -> None:
        begin = msg.get_int(7) or 1
        end = msg.get_int(16) or 0
        last = self.next_out - 1 if end == 0 or end >= self.next_out else end
        self.resends_answered += 1
        log.info("%s: venue asks for %d..%d", self.name, begin, last)
        conn = self._conn
        if conn is None or conn.transport is None:
            return
        now = time.monotonic()
        gap_start: int | None = None
        for seq in range(begin, last + 1):
            sent = self._store.get(seq)
            if sent is None or now - sent.sent_at > RESEND_MAX_AGE_S:
                if gap_start is None:
                    gap_start = seq
                continue
            if gap_start is not None:
                self._gap_fill(conn, gap_start, seq)
                gap_start = None
            conn.transport.write(self._possdup(sent.raw, seq))
        if gap_start is not None:
            self._gap_fill(conn, gap_start, last + 1)

    def _gap_fill(self, conn: _Conn, seq: int, new_seq: int) -> None:
        assert conn.transport is not None
        conn.transport.write(
            self.encoder.encode(
                "4", seq, [(43, "Y"), (122, _now_text()), (123, "Y"), (36, new_seq)]
            )
        )

    def _possdup(self, raw: bytes, seq: int) -> bytes:
        """The stored message again with PossDupFlag and its original SendingTime."""
        old = fix_decode(raw)
        body: list[tuple[int, str | bytes | int]] = [(43, "Y"), (122, old.get(52) or b"")]
        body += [(t, v) for t, v in old.fields() if t not in HEADER_TAGS]
        return self.encoder.encode(old.msg_type, seq, body)

    # ----------------------------------------------------------------- liveness
    def _schedule(self) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(
            min(1.0, self.heartbeat_s / 3), self._on_timer
        )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        conn = self._conn
        if conn is None or conn.transport is None or conn.transport.is_closing():
            return
        now = time.monotonic()
        hb = self.heartbeat_s
        try:
            if self._resend_asked and not self._resend_retry(conn, now):
                return
            if self._test_sent_at and now - self._test_sent_at > hb:
                log.warning("%s: no answer to TestRequest in %ss; reconnecting", self.name, hb)
                conn.abort()
                return
            if not self._test_sent_at and now - self.last_in > hb * 1.2:
                self._test_sent_at = now
                self._tests += 1
                self._send_session("1", [(112, f"alive-{self._tests}")])
            elif now - self.last_out >= hb:
                self._send_session("0", [])
        except NotReady:
            return
        self._schedule()

    def _resend_retry(self, conn: _Conn, now: float) -> bool:
        """Asks again for a gap whose answer has not come (False: gave up, reconnecting)."""
        if self.next_in > self._resend_from:
            # Part of the gap came in: the venue is answering; the clock starts again.
            self._resend_from = self.next_in
            self._resend_at = now
            self._resend_attempts = 1
            return True
        if now - self._resend_at < RESEND_RETRY_S:
            return True
        if self._resend_attempts >= RESEND_ATTEMPTS:
            log.warning(
                "%s: %d ResendRequests from MsgSeqNum %d unanswered; reconnecting",
                self.name,
                self._resend_attempts,
                self.next_in,
            )
            conn.abort()
            return False
        self._resend_attempts += 1
        self._resend_at = now
        self.resends_asked += 1
        log.info("%s: ResendRequest from %d unanswered; asking again", self.name, self.next_in)
        self._send_session("2", [(7, self.next_in), (16, 0)])
        return True

    def _close_soon(self) -> None:
        conn = self._conn
        if conn is not None and conn.transport is not None:
            asyncio.get_running_loop().call_later(0.05, conn.transport.close)

    def _connection_lost(self, conn: _Conn, reason: str) -> None:
        if conn is not self._conn:
            return
        was_ready = self.ready
        self.ready = False
        self.logged_on = False
        self._test_sent_at = 0.0
        self._cancel_timer()
        for waiter in self._test_pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(reason))
        if self._logon_reply is not None and not self._logon_reply.done():
            self._logon_reply.set_exception(ConnectionError(f"connection lost: {reason}"))
        self.seq_file.save(self.next_out, self.next_in)
        if not self._stopping:
            log.warning("%s: connection lost (%s)", self.name, reason)
            if was_ready:
                self.handler.on_down(reason)


class _SeqTooLow(Exception):
    def __init__(self, expected: int) -> None:
        super().__init__(f"venue expects MsgSeqNum {expected}")
        self.expected = expected


def _now_text() -> str:
    now = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"


def session_file(sender: str, target: str, username: str, endpoint: str) -> Path:
    """The sequence file of one session; its name reveals no credential."""
    digest = hashlib.sha256(f"{sender}|{target}|{username}|{endpoint}".encode()).hexdigest()
    return state_dir() / "fix" / f"{sender}-{digest[:16]}.json"


Builder = Callable[[int], bytes]
